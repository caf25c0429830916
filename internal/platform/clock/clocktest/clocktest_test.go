package clocktest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	require.Equal(t, start, f.Now())
	f.Advance(time.Minute)
	require.Equal(t, start.Add(time.Minute), f.Now())
	f.Set(start)
	require.Equal(t, start, f.Now())
}

func TestFakeSleepAdvances(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	require.NoError(t, f.Sleep(context.Background(), time.Minute))
	require.NoError(t, f.Sleep(context.Background(), -time.Minute))
	require.Equal(t, start.Add(time.Minute), f.Now())
	require.Equal(t, time.Minute, f.Slept())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, f.Sleep(ctx, time.Minute), context.Canceled)
	require.Equal(t, time.Minute, f.Slept(), "a canceled sleep does not move time")
}

// The fake stands in for the wall clock wherever a component takes one.
var _ interface {
	clock.Clock
	Sleep(ctx context.Context, d time.Duration) error
} = (*Fake)(nil)
