package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// ConnOptions tunes a Conn. Zero values take the documented defaults.
type ConnOptions struct {
	// Queues are declared on every (re)connect: each durable queue Q as a quorum queue (QueueArgs) with
	// its durable classic dead-letter queue Q+".dlq", where the broker dead-letters Q's messages. A queue
	// that already exists as the classic queue of an older release, or with another delivery limit, is
	// used as it is, with a warning and the dmarket_amqp_queue_mismatch gauge at 1; any other difference
	// is refused (the connection is retried and not ready).
	Queues []string
	// Exchanges are declared on every (re)connect as durable fanout exchanges (message.ChangesExchange),
	// before the queues.
	Exchanges []string
	// DeliveryLimit is the x-delivery-limit of the quorum queues (default DefaultDeliveryLimit): a
	// message handed out and returned unsettled more often than this (its consumer died, lost its
	// connection or shut down before settling it) is dead-lettered by the broker.
	DeliveryLimit int
	// MinBackoff is the first delay between reconnect attempts (default 100ms).
	MinBackoff time.Duration
	// MaxBackoff caps the delay between reconnect attempts (default 10s).
	MaxBackoff time.Duration
	// DialTimeout bounds the TCP connect and AMQP handshake (default 5s).
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval that detects a dead peer (default 10s).
	Heartbeat time.Duration
}

func (o ConnOptions) withDefaults() ConnOptions {
	o.DeliveryLimit = orDefault(o.DeliveryLimit, DefaultDeliveryLimit)
	o.MinBackoff = orDefault(o.MinBackoff, 100*time.Millisecond)
	o.MaxBackoff = max(orDefault(o.MaxBackoff, 10*time.Second), o.MinBackoff)
	o.DialTimeout = orDefault(o.DialTimeout, 5*time.Second)
	o.Heartbeat = orDefault(o.Heartbeat, 10*time.Second)
	return o
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// DefaultDeliveryLimit is the x-delivery-limit of the quorum queues when ConnOptions.DeliveryLimit is 0.
const DefaultDeliveryLimit = 10

// Kind label values of dmarket_amqp_queue_mismatch.
const (
	mismatchClassic   = "classic"
	mismatchArguments = "arguments"
)

// QueueArgs returns the arguments queue q is declared with: a quorum queue whose messages are
// dead-lettered to q+".dlq" by the broker once they were returned unsettled more than deliveryLimit
// times. Dead-lettering is at-least-once (the queue keeps a message until the dead-letter queue has
// confirmed it), which needs the reject-publish overflow; no length limit is set, so it never applies.
func QueueArgs(q string, deliveryLimit int) amqp.Table {
	return amqp.Table{
		"x-queue-type":              "quorum",
		"x-delivery-limit":          int64(deliveryLimit),
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": q + message.DeadLetterSuffix,
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}
}

// legacyQueueArgs are the arguments of the classic queues of older releases.
func legacyQueueArgs(q string) amqp.Table {
	return amqp.Table{
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": q + message.DeadLetterSuffix,
	}
}

// errRunTwice is returned by a second call of Run.
var errRunTwice = errors.New("rabbitmq: run called twice")

// How often and how long Channel retries opening a channel on a connection that looks alive.
const (
	channelOpenRetries = 5
	channelOpenPause   = 100 * time.Millisecond
	// closeTimeout bounds waiting for the broker's answer when closing a connection.
	closeTimeout = 5 * time.Second
)

// generation is one established connection.
type generation struct {
	conn *amqp.Connection
	// lost is closed once Run has noticed that conn went away.
	lost chan struct{}
}

// Conn keeps one AMQP connection to the broker alive and hands out channels on it. Construct it with
// NewConn, start Run in a goroutine and stop it by cancelling Run's context or calling Close. It is safe
// for concurrent use.
type Conn struct {
	url     string
	safeURL string
	opts    ConnOptions
	log     *slog.Logger
	metrics *metrics
	// reconnect spaces the attempts to (re)connect and to subscribe again.
	reconnect backoff.Policy
	// stopped ends when Close is called.
	stopped context.Context
	stop    context.CancelFunc

	mu      sync.Mutex
	gen     *generation   // nil while disconnected
	ready   chan struct{} // closed when a connection is established; replaced when it is lost
	closed  bool
	lastErr error
	blocked string // non-empty while the broker blocks publishing (resource alarm)
	running bool
}

// NewConn returns a connection manager for the AMQP URL rawURL. It does not connect (the broker may be
// down): Run does. It fails only when rawURL is not a valid AMQP URL; the error never contains the
// password. reg may be nil (metrics are then not registered).
func NewConn(rawURL string, logger *slog.Logger, reg prometheus.Registerer, opts ConnOptions) (*Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	safe := redact.URLString(rawURL)
	if _, err := amqp.ParseURI(rawURL); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidURL, safe, redact.ParseError(rawURL, err))
	}
	for _, q := range opts.Queues {
		if q == "" {
			return nil, fmt.Errorf("rabbitmq: empty queue name in topology")
		}
	}
	for _, x := range opts.Exchanges {
		if x == "" {
			return nil, fmt.Errorf("rabbitmq: empty exchange name in topology")
		}
	}
	stopped, stop := context.WithCancel(context.Background())
	c := &Conn{
		url:     rawURL,
		safeURL: safe,
		opts:    opts.withDefaults(),
		log:     logger.With("component", "rabbitmq", "url", safe),
		metrics: newMetrics(reg),
		stopped: stopped,
		stop:    stop,
		ready:   make(chan struct{}),
	}
	c.reconnect = equalJitter(c.opts.MinBackoff, c.opts.MaxBackoff)
	c.metrics.connected.Set(0)
	return c, nil
}

