// Package fetchgatetest holds the contract of a once-per-period gate: what the parser and the worker
// rely on from fetchgate.Gate, checked against it and against every fake that stands in for it.
package fetchgatetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Gate is the port under contract (implemented by *fetchgate.Gate).
type Gate interface {
	Due(ctx context.Context, key string, period time.Duration) (bool, error)
	Release(ctx context.Context, key string) error
}

// Contract checks that gates made by newGate, each one fresh with no key taken, behave as their
// consumers expect: a key is due once per period however many callers ask at once, keys are
// independent, and a released key is due again.
func Contract(t *testing.T, newGate func(t *testing.T) Gate) {
	ctx := context.Background()
	t.Run("due once per period", func(t *testing.T) {
		g := newGate(t)
		due, err := g.Due(ctx, "fees:a8db", time.Hour)
		require.NoError(t, err)
		require.True(t, due, "a fresh key is due")
		due, err = g.Due(ctx, "fees:a8db", time.Hour)
		require.NoError(t, err)
		require.False(t, due, "the period is claimed")
	})
	t.Run("one of concurrent callers", func(t *testing.T) {
		g := newGate(t)
		var yes atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				due, err := g.Due(ctx, "fees:a8db", time.Hour)
				require.NoError(t, err)
				if due {
					yes.Add(1)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), yes.Load(), "exactly one caller is told the job is due")
	})
	t.Run("keys are independent", func(t *testing.T) {
		g := newGate(t)
		for _, key := range []string{"fees:a8db", "fees:9a92"} {
			due, err := g.Due(ctx, key, time.Hour)
			require.NoError(t, err)
			require.True(t, due, key)
		}
	})
	t.Run("release makes due again", func(t *testing.T) {
		g := newGate(t)
		require.NoError(t, g.Release(ctx, "fees:a8db"), "releasing a key never taken is harmless")
		_, err := g.Due(ctx, "fees:a8db", time.Hour)
		require.NoError(t, err)
		require.NoError(t, g.Release(ctx, "fees:a8db"))
		due, err := g.Due(ctx, "fees:a8db", time.Hour)
		require.NoError(t, err)
		require.True(t, due, "a released job is due again")
		due, err = g.Due(ctx, "fees:a8db", time.Hour)
		require.NoError(t, err)
		require.False(t, due, "and claimed again")
	})
}
