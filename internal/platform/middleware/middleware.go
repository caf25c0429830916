// Package middleware wraps message handlers (message.Handler) with the concerns every consumer shares,
// each one a Middleware: Span traces a delivery, Log logs how it failed and Metrics counts its outcome
// and measures its latency. Chain composes them; consumers use the order span -> log -> metrics ->
// handler, so that the span covers everything done for the delivery.
//
// The wrapped handler tells the middleware what it learned by decoding a delivery (its kind, game and
// fetch time) with Describe; a delivery it did not describe is one it could not decode.
package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// Middleware wraps a handler in another.
type Middleware func(next message.Handler) message.Handler

// Chain returns h wrapped in mws, the first one outermost: Chain(h, a, b) handles a delivery as a(b(h)).
func Chain(h message.Handler, mws ...Middleware) message.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Facts are what a handler learned about a delivery by decoding it.
type Facts struct {
	// Kind is the message kind.
	Kind message.Kind
	// Game is the game the message belongs to.
	Game string
	// FetchedAt is when the parser fetched the answer the message carries.
	FetchedAt time.Time
}

type factsKey struct{}

// described holds the facts a handler described, shared by every middleware of one delivery.
type described struct {
	facts Facts
	ok    bool
}

// Describe records what the handler learned about the delivery it is handling with ctx. Without a
// middleware around the handler it does nothing.
func Describe(ctx context.Context, f Facts) {
	if d, ok := ctx.Value(factsKey{}).(*described); ok {
		d.facts, d.ok = f, true
	}
}

// withFacts returns ctx carrying the record Describe fills, reusing the one an outer middleware added.
func withFacts(ctx context.Context) (context.Context, *described) {
	if d, ok := ctx.Value(factsKey{}).(*described); ok {
		return ctx, d
	}
	c := &factsCtx{Context: ctx}
	return c, &c.described
}

// factsCtx is a context holding the record of one delivery: one allocation for both.
type factsCtx struct {
	context.Context
	described
}

// Value returns the record for factsKey and asks the parent for any other key.
func (c *factsCtx) Value(key any) any {
	if key == (factsKey{}) {
		return &c.described
	}
	return c.Context.Value(key)
}

// kind returns the described kind, or KindUnknown.
func (d *described) kind() string {
	if !d.ok {
		return KindUnknown
	}
	return string(d.facts.Kind)
}

// StartSpan starts a span named name. With non-nil headers the span continues the trace they carry (B3
// headers of a delivery); with nil headers it is a child of the span in ctx. It returns the context that
// holds the span and a function that ends it, recording err when not nil.
type StartSpan func(ctx context.Context, name string, headers map[string]any) (context.Context, func(err error))

// Span runs each delivery in a span named name that continues the trace of the delivery's headers and
// records the handler's error. A nil start traces nothing.
func Span(start StartSpan, name string) Middleware {
	return func(next message.Handler) message.Handler {
		if start == nil {
			return next
		}
		return message.HandlerFunc(func(ctx context.Context, d message.Delivery) (err error) {
			ctx, end := start(ctx, name, d.Headers)
			defer func() { end(err) }()
			return next.Handle(ctx, d)
		})
	}
}

// Log logs each failed delivery: at warn level one that is dead-lettered (message_id, and kind, game
// when the handler described it), at debug level one that will be retried (message_id, kind, attempt).
// Successes are not logged. A nil log logs nothing.
func Log(log *slog.Logger) Middleware {
	return func(next message.Handler) message.Handler {
		if log == nil {
			return next
		}
		return message.HandlerFunc(func(ctx context.Context, d message.Delivery) error {
			ctx, facts := withFacts(ctx)
			err := next.Handle(ctx, d)
			switch {
			case err == nil:
			case !message.IsPermanent(err):
				log.Debug("message failed, will be retried", "message_id", d.MessageID, "kind", facts.kind(),
					"attempt", d.Attempt, "err", err)
			case !facts.ok:
				log.Warn("dead-lettering undecodable message", "message_id", d.MessageID, "err", err)
			default:
				log.Warn("dead-lettering invalid message", "message_id", d.MessageID, "kind", facts.kind(),
					"game", facts.facts.Game, "err", err)
			}
			return err
		})
	}
}

// Labels of the metrics Metrics updates.
const (
	// OutcomeOK is the outcome of a handled delivery (acked).
	OutcomeOK = "ok"
	// OutcomeInvalid is the outcome of a delivery that failed permanently (dead-lettered).
	OutcomeInvalid = "invalid"
	// OutcomeError is the outcome of a delivery that failed transiently (retried).
	OutcomeError = "error"
	// KindUnknown is the kind of a delivery the handler did not describe (undecodable).
	KindUnknown = "unknown"
)

// Outcomes lists every outcome label, for consumers that initialise their series.
var Outcomes = []string{OutcomeOK, OutcomeInvalid, OutcomeError}

// Metrics counts each delivery in handled (labels kind, outcome) and, when it succeeded and was
// described, observes in latency (label kind) the time from its fetch to now on clk, never negative. A
// nil clk is the wall clock.
func Metrics(handled *prometheus.CounterVec, latency *prometheus.HistogramVec, clk clock.Clock) Middleware {
	if clk == nil {
		clk = clock.Real{}
	}
	return func(next message.Handler) message.Handler {
		return message.HandlerFunc(func(ctx context.Context, d message.Delivery) error {
			ctx, facts := withFacts(ctx)
			err := next.Handle(ctx, d)
			kind := facts.kind()
			switch {
			case err == nil:
				handled.WithLabelValues(kind, OutcomeOK).Inc()
				if facts.ok {
					latency.WithLabelValues(kind).Observe(max(0, clk.Now().Sub(facts.facts.FetchedAt).Seconds()))
				}
			case message.IsPermanent(err):
				handled.WithLabelValues(kind, OutcomeInvalid).Inc()
			default:
				handled.WithLabelValues(kind, OutcomeError).Inc()
			}
			return err
		})
	}
}
