package rabbitmq

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

func TestNewConnRejects(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		queues []string
		want   error
	}{
		{name: "bad scheme", url: "http://guest:topsecret@host/", want: ErrInvalidURL},
		{name: "bad port", url: "amqp://guest:topsecret@host:99999999999/", want: ErrInvalidURL},
		{name: "control char", url: "amqp://guest:topsecret@host\x7f/", want: ErrInvalidURL},
		{name: "slash in password", url: "amqp://guest:topsecret/x@host/", want: ErrInvalidURL},
		{name: "empty queue", url: "amqp://guest:topsecret@host/", queues: []string{"a", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConn(tc.url, nil, nil, ConnOptions{Queues: tc.queues})
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.NotContains(t, err.Error(), "topsecret")
		})
	}
}

func TestEqualJitter(t *testing.T) {
	tests := []struct {
		name     string
		attempt  int
		min, max time.Duration
		rand     float64
		want     time.Duration
	}{
		{name: "first, no jitter", attempt: 1, min: 100 * time.Millisecond, max: 10 * time.Second, rand: 0, want: 50 * time.Millisecond},
		{name: "first, full jitter", attempt: 1, min: 100 * time.Millisecond, max: 10 * time.Second, rand: 0.999999, want: 99999950 * time.Nanosecond},
		{name: "zero attempt is first", attempt: 0, min: 100 * time.Millisecond, max: time.Second, rand: 0, want: 50 * time.Millisecond},
		{name: "doubles", attempt: 4, min: 100 * time.Millisecond, max: 10 * time.Second, rand: 0, want: 400 * time.Millisecond},
		{name: "capped", attempt: 30, min: 100 * time.Millisecond, max: 10 * time.Second, rand: 0, want: 5 * time.Second},
		{name: "huge attempt does not overflow", attempt: 1 << 30, min: time.Second, max: time.Minute, rand: 0.5, want: 45 * time.Second},
		{name: "max below min", attempt: 3, min: time.Second, max: time.Millisecond, rand: 0, want: 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := equalJitter(tc.min, tc.max)
			p.Rand = func() float64 { return tc.rand }
			require.InDelta(t, float64(tc.want), float64(p.Delay(tc.attempt)), float64(time.Microsecond))
		})
	}
	for range 100 {
		d := equalJitter(time.Second, time.Minute).Delay(3)
		require.GreaterOrEqual(t, d, 2*time.Second)
		require.Less(t, d, 4*time.Second)
	}
}

func TestSleep(t *testing.T) {
	require.True(t, sleep(context.Background(), context.Background(), time.Millisecond))
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	require.False(t, sleep(ended, context.Background(), time.Hour))
	require.False(t, sleep(context.Background(), ended, time.Hour))
}

