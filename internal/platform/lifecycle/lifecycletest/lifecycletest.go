// Package lifecycletest runs a component that follows the lifecycle rules (Run(ctx) until ctx ends, a
// cancellation is a clean stop) for the length of a test, or until the test stops it.
package lifecycletest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Start starts run in the background and returns stop, which cancels run's context and returns what run
// returned, failing the test when run has not returned within timeout. stop may be called any number of
// times (it returns the same result); it is called when the test ends.
func Start(t testing.TB, timeout time.Duration, run func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var (
		once   sync.Once
		result error
	)
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(timeout):
				t.Errorf("Run did not return within %v after its context ended", timeout)
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// Run starts run in the background and, when the test ends, cancels its context and fails the test
// unless run returns nil within timeout. Cleanups registered before Run run after run has returned.
func Run(t testing.TB, timeout time.Duration, run func(ctx context.Context) error) {
	t.Helper()
	stop := Start(t, timeout, run)
	t.Cleanup(func() { require.NoError(t, stop()) })
}
