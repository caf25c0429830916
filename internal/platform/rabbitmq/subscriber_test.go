package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

const testExchange = "test.changes"

// sink records what one subscriber received and when its hook ran.
type sink struct {
	mu     sync.Mutex
	bodies []string
	// hooks counts onSubscribed calls; hooked gets one value per call.
	hooks  int
	hooked chan int
	// failOn makes the handler fail on this body.
	failOn string
}

func newSink() *sink { return &sink{hooked: make(chan int, 16)} }

func (s *sink) handle(_ context.Context, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(body))
	if string(body) == s.failOn {
		return errors.New("handler refuses " + s.failOn)
	}
	return nil
}

func (s *sink) onSubscribed(context.Context) {
	s.mu.Lock()
	s.hooks++
	n := s.hooks
	s.mu.Unlock()
	s.hooked <- n
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// awaitHook waits for the n-th onSubscribed call.
func (s *sink) awaitHook(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case got := <-s.hooked:
			if got >= n {
				return
			}
		case <-deadline:
			t.Fatalf("onSubscribed was not called %d times", n)
		}
	}
}

// awaitBodies waits until the sink received exactly want, in order.
func (s *sink) awaitBodies(t *testing.T, want ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Join(s.got(), ",") == strings.Join(want, ",") },
		waitFor, 5*time.Millisecond, "want %v", want)
}

// startSubscriber runs a subscriber of testExchange on c into a new sink until the test ends (or stop).
func startSubscriber(t *testing.T, c *Conn, reg prometheus.Registerer) (*Subscriber, *sink, func() error) {
	t.Helper()
	sub := NewSubscriber(c, testExchange, loggingtest.Verbose(), reg)
	s := newSink()
	stop := lifecycletest.Start(t, waitFor, func(ctx context.Context) error { return sub.Run(ctx, s.handle, s.onSubscribed) })
	return sub, s, stop
}

func publishBodies(t *testing.T, p *Publisher, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		m := testMsg(b)
		m.Body = []byte(b)
		require.NoError(t, p.PublishExchange(context.Background(), testExchange, m))
	}
}

// startExchangeConn starts a connected Conn on a vhost of its own that declares testExchange, and
// returns the vhost's URL and the Conn's registry with it.
func startExchangeConn(t *testing.T) (string, *Conn, *prometheus.Registry) {
	t.Helper()
	u := rabbitmqtest.NewVhost(t)
	opts := fastConn
	opts.Exchanges = []string{testExchange}
	c, reg := startConnWith(t, u, opts)
	waitConnected(t, c)
	return u, c, reg
}

// subscriptionQueues lists the queues of vhost as "name exclusive auto_delete type" lines.
func subscriptionQueues(t *testing.T, vhost string) []string {
	t.Helper()
	out := rabbitmqtest.Ctl(t, "list_queues", "-q", "--no-table-headers", "-p", vhost, "name", "exclusive", "auto_delete", "type")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestSubscribersEachGetEveryMessageInOrder(t *testing.T) {
	t.Parallel()
	u, c, reg := startExchangeConn(t)
	p := startPublisher(t, c, PublisherOptions{})

	sub1, s1, stop1 := startSubscriber(t, c, reg)
	_, s2, stop2 := startSubscriber(t, c, reg)
	s2.mu.Lock()
	s2.failOn = "b"
	s2.mu.Unlock()
	s1.awaitHook(t, 1)
	s2.awaitHook(t, 1)

	queues := subscriptionQueues(t, rabbitmqtest.VhostOf(t, u))
	require.Len(t, queues, 2)
	for _, q := range queues {
		require.Regexp(t, `^amq\.gen-\S+ true true classic$`, q)
	}

	publishBodies(t, p, "a", "b", "c")
	s1.awaitBodies(t, "a", "b", "c")
	s2.awaitBodies(t, "a", "b", "c") // a handler failure drops that message only
	require.InDelta(t, 6, counter(sub1.received.WithLabelValues(testExchange, subscriberOK))+
		counter(sub1.received.WithLabelValues(testExchange, subscriberError)), 0)
	require.InDelta(t, 1, counter(sub1.received.WithLabelValues(testExchange, subscriberError)), 0)
	require.InDelta(t, 2, counter(sub1.subscribed), 0, "both subscriptions share the counter")

	require.NoError(t, stop1())
	require.NoError(t, stop2())
	require.Eventually(t, func() bool { return len(subscriptionQueues(t, rabbitmqtest.VhostOf(t, u))) == 0 },
		waitFor, 50*time.Millisecond, "the queues go with their subscriptions")
	require.Equal(t, []int{}, drainHooks(s1), "no more subscriptions after stop")
}

func drainHooks(s *sink) []int {
	out := []int{}
	for {
		select {
		case n := <-s.hooked:
			out = append(out, n)
		default:
			return out
		}
	}
}

func TestPublishExchangeWithoutSubscriberIsConfirmed(t *testing.T) {
	t.Parallel()
	_, c, _ := startExchangeConn(t)
	p := startPublisher(t, c, PublisherOptions{})
	publishBodies(t, p, "nobody listens")
	require.InDelta(t, 1, counter(c.metrics.published.WithLabelValues(testExchange, publishOK)), 0)

	// An undeclared exchange closes the channel (404): retried, then given up.
	p2 := startPublisher(t, c, PublisherOptions{MaxChannelFailures: 2, RetryMinBackoff: time.Millisecond})
	err := p2.PublishExchange(context.Background(), "no.such.exchange", testMsg("x"))
	require.ErrorIs(t, err, ErrTooManyChannelFailures)
}

func TestSubscriberResubscribesAfterConnectionCut(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	proxy := netfaulttest.Start(t, "127.0.0.1:5672")
	opts := fastConn
	opts.Exchanges = []string{testExchange}
	pubConn, _ := startConnWith(t, u, opts)
	subConn, reg := startConnWith(t, viaProxy(t, u, proxy.Addr()), opts)
	waitConnected(t, pubConn)
	p := startPublisher(t, pubConn, PublisherOptions{})

	sub, s, _ := startSubscriber(t, subConn, reg)
	s.awaitHook(t, 1)
	publishBodies(t, p, "before")
	s.awaitBodies(t, "before")

	for round := 2; round <= 3; round++ {
		require.Positive(t, proxy.CutAll())
		s.awaitHook(t, round)
		publish := fmt.Sprintf("after-%d", round)
		publishBodies(t, p, publish)
		require.Eventually(t, func() bool {
			got := s.got()
			return got[len(got)-1] == publish
		}, waitFor, 5*time.Millisecond)
	}
	require.InDelta(t, 3, counter(sub.subscribed), 0)
	require.Eventually(t, func() bool { return len(subscriptionQueues(t, rabbitmqtest.VhostOf(t, u))) == 1 },
		waitFor, 50*time.Millisecond, "the old queues go with their connections")
}

func TestSubscriberReturnsClosedWhenConnCloses(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	c, err := NewConn(u, loggingtest.Verbose(), nil, fastConn)
	require.NoError(t, err)
	stopConn := lifecycletest.Start(t, waitFor, c.Run)
	waitConnected(t, c)
	sub := NewSubscriber(c, testExchange, nil, nil)
	s := newSink()
	done := make(chan error, 1)
	go func() { done <- sub.Run(context.Background(), s.handle, nil) }()
	require.Eventually(t, func() bool { return counter(sub.subscribed) == 1 }, waitFor, 5*time.Millisecond)
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(waitFor):
		t.Fatal("Run did not return after Close")
	}
	require.NoError(t, stopConn())
}
