package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

var fastRetry = ConsumerOptions{RetryMinBackoff: 5 * time.Millisecond, RetryMaxBackoff: 20 * time.Millisecond}

// recorder is a handler whose verdict per message id is scripted.
type recorder struct {
	mu       sync.Mutex
	attempts map[string][]int
	headers  map[string]map[string]any
	verdict  func(d message.Delivery) error
	acked    chan string
}

func newRecorder(verdict func(d message.Delivery) error) *recorder {
	return &recorder{attempts: map[string][]int{}, headers: map[string]map[string]any{}, verdict: verdict, acked: make(chan string, 1000)}
}

func (r *recorder) Handle(_ context.Context, d message.Delivery) error {
	r.mu.Lock()
	r.attempts[d.MessageID] = append(r.attempts[d.MessageID], d.Attempt)
	r.headers[d.MessageID] = d.Headers
	r.mu.Unlock()
	err := r.verdict(d)
	if err == nil {
		r.acked <- d.MessageID
	}
	return err
}

func (r *recorder) attemptsOf(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attempts[id]...)
}

func TestConsumerOutcomes(t *testing.T) {
	t.Parallel()
	u, c := connected(t, "work")
	ctx := context.Background()

	rec := newRecorder(func(d message.Delivery) error {
		switch d.MessageID {
		case "ok":
			return nil
		case "permanent":
			return fmt.Errorf("decode: %w", message.Permanent(errors.New("bad json")))
		case "flaky":
			if d.Attempt < 3 {
				return errors.New("redis down")
			}
			return nil
		case "always":
			return errors.New("still down")
		case "panics":
			panic("boom")
		}
		return fmt.Errorf("unexpected %s", d.MessageID)
	})
	opts := fastRetry
	opts.MaxAttempts = 4
	opts.Concurrency = 3
	cons := NewConsumer(c, "work", rec, opts)
	stop := runConsumer(t, cons)

	p := startPublisher(t, c, PublisherOptions{})
	for _, id := range []string{"ok", "permanent", "flaky", "always", "panics"} {
		m := testMsg(id)
		m.Headers = map[string]any{"X-B3-TraceId": "trace-" + id}
		require.NoError(t, p.Publish(ctx, "work", m))
	}

	dlqCh := rawChannel(t, u)
	var dead []string
	deadHeaders := map[string]map[string]any{}
	deadBodies := map[string]string{}
	require.Eventually(t, func() bool {
		for _, d := range drain(t, dlqCh, "work.dlq") {
			dead = append(dead, d.MessageId)
			deadHeaders[d.MessageId] = d.Headers
			deadBodies[d.MessageId] = string(d.Body)
		}
		return len(dead) == 3
	}, waitFor, 20*time.Millisecond)
	require.ElementsMatch(t, []string{"permanent", "always", "panics"}, dead)

	// Dead-lettered messages keep body and headers and say why.
	require.Equal(t, "decode: bad json", deadHeaders["permanent"][message.HeaderError])
	require.Equal(t, "trace-permanent", deadHeaders["permanent"]["X-B3-TraceId"])
	require.EqualValues(t, 1, deadHeaders["permanent"][HeaderAttempt])
	require.Equal(t, `{"id":"permanent"}`, deadBodies["permanent"])
	require.Equal(t, "gave up after 4 attempts: still down", deadHeaders["always"][message.HeaderError])
	require.EqualValues(t, 4, deadHeaders["always"][HeaderAttempt])
	require.Equal(t, "trace-always", deadHeaders["always"]["X-B3-TraceId"])
	require.Equal(t, "gave up after 4 attempts: handler panic: boom", deadHeaders["panics"][message.HeaderError])

	require.Equal(t, []int{1}, rec.attemptsOf("ok"))
	require.Equal(t, []int{1}, rec.attemptsOf("permanent"), "permanent errors are not retried")
	require.Equal(t, []int{1, 2, 3, 4}, rec.attemptsOf("always"))
	require.Eventually(t, func() bool { return len(rec.attemptsOf("flaky")) == 3 }, waitFor, 10*time.Millisecond)
	require.Equal(t, []int{1, 2, 3}, rec.attemptsOf("flaky"))
	require.Equal(t, "trace-flaky", rec.headers["flaky"]["X-B3-TraceId"], "headers reach the handler")

	require.NoError(t, stop())
	depth, err := c.QueueDepth(ctx, "work")
	require.NoError(t, err)
	require.Zero(t, depth, "everything was settled")
	require.Equal(t, 2.0, counter(c.metrics.consumed.WithLabelValues("work", consumeAck)))
	require.Equal(t, 3.0, counter(c.metrics.consumed.WithLabelValues("work", consumeDeadLetter)))
	require.Equal(t, 2.0+3+3, counter(c.metrics.consumed.WithLabelValues("work", consumeRetry)))
	require.Equal(t, 3.0, counter(c.metrics.published.WithLabelValues("work.dlq", publishOK)))
}

