package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// HeaderAttempt is the AMQP header that carries a message's attempt number (1 on the first delivery).
// The consumer sets it when it republishes a message for a retry and on dead-lettered messages.
const HeaderAttempt = "x-attempt"

// ConsumerOptions tunes a Consumer. Zero values take the documented defaults.
type ConsumerOptions struct {
	// Prefetch is the most deliveries the broker sends before they are acknowledged (default 16).
	Prefetch int
	// Concurrency is the number of handler goroutines (default 1).
	Concurrency int
	// MaxAttempts bounds how many times a message is handled before a transient failure dead-letters
	// it (default 5).
	MaxAttempts int
	// RetryMinBackoff and RetryMaxBackoff bound the pause before a failed message is put back on the
	// queue for its next attempt (defaults 500ms and 30s; doubled per attempt, with jitter).
	RetryMinBackoff time.Duration
	RetryMaxBackoff time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight handlers after its context is cancelled
	// (default 30s). Handlers' contexts are cancelled when it passes.
	ShutdownTimeout time.Duration
	// PublishTimeout bounds a retry or dead-letter publish (default 30s).
	PublishTimeout time.Duration
	// Pauser, when not nil, tells a handler failure caused by an unreachable dependency (Redis) from
	// a failure of the message itself, and holds the consumer while the dependency is down.
	Pauser Pauser
	// DeadLetters, when not nil, is told of every message once its dead-letter publish is confirmed.
	DeadLetters DeadLetterObserver
}

// Pauser holds consumers while a dependency of their handler is unreachable, so that an outage neither
// spends the attempts of the messages in hand nor dead-letters them.
type Pauser interface {
	// Unavailable reports whether err, returned by the handler, was caused by an unreachable
	// dependency rather than by the message. Once it has returned true, Wait blocks until the
	// dependency answers again.
	Unavailable(ctx context.Context, err error) bool
	// Wait returns nil as soon as consumers may take work, or ctx's error when ctx ends first.
	Wait(ctx context.Context) error
}

// DeadLetterObserver is told of every dead-lettered message.
type DeadLetterObserver interface {
	// DeadLettered is called once d has been published to its dead-letter queue (confirmed), with
	// the reason carried in its x-error header. It runs on the consumer's goroutine: keep it short.
	DeadLettered(ctx context.Context, queue string, d message.Delivery, reason error)
}

func (o ConsumerOptions) withDefaults() ConsumerOptions {
	o.Prefetch = orDefault(o.Prefetch, 16)
	o.Concurrency = orDefault(o.Concurrency, 1)
	o.MaxAttempts = orDefault(o.MaxAttempts, 5)
	o.RetryMinBackoff = orDefault(o.RetryMinBackoff, 500*time.Millisecond)
	if o.RetryMaxBackoff < o.RetryMinBackoff {
		o.RetryMaxBackoff = max(30*time.Second, o.RetryMinBackoff)
	}
	o.ShutdownTimeout = orDefault(o.ShutdownTimeout, 30*time.Second)
	o.PublishTimeout = orDefault(o.PublishTimeout, 30*time.Second)
	return o
}

// Consumer consumes one queue with manual acknowledgements and hands each delivery to a
// message.Handler:
//   - nil error: the delivery is acked;
//   - an error marked message.Permanent: the message (body and headers) is published to the queue's
//     dead-letter queue with its reason in the x-error header, then acked;
//   - an error the Pauser calls Unavailable (Redis unreachable): the delivery is held, without spending
//     an attempt, and handled again once the Pauser lets consumers resume; meanwhile no consumer sharing
//     the Pauser takes new deliveries (they stay with the broker, within the prefetch);
//   - any other error: after a backoff the message is republished to the queue with x-attempt raised
//     by one, then acked; once MaxAttempts is reached it is dead-lettered instead.
//
// Every republish is confirmed before the original is acked, so nothing is lost; when it cannot be
// confirmed the original is requeued. Consuming resumes after reconnects.
type Consumer struct {
	conn    *Conn
	queue   string
	handler message.Handler
	opts    ConsumerOptions
	// retry spaces the attempts of a message that failed.
	retry  backoff.Policy
	log    *slog.Logger
	tagSeq atomic.Uint64
}

// NewConsumer returns a consumer of queue on conn. Start it with Run.
func NewConsumer(conn *Conn, queue string, h message.Handler, opts ConsumerOptions) *Consumer {
	conn.metrics.held.WithLabelValues(queue)
	opts = opts.withDefaults()
	return &Consumer{
		conn:    conn,
		queue:   queue,
		handler: h,
		opts:    opts,
		retry:   equalJitter(opts.RetryMinBackoff, opts.RetryMaxBackoff),
		log:     conn.log.With("queue", queue),
	}
}