// URL returns the broker URL with its password redacted, fit for logs.
func (c *Conn) URL() string { return c.safeURL }

// Run connects, declares the topology and reconnects with capped exponential backoff and jitter
// whenever the connection is lost, until ctx is cancelled or Close is called. It returns nil then, or
// ErrClosed when the Conn was closed before Run started. Run may be called once.
func (c *Conn) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.running {
		c.mu.Unlock()
		return errRunTwice
	}
	c.running = true
	c.mu.Unlock()

	failures := 0
	connectedBefore := false
	for {
		if ctx.Err() != nil || c.isClosing() {
			return nil
		}
		conn, err := c.connect()
		if err != nil {
			failures++
			c.metrics.connectFails.Inc()
			c.setLastErr(err)
			delay := c.reconnect.Delay(failures)
			c.log.Warn("rabbitmq connect failed", "err", err, "attempt", failures, "retry_in", delay)
			if !sleep(ctx, c.stopped, delay) {
				return nil
			}
			continue
		}
		failures = 0
		notify := conn.NotifyClose(make(chan *amqp.Error, 1))
		blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
		gen := &generation{conn: conn, lost: make(chan struct{})}
		c.mu.Lock()
		c.gen = gen
		c.lastErr = nil
		close(c.ready)
		c.mu.Unlock()
		c.metrics.connected.Set(1)
		if connectedBefore {
			c.metrics.reconnects.Inc()
			c.log.Info("rabbitmq reconnected")
		} else {
			c.log.Info("rabbitmq connected")
		}
		connectedBefore = true

		stopping, lostErr := c.watch(ctx, notify, blocked)
		c.mu.Lock()
		c.gen = nil
		c.blocked = ""
		c.ready = make(chan struct{})
		if lostErr != nil {
			c.lastErr = lostErr
		}
		c.mu.Unlock()
		close(gen.lost)
		c.metrics.connected.Set(0)
		_ = conn.CloseDeadline(time.Now().Add(closeTimeout))
		if stopping {
			return nil
		}
		c.log.Warn("rabbitmq connection lost", "err", lostErr)
	}
}

// watch waits until the connection is lost (returning why) or Run must stop, tracking the broker's
// flow-control blocks meanwhile.
func (c *Conn) watch(ctx context.Context, notify <-chan *amqp.Error, blocked <-chan amqp.Blocking) (stopping bool, lost error) {
	for {
		select {
		case amqpErr := <-notify:
			if amqpErr != nil {
				return false, amqpErr
			}
			return false, errors.New("connection closed")
		case b, ok := <-blocked:
			if !ok {
				blocked = nil
				continue
			}
			c.mu.Lock()
			c.blocked = ""
			if b.Active {
				c.blocked = b.Reason
				if c.blocked == "" {
					c.blocked = "no reason given"
				}
			}
			c.mu.Unlock()
			if b.Active {
				c.log.Warn("rabbitmq broker blocks publishing", "reason", b.Reason)
			} else {
				c.log.Info("rabbitmq broker unblocked publishing")
			}
		case <-ctx.Done():
			return true, nil
		case <-c.stopped.Done():
			return true, nil
		}
	}
}