func TestConsumerNilHandlerAcks(t *testing.T) {
	t.Parallel()
	_, c := connected(t, "q")
	p := startPublisher(t, c, PublisherOptions{})
	for i := range 20 {
		require.NoError(t, p.Publish(context.Background(), "q", testMsg(fmt.Sprint(i))))
	}
	stop := runConsumer(t, NewConsumer(c, "q", nil, ConsumerOptions{}))
	require.Eventually(t, func() bool {
		return counter(c.metrics.consumed.WithLabelValues("q", consumeAck)) == 20
	}, waitFor, 10*time.Millisecond)
	require.NoError(t, stop())
	depth, err := c.QueueDepth(context.Background(), "q")
	require.NoError(t, err)
	require.Zero(t, depth)
}

func TestConsumerPrefetchBound(t *testing.T) {
	t.Parallel()
	_, c := connected(t, "q")
	ctx := context.Background()
	p := startPublisher(t, c, PublisherOptions{})
	const total, prefetch = 20, 3
	for i := range total {
		require.NoError(t, p.Publish(ctx, "q", testMsg(fmt.Sprint(i))))
	}

	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	h := message.HandlerFunc(func(ctx context.Context, _ message.Delivery) error {
		n := inFlight.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		return nil
	})
	// More goroutines than prefetch: only the prefetch bound can keep them idle.
	stop := runConsumer(t, NewConsumer(c, "q", h, ConsumerOptions{Prefetch: prefetch, Concurrency: 10}))
	require.Eventually(t, func() bool { return inFlight.Load() == prefetch }, waitFor, 5*time.Millisecond)
	awaitDepth(t, c, "q", total-prefetch, "the broker holds back everything beyond the prefetch")
	require.EqualValues(t, prefetch, peak.Load())

	close(release)
	require.Eventually(t, func() bool {
		return counter(c.metrics.consumed.WithLabelValues("q", consumeAck)) == total
	}, waitFor, 10*time.Millisecond)
	require.EqualValues(t, prefetch, peak.Load())
	require.NoError(t, stop())
}

func TestConsumerGracefulShutdown(t *testing.T) {
	t.Parallel()
	_, c := connected(t, "q")
	ctx := context.Background()
	p := startPublisher(t, c, PublisherOptions{})
	for i := range 10 {
		require.NoError(t, p.Publish(ctx, "q", testMsg(fmt.Sprint(i))))
	}

	started := make(chan string, 10)
	release := make(chan struct{})
	var finished atomic.Int32
	h := message.HandlerFunc(func(hctx context.Context, d message.Delivery) error {
		started <- d.MessageID
		<-release
		require.NoError(t, hctx.Err(), "in-flight handlers keep a live context during a graceful stop")
		finished.Add(1)
		return nil
	})
	cons := NewConsumer(c, "q", h, ConsumerOptions{Prefetch: 5, Concurrency: 2, ShutdownTimeout: waitFor})
	stop := runConsumer(t, cons)
	<-started
	<-started

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Run returned before in-flight handlers finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-stopped)
	require.EqualValues(t, 2, finished.Load(), "no new delivery was taken after the stop")
	require.Equal(t, 2.0, counter(c.metrics.consumed.WithLabelValues("q", consumeAck)))
	// The prefetched but unstarted messages went back to the queue.
	awaitDepth(t, c, "q", 8)
}

func TestConsumerShutdownTimeout(t *testing.T) {
	t.Parallel()
	u, c := connected(t, "q")
	ctx := context.Background()
	p := startPublisher(t, c, PublisherOptions{})
	require.NoError(t, p.Publish(ctx, "q", testMsg("stuck")))

	started := make(chan struct{}, 1)
	cancelled := make(chan struct{})
	h := message.HandlerFunc(func(hctx context.Context, _ message.Delivery) error {
		started <- struct{}{}
		<-hctx.Done()
		close(cancelled)
		return hctx.Err()
	})
	stop := runConsumer(t, NewConsumer(c, "q", h, ConsumerOptions{ShutdownTimeout: 200 * time.Millisecond}))
	<-started
	require.ErrorIs(t, stop(), ErrShutdownTimeout)
	<-cancelled
	// The unfinished message is not lost: it is back in the queue (exactly once: the cancelled handler's
	// retry publish must not go out).
	require.Eventually(t, func() bool {
		d, err := c.QueueDepth(ctx, "q")
		return err == nil && d >= 1
	}, waitFor, 10*time.Millisecond)
	got := drain(t, rawChannel(t, u), "q")
	require.Len(t, got, 1)
	require.Equal(t, "stuck", got[0].MessageId)
}

