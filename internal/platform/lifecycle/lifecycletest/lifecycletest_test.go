package lifecycletest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records failures instead of failing the test, and runs its cleanups
// when asked.
type recorder struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) FailNow()              { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestRun(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	tests := []struct {
		name   string
		run    func(ctx context.Context) error
		failed bool
	}{
		{name: "clean stop", run: func(ctx context.Context) error { <-ctx.Done(); return nil }},
		{name: "error", run: func(ctx context.Context) error { <-ctx.Done(); return errors.New("broken") }, failed: true},
		{name: "never returns", run: func(context.Context) error { <-stuck; return nil }, failed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Run(r, 50*time.Millisecond, tc.run)
			r.end()
			require.Equal(t, tc.failed, r.failed)
		})
	}
}

func TestStartStopsOnDemand(t *testing.T) {
	errStopped := errors.New("stopped")
	r := &recorder{TB: t}
	stop := Start(r, time.Second, func(ctx context.Context) error { <-ctx.Done(); return errStopped })
	require.ErrorIs(t, stop(), errStopped)
	require.ErrorIs(t, stop(), errStopped, "the same result again")
	r.end()
	require.False(t, r.failed)
}
