package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func TestChainOrder(t *testing.T) {
	var order []string
	mark := func(name string) Middleware {
		return func(next message.Handler) message.Handler {
			return message.HandlerFunc(func(ctx context.Context, d message.Delivery) error {
				order = append(order, name)
				return next.Handle(ctx, d)
			})
		}
	}
	h := Chain(message.HandlerFunc(func(context.Context, message.Delivery) error {
		order = append(order, "handler")
		return nil
	}), mark("span"), mark("log"), mark("metrics"))
	require.NoError(t, h.Handle(context.Background(), message.Delivery{}))
	require.Equal(t, []string{"span", "log", "metrics", "handler"}, order)
}

func TestMiddleware(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	facts := Facts{Kind: message.KindListings, Game: "a8db", FetchedAt: now.Add(-2 * time.Second)}
	errDown := errors.New("redis down")
	tests := []struct {
		name     string
		describe bool
		err      error
		kind     string
		outcome  string
		latency  bool
		logs     []string
		notLogs  []string
	}{
		{name: "ok", describe: true, kind: "listings", outcome: OutcomeOK, latency: true},
		{name: "invalid", describe: true, err: message.Permanent(errDown), kind: "listings", outcome: OutcomeInvalid,
			logs: []string{"level=WARN", "dead-lettering invalid message", "message_id=m1", "kind=listings", "game=a8db"}},
		{name: "transient", describe: true, err: errDown, kind: "listings", outcome: OutcomeError,
			logs: []string{"level=DEBUG", "message failed, will be retried", "kind=listings", "attempt=3"}},
		{name: "undecodable", err: message.Permanent(errDown), kind: KindUnknown, outcome: OutcomeInvalid,
			logs: []string{"level=WARN", "dead-lettering undecodable message", "message_id=m1"}, notLogs: []string{"kind="}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			handled := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "handled"}, []string{"kind", "outcome"})
			latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latency", Help: "l", Buckets: []float64{1, 5}},
				[]string{"kind"})
			var spans []string
			var spanErr error
			start := func(ctx context.Context, name string, headers map[string]any) (context.Context, func(error)) {
				spans = append(spans, name)
				return ctx, func(err error) { spanErr = err }
			}
			inner := message.HandlerFunc(func(ctx context.Context, _ message.Delivery) error {
				if tc.describe {
					Describe(ctx, facts)
				}
				return tc.err
			})
			h := Chain(inner, Span(start, "worker.handle"), Log(log), Metrics(handled, latency, clocktest.NewFake(now)))
			err := h.Handle(context.Background(), message.Delivery{MessageID: "m1", Attempt: 3})
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, []string{"worker.handle"}, spans)
			require.Equal(t, tc.err, spanErr, "the span records the error")
			require.Equal(t, 1.0, testutil.ToFloat64(handled.WithLabelValues(tc.kind, tc.outcome)))
			require.Equal(t, 1, testutil.CollectAndCount(handled), "one outcome counted")
			if tc.latency {
				// Fetched 2s before now on the injected clock.
				require.NoError(t, testutil.CollectAndCompare(latency, strings.NewReader(`
# HELP latency l
# TYPE latency histogram
latency_bucket{kind="listings",le="1"} 0
latency_bucket{kind="listings",le="5"} 1
latency_bucket{kind="listings",le="+Inf"} 1
latency_sum{kind="listings"} 2
latency_count{kind="listings"} 1
`)))
			} else {
				require.Zero(t, testutil.CollectAndCount(latency), "no latency without success")
			}
			for _, want := range tc.logs {
				require.Contains(t, logs.String(), want)
			}
			for _, not := range tc.notLogs {
				require.NotContains(t, logs.String(), not)
			}
			if len(tc.logs) == 0 {
				require.Empty(t, logs.String(), "successes are not logged")
			}
		})
	}
}

func TestNilDependencies(t *testing.T) {
	called := false
	inner := message.HandlerFunc(func(ctx context.Context, _ message.Delivery) error {
		called = true
		Describe(ctx, Facts{Kind: message.KindFees}) // no middleware asked: a no-op
		return nil
	})
	h := Chain(inner, Span(nil, "x"), Log(nil))
	require.NoError(t, h.Handle(context.Background(), message.Delivery{}))
	require.True(t, called)
}

func TestHandlerKeepsTheContext(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	inner := message.HandlerFunc(func(ctx context.Context, _ message.Delivery) error {
		require.Equal(t, "v", ctx.Value(key{}), "values of the delivery's context pass through")
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	handled := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "handled"}, []string{"kind", "outcome"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latency"}, []string{"kind"})
	h := Chain(inner, Log(slog.New(slog.DiscardHandler)), Metrics(handled, latency, nil))
	require.ErrorIs(t, h.Handle(ctx, message.Delivery{}), context.Canceled, "and so does its cancellation")
}