// connect dials the broker and declares the topology.
func (c *Conn) connect() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("dmarket-monitor")
	conn, err := amqp.DialConfig(c.url, amqp.Config{
		Heartbeat:  c.opts.Heartbeat,
		Dial:       amqp.DefaultDial(c.opts.DialTimeout),
		Properties: props,
	})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := c.declare(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// declare declares every exchange of the topology, then every queue and its dead-letter queue.
func (c *Conn) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("declare topology: open channel: %w", err)
	}
	defer func() { _ = ch.Close() }() // the last channel opened
	for _, x := range c.opts.Exchanges {
		if err := declareFanout(ch, x); err != nil {
			return err
		}
	}
	for _, q := range c.opts.Queues {
		dlq := q + message.DeadLetterSuffix
		if _, err := ch.QueueDeclare(dlq, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare queue %s: %w", dlq, err)
		}
		_, err := ch.QueueDeclare(q, true, false, false, false, QueueArgs(q, c.opts.DeliveryLimit))
		if err == nil {
			c.setMismatch(q, "")
			continue
		}
		var amqpErr *amqp.Error
		if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.PreconditionFailed {
			return fmt.Errorf("declare queue %s: %w", q, err)
		}
		// q exists with other arguments, and the broker closed the channel. A queue's type and
		// arguments cannot change in place: a classic queue of an older release, or this topology with
		// another delivery limit, is used as it is; anything else is refused.
		if ch, err = conn.Channel(); err != nil {
			return fmt.Errorf("declare topology: open channel: %w", err)
		}
		if _, lerr := ch.QueueDeclare(q, true, false, false, false, legacyQueueArgs(q)); lerr == nil {
			c.setMismatch(q, mismatchClassic)
			c.log.Warn("queue is a classic queue of an older release: it is used as before, without the broker's "+
				"delivery limit, until it is migrated to a quorum queue (README, \"Queues and dead-letter queues\": "+
				"stop the parsers, let the workers empty it, delete it, start again)", "queue", q)
			continue
		}
		limit, ok := otherDeliveryLimit(amqpErr.Reason)
		if !ok {
			return fmt.Errorf("declare queue %s: %w", q, err)
		}
		if ch, err = conn.Channel(); err != nil {
			return fmt.Errorf("declare topology: open channel: %w", err)
		}
		if _, lerr := ch.QueueDeclare(q, true, false, false, false, QueueArgs(q, limit)); lerr != nil {
			return fmt.Errorf("declare queue %s: %w", q, errors.Join(amqpErr, lerr))
		}
		c.setMismatch(q, mismatchArguments)
		c.log.Warn("queue exists with another delivery limit, which applies: a queue's arguments are fixed when it "+
			"is created (set the same RABBITMQ_DELIVERY_LIMIT for parser and workers)",
			"queue", q, "delivery_limit", limit, "configured", c.opts.DeliveryLimit)
	}
	return nil
}

// declareFanout declares the durable fanout exchange x.
func declareFanout(ch *amqp.Channel, x string) error {
	if err := ch.ExchangeDeclare(x, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", x, err)
	}
	return nil
}

// deliveryLimitMismatch matches the broker's refusal of a declaration that differs from the existing
// queue in its delivery limit, capturing the existing limit.
var deliveryLimitMismatch = regexp.MustCompile(`inequivalent arg 'x-delivery-limit'.* current is '(\d+)'`)

// otherDeliveryLimit returns the existing queue's delivery limit when reason, a PRECONDITION_FAILED
// refusal of a declaration, says it is the argument that differs.
func otherDeliveryLimit(reason string) (int, bool) {
	m := deliveryLimitMismatch.FindStringSubmatch(reason)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// setMismatch sets dmarket_amqp_queue_mismatch of queue q: 1 for kind, 0 for the other kinds.
func (c *Conn) setMismatch(q, kind string) {
	for _, k := range []string{mismatchClassic, mismatchArguments} {
		v := 0.0
		if k == kind {
			v = 1
		}
		c.metrics.queueMismatch.WithLabelValues(q, k).Set(v)
	}
}

// equalJitter is the delay policy of reconnects and message retries: minDelay doubled per attempt up to
// maxDelay, each delay picked uniformly between its half and itself.
func equalJitter(minDelay, maxDelay time.Duration) backoff.Policy {
	return backoff.Policy{Initial: minDelay, Max: maxDelay, Jitter: backoff.EqualJitter}
}

// sleep waits for d and reports true, or false as soon as ctx or stopped ends.
func sleep(ctx, stopped context.Context, d time.Duration) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(stopped, cancel)()
	return clock.Sleep(ctx, d) == nil
}

