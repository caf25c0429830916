package rabbitmq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
)

// PublisherOptions tunes a Publisher. Zero values take the documented defaults.
type PublisherOptions struct {
	// Channels is the number of confirm-mode channels publishes are spread over (default 4).
	Channels int
	// MaxChannelFailures bounds how many times one publish is retried because its channel died before
	// the confirm (default 20). Waiting for a reconnect does not count.
	MaxChannelFailures int
	// RetryMinBackoff and RetryMaxBackoff bound the pause before such a retry (defaults 50ms and 2s).
	RetryMinBackoff time.Duration
	RetryMaxBackoff time.Duration
	// ConfirmTimeout bounds the wait for one publish's confirm (default 30s). A confirm that does not
	// come in time retires and closes the channel, and the publish is retried on a fresh one: the queue
	// may then hold the message twice, which consumers tolerate, but a publish never hangs.
	ConfirmTimeout time.Duration
}

func (o PublisherOptions) withDefaults() PublisherOptions {
	o.ConfirmTimeout = orDefault(o.ConfirmTimeout, 30*time.Second)
	o.Channels = orDefault(o.Channels, 4)
	o.MaxChannelFailures = orDefault(o.MaxChannelFailures, 20)
	o.RetryMinBackoff = orDefault(o.RetryMinBackoff, 50*time.Millisecond)
	if o.RetryMaxBackoff < o.RetryMinBackoff {
		o.RetryMaxBackoff = max(2*time.Second, o.RetryMinBackoff)
	}
	return o
}

// Publisher publishes persistent, mandatory messages through the default exchange to the queue named
// by the routing key, and returns only once the broker confirmed each one. It implements
// message.Publisher and is safe for concurrent use: publishes are spread over a small pool of
// confirm-mode channels and each waits only for its own confirm.
//
// A Publish that returns nil was confirmed by the broker. One that returns an error was not confirmed
// (it may still have reached the queue, so consumers must tolerate duplicates). While the broker is
// unreachable Publish waits for the reconnect, bounded by its context, and retries.
type Publisher struct {
	conn  *Conn
	opts  PublisherOptions
	slots []*slot
	next  atomic.Uint64

	closeOnce sync.Once
	// stopped ends with Close.
	stopped context.Context
	stop    context.CancelFunc
	retry   backoff.Policy
}

var _ message.Publisher = (*Publisher)(nil)

// slot holds one pooled channel; sem serialises (re)opening it.
type slot struct {
	sem chan struct{}
	cur *pubChannel
}

// NewPublisher returns a publisher that takes its channels from conn.
func NewPublisher(conn *Conn, opts PublisherOptions) *Publisher {
	opts = opts.withDefaults()
	stopped, stop := context.WithCancel(context.Background())
	p := &Publisher{conn: conn, opts: opts, stopped: stopped, stop: stop,
		retry: equalJitter(opts.RetryMinBackoff, opts.RetryMaxBackoff)}
	for range opts.Channels {
		p.slots = append(p.slots, &slot{sem: make(chan struct{}, 1)})
	}
	return p
}

// Publish sends m to queue as a persistent message and waits for the broker's confirm. It returns
// ErrNacked on a nack, ErrUnroutable when the queue does not exist, the context's error when ctx ends
// first, and ErrClosed after Close.
func (p *Publisher) Publish(ctx context.Context, queue string, m message.Outgoing) error {
	return p.send(ctx, target{key: queue, mandatory: true}, queue, m)
}

// PublishExchange sends m to exchange (a fanout exchange; ConnOptions.Exchanges declares it) as a
// persistent message and waits for the broker's confirm. The message is not mandatory: when no queue is
// bound (no subscriber runs) the broker confirms and drops it. Errors are those of Publish, without
// ErrUnroutable. Metrics label the publish with the exchange's name.
func (p *Publisher) PublishExchange(ctx context.Context, exchange string, m message.Outgoing) error {
	return p.send(ctx, target{exchange: exchange}, exchange, m)
}

// target is where one publish goes.
type target struct {
	exchange, key string
	mandatory     bool
}

// send publishes m to t and records its outcome under the metrics label name.
func (p *Publisher) send(ctx context.Context, t target, name string, m message.Outgoing) error {
	start := time.Now()
	outcome, err := p.publish(ctx, t, m)
	p.conn.metrics.published.WithLabelValues(name, outcome).Inc()
	p.conn.metrics.publishSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("publish to %s: %w", name, err)
	}
	return nil
}

