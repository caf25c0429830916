// Package lifecycletest runs a component that follows the lifecycle rules (Run(ctx) until ctx ends, a
// cancellation is a clean stop) for the length of a test.
package lifecycletest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Run starts run in the background and, when the test ends, cancels its context and fails the test
// unless run returns nil within timeout. Cleanups registered before Run run after run has returned.
func Run(t testing.TB, timeout time.Duration, run func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(timeout):
			t.Errorf("Run did not return within %v after its context ended", timeout)
		}
	})
}
