// Package clock owns the notion of time used by every component, so that tests can drive time by hand
// (package clocktest holds the fake clock they use).
package clock

import (
	"context"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d on a real timer, returning ctx.Err() early when ctx ends. A non-positive d returns at
// once (ctx.Err() if ctx has already ended).
func (Real) Sleep(ctx context.Context, d time.Duration) error { return Sleep(ctx, d) }

// Sleep waits for d or until ctx ends, whichever comes first; it returns ctx.Err() in the latter case. It
// is the one context-aware sleep of the project: components that take a Clock call its Sleep.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
