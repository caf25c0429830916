package worker

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule/scheduletest"
)

// The worker tests' stand-ins keep the contracts of the ports they stand in for.

func TestCountingScheduleContract(t *testing.T) {
	scheduletest.EnqueuerContract(t, func(t *testing.T) scheduletest.Enqueuer {
		sched, err := salesschedule.New(redisdbtest.New(t), clock.Real{}, salesschedule.Config{})
		require.NoError(t, err)
		return &countingSchedule{next: sched}
	})
}