func TestAttemptOf(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want int
	}{
		{name: "missing", v: nil, want: 1},
		{name: "int32", v: int32(3), want: 3},
		{name: "int64", v: int64(4), want: 4},
		{name: "int", v: 5, want: 5},
		{name: "int8", v: int8(2), want: 2},
		{name: "int16", v: int16(2), want: 2},
		{name: "uint8", v: uint8(2), want: 2},
		{name: "uint16", v: uint16(2), want: 2},
		{name: "uint32", v: uint32(2), want: 2},
		{name: "float32", v: float32(2), want: 2},
		{name: "float64", v: float64(6), want: 6},
		{name: "string", v: "7", want: 7},
		{name: "garbage string", v: "x", want: 1},
		{name: "zero", v: int32(0), want: 1},
		{name: "negative", v: int64(-9), want: 1},
		{name: "huge", v: int64(1 << 40), want: 1<<31 - 1},
		{name: "wrong type", v: true, want: 1},
		{name: "huge unsigned", v: uint64(1 << 63), want: 1<<31 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := amqp.Table{}
			if tc.v != nil {
				h[HeaderAttempt] = tc.v
			}
			require.Equal(t, tc.want, attemptOf(h))
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	require.Equal(t, ConnOptions{DeliveryLimit: 10, MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		DialTimeout: 5 * time.Second, Heartbeat: 10 * time.Second}, ConnOptions{}.withDefaults())
	require.Equal(t, 2*time.Second, ConnOptions{MinBackoff: 2 * time.Second, MaxBackoff: time.Second}.withDefaults().MaxBackoff,
		"max below min is raised to min")
	require.Equal(t, PublisherOptions{Channels: 4, MaxChannelFailures: 20, RetryMinBackoff: 50 * time.Millisecond,
		RetryMaxBackoff: 2 * time.Second, ConfirmTimeout: 30 * time.Second}, PublisherOptions{}.withDefaults())
	require.Equal(t, ConsumerOptions{Prefetch: 16, Concurrency: 1, MaxAttempts: 5, RetryMinBackoff: 500 * time.Millisecond,
		RetryMaxBackoff: 30 * time.Second, ShutdownTimeout: 30 * time.Second, PublishTimeout: 30 * time.Second},
		ConsumerOptions{}.withDefaults())
	kept := ConsumerOptions{Prefetch: 3, Concurrency: 2, MaxAttempts: 7, RetryMinBackoff: time.Minute,
		RetryMaxBackoff: time.Hour, ShutdownTimeout: time.Second, PublishTimeout: time.Second}
	require.Equal(t, kept, kept.withDefaults())
}

func TestConnClosedBeforeRun(t *testing.T) {
	c, err := NewConn("amqp://guest:guest@127.0.0.1:1/", nil, nil, ConnOptions{})
	require.NoError(t, err)
	require.Equal(t, "amqp://****:****@127.0.0.1:1/", c.URL(), "a user equal to the password is masked too")
	require.ErrorIs(t, c.Check(context.Background()), ErrNotConnected)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")
	require.ErrorIs(t, c.Run(context.Background()), ErrClosed)
	require.ErrorIs(t, c.Check(context.Background()), ErrClosed)
	_, err = c.Channel(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.Check(ctx), context.Canceled)
	require.True(t, errors.Is(NewPublisher(c, PublisherOptions{}).Publish(context.Background(), "q", testMsg("m")), ErrClosed))
}

func TestWatchTracksBlocking(t *testing.T) {
	c, err := NewConn("amqp://guest:guest@127.0.0.1:1/", nil, nil, ConnOptions{})
	require.NoError(t, err)
	notify := make(chan *amqp.Error)
	blocked := make(chan amqp.Blocking)
	type res struct {
		err      error
		stopping bool
	}
	done := make(chan res, 1)
	go func() {
		stopping, err := c.watch(context.Background(), notify, blocked)
		done <- res{err, stopping}
	}()
	blockedReason := func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.blocked
	}
	blocked <- amqp.Blocking{Active: true, Reason: "low on memory"}
	require.Eventually(t, func() bool { return blockedReason() == "low on memory" }, waitFor, time.Millisecond)
	blocked <- amqp.Blocking{Active: false}
	require.Eventually(t, func() bool { return blockedReason() == "" }, waitFor, time.Millisecond)
	blocked <- amqp.Blocking{Active: true}
	require.Eventually(t, func() bool { return blockedReason() == "no reason given" }, waitFor, time.Millisecond)
	close(blocked)
	notify <- &amqp.Error{Code: 320, Reason: "CONNECTION_FORCED"}
	r := <-done
	require.False(t, r.stopping)
	require.ErrorContains(t, r.err, "CONNECTION_FORCED")

	// A closed notification channel without an error is a loss too; cancellation means stopping.
	closedNotify := make(chan *amqp.Error)
	close(closedNotify)
	stopping, err := c.watch(context.Background(), closedNotify, nil)
	require.False(t, stopping)
	require.ErrorContains(t, err, "connection closed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopping, err = c.watch(ctx, make(chan *amqp.Error), nil)
	require.True(t, stopping)
	require.NoError(t, err)
}

func TestPublisherCloseWhileWaitingForBroker(t *testing.T) {
	c, err := NewConn("amqp://guest:guest@127.0.0.1:1/", nil, nil, ConnOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	// Run is never started: the publish waits for a connection until the publisher is closed.
	p := NewPublisher(c, PublisherOptions{Channels: 1})
	done := make(chan error, 2)
	go func() { done <- p.Publish(context.Background(), "q", testMsg("a")) }()
	go func() { done <- p.Publish(context.Background(), "q", testMsg("b")) }()
	require.Eventually(t, func() bool { return len(p.slots[0].sem) == 1 }, waitFor, time.Millisecond)
	require.NoError(t, p.Close())
	for range 2 {
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrClosed)
		case <-time.After(waitFor):
			t.Fatal("publish did not return after Close")
		}
	}
	require.Equal(t, 2.0, counter(c.metrics.published.WithLabelValues("q", publishError)))
}

func TestRegisterSharesCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newMetrics(reg)
	b := newMetrics(reg)
	require.Same(t, a.reconnects, b.reconnects, "a second Conn on the same registry shares the metrics")
	a.published.WithLabelValues("q", publishOK).Inc()
	require.Equal(t, 1.0, counter(b.published.WithLabelValues("q", publishOK)))
	require.NotNil(t, newMetrics(nil).connected)

	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "dmarket_amqp_reconnects_total", Help: "other"}))
	require.Panics(t, func() { newMetrics(clash) })
}

func TestLogsNeverShowThePassword(t *testing.T) {
	var buf loggingtest.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := NewConn("amqp://guest:sup3rs3cret@127.0.0.1:1/vh", logger, nil, ConnOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	stop := lifecycletest.Start(t, waitFor, c.Run)
	require.Eventually(t, func() bool { return counter(c.metrics.connectFails) >= 3 }, waitFor, time.Millisecond)
	require.NoError(t, stop())
	require.ErrorIs(t, c.Run(context.Background()), errRunTwice)
	out := buf.String()
	require.Contains(t, out, "rabbitmq connect failed")
	require.Contains(t, out, "amqp://guest:****@127.0.0.1:1/vh")
	require.NotContains(t, out, "sup3rs3cret")
	require.NotContains(t, c.Check(context.Background()).Error(), "sup3rs3cret")
}

func TestQueues(t *testing.T) {
	require.Equal(t, []string{"dmarket.listings", "dmarket.orders", "dmarket.sales", "dmarket.fees"}, Queues())
}