func (p *Publisher) publish(ctx context.Context, t target, m message.Outgoing) (string, error) {
	var headers amqp.Table
	if len(m.Headers) > 0 {
		headers = make(amqp.Table, len(m.Headers))
		for k, v := range m.Headers {
			headers[k] = v
		}
		if err := headers.Validate(); err != nil {
			return publishError, fmt.Errorf("%w: %w", ErrInvalidHeaders, err)
		}
	}
	msg := amqp.Publishing{
		Headers:      headers,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.MessageID,
		Body:         m.Body,
	}
	sl := p.slots[p.next.Add(1)%uint64(len(p.slots))]
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return publishError, err
		}
		pc, err := p.channel(ctx, sl)
		var res result
		switch {
		case ctx.Err() != nil:
			return publishError, ctx.Err()
		case errors.Is(err, ErrClosed):
			return publishError, err
		case err != nil:
			// Opening a channel or enabling confirms failed on a connection that is going away.
			err = fmt.Errorf("%w: %w", errChannelLost, err)
		default:
			res, err = pc.publish(ctx, t, msg, p.opts.ConfirmTimeout)
			if errors.Is(err, errChannelLost) {
				err = fmt.Errorf("%w: %w", err, pc.cause())
			}
		}
		switch {
		case errors.Is(err, errChannelLost):
			failures++
			if failures >= p.opts.MaxChannelFailures {
				return publishError, fmt.Errorf("%w (%d): %w", ErrTooManyChannelFailures, failures, err)
			}
			p.conn.metrics.publishRetries.WithLabelValues(cmp.Or(t.exchange, t.key)).Inc()
			if !sleep(ctx, p.stopped, p.retry.Delay(failures)) {
				if ctx.Err() != nil {
					return publishError, ctx.Err()
				}
				return publishError, ErrClosed
			}
			continue
		case err != nil:
			return publishError, err
		case res.returned:
			return publishUnroutable, ErrUnroutable
		case !res.ack:
			return publishNack, ErrNacked
		default:
			return publishOK, nil
		}
	}
}

// channel returns the slot's live channel, opening a new one (and waiting for a connection) when needed.
func (p *Publisher) channel(ctx context.Context, sl *slot) (*pubChannel, error) {
	select {
	case sl.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.stopped.Done():
		return nil, ErrClosed
	}
	defer func() { <-sl.sem }()
	select {
	case <-p.stopped.Done():
		return nil, ErrClosed
	default:
	}
	if sl.cur != nil {
		if !sl.cur.isDead() {
			return sl.cur, nil
		}
		_ = sl.cur.ch.Close() // a broken channel may still be open on a live connection
		sl.cur = nil
	}
	// Close must not wait behind a publish that waits for the broker.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stopped.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	ch, err := p.conn.Channel(wctx)
	if err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	pc, err := newPubChannel(wctx, ch)
	if err != nil {
		_ = ch.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	sl.cur = pc
	return pc, nil
}

// Close closes the publisher's channels. Publishes waiting for a channel fail with ErrClosed; ones
// waiting for a confirm fail as not confirmed.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		p.stop()
		for _, sl := range p.slots {
			sl.sem <- struct{}{}
			if sl.cur != nil {
				_ = sl.cur.ch.Close()
			}
			<-sl.sem
		}
	})
	return nil
}

// result is the broker's verdict on one publish.
type result struct {
	ack, returned bool
}

// pending is one publish waiting for its confirm.
type pending struct {
	returned bool
	done     chan result // buffered 1
}

// pubChannel is one confirm-mode channel with its confirm and return listener.
type pubChannel struct {
	ch *amqp.Channel

	writeMu sync.Mutex // delivery tag assignment and the publish frame go together

	mu       sync.Mutex
	pending  map[uint64]*pending
	dead     bool // the library closed the channel
	broken   bool // a send failed: never publish on it again
	closeErr error
	deadCh   chan struct{}
}