func TestConsumerMissingQueueRetries(t *testing.T) {
	t.Parallel()
	u, c := connected(t)
	rec := newRecorder(func(message.Delivery) error { return nil })
	stop := runConsumer(t, NewConsumer(c, "late", rec, ConsumerOptions{}))

	// The queue appears later; the consumer keeps trying and then consumes.
	ch := rawChannel(t, u)
	_, err := ch.QueueDeclare("late", true, false, false, false, nil)
	require.NoError(t, err)
	p := startPublisher(t, c, PublisherOptions{})
	require.NoError(t, p.Publish(context.Background(), "late", testMsg("x")))
	select {
	case id := <-rec.acked:
		require.Equal(t, "x", id)
	case <-time.After(waitFor):
		t.Fatal("message not consumed")
	}
	require.NoError(t, stop())
}

func TestConsumerConnClosed(t *testing.T) {
	t.Parallel()
	_, c := connected(t, "q")
	cons := NewConsumer(c, "q", nil, ConsumerOptions{})
	require.NoError(t, c.Close())
	require.ErrorIs(t, cons.Run(context.Background()), ErrClosed)
}

func TestConsumerRecreatesMissingDeadLetterQueue(t *testing.T) {
	t.Parallel()
	u, c := connected(t, "q")
	raw := rawChannel(t, u)
	_, err := raw.QueueDelete("q.dlq", false, false, false)
	require.NoError(t, err)

	h := message.HandlerFunc(func(context.Context, message.Delivery) error {
		return message.Permanent(errors.New("invalid"))
	})
	stop := runConsumer(t, NewConsumer(c, "q", h, fastRetry))
	p := startPublisher(t, c, PublisherOptions{})
	require.NoError(t, p.Publish(context.Background(), "q", testMsg("m")))
	require.Eventually(t, func() bool {
		return counter(c.metrics.consumed.WithLabelValues("q", consumeDeadLetter)) == 1
	}, waitFor, 10*time.Millisecond)
	require.NoError(t, stop())
	got := drain(t, raw, "q.dlq")
	require.Len(t, got, 1)
	require.Equal(t, "invalid", got[0].Headers[message.HeaderError])
	require.Zero(t, counter(c.metrics.consumed.WithLabelValues("q", consumeRequeue)))
}

func TestConsumerRequeuesWhenDeadLetterPublishFails(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	proxy := netfaulttest.Start(t, "127.0.0.1:5672")
	c, _ := startConn(t, viaProxy(t, u, proxy.Addr()), "q")
	waitConnected(t, c)

	var calls atomic.Int32
	started, cut := make(chan struct{}), make(chan struct{})
	h := message.HandlerFunc(func(context.Context, message.Delivery) error {
		if calls.Add(1) == 1 {
			// The broker becomes unreachable while the message is being handled: the dead-letter
			// publish cannot be confirmed, so the message must stay in the queue.
			close(started)
			<-cut
		}
		return message.Permanent(errors.New("invalid"))
	})
	opts := fastRetry
	opts.PublishTimeout = 300 * time.Millisecond
	stop := runConsumer(t, NewConsumer(c, "q", h, opts))

	p := startPublisher(t, c, PublisherOptions{})
	require.NoError(t, p.Publish(context.Background(), "q", testMsg("m")))
	select {
	case <-started:
	case <-time.After(waitFor):
		close(cut)
		t.Fatal("message not delivered")
	}
	proxy.SetRefuse(true)
	proxy.CutAll()
	close(cut)
	require.Eventually(t, func() bool {
		return counter(c.metrics.consumed.WithLabelValues("q", consumeRequeue)) == 1
	}, waitFor, 10*time.Millisecond)
	require.Zero(t, counter(c.metrics.consumed.WithLabelValues("q", consumeDeadLetter)))

	proxy.SetRefuse(false)
	require.Eventually(t, func() bool {
		return counter(c.metrics.consumed.WithLabelValues("q", consumeDeadLetter)) == 1
	}, waitFor, 10*time.Millisecond)
	require.EqualValues(t, 2, calls.Load(), "redelivered once after the failure")
	require.NoError(t, stop())
	got := drain(t, rawChannel(t, u), "q.dlq")
	require.Len(t, got, 1)
	require.Equal(t, "m", got[0].MessageId)
}
