package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// errDown stands for "Redis unreachable" in these tests.
var errDown = errors.New("dial tcp: connection refused")

// fakePauser is a Pauser switched by the test: while down, errDown is Unavailable and Wait blocks.
type fakePauser struct {
	mu      sync.Mutex
	down    bool
	resumed chan struct{}
	waiting int // Wait calls currently blocked
}

func newFakePauser() *fakePauser { return &fakePauser{resumed: make(chan struct{})} }

func (p *fakePauser) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if down == p.down {
		return
	}
	p.down = down
	if down {
		p.resumed = make(chan struct{})
	} else {
		close(p.resumed)
	}
}

func (p *fakePauser) isDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

func (p *fakePauser) blocked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

func (p *fakePauser) Unavailable(_ context.Context, err error) bool {
	if !errors.Is(err, errDown) {
		return false
	}
	p.setDown(true)
	return true
}

func (p *fakePauser) Wait(ctx context.Context) error {
	p.mu.Lock()
	if !p.down {
		p.mu.Unlock()
		return nil
	}
	ch := p.resumed
	p.waiting++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deadObserver records DeadLettered calls.
type deadObserver struct {
	mu    sync.Mutex
	calls []string
}

func (o *deadObserver) DeadLettered(_ context.Context, queue string, d message.Delivery, reason error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf("%s %s %d: %v", queue, d.MessageID, d.Attempt, reason))
}

func (o *deadObserver) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

func TestConsumerPausesWhileDependencyDown(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	c, reg := startConn(t, u, "work")
	waitConnected(t, c)
	ctx := context.Background()

	pauser := newFakePauser()
	var redisDown sync.Mutex // held by the test while "Redis" is down
	down := false
	rec := newRecorder(func(d message.Delivery) error {
		redisDown.Lock()
		defer redisDown.Unlock()
		if d.MessageID == "bad" {
			return message.Permanent(errors.New("bad json"))
		}
		if down {
			return fmt.Errorf("write listings: %w", errDown)
		}
		return nil
	})
	obs := &deadObserver{}
	opts := fastRetry
	opts.MaxAttempts = 1 // any spent attempt would dead-letter at once
	opts.Concurrency = 4
	opts.Pauser = pauser
	opts.DeadLetters = obs
	stop := runConsumer(t, NewConsumer(c, "work", rec, opts))

	redisDown.Lock()
	down = true
	redisDown.Unlock()
	p := startPublisher(t, c, PublisherOptions{})
	const n = 20
	for i := range n {
		require.NoError(t, p.Publish(ctx, "work", testMsg(fmt.Sprintf("m%02d", i))))
	}

	// The first failure pauses the consumer: every worker ends up waiting, none takes more work.
	require.Eventually(t, func() bool { return pauser.isDown() && pauser.blocked() == opts.Concurrency }, waitFor, 5*time.Millisecond)
	held := testutil.ToFloat64(c.metrics.held.WithLabelValues("work"))
	require.Positive(t, held)
	require.LessOrEqual(t, held, float64(opts.Concurrency), "a paused consumer does not take new deliveries")
	require.Zero(t, counter(c.metrics.consumed.WithLabelValues("work", consumeDeadLetter)))
	require.Zero(t, counter(c.metrics.consumed.WithLabelValues("work", consumeRetry)))

	// Recovery: every message is handled at its first attempt, nothing is dead-lettered.
	redisDown.Lock()
	down = false
	redisDown.Unlock()
	pauser.setDown(false)
	got := map[string]bool{}
	for len(got) < n {
		select {
		case id := <-rec.acked:
			got[id] = true
		case <-time.After(waitFor):
			t.Fatalf("only %d of %d messages acked", len(got), n)
		}
	}
	for i := range n {
		for _, a := range rec.attemptsOf(fmt.Sprintf("m%02d", i)) {
			require.Equal(t, 1, a, "a held message keeps its attempt")
		}
	}
	require.Zero(t, counter(c.metrics.consumed.WithLabelValues("work", consumeDeadLetter)))
	require.Zero(t, counter(c.metrics.consumed.WithLabelValues("work", consumeRetry)))
	requireDepth(t, c, "work.dlq", 0)
	series, err := testutil.GatherAndCount(reg, "dmarket_amqp_held_total")
	require.NoError(t, err)
	require.Equal(t, 1, series)

	// A message that fails on its own is still dead-lettered, and the observer hears of it once the
	// dead letter is confirmed.
	require.NoError(t, p.Publish(ctx, "work", testMsg("bad")))
	require.Eventually(t, func() bool { return len(obs.list()) == 1 }, waitFor, 5*time.Millisecond)
	require.Equal(t, []string{"work bad 1: bad json"}, obs.list())
	awaitDepth(t, c, "work.dlq", 1)
	require.NoError(t, stop())
}

func TestConsumerStopsWhilePaused(t *testing.T) {
	t.Parallel()
	u, c := connected(t, "work")
	ctx := context.Background()

	pauser := newFakePauser()
	rec := newRecorder(func(message.Delivery) error { return errDown })
	opts := fastRetry
	opts.MaxAttempts = 1
	opts.Concurrency = 2
	opts.Pauser = pauser
	stop := runConsumer(t, NewConsumer(c, "work", rec, opts))

	p := startPublisher(t, c, PublisherOptions{})
	const n = 5
	for i := range n {
		require.NoError(t, p.Publish(ctx, "work", testMsg(fmt.Sprintf("m%d", i))))
	}
	require.Eventually(t, func() bool { return pauser.blocked() == opts.Concurrency }, waitFor, 5*time.Millisecond)

	// Stopping while paused returns at once and hands every message back to the queue untouched.
	require.NoError(t, stop())
	awaitDepth(t, c, "work", n)
	requireDepth(t, c, "work.dlq", 0)
	ch := rawChannel(t, u)
	for _, d := range drain(t, ch, "work") {
		require.Nil(t, d.Headers[HeaderAttempt], "message %s was not republished", d.MessageId)
	}
}
