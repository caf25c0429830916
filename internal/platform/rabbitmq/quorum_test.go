package rabbitmq

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// startConnLimit is startConn with a delivery limit.
func startConnLimit(t *testing.T, rawURL string, limit int, queues ...string) *Conn {
	t.Helper()
	opts := fastConn
	opts.Queues = queues
	opts.DeliveryLimit = limit
	c, _ := startConnWith(t, rawURL, opts)
	return c
}

// returnUnsettled takes one message of q with a plain consumer and closes the channel without settling
// it, as a worker process that dies does. It returns the delivery's x-delivery-count (0 when absent) and
// false when no message came within wait.
func returnUnsettled(t *testing.T, conn *amqp.Connection, q string, wait time.Duration) (int64, bool) {
	t.Helper()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	require.NoError(t, ch.Qos(1, 0, false))
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	require.NoError(t, err)
	select {
	case d := <-ds:
		n, _ := d.Headers["x-delivery-count"].(int64)
		return n, true
	case <-time.After(wait):
		return 0, false
	}
}

// TestQuorumQueueDeadLettersAfterTheDeliveryLimit: the queue is a quorum queue (declaring it as the old
// classic queue fails), and a message returned unsettled more often than the limit lands in the
// dead-letter queue, where the DLQ listing names the broker's reason.
func TestQuorumQueueDeadLettersAfterTheDeliveryLimit(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	const limit = 2
	c := startConnLimit(t, u, limit, "q")
	waitConnected(t, c)

	conn, err := amqp.Dial(u)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	_, err = ch.QueueDeclare("q", true, false, false, false, QueueArgs("q", limit))
	require.NoError(t, err, "declared with QueueArgs")
	_, err = ch.QueueDeclare("q", true, false, false, false, legacyQueueArgs("q"))
	require.ErrorContains(t, err, "PRECONDITION_FAILED", "not the classic queue of older releases")

	p := startPublisher(t, c, PublisherOptions{})
	require.NoError(t, p.Publish(context.Background(), "q", testMsg("poison")))
	for want := range int64(limit + 1) {
		// The broker redelivers a returned message promptly, but a loaded machine may take a while.
		n, ok := returnUnsettled(t, conn, "q", waitFor)
		require.True(t, ok, "delivery %d", want+1)
		require.Equal(t, want, n)
	}
	_, ok := returnUnsettled(t, conn, "q", 2*time.Second)
	require.False(t, ok, "dead-lettered after %d returns", limit+1)

	dlq := NewDLQ(c)
	t.Cleanup(func() { _ = dlq.Close() })
	var got []DeadLetter
	require.Eventually(t, func() bool {
		got, err = dlq.List(context.Background(), "q"+message.DeadLetterSuffix, 0)
		return err == nil && len(got) == 1
	}, waitFor, 10*time.Millisecond)
	require.Equal(t, "poison", got[0].MessageID)
	require.Contains(t, got[0].Error, "delivery limit")
}

// TestDeclareKeepsAnExistingQueue: a queue that exists with other arguments is used as it is, with the
// mismatch gauge naming why.
func TestDeclareKeepsAnExistingQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args amqp.Table
		kind string
	}{
		{name: "classic queue of an older release", args: legacyQueueArgs("q"), kind: mismatchClassic},
		{name: "quorum queue with another delivery limit", args: QueueArgs("q", 7), kind: mismatchArguments},
		{name: "as declared", args: QueueArgs("q", 3), kind: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := rabbitmqtest.NewVhost(t)
			ch := rawChannel(t, u)
			_, err := ch.QueueDeclare("q.dlq", true, false, false, false, nil)
			require.NoError(t, err)
			_, err = ch.QueueDeclare("q", true, false, false, false, tc.args)
			require.NoError(t, err)

			c := startConnLimit(t, u, 3, "q")
			waitConnected(t, c)
			for _, k := range []string{mismatchClassic, mismatchArguments} {
				want := 0.0
				if k == tc.kind {
					want = 1
				}
				require.Equal(t, want, counter(c.metrics.queueMismatch.WithLabelValues("q", k)), k)
			}
			// The queue works: a message goes through.
			var handled atomic.Int32
			h := message.HandlerFunc(func(context.Context, message.Delivery) error { handled.Add(1); return nil })
			runConsumer(t, NewConsumer(c, "q", h, ConsumerOptions{}))
			p := startPublisher(t, c, PublisherOptions{})
			require.NoError(t, p.Publish(context.Background(), "q", testMsg("m")))
			require.Eventually(t, func() bool { return handled.Load() == 1 }, waitFor, 10*time.Millisecond)
		})
	}
}

// TestConsumerTakesReturnedMessagesOneAtATime: messages returned unsettled (their worker died) are
// handled one at a time, so that one of them killing the process again spends no other message's
// delivery count; the first new message brings the full prefetch back.
func TestConsumerTakesReturnedMessagesOneAtATime(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	c := startConnLimit(t, u, 10, "q")
	waitConnected(t, c)
	p := startPublisher(t, c, PublisherOptions{})
	const returned = 6
	for i := range returned {
		require.NoError(t, p.Publish(context.Background(), "q", testMsg(fmt.Sprint("old-", i))))
	}
	// A consumer takes them all and dies.
	conn, err := amqp.Dial(u)
	require.NoError(t, err)
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Qos(returned, 0, false))
	ds, err := ch.Consume("q", "", false, false, false, false, nil)
	require.NoError(t, err)
	for range returned {
		<-ds
	}
	require.NoError(t, conn.Close())

	var inFlight, peakReturned, peakNew, handled atomic.Int32
	peak := func(p *atomic.Int32, n int32) {
		for {
			old := p.Load()
			if n <= old || p.CompareAndSwap(old, n) {
				return
			}
		}
	}
	h := message.HandlerFunc(func(_ context.Context, d message.Delivery) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		defer handled.Add(1)
		if _, redelivered := d.Headers["x-delivery-count"]; redelivered {
			peak(&peakReturned, n)
			// Give a second handler the time to join, which it must not.
			time.Sleep(50 * time.Millisecond)
			return nil
		}
		peak(&peakNew, n)
		// New messages are handled in parallel: wait until a second one is in hand.
		for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); {
			if inFlight.Load() >= 2 || peakNew.Load() >= 2 {
				return nil
			}
			time.Sleep(time.Millisecond) // polled like require.Eventually, which cannot run off the test goroutine
		}
		return nil
	})
	runConsumer(t, NewConsumer(c, "q", h, ConsumerOptions{Prefetch: 8, Concurrency: 4}))
	require.Eventually(t, func() bool { return handled.Load() == returned }, waitFor, 10*time.Millisecond)
	require.EqualValues(t, 1, peakReturned.Load(), "returned messages are handled one at a time")

	for i := range 4 {
		require.NoError(t, p.Publish(context.Background(), "q", testMsg(fmt.Sprint("new-", i))))
	}
	require.Eventually(t, func() bool { return handled.Load() == returned+4 }, waitFor, 10*time.Millisecond)
	require.GreaterOrEqual(t, peakNew.Load(), int32(2), "new messages are handled in parallel")
}

func TestOtherDeliveryLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reason string
		want   int
		ok     bool
	}{
		{name: "another limit", reason: "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': received '5' but current is '3'", want: 3, ok: true},
		{name: "another argument", reason: "PRECONDITION_FAILED - inequivalent arg 'x-overflow' for queue 'q' in vhost '/': received the value 'reject-publish' of type 'longstr' but current is none"},
		{name: "no limit on the existing queue", reason: "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': received '5' but current is none"},
		{name: "empty", reason: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := otherDeliveryLimit(tc.reason)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
