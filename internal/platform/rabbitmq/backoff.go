package rabbitmq

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff returns the delay before retry number attempt (1-based): min doubled per attempt, capped at
// max, with "equal jitter" (a uniformly random value between half the delay and the delay). jitter
// returns a number in [0,1).
func backoff(attempt int, minDelay, maxDelay time.Duration, jitter func() float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if minDelay <= 0 {
		minDelay = time.Millisecond
	}
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	d := minDelay
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	if d > maxDelay {
		d = maxDelay
	}
	half := d / 2
	return half + time.Duration(jitter()*float64(d-half))
}

// randJitter is the production jitter source.
func randJitter() float64 { return rand.Float64() }

// sleep waits for d, returning false early when ctx is done or stop is closed.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