// Run consumes until ctx is cancelled, re-subscribing after every reconnect. On cancellation it stops
// taking deliveries, waits up to ShutdownTimeout for in-flight handlers, and returns nil, or
// ErrShutdownTimeout when handlers were still running. It returns ErrClosed when the Conn is closed.
func (c *Consumer) Run(ctx context.Context) error {
	// Retries and dead letters go out on the consumer's own publisher.
	pub := NewPublisher(c.conn, PublisherOptions{Channels: 1})
	defer func() { _ = pub.Close() }()
	// Handlers and the publishes that settle their messages outlive ctx until the shutdown bound.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	return resubscribe(ctx, c.conn, c.log, "rabbitmq consumer interrupted",
		func() (bool, error) { return c.consume(ctx, hctx, hcancel, pub) },
		func(err error) bool {
			return err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrShutdownTimeout)
		})
}

// resubscribe calls attempt until ctx is cancelled, and returns nil then. An attempt's error for which
// final is true ends the loop and is returned; after any other, attempt is called again once the Conn's
// reconnect backoff has passed (the count of failures starts over when the attempt had subscribed), and
// interrupted is logged with the error and the delay. It returns ErrClosed when the Conn closes during
// the wait.
func resubscribe(ctx context.Context, conn *Conn, log *slog.Logger, interrupted string,
	attempt func() (subscribed bool, err error), final func(err error) bool,
) error {
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		subscribed, err := attempt()
		switch {
		case final(err):
			return err
		case ctx.Err() != nil:
			return nil
		}
		if subscribed {
			failures = 0
		}
		failures++
		delay := conn.reconnect.Delay(failures)
		log.Warn(interrupted, "err", err, "retry_in", delay)
		if !sleep(ctx, conn.stopped, delay) {
			if ctx.Err() != nil {
				return nil
			}
			return ErrClosed
		}
	}
}

// consume runs one subscription on one channel. It returns nil after a graceful shutdown and an error
// when the subscription ended for another reason; subscribed tells whether deliveries were flowing.
//
// A subscription starts cautiously, taking one message at a time: messages returned to the queue
// unsettled (their consumer died, was stopped or lost its connection) come first, and one of them may
// be what killed the previous worker process. Handled one at a time, such a message spends only its
// own delivery count (x-delivery-limit) when it kills this process too, not that of every message
// prefetched with it. The first message that was never handed out before opens a second subscription
// on the same channel for the rest of the prefetch (Prefetch-1), so at most Prefetch deliveries are in
// hand at any time.
func (c *Consumer) consume(ctx, hctx context.Context, hcancel context.CancelFunc, pub *Publisher) (subscribed bool, err error) {
	ch, err := c.conn.Channel(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	defer func() { _ = ch.Close() }()
	stopWatch := context.AfterFunc(ctx, func() { _ = ch.Close() }) // unblocks Qos and Consume
	defer stopWatch()
	sub := &subscription{c: c, ch: ch}
	first := min(c.opts.Prefetch, 1)
	cautious, err := sub.subscribe(first)
	if err != nil {
		return false, err
	}
	if !stopWatch() {
		return false, nil // ctx ended while subscribing
	}

	stop := make(chan struct{})
	deliveries := sub.feed(cautious, first, stop)
	var wg sync.WaitGroup
	for range c.opts.Concurrency {
		wg.Go(func() { c.work(hctx, pub, deliveries, stop) })
	}
	workersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(workersDone)
	}()

	select {
	case <-workersDone:
		// The delivery stream ended: channel or connection lost, or the broker cancelled the consumer.
		return true, errors.New("delivery stream closed")
	case <-ctx.Done():
	}
	close(stop)
	sub.cancel()
	return true, c.awaitWorkers(workersDone, hcancel)
}

// awaitWorkers waits up to the shutdown timeout for the workers of a stopped subscription, then cancels
// their handlers and returns ErrShutdownTimeout.
func (c *Consumer) awaitWorkers(workersDone <-chan struct{}, hcancel context.CancelFunc) error {
	t := time.NewTimer(c.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-workersDone:
		return nil
	case <-t.C:
		hcancel()
		c.log.Warn("rabbitmq consumer shutdown timed out; unfinished messages go back to the queue",
			"timeout", c.opts.ShutdownTimeout)
		return ErrShutdownTimeout
	}
}

// subscription is the broker subscriptions of one consume on one channel.
type subscription struct {
	c  *Consumer
	ch *amqp.Channel

	mu   sync.Mutex
	tags []string
}

