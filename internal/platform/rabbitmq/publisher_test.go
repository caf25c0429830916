package rabbitmq

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

func TestTopologyAndPublishConfirmed(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	c, reg := startConn(t, u, "dmarket.listings", "dmarket.sales")
	waitConnected(t, c)
	ctx := context.Background()

	p := NewPublisher(c, PublisherOptions{Channels: 3})
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := testMsg(fmt.Sprintf("m%d", i))
			m.Headers = map[string]any{"X-B3-TraceId": "463ac35c9f6413ad", "n": int64(i)}
			errs <- p.Publish(ctx, "dmarket.listings", m)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Confirmed means durable and in the queue: the depth is exact right away.
	requireDepth(t, c, "dmarket.listings", n)
	for _, q := range []string{"dmarket.listings.dlq", "dmarket.sales", "dmarket.sales.dlq"} {
		depth, err := c.QueueDepth(ctx, q)
		require.NoError(t, err, q)
		require.Zero(t, depth, q)
	}
	_, err := c.QueueDepth(ctx, "nope")
	require.Error(t, err)

	ch := rawChannel(t, u)
	got := drain(t, ch, "dmarket.listings")
	require.GreaterOrEqual(t, len(got), n)
	for _, d := range got {
		require.EqualValues(t, 2, d.DeliveryMode, "persistent")
		require.Equal(t, `{"id":"`+d.MessageId+`"}`, string(d.Body))
		require.Equal(t, "463ac35c9f6413ad", d.Headers["X-B3-TraceId"])
	}
	// The queue dead-letters rejected messages into its dlq.
	_, err = ch.QueueDeclarePassive("dmarket.listings", true, false, false, false, nil)
	require.NoError(t, err)

	require.Equal(t, float64(n), counter(c.metrics.published.WithLabelValues("dmarket.listings", publishOK)))
	require.Equal(t, 1.0, counter(c.metrics.connected))
	require.Equal(t, 1, testutil.CollectAndCount(c.metrics.publishSeconds))
	names, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range names {
		require.True(t, strings.HasPrefix(mf.GetName(), "dmarket_amqp_"), mf.GetName())
		require.NotEmpty(t, mf.GetHelp())
	}
}

func TestPublishUnroutableAndNotConfirmed(t *testing.T) {
	t.Parallel()
	_, c := connected(t, "known")
	p := startPublisher(t, c, PublisherOptions{Channels: 2})
	ctx := context.Background()

	// Interleave routable and unroutable publishes on the same channels: each gets its own verdict.
	const n = 200
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := "known"
			if i%3 == 0 {
				q = "missing"
			}
			results[i] = p.Publish(ctx, q, testMsg(fmt.Sprint(i)))
		}()
	}
	wg.Wait()
	routed := 0
	for i, err := range results {
		if i%3 == 0 {
			require.ErrorIs(t, err, ErrUnroutable, i)
			require.ErrorContains(t, err, "publish to missing")
		} else {
			require.NoError(t, err, i)
			routed++
		}
	}
	requireDepth(t, c, "known", routed)
	require.Equal(t, float64(n-routed), counter(c.metrics.published.WithLabelValues("missing", publishUnroutable)))

	// Headers AMQP cannot carry are rejected before anything is sent.
	m := testMsg("bad")
	m.Headers = map[string]any{"x": struct{}{}}
	require.ErrorIs(t, p.Publish(ctx, "known", m), ErrInvalidHeaders)

	// A cancelled context fails the publish.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, p.Publish(cctx, "known", testMsg("late")), context.Canceled)
	require.Equal(t, 2.0, counter(c.metrics.published.WithLabelValues("known", publishError)))

	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Publish(ctx, "known", testMsg("closed")), ErrClosed)
}

func TestPublishWaitsForBroker(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	proxy := netfaulttest.Start(t, "127.0.0.1:5672")
	proxy.SetRefuse(true) // the broker is "down" from the start

	c, _ := startConn(t, viaProxy(t, u, proxy.Addr()), "q")
	require.ErrorIs(t, c.Check(context.Background()), ErrNotConnected)
	require.Eventually(t, func() bool { return counter(c.metrics.connectFails) >= 2 }, waitFor, 10*time.Millisecond)
	require.ErrorContains(t, c.Check(context.Background()), "dial")

	p := startPublisher(t, c, PublisherOptions{})
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Publish(short, "q", testMsg("early")), context.DeadlineExceeded)

	// A publish made during the outage completes once the broker is back.
	done := make(chan error, 1)
	go func() { done <- p.Publish(context.Background(), "q", testMsg("during")) }()
	proxy.SetRefuse(false)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("publish did not complete after the broker came back")
	}
	waitConnected(t, c)

	// The connection is cut: the manager reconnects and counts it; publishing works again.
	require.Equal(t, 1, proxy.CutAll())
	require.Eventually(t, func() bool { return counter(c.metrics.reconnects) == 1 }, waitFor, 10*time.Millisecond)
	require.NoError(t, p.Publish(context.Background(), "q", testMsg("after")))
	depth, err := c.QueueDepth(context.Background(), "q")
	require.NoError(t, err)
	require.Equal(t, 2, depth)
}

func TestTopologyConflictKeepsNotReady(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	// Someone declared the queue without the dead-letter arguments: the declaration is refused, the
	// manager reports why and keeps retrying instead of running with the wrong topology.
	raw := rawChannel(t, u)
	_, err := raw.QueueDeclare("q", true, false, false, false, nil)
	require.NoError(t, err)

	c, _ := startConn(t, u, "q")
	require.Eventually(t, func() bool { return counter(c.metrics.connectFails) >= 2 }, waitFor, 10*time.Millisecond)
	err = c.Check(context.Background())
	require.ErrorIs(t, err, ErrNotConnected)
	require.ErrorContains(t, err, "declare queue q")
	require.Equal(t, 0.0, counter(c.metrics.connected))

	_, err = raw.QueueDelete("q", false, false, false)
	require.NoError(t, err)
	waitConnected(t, c)
}

func TestOverdueConfirmRetiresTheChannelAndRetries(t *testing.T) {
	t.Parallel()
	_, c := connected(t, "dmarket.listings")
	ctx := context.Background()

	// A confirm can never arrive within a nanosecond: every attempt times out, retires its channel and
	// is retried on a fresh one, until the publish gives up instead of hanging.
	impatient := NewPublisher(c, PublisherOptions{Channels: 1, ConfirmTimeout: time.Nanosecond, MaxChannelFailures: 3,
		RetryMinBackoff: time.Millisecond, RetryMaxBackoff: 2 * time.Millisecond})
	t.Cleanup(func() { require.NoError(t, impatient.Close()) })
	err := impatient.Publish(ctx, "dmarket.listings", testMsg("late"))
	require.ErrorIs(t, err, ErrTooManyChannelFailures)
	require.ErrorContains(t, err, "confirm timed out")
	require.Equal(t, 3.0, counter(c.metrics.publishRetries.WithLabelValues("dmarket.listings"))+1)

	// The connection is unharmed: a patient publisher confirms at once.
	patient := NewPublisher(c, PublisherOptions{})
	t.Cleanup(func() { require.NoError(t, patient.Close()) })
	require.NoError(t, patient.Publish(ctx, "dmarket.listings", testMsg("on time")))
}
