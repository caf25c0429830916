package clock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	require.Equal(t, start, f.Now())
	f.Advance(time.Minute)
	require.Equal(t, start.Add(time.Minute), f.Now())
	f.Set(start)
	require.Equal(t, start, f.Now())
	require.WithinDuration(t, time.Now(), Real{}.Now(), time.Minute)
}

func TestSleep(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"zero returns at once", context.Background(), 0, nil},
		{"negative returns at once", context.Background(), -time.Second, nil},
		{"short wait ends", context.Background(), time.Millisecond, nil},
		{"ended context wins over a long wait", canceled, time.Hour, context.Canceled},
		{"ended context with zero wait", canceled, 0, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, Real{}.Sleep(tc.ctx, tc.d), tc.want)
			if tc.want == nil {
				require.NoError(t, Real{}.Sleep(tc.ctx, tc.d))
			}
		})
	}
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