// subscribe sets the channel's prefetch and starts one more broker subscription on it.
func (s *subscription) subscribe(prefetch int) (<-chan amqp.Delivery, error) {
	if err := s.ch.Qos(prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("set prefetch: %w", err)
	}
	tag := fmt.Sprintf("%s-%d", s.c.queue, s.c.tagSeq.Add(1))
	d, err := s.ch.Consume(s.c.queue, tag, false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", s.c.queue, err)
	}
	s.mu.Lock()
	s.tags = append(s.tags, tag)
	s.mu.Unlock()
	return d, nil
}

// cancel stops every subscription locally at once (noWait), without waiting for a broker that may be
// unreachable. Deliveries not yet handled stay unacked and return to the queue with the channel.
func (s *subscription) cancel() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tag := range s.tags {
		_ = s.ch.Cancel(tag, true)
	}
}

// feed forwards the deliveries of the cautious subscription (prefetch first) and, once a message that
// was never handed out before arrives, of a second subscription for the rest of the prefetch, into one
// channel that is closed when every subscription has ended. Forwarding gives up when stop is closed.
func (s *subscription) feed(cautious <-chan amqp.Delivery, first int, stop <-chan struct{}) <-chan amqp.Delivery {
	deliveries := make(chan amqp.Delivery)
	var feeders sync.WaitGroup
	forward := func(src <-chan amqp.Delivery, fresh func()) {
		defer feeders.Done()
		for d := range src {
			if fresh != nil && !d.Redelivered {
				fresh()
				fresh = nil
			}
			select {
			case deliveries <- d:
			case <-stop:
				return // not started: left unacked, it returns to the queue with the channel
			}
		}
	}
	var raise func()
	if prefetch := s.c.opts.Prefetch; first < prefetch {
		var once sync.Once
		raise = func() {
			once.Do(func() {
				rest, err := s.subscribe(prefetch - first)
				if err != nil {
					// The channel is broken: the cautious subscription ends with it, and so does this one.
					s.c.log.Warn("rabbitmq consumer could not raise its prefetch", "err", err)
					return
				}
				s.c.log.Debug("a new message arrived: the consumer takes the full prefetch", "prefetch", prefetch)
				feeders.Add(1)
				go forward(rest, nil)
			})
		}
	}
	feeders.Add(1)
	go forward(cautious, raise)
	go func() {
		feeders.Wait()
		close(deliveries)
	}()
	return deliveries
}

func (c *Consumer) work(hctx context.Context, pub *Publisher, deliveries <-chan amqp.Delivery, stop <-chan struct{}) {
	// wctx ends with stop: waiting for a paused dependency gives way to a shutdown.
	wctx, cancel := context.WithCancel(hctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-wctx.Done():
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if c.opts.Pauser != nil && c.opts.Pauser.Wait(wctx) != nil {
			return // stopping while paused
		}
		select {
		case <-stop:
			return
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			select {
			case <-stop:
				return // not started: left unacked, it returns to the queue with the channel
			default:
			}
			c.handle(hctx, wctx, pub, d)
		}
	}
}

