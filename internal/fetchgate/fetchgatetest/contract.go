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
	t.Run("due once per period and key", func(t *testing.T) {
		g := newGate(t)
		requireDue(t, g, "fees:a8db", true, "a fresh key is due")
		requireDue(t, g, "fees:a8db", false, "the period is claimed")
		requireDue(t, g, "fees:9a92", true, "keys are independent")
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
	t.Run("release makes due again", func(t *testing.T) {
		g := newGate(t)
		require.NoError(t, g.Release(ctx, "fees:a8db"), "releasing a key never taken is harmless")
		requireDue(t, g, "fees:a8db", true, "a fresh key is due")
		require.NoError(t, g.Release(ctx, "fees:a8db"))
		requireDue(t, g, "fees:a8db", true, "a released job is due again")
		requireDue(t, g, "fees:a8db", false, "and claimed again")
	})
}

// requireDue asks g whether key is due for an hour and requires the answer want.
func requireDue(t *testing.T, g Gate, key string, want bool, why string) {
	t.Helper()
	due, err := g.Due(context.Background(), key, time.Hour)
	require.NoError(t, err)
	require.Equal(t, want, due, why)
}
