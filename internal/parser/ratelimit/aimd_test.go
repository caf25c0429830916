package ratelimit_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// failingClock is a fake clock whose waits fail with err, as a wait cut short by its context does.
type failingClock struct {
	*clocktest.Fake
	err error
}

func (c failingClock) Sleep(context.Context, time.Duration) error { return c.err }

type recObserver struct {
	mu        sync.Mutex
	rates     []float64
	throttles int
}

func (o *recObserver) RateChanged(r float64) {
	o.mu.Lock()
	o.rates = append(o.rates, r)
	o.mu.Unlock()
}
func (o *recObserver) Throttled() { o.mu.Lock(); o.throttles++; o.mu.Unlock() }

func newTestAIMD(t *testing.T, cfg ratelimit.AIMDConfig) (*ratelimit.AIMD, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(t0)
	a, err := ratelimit.NewAIMD(cfg, clk, nil)
	require.NoError(t, err)
	return a, clk
}

func TestNewAIMDRejectsBadCeiling(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ceiling float64
	}{
		{"zero", 0}, {"negative", -1}, {"nan", math.NaN()}, {"inf", math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ratelimit.NewAIMD(ratelimit.AIMDConfig{Ceiling: tc.ceiling}, clocktest.NewFake(t0), nil)
			require.ErrorIs(t, err, ratelimit.ErrInvalidConfig)
		})
	}
}

func TestAIMDReserveSpacesRequestsAtCeiling(t *testing.T) {
	a, clk := newTestAIMD(t, ratelimit.AIMDConfig{Ceiling: 2})
	require.Equal(t, 2.0, a.Rate())
	require.Equal(t, 2.0, a.Ceiling())
	now := clk.Now()
	require.Zero(t, a.Reserve(now), "burst of one is available at start")
	require.Equal(t, 500*time.Millisecond, a.Reserve(now))
	require.Equal(t, time.Second, a.Reserve(now))
	require.Equal(t, 1500*time.Millisecond, a.Delay(now), "Delay peeks without reserving")
	require.Equal(t, 1500*time.Millisecond, a.Delay(now))
	// After a long idle period the bucket holds only the burst.
	later := now.Add(time.Hour)
	require.Zero(t, a.Reserve(later))
	require.Equal(t, 500*time.Millisecond, a.Reserve(later))
}

func TestAIMDBurst(t *testing.T) {
	a, clk := newTestAIMD(t, ratelimit.AIMDConfig{Ceiling: 10, Burst: 3})
	now := clk.Now()
	for i := 0; i < 3; i++ {
		require.Zero(t, a.Reserve(now), "request %d within burst", i)
	}
	require.Equal(t, 100*time.Millisecond, a.Reserve(now))
}

func TestAIMDWaitSleepsOnTheClock(t *testing.T) {
	a, clk := newTestAIMD(t, ratelimit.AIMDConfig{Ceiling: 2})
	for i := 0; i < 10; i++ {
		require.NoError(t, a.Wait(context.Background()))
	}
	require.Equal(t, t0.Add(4500*time.Millisecond), clk.Now(), "10 requests at 2/s with burst 1 take 4.5s")
	require.Equal(t, 4500*time.Millisecond, clk.Slept())
}

func TestAIMDWaitCancelledReturnsToken(t *testing.T) {
	clk := failingClock{Fake: clocktest.NewFake(t0), err: context.Canceled}
	a, err := ratelimit.NewAIMD(ratelimit.AIMDConfig{Ceiling: 1}, clk, nil)
	require.NoError(t, err)
	require.NoError(t, a.Wait(context.Background()))
	require.ErrorIs(t, a.Wait(context.Background()), context.Canceled)
	require.Equal(t, time.Second, a.Delay(clk.Now()), "the cancelled reservation was given back")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, a.Wait(ctx), context.Canceled)
	require.Equal(t, time.Second, a.Delay(clk.Now()))
}

func TestAIMDThrottleHalvesWithHoldoffAndFloor(t *testing.T) {
	clk := clocktest.NewFake(t0)
	obs := &recObserver{}
	a, err := ratelimit.NewAIMD(ratelimit.AIMDConfig{Ceiling: 16}, clk, obs)
	require.NoError(t, err)

	require.True(t, a.OnThrottle())
	require.Equal(t, 8.0, a.Rate())
	require.False(t, a.OnThrottle(), "a second 429 within the holdoff is an answer to a request already in flight")
	require.Equal(t, 8.0, a.Rate())

	want := []float64{4, 2, 1, 1, 1}
	for i, w := range want {
		clk.Advance(time.Second)
		a.OnThrottle()
		require.Equal(t, w, a.Rate(), "step %d", i)
	}
	require.Equal(t, 7, obs.throttles)
	require.Equal(t, 16.0, obs.rates[0])
	require.Equal(t, 1.0, obs.rates[len(obs.rates)-1])
}

func TestAIMDThrottleSlowsReservations(t *testing.T) {
	a, clk := newTestAIMD(t, ratelimit.AIMDConfig{Ceiling: 2})
	now := clk.Now()
	require.Zero(t, a.Reserve(now))
	a.OnThrottle()
	require.Equal(t, time.Second, a.Reserve(now), "at 1/s the next token is a second away")
}

func TestAIMDAdditiveIncrease(t *testing.T) {
	a, clk := newTestAIMD(t, ratelimit.AIMDConfig{Ceiling: 2})
	clk.Advance(time.Second)
	a.OnThrottle()
	a.OnThrottle() // held off
	require.Equal(t, 1.0, a.Rate())

	a.OnSuccess()
	require.Equal(t, 1.0, a.Rate(), "no increase within the first interval")
	clk.Advance(999 * time.Millisecond)
	a.OnSuccess()
	require.Equal(t, 1.0, a.Rate())
	clk.Advance(time.Millisecond)
	a.OnSuccess()
	require.InDelta(t, 1.1, a.Rate(), 1e-9, "+ceiling/20 per second")
	clk.Advance(3 * time.Second)
	a.OnSuccess()
	require.InDelta(t, 1.4, a.Rate(), 1e-9, "increase is proportional to the time spent succeeding")
	clk.Advance(time.Hour)
	a.OnSuccess()
	require.Equal(t, 2.0, a.Rate(), "never above the ceiling")
	clk.Advance(time.Hour)
	a.OnSuccess()
	require.Equal(t, 2.0, a.Rate())
}

func TestAIMDRecoveryFromFloorTakesTime(t *testing.T) {
	a, clk := newTestAIMD(t, ratelimit.AIMDConfig{Ceiling: 2})
	for i := 0; i < 10; i++ {
		clk.Advance(time.Second)
		a.OnThrottle()
	}
	require.Equal(t, 2.0/16, a.Rate())
	seconds := 0
	for a.Rate() < 2 {
		clk.Advance(time.Second)
		a.OnSuccess()
		seconds++
		require.Less(t, seconds, 100)
	}
	require.Equal(t, 19, seconds, "from ceiling/16 to the ceiling in steps of ceiling/20")
}
