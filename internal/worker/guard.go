package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
)

// ErrRedisUnavailable means Redis does not answer: the worker's consumers are paused until it does.
var ErrRedisUnavailable = errors.New("redis unreachable, consumers paused")

// Unreachable reports whether err looks like an infrastructure failure of Redis (connection refused,
// reset or closed, a timeout, an exhausted pool, or a server that is loading, read-only, busy, down or
// out of clients) rather than a failure caused by the data written. It is a first filter: Guard
// confirms it with a probe before pausing anything.
func Unreachable(err error) bool {
	if err == nil || message.IsPermanent(err) || errors.Is(err, context.Canceled) {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	case redis.IsLoadingError(err), redis.IsReadOnlyError(err), redis.IsClusterDownError(err),
		redis.IsTryAgainError(err), redis.IsMasterDownError(err), redis.IsMaxClientsError(err):
		return true
	}
	for _, prefix := range serverDownReplies {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// serverDownReplies are the prefixes of Redis error replies that say the server cannot serve now.
var serverDownReplies = []string{"LOADING", "BUSY", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "max number of clients"}

// Defaults of GuardOptions.
const (
	DefaultProbeTimeout    = 2 * time.Second
	DefaultProbeMinBackoff = 250 * time.Millisecond
	DefaultProbeMaxBackoff = 2 * time.Second
)

// GuardOptions tunes a Guard. Zero values take the defaults.
type GuardOptions struct {
	// ProbeTimeout bounds one probe (default DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// ProbeMinBackoff and ProbeMaxBackoff bound the pause between probes while Redis is down; it
	// doubles from the first to the second (defaults DefaultProbeMinBackoff, DefaultProbeMaxBackoff).
	ProbeMinBackoff time.Duration
	ProbeMaxBackoff time.Duration
	// Logger logs outages; nil discards.
	Logger *slog.Logger
	// Registerer registers the metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

// Guard tells an unreachable Redis from a message that fails on its own, and pauses the consumers
// (it implements rabbitmq.Pauser) while Redis is down: a handler error that Unreachable accepts is
// confirmed with a probe (PING); when the probe fails too, the guard is down, consumers hold their
// deliveries without spending attempts, the health check reports Redis unhealthy (so /readyz answers
// 503), and Run probes with backoff until Redis answers, then lets the consumers resume. Start Run
// before the consumers.
type Guard struct {
	probe func(ctx context.Context) error
	opts  GuardOptions
	log   *slog.Logger
	wake  chan struct{}

	mu      sync.Mutex
	down    bool
	since   time.Time
	lastErr error
	resumed chan struct{} // closed while up; replaced when Redis goes down

	paused  prometheus.Gauge
	outages prometheus.Counter
}

// NewGuard returns a Guard that probes Redis with probe (redisdb.Check in production).
func NewGuard(probe func(ctx context.Context) error, opts GuardOptions) (*Guard, error) {
	if probe == nil {
		return nil, fmt.Errorf("%w: nil probe", ErrConfig)
	}
	if opts.ProbeTimeout < 0 || opts.ProbeMinBackoff < 0 || opts.ProbeMaxBackoff < 0 {
		return nil, fmt.Errorf("%w: negative guard duration", ErrConfig)
	}
	opts.ProbeTimeout = cmp.Or(opts.ProbeTimeout, DefaultProbeTimeout)
	opts.ProbeMinBackoff = cmp.Or(opts.ProbeMinBackoff, DefaultProbeMinBackoff)
	opts.ProbeMaxBackoff = cmp.Or(opts.ProbeMaxBackoff, max(DefaultProbeMaxBackoff, opts.ProbeMinBackoff))
	if opts.ProbeMaxBackoff < opts.ProbeMinBackoff {
		return nil, fmt.Errorf("%w: probe max backoff %s below min %s", ErrConfig, opts.ProbeMaxBackoff, opts.ProbeMinBackoff)
	}
	log := orDiscard(opts.Logger)
	f := promauto.With(orNowhere(opts.Registerer))
	resumed := make(chan struct{})
	close(resumed)
	return &Guard{
		probe: probe, opts: opts, log: log, wake: make(chan struct{}, 1), resumed: resumed,
		paused: f.NewGauge(prometheus.GaugeOpts{Name: "dmarket_worker_consumers_paused",
			Help: "1 while the consumers are paused because Redis is unreachable, else 0."}),
		outages: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_worker_redis_outages_total",
			Help: "Redis outages that paused the consumers."}),
	}, nil
}

// Unavailable reports whether err, returned by the handler, was caused by an unreachable Redis. It is
// true while the guard is down, and for an error Unreachable accepts when a probe fails too (the guard
// then goes down). When Redis answers the probe, the failure is the message's own: false.
func (g *Guard) Unavailable(ctx context.Context, err error) bool {
	if !Unreachable(err) {
		return false
	}
	if g.Down() {
		return true
	}
	perr := g.check(ctx)
	if perr == nil {
		return false
	}
	if ctx.Err() != nil {
		return false // shutting down; the consumer settles the message as usual
	}
	g.markDown(perr)
	return true
}

// Wait returns nil at once while Redis is usable, else once Run has seen it answer again, or ctx's
// error when ctx ends first.
func (g *Guard) Wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.resumed
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Down reports whether the consumers are paused.
func (g *Guard) Down() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.down
}

// Check returns an error wrapping ErrRedisUnavailable (and the last probe error) while the consumers
// are paused, else nil.
func (g *Guard) Check(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrRedisUnavailable, g.lastErr)
}

// HealthCheck reports unhealthy while the consumers are paused, else what next reports (the plain
// Redis check).
func (g *Guard) HealthCheck(next health.CheckFunc) health.CheckFunc {
	return func(ctx context.Context) (health.Status, error) {
		if err := g.Check(ctx); err != nil {
			return health.StatusUnhealthy, err
		}
		return next(ctx)
	}
}

// Run probes Redis while the guard is down, with capped exponential backoff, and lets the consumers
// resume as soon as a probe succeeds. It returns nil when ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.wake:
		}
		pause := backoff.Policy{Initial: g.opts.ProbeMinBackoff, Max: g.opts.ProbeMaxBackoff}
		for attempt := 1; g.Down(); attempt++ {
			if clock.Sleep(ctx, pause.Ceiling(attempt)) != nil {
				return nil
			}
			if err := g.check(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				g.mu.Lock()
				g.lastErr = err
				g.mu.Unlock()
				continue
			}
			g.markUp()
		}
	}
}

func (g *Guard) check(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, g.opts.ProbeTimeout)
	defer cancel()
	return g.probe(pctx)
}

func (g *Guard) markDown(cause error) {
	g.mu.Lock()
	if g.down {
		g.lastErr = cause
		g.mu.Unlock()
		return
	}
	g.down, g.since, g.lastErr = true, time.Now(), cause
	g.resumed = make(chan struct{})
	g.mu.Unlock()
	g.paused.Set(1)
	g.outages.Inc()
	g.log.Warn("redis unreachable: consumers paused, deliveries held until it answers", "err", cause)
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *Guard) markUp() {
	g.mu.Lock()
	if !g.down {
		g.mu.Unlock()
		return
	}
	g.down, g.lastErr = false, nil
	since := g.since
	close(g.resumed)
	g.mu.Unlock()
	g.paused.Set(0)
	g.log.Info("redis answers again: consumers resume", "outage", time.Since(since).Round(time.Millisecond))
}
