// Package lifecycle owns the process-lifecycle rules every binary shares: a component that stops because
// its context was cancelled stopped cleanly, and a teardown is bounded in time and reports what it could
// not finish.
package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// IgnoreCanceled returns nil for a context cancellation (a requested stop) and err otherwise.
func IgnoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Shutdown runs fn with a context bounded by timeout and logs a warning naming what when it fails.
func Shutdown(log *slog.Logger, what string, timeout time.Duration, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		log.Warn("shutdown incomplete", "component", what, "err", err)
	}
}
