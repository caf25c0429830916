// Package ratelimit owns the adaptive request rate limits of the parser: one AIMD limiter per egress
// (each proxy, or the direct connection) for unsigned calls, and the per-account limits of signed calls
// by endpoint family. Limiters halve their rate when DMarket answers 429 and recover slowly on success,
// never above their ceiling.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// Clock tells the time and waits: a limiter reads it to refill its bucket and sleeps on it until a
// reservation may start. clock.Real and *clocktest.Fake implement it; the fake's Sleep advances its time.
type Clock interface {
	clock.Clock
	Sleep(ctx context.Context, d time.Duration) error
}

// ErrInvalidConfig is returned for a limiter configuration that cannot work (e.g. a non-positive rate).
var ErrInvalidConfig = errors.New("invalid rate limit configuration")

// Observer receives the state changes of one limiter, typically to export them as metrics.
type Observer interface {
	// RateChanged reports the limiter's new rate in requests per second.
	RateChanged(rate float64)
	// Throttled reports one throttle event (a 429 answer) seen by the limiter.
	Throttled()
}

// AIMDConfig configures an AIMD limiter. Zero fields take the documented defaults.
type AIMDConfig struct {
	// Ceiling is the starting and maximum rate in requests per second; it must be positive.
	Ceiling float64
	// Burst is the number of requests that may start at once after an idle period (default 1).
	Burst int
	// Floor is the minimum rate (default Ceiling/16).
	Floor float64
	// IncreaseStep is the rate added for each IncreaseInterval of successes (default Ceiling/20).
	IncreaseStep float64
	// IncreaseInterval is how often the rate may grow by IncreaseStep (default 1s).
	IncreaseInterval time.Duration
	// DecreaseFactor multiplies the rate on a throttle event (default 0.5).
	DecreaseFactor float64
	// DecreaseHoldoff is the time after a decrease during which further throttle events, typically
	// answers to requests already in flight, do not decrease the rate again (default 1s).
	DecreaseHoldoff time.Duration
}

func (c AIMDConfig) withDefaults() (AIMDConfig, error) {
	if !(c.Ceiling > 0) || math.IsInf(c.Ceiling, 0) {
		return c, fmt.Errorf("%w: ceiling %v must be a positive finite rate", ErrInvalidConfig, c.Ceiling)
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.Floor <= 0 {
		c.Floor = c.Ceiling / 16
	}
	if c.Floor > c.Ceiling {
		c.Floor = c.Ceiling
	}
	if c.IncreaseStep <= 0 {
		c.IncreaseStep = c.Ceiling / 20
	}
	if c.IncreaseInterval <= 0 {
		c.IncreaseInterval = time.Second
	}
	if c.DecreaseFactor <= 0 || c.DecreaseFactor >= 1 {
		c.DecreaseFactor = 0.5
	}
	if c.DecreaseHoldoff <= 0 {
		c.DecreaseHoldoff = time.Second
	}
	return c, nil
}

// AIMD is an adaptive token-bucket limiter for one egress: it starts at its ceiling rate, halves on
// each throttle event (down to a floor) and grows additively while requests succeed, never above the
// ceiling. Reservations may overdraw the bucket, so concurrent callers queue fairly behind each other.
// It is safe for concurrent use.
type AIMD struct {
	cfg   AIMDConfig
	clock Clock
	obs   Observer

	mu           sync.Mutex
	rate         float64
	tokens       float64 // may be negative: outstanding reservations
	last         time.Time
	lastIncrease time.Time
	lastDecrease time.Time
}

// NewAIMD returns a limiter at cfg.Ceiling that waits on clk. obs may be nil.
func NewAIMD(cfg AIMDConfig, clk Clock, obs Observer) (*AIMD, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	now := clk.Now()
	a := &AIMD{cfg: cfg, clock: clk, obs: obs, rate: cfg.Ceiling, tokens: float64(cfg.Burst), last: now,
		lastIncrease: now}
	if obs != nil {
		obs.RateChanged(a.rate)
	}
	return a, nil
}

// advance refills the bucket up to now at the current rate. Callers hold mu.
func (a *AIMD) advance(now time.Time) {
	if now.After(a.last) {
		a.tokens += now.Sub(a.last).Seconds() * a.rate
		if b := float64(a.cfg.Burst); a.tokens > b {
			a.tokens = b
		}
		a.last = now
	}
}

// delayFor returns how long until the bucket holds one token. Callers hold mu.
func (a *AIMD) delayFor() time.Duration {
	if a.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - a.tokens) / a.rate * float64(time.Second)))
}

// Delay returns how long a reservation made at now would have to wait, without reserving anything.
func (a *AIMD) Delay(now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advance(now)
	return a.delayFor()
}

// Reserve takes one token at now and returns how long the caller must wait before starting its request.
// A caller that gives up before then should call Cancel.
func (a *AIMD) Reserve(now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advance(now)
	d := a.delayFor()
	a.tokens--
	return d
}

// Cancel returns the token of a reservation whose request was never made.
func (a *AIMD) Cancel() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens++
	if b := float64(a.cfg.Burst); a.tokens > b {
		a.tokens = b
	}
}

// Wait blocks until the caller may start one request or ctx is done.
func (a *AIMD) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := a.Reserve(a.clock.Now())
	if d <= 0 {
		return nil
	}
	if err := a.clock.Sleep(ctx, d); err != nil {
		a.Cancel()
		return err
	}
	return nil
}

// OnSuccess reports a successful request: the rate grows by IncreaseStep for every IncreaseInterval
// since the last change, up to the ceiling.
func (a *AIMD) OnSuccess() {
	now := a.clock.Now()
	a.mu.Lock()
	if a.rate >= a.cfg.Ceiling {
		a.lastIncrease = now
		a.mu.Unlock()
		return
	}
	steps := int64(now.Sub(a.lastIncrease) / a.cfg.IncreaseInterval)
	if steps <= 0 {
		a.mu.Unlock()
		return
	}
	a.advance(now)
	a.rate = math.Min(a.cfg.Ceiling, a.rate+float64(steps)*a.cfg.IncreaseStep)
	a.lastIncrease = a.lastIncrease.Add(time.Duration(steps) * a.cfg.IncreaseInterval)
	rate := a.rate
	a.mu.Unlock()
	if a.obs != nil {
		a.obs.RateChanged(rate)
	}
}

// OnThrottle reports a throttle event (HTTP 429): the rate is multiplied by DecreaseFactor, down to the
// floor, at most once per DecreaseHoldoff. It reports whether the rate was decreased.
func (a *AIMD) OnThrottle() bool {
	now := a.clock.Now()
	if a.obs != nil {
		a.obs.Throttled()
	}
	a.mu.Lock()
	if !a.lastDecrease.IsZero() && now.Sub(a.lastDecrease) < a.cfg.DecreaseHoldoff {
		a.mu.Unlock()
		return false
	}
	a.advance(now)
	a.rate = math.Max(a.cfg.Floor, a.rate*a.cfg.DecreaseFactor)
	if b := float64(a.cfg.Burst); a.tokens > b {
		a.tokens = b
	}
	a.lastDecrease = now
	a.lastIncrease = now
	rate := a.rate
	a.mu.Unlock()
	if a.obs != nil {
		a.obs.RateChanged(rate)
	}
	return true
}

// Rate returns the current rate in requests per second.
func (a *AIMD) Rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rate
}

// Ceiling returns the maximum rate in requests per second.
func (a *AIMD) Ceiling() float64 { return a.cfg.Ceiling }
