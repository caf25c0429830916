package salesschedule

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/salesschedule/scheduletest"
)

func TestContract(t *testing.T) {
	scheduletest.Contract(t, func(t *testing.T) scheduletest.Subject {
		s, _, clk := newSchedule(t)
		add := func(t *testing.T, game string, titles ...string) {
			for _, title := range titles {
				_, err := s.Enqueue(context.Background(), game, []string{title})
				require.NoError(t, err)
				clk.Advance(time.Millisecond)
			}
		}
		return scheduletest.Subject{Schedule: s, Add: add, Advance: clk.Advance}
	})
}

func TestEnqueuerContract(t *testing.T) {
	scheduletest.EnqueuerContract(t, func(t *testing.T) scheduletest.Enqueuer {
		s, _, _ := newSchedule(t)
		return s
	})
}
