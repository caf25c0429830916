package rabbitmq

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

const waitFor = 20 * time.Second

func testMsg(id string) message.Outgoing {
	return message.Outgoing{MessageID: id, Body: []byte(`{"id":"` + id + `"}`)}
}

// fastConn are reconnect settings that keep tests quick.
var fastConn = ConnOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DialTimeout: 5 * time.Second, Heartbeat: 10 * time.Second}

// startConn builds a Conn on rawURL declaring queues, runs it until the test ends and returns it with its
// registry.
func startConn(t *testing.T, rawURL string, queues ...string) (*Conn, *prometheus.Registry) {
	t.Helper()
	opts := fastConn
	opts.Queues = queues
	return startConnWith(t, rawURL, opts)
}

// startConnWith is startConn with the given options.
func startConnWith(t *testing.T, rawURL string, opts ConnOptions) (*Conn, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := NewConn(rawURL, loggingtest.Verbose(), reg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) }) // after Run has returned
	lifecycletest.Run(t, waitFor, c.Run)
	return c, reg
}

// connected returns the URL of a fresh vhost and a Conn to it that has declared queues and is connected.
func connected(t *testing.T, queues ...string) (string, *Conn) {
	t.Helper()
	u := rabbitmqtest.NewVhost(t)
	c, _ := startConn(t, u, queues...)
	waitConnected(t, c)
	return u, c
}

// startPublisher returns a publisher on c that is closed when the test ends.
func startPublisher(t *testing.T, c *Conn, opts PublisherOptions) *Publisher {
	t.Helper()
	p := NewPublisher(c, opts)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func waitConnected(t *testing.T, c *Conn) {
	t.Helper()
	require.Eventually(t, func() bool { return c.Check(context.Background()) == nil }, waitFor, 10*time.Millisecond)
}

// runConsumer runs cons until the test ends (or stop is called) and returns stop, which cancels and
// waits for Run's result.
func runConsumer(t *testing.T, cons *Consumer) (stop func() error) {
	t.Helper()
	return lifecycletest.Start(t, waitFor, cons.Run)
}

// rawChannel opens a channel with a plain client, independent of the code under test.
func rawChannel(t *testing.T, rawURL string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.DialConfig(rawURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// drain gets every ready message of q with a plain client and acks them.
func drain(t *testing.T, ch *amqp.Channel, q string) []amqp.Delivery {
	t.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(q, false)
		require.NoError(t, err)
		if !ok {
			return out
		}
		require.NoError(t, d.Ack(false))
		out = append(out, d)
	}
}

// viaProxy returns rawURL with its host replaced by addr.
func viaProxy(t *testing.T, rawURL, addr string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	u.Host = addr
	return u.String()
}

func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// awaitDepth waits until q holds want ready messages.
func awaitDepth(t *testing.T, c *Conn, q string, want int, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, err := c.QueueDepth(context.Background(), q)
		return err == nil && d == want
	}, waitFor, 5*time.Millisecond, msgAndArgs...)
}

// requireDepth asserts that q holds want ready messages. A publish retried after a lost connection may
// have gone out twice, so after a reconnect (a loaded machine can miss heartbeats) it only asserts that
// nothing is missing.
func requireDepth(t *testing.T, c *Conn, q string, want int) {
	t.Helper()
	depth, err := c.QueueDepth(context.Background(), q)
	require.NoError(t, err)
	if counter(c.metrics.reconnects) == 0 {
		require.Equal(t, want, depth, q)
		return
	}
	require.GreaterOrEqual(t, depth, want, q)
}