// handle runs the handler on one delivery and settles it. wctx ends when the consumer stops.
func (c *Consumer) handle(hctx, wctx context.Context, pub *Publisher, d amqp.Delivery) {
	attempt := attemptOf(d.Headers)
	headers := make(map[string]any, len(d.Headers))
	for k, v := range d.Headers {
		headers[k] = v
	}
	md := message.Delivery{MessageID: d.MessageId, Body: d.Body, Headers: headers, Attempt: attempt}
	var err error
	for {
		start := time.Now()
		err = c.call(hctx, md)
		c.conn.metrics.handleSeconds.WithLabelValues(c.queue).Observe(time.Since(start).Seconds())
		if err == nil || message.IsPermanent(err) || c.opts.Pauser == nil || !c.opts.Pauser.Unavailable(hctx, err) {
			break
		}
		// Not the message's fault: hold it, attempt unspent, until the dependency is back.
		c.conn.metrics.held.WithLabelValues(c.queue).Inc()
		c.log.Debug("dependency unreachable; message held until it is back", "message_id", d.MessageId, "attempt", attempt, "err", err)
		if c.opts.Pauser.Wait(wctx) != nil {
			// Stopping: the message goes back to the queue as it came.
			if nerr := d.Nack(false, true); nerr != nil {
				c.log.Warn("nack failed; the broker requeues the message with the channel", "message_id", d.MessageId, "err", nerr)
			}
			c.conn.metrics.consumed.WithLabelValues(c.queue, consumeRequeue).Inc()
			return
		}
	}

	switch {
	case err == nil:
		c.settle(wctx, d, consumeAck, nil)
	case message.IsPermanent(err):
		c.deadLetter(hctx, wctx, pub, d, md, attempt, err)
	case attempt >= c.opts.MaxAttempts:
		c.deadLetter(hctx, wctx, pub, d, md, attempt, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
	default:
		delay := c.retry.Delay(attempt)
		c.log.Debug("message will be retried", "message_id", d.MessageId, "attempt", attempt, "retry_in", delay, "err", err)
		_ = clock.Sleep(wctx, delay) // on shutdown the retry is queued at once
		c.settle(wctx, d, consumeRetry, c.republish(hctx, pub, d, c.queue, attempt+1, nil))
	}
}

// deadLetter publishes d to the dead-letter queue with reason, settles it and tells the observer.
func (c *Consumer) deadLetter(hctx, wctx context.Context, pub *Publisher, d amqp.Delivery, md message.Delivery, attempt int, reason error) {
	c.log.Warn("message dead-lettered", "message_id", d.MessageId, "attempt", attempt, "err", reason)
	perr := c.republish(hctx, pub, d, c.queue+message.DeadLetterSuffix, attempt, reason)
	c.settle(wctx, d, consumeDeadLetter, perr)
	if perr == nil && c.opts.DeadLetters != nil {
		c.opts.DeadLetters.DeadLettered(hctx, c.queue, md, reason)
	}
}

// call runs the handler; a nil handler acks everything and a panic is a transient error.
func (c *Consumer) call(ctx context.Context, d message.Delivery) (err error) {
	if c.handler == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return c.handler.Handle(ctx, d)
}

// republish publishes a copy of d to queue with x-attempt set (and x-error when cause is not nil) and
// waits for the confirm.
func (c *Consumer) republish(hctx context.Context, pub *Publisher, d amqp.Delivery, queue string, attempt int, cause error) error {
	headers := make(map[string]any, len(d.Headers)+2)
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[HeaderAttempt] = int64(attempt)
	if cause != nil {
		headers[message.HeaderError] = cause.Error()
	}
	ctx, cancel := context.WithTimeout(hctx, c.opts.PublishTimeout)
	defer cancel()
	out := message.Outgoing{MessageID: d.MessageId, Body: d.Body, Headers: headers}
	err := pub.Publish(ctx, queue, out)
	if errors.Is(err, ErrUnroutable) && cause != nil {
		// The dead-letter queue was deleted behind our back: recreate it rather than bounce the
		// message between the queue and the handler.
		if derr := c.declareDeadLetter(ctx, queue); derr != nil {
			return errors.Join(err, derr)
		}
		err = pub.Publish(ctx, queue, out)
	}
	return err
}

// declareDeadLetter declares the durable dead-letter queue dlq.
func (c *Consumer) declareDeadLetter(ctx context.Context, dlq string) error {
	ch, err := c.conn.Channel(ctx)
	if err != nil {
		return fmt.Errorf("declare %s: %w", dlq, err)
	}
	defer func() { _ = ch.Close() }()
	if _, err := ch.QueueDeclare(dlq, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare %s: %w", dlq, err)
	}
	c.log.Warn("dead-letter queue was missing and has been declared again", "dlq", dlq)
	return nil
}

// settle acks d when its republish (if any) was confirmed, else requeues it. wctx ends when the
// consumer stops.
func (c *Consumer) settle(wctx context.Context, d amqp.Delivery, outcome string, publishErr error) {
	if publishErr != nil {
		c.log.Error("message requeued: republish failed", "message_id", d.MessageId, "wanted", outcome, "err", publishErr)
		// Pause so that a persistent failure cannot spin the message between broker and handler.
		_ = clock.Sleep(wctx, c.opts.RetryMinBackoff)
		if err := d.Nack(false, true); err != nil {
			c.log.Warn("nack failed; the broker requeues the message with the channel", "message_id", d.MessageId, "err", err)
		}
		c.conn.metrics.consumed.WithLabelValues(c.queue, consumeRequeue).Inc()
		return
	}
	if err := d.Ack(false); err != nil {
		// The channel is gone: the broker redelivers the message, which may then be handled twice.
		c.log.Warn("ack failed; the message will be redelivered", "message_id", d.MessageId, "err", err)
		c.conn.metrics.consumed.WithLabelValues(c.queue, consumeRequeue).Inc()
		return
	}
	c.conn.metrics.consumed.WithLabelValues(c.queue, outcome).Inc()
}

// attemptOf reads the x-attempt header, a number of any integer or float type or a decimal string; a
// missing or invalid one means the first attempt.
func attemptOf(h amqp.Table) int {
	var n int64
	switch v := reflect.ValueOf(h[HeaderAttempt]); {
	case v.Kind() == reflect.String:
		n, _ = strconv.ParseInt(v.String(), 10, 64)
	case v.CanInt():
		n = v.Int()
	case v.CanUint():
		n = int64(min(v.Uint(), math.MaxInt64))
	case v.CanFloat():
		n = int64(v.Float())
	}
	return int(min(max(n, 1), math.MaxInt32))
}