func (c *Conn) isClosing() bool { return c.stopped.Err() != nil }

func (c *Conn) setLastErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// Close closes the connection and stops Run. Channels handed out are closed with it; waiting callers
// of Channel get ErrClosed. Close is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.stop()
	gen := c.gen
	c.mu.Unlock()
	if gen != nil {
		if err := gen.conn.CloseDeadline(time.Now().Add(closeTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("rabbitmq: close: %w", err)
		}
	}
	return nil
}

// Check reports whether the broker is usable: nil while connected with the topology declared, else an
// error wrapping ErrNotConnected (or ErrClosed) with the last connection error, or ErrBlocked while the
// broker's resource alarm blocks publishing.
func (c *Conn) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.gen == nil || c.gen.conn.IsClosed() {
		if c.lastErr != nil {
			return fmt.Errorf("%w: %w", ErrNotConnected, c.lastErr)
		}
		return ErrNotConnected
	}
	if c.blocked != "" {
		return fmt.Errorf("%w: %s", ErrBlocked, c.blocked)
	}
	return nil
}

// Channel opens a new channel on the current connection. While disconnected it waits for Run to
// reconnect, bounded by ctx. The caller owns the channel and closes it; a channel dies with its
// connection, so callers watch it (NotifyClose) and ask for a new one.
func (c *Conn) Channel(ctx context.Context) (*amqp.Channel, error) {
	var (
		lastGen  *generation
		failures int
	)
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		gen, ready := c.gen, c.ready
		c.mu.Unlock()

		wait := ready
		var retry <-chan time.Time
		if gen != nil {
			ch, err := openChannel(ctx, gen.conn)
			if err == nil {
				return ch, nil
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("rabbitmq: open channel: %w", ctx.Err())
			}
			if gen != lastGen {
				lastGen, failures = gen, 0
			}
			failures++
			// A write error can reach us before the library has marked the connection closed, so a
			// failure on a connection that looks alive is retried briefly before it is reported.
			if !gen.conn.IsClosed() && failures > channelOpenRetries {
				return nil, fmt.Errorf("rabbitmq: open channel: %w", err)
			}
			wait = gen.lost
			retry = time.After(channelOpenPause)
		}
		select {
		case <-wait:
		case <-retry:
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbitmq: wait for connection: %w", ctx.Err())
		case <-c.stopped.Done():
			return nil, ErrClosed
		}
	}
}

// QueueDepth returns the number of messages ready for delivery in queue q (unacknowledged ones are not
// counted), read with a passive declare. It waits for a connection, bounded by ctx.
func (c *Conn) QueueDepth(ctx context.Context, q string) (int, error) {
	ch, err := c.Channel(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue depth %s: %w", q, err)
	}
	defer func() { _ = ch.Close() }()
	info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("queue depth %s: %w", q, err)
	}
	return info.Messages, nil
}

// openChannel opens a channel on conn, giving up when ctx ends first: the library call waits for the
// broker's answer without a deadline. A channel opened after the caller gave up is closed.
func openChannel(ctx context.Context, conn *amqp.Connection) (*amqp.Channel, error) {
	type opened struct {
		ch  *amqp.Channel
		err error
	}
	res := make(chan opened, 1)
	go func() {
		ch, err := conn.Channel()
		res <- opened{ch, err}
	}()
	select {
	case r := <-res:
		return r.ch, r.err
	case <-ctx.Done():
		go func() {
			if r := <-res; r.ch != nil {
				_ = r.ch.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Queues returns the queue of every message kind, the topology the parser and the workers declare.
func Queues() []string {
	qs := make([]string, 0, len(message.Kinds))
	for _, k := range message.Kinds {
		qs = append(qs, message.Queue(k))
	}
	return qs
}

// HealthCheck adapts Check to a health check: healthy while connected, unhealthy otherwise.
func HealthCheck(c *Conn) health.CheckFunc {
	return func(ctx context.Context) (health.Status, error) {
		if err := c.Check(ctx); err != nil {
			return health.StatusUnhealthy, err
		}
		return health.StatusHealthy, nil
	}
}
