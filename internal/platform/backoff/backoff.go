// Package backoff owns the project's one retry policy: exponential delays with a cap, an optional jitter
// and an attempt limit, and a retry loop that waits on an injected sleeper so that tests never wait on
// the wall clock.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Jitter says how a computed delay d is randomised.
type Jitter int

const (
	// NoJitter uses d as it is.
	NoJitter Jitter = iota
	// EqualJitter picks uniformly in [d/2, d]: never shorter than half the ceiling.
	EqualJitter
	// FullJitter picks uniformly in [0, d]: best spread when many clients retry at once.
	FullJitter
)

// Policy describes delays between attempts: Initial doubled per further attempt, capped at Max, then
// randomised by Jitter. MaxAttempts caps the attempts of Retry (the first try included); zero means the
// loop is bounded only by its context.
type Policy struct {
	Initial     time.Duration
	Max         time.Duration
	Jitter      Jitter
	MaxAttempts int
	// Rand returns a number in [0,1); nil means math/rand/v2. Tests set it to make delays exact.
	Rand func() float64
}

// Ceiling returns the un-jittered delay after failed attempt number attempt (1 = the first failure):
// Initial·2^(attempt-1), capped at Max. A non-positive Initial gives zero.
func (p Policy) Ceiling(attempt int) time.Duration {
	if p.Initial <= 0 {
		return 0
	}
	maxDelay := max(p.Max, p.Initial)
	d := p.Initial
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// Delay returns the wait after failed attempt number attempt (1-based): Ceiling(attempt) with the
// policy's jitter applied.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Ceiling(attempt)
	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	switch p.Jitter {
	case EqualJitter:
		half := d / 2
		return half + time.Duration(r()*float64(d-half))
	case FullJitter:
		return time.Duration(r() * float64(d))
	default:
		return d
	}
}

// Sleeper waits for a duration or until its context ends; platform/clock's clocks implement it.
type Sleeper interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// ErrAttemptsExhausted wraps the last error when Retry gave up after MaxAttempts attempts.
var ErrAttemptsExhausted = errors.New("attempts exhausted")

// permanentError marks an error that retrying cannot cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: Retry returns it at once (unwrapped). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Retry calls op until it succeeds, returns a Permanent error, MaxAttempts attempts have failed, or ctx
// ends, sleeping Delay(n) on s after failed attempt n. notify, when not nil, is told of each failure that
// will be retried and the wait before the next attempt. The error returned wraps op's last error.
func Retry(ctx context.Context, p Policy, s Sleeper, op func(ctx context.Context) error,
	notify func(attempt int, err error, wait time.Duration)) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
			return fmt.Errorf("%w after %d: %w", ErrAttemptsExhausted, attempt, err)
		}
		wait := p.Delay(attempt)
		if notify != nil {
			notify(attempt, err, wait)
		}
		if serr := s.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("wait before retry: %w (last error: %w)", serr, err)
		}
	}
}