func newPubChannel(ctx context.Context, ch *amqp.Channel) (*pubChannel, error) {
	// Confirm waits for the broker without a deadline; bound it by ctx (the caller closes ch on error,
	// which also ends the call).
	confirmed := make(chan error, 1)
	go func() { confirmed <- ch.Confirm(false) }()
	select {
	case err := <-confirmed:
		if err != nil {
			return nil, fmt.Errorf("enable confirms: %w", err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("enable confirms: %w", ctx.Err())
	}
	pc := &pubChannel{ch: ch, pending: make(map[uint64]*pending), deadCh: make(chan struct{})}
	// Unbuffered listeners: the library hands a return to us before it hands over the confirm of the
	// same message, and a single goroutine reads both, so a return is always recorded before its
	// confirm is resolved.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation))
	returns := ch.NotifyReturn(make(chan amqp.Return))
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go pc.listen(confirms, returns, closes)
	return pc, nil
}

func (pc *pubChannel) listen(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, closes <-chan *amqp.Error) {
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			// CorrelationId carries the delivery tag (see publish).
			tag, err := strconv.ParseUint(r.CorrelationId, 10, 64)
			if err != nil {
				continue
			}
			pc.mu.Lock()
			if pe := pc.pending[tag]; pe != nil {
				pe.returned = true
			}
			pc.mu.Unlock()
		case c, ok := <-confirms:
			if !ok {
				pc.fail(closes)
				return
			}
			pc.mu.Lock()
			pe := pc.pending[c.DeliveryTag]
			delete(pc.pending, c.DeliveryTag)
			pc.mu.Unlock()
			if pe != nil {
				pe.done <- result{ack: c.Ack, returned: pe.returned}
			}
		}
	}
}

// fail marks the channel dead and releases every publish still waiting for a confirm.
func (pc *pubChannel) fail(closes <-chan *amqp.Error) {
	var cause error = amqp.ErrClosed
	select {
	case e, ok := <-closes:
		if ok && e != nil {
			cause = e
		}
	default:
	}
	pc.mu.Lock()
	pc.dead = true
	pc.closeErr = cause
	pc.pending = make(map[uint64]*pending) // waiters select on deadCh
	pc.mu.Unlock()
	close(pc.deadCh)
}

// retire takes the channel out of use after the publish with tag failed on it, which no longer waits for
// its confirm; the first cause is kept.
func (pc *pubChannel) retire(tag uint64, cause error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delete(pc.pending, tag)
	pc.broken = true
	if pc.closeErr == nil {
		pc.closeErr = cause
	}
}

func (pc *pubChannel) isDead() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.dead || pc.broken || pc.ch.IsClosed()
}

func (pc *pubChannel) cause() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closeErr == nil {
		return amqp.ErrClosed
	}
	return pc.closeErr
}

// publish sends msg on the channel and waits for its confirm, at most confirmTimeout.
func (pc *pubChannel) publish(ctx context.Context, t target, msg amqp.Publishing, confirmTimeout time.Duration) (result, error) {
	pe := &pending{done: make(chan result, 1)}
	pc.writeMu.Lock()
	pc.mu.Lock()
	if pc.dead || pc.broken {
		pc.mu.Unlock()
		pc.writeMu.Unlock()
		return result{}, errChannelLost
	}
	tag := pc.ch.GetNextPublishSeqNo()
	pc.pending[tag] = pe
	pc.mu.Unlock()
	msg.CorrelationId = strconv.FormatUint(tag, 10)
	err := pc.ch.Publish(t.exchange, t.key, t.mandatory, false, msg)
	pc.writeMu.Unlock()
	if err != nil {
		// Headers were validated up front, so a failed send means the channel or its connection is
		// broken (closed, or a write error the library has not turned into a close yet). Retire the
		// channel; the publish is retried on a fresh one.
		pc.retire(tag, err)
		return result{}, errChannelLost
	}
	timer := time.NewTimer(confirmTimeout)
	defer timer.Stop()
	select {
	case r := <-pe.done:
		return r, nil
	case <-pc.deadCh:
		// The confirm may have raced the close.
		select {
		case r := <-pe.done:
			return r, nil
		default:
			return result{}, errChannelLost
		}
	case <-ctx.Done():
		return result{}, ctx.Err()
	case <-timer.C:
		// The confirm is overdue: retire the channel so that no publish waits on it again, close it so
		// that its other waiters fail over too, and retry this publish elsewhere.
		pc.retire(tag, errConfirmTimeout)
		go func() { _ = pc.ch.Close() }()
		return result{}, fmt.Errorf("%w: %w", errChannelLost, errConfirmTimeout)
	}
}
