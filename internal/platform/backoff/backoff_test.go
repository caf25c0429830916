package backoff

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func TestDelay(t *testing.T) {
	half := func() float64 { return 0.5 }
	tests := []struct {
		name    string
		p       Policy
		attempt int
		want    time.Duration
	}{
		{"first attempt is Initial", Policy{Initial: time.Second, Max: time.Minute}, 1, time.Second},
		{"doubles", Policy{Initial: time.Second, Max: time.Minute}, 3, 4 * time.Second},
		{"capped at Max", Policy{Initial: time.Second, Max: 5 * time.Second}, 10, 5 * time.Second},
		{"huge attempt stays capped", Policy{Initial: time.Second, Max: 5 * time.Second}, 1 << 30, 5 * time.Second},
		{"attempt below one is the first", Policy{Initial: time.Second, Max: time.Minute}, 0, time.Second},
		{"Max below Initial means Initial", Policy{Initial: time.Second}, 4, time.Second},
		{"no Initial means no wait", Policy{Max: time.Minute}, 3, 0},
		{"equal jitter", Policy{Initial: 4 * time.Second, Max: time.Minute, Jitter: EqualJitter, Rand: half}, 1, 3 * time.Second},
		{"full jitter", Policy{Initial: 4 * time.Second, Max: time.Minute, Jitter: FullJitter, Rand: half}, 1, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.p.Delay(tc.attempt))
		})
	}
}

func TestDelayDefaultRandStaysInRange(t *testing.T) {
	for _, j := range []Jitter{EqualJitter, FullJitter} {
		p := Policy{Initial: time.Second, Max: time.Second, Jitter: j}
		lo := time.Duration(0)
		if j == EqualJitter {
			lo = 500 * time.Millisecond
		}
		for range 100 {
			d := p.Delay(1)
			require.GreaterOrEqual(t, d, lo)
			require.LessOrEqual(t, d, time.Second)
		}
	}
}

func TestRetry(t *testing.T) {
	errFlaky := errors.New("flaky")
	errBad := errors.New("bad")
	tests := []struct {
		name      string
		p         Policy
		failures  int   // op fails this many times before succeeding
		fail      error // the error op returns while failing
		wantErr   []error
		wantCalls int
		wantSlept time.Duration
	}{
		{"success first time", Policy{Initial: time.Second, MaxAttempts: 3}, 0, errFlaky, nil, 1, 0},
		{"success after retries", Policy{Initial: time.Second, Max: time.Minute, MaxAttempts: 5}, 2, errFlaky, nil, 3, 3 * time.Second},
		{"gives up at the cap", Policy{Initial: time.Second, Max: time.Minute, MaxAttempts: 3}, 10, errFlaky,
			[]error{ErrAttemptsExhausted, errFlaky}, 3, 3 * time.Second},
		{"permanent stops at once", Policy{Initial: time.Second, MaxAttempts: 5}, 10, Permanent(errBad), []error{errBad}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewFake(time.Unix(0, 0))
			calls, notified := 0, 0
			err := Retry(context.Background(), tc.p, clk, func(context.Context) error {
				calls++
				if calls <= tc.failures {
					return tc.fail
				}
				return nil
			}, func(int, error, time.Duration) { notified++ })
			for _, want := range tc.wantErr {
				require.ErrorIs(t, err, want)
			}
			if tc.wantErr == nil {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantCalls, calls)
			require.Equal(t, tc.wantSlept, clk.Slept())
			require.Equal(t, int(tc.wantSlept/time.Second) > 0, notified > 0)
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Retry(ctx, Policy{Initial: time.Second}, clocktest.NewFake(time.Unix(0, 0)), func(context.Context) error {
		calls++
		if calls == 2 {
			cancel()
		}
		return errors.New("down")
	}, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 2, calls)
}

func TestPermanent(t *testing.T) {
	require.NoError(t, Permanent(nil))
	inner := errors.New("x")
	err := Permanent(inner)
	require.ErrorIs(t, err, inner, "the marked error still wraps its cause")
	require.Equal(t, "x", err.Error())
	calls := 0
	got := Retry(context.Background(), Policy{Initial: time.Second, MaxAttempts: 5}, clocktest.NewFake(time.Unix(0, 0)),
		func(context.Context) error { calls++; return fmt.Errorf("wrapped: %w", err) }, nil)
	require.Equal(t, 1, calls, "a wrapped permanent error stops the loop too")
	require.Same(t, inner, got, "Retry returns the cause, unmarked")
}
