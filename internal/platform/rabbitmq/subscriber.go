package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// subscriberPrefetch bounds the deliveries a subscriber holds before acknowledging them.
const subscriberPrefetch = 256

// Outcome label values of dmarket_amqp_subscriber_messages_total.
const (
	subscriberOK    = "ok"
	subscriberError = "error"
)

// errStreamClosed means a subscription's delivery stream ended without the subscriber stopping.
var errStreamClosed = errors.New("delivery stream closed")

// Subscriber receives every message published to a fanout exchange from the moment it is subscribed,
// through a queue of its own: server-named, exclusive, auto-delete and classic (a quorum queue cannot
// be exclusive), so the queue and what it holds vanish with the subscription. After every reconnect
// the queue is declared and bound again; messages published while no queue was bound are lost, which
// is why Run calls its onSubscribed hook after each (re)subscription: the consumer resyncs then.
type Subscriber struct {
	conn     *Conn
	exchange string
	log      *slog.Logger
	// subscribed counts the (re)subscriptions, received the messages by outcome.
	subscribed prometheus.Counter
	received   *prometheus.CounterVec
}

// NewSubscriber returns a subscriber of exchange on conn. Start it with Run. logger and reg may be nil.
func NewSubscriber(conn *Conn, exchange string, logger *slog.Logger, reg prometheus.Registerer) *Subscriber {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	subscribed := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dmarket_amqp_subscriptions_total",
		Help: "Subscriptions to a fanout exchange, the first and every one after a lost connection, by exchange.",
	}, []string{"exchange"}))
	received := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dmarket_amqp_subscriber_messages_total",
		Help: "Messages received from a fanout exchange, by exchange and outcome (ok, error = the handler failed; the message is dropped).",
	}, []string{"exchange", "outcome"}))
	for _, o := range []string{subscriberOK, subscriberError} {
		received.WithLabelValues(exchange, o)
	}
	return &Subscriber{
		conn:       conn,
		exchange:   exchange,
		log:        logger.With("component", "rabbitmq-subscriber", "exchange", exchange),
		subscribed: subscribed.WithLabelValues(exchange),
		received:   received,
	}
}

// Run subscribes and hands the body of every message to handle, one at a time in the order received,
// until ctx is cancelled; it returns nil then, or ErrClosed when the Conn is closed. A handler error is
// logged and counted and the message is dropped (no retry). onSubscribed, when not nil, is called after
// every (re)subscription, before the first message of that subscription is handled: messages published
// from then on are queued for handle while it runs. Run re-subscribes with backoff whenever the
// subscription is lost.
func (s *Subscriber) Run(ctx context.Context, handle func(ctx context.Context, body []byte) error, onSubscribed func(ctx context.Context)) error {
	return resubscribe(ctx, s.conn, s.log, "rabbitmq subscription interrupted",
		func() (bool, error) { return s.subscribe(ctx, handle, onSubscribed) },
		func(err error) bool { return errors.Is(err, ErrClosed) })
}

// subscribe runs one subscription on one channel until it ends; subscribed tells whether it was
// established.
func (s *Subscriber) subscribe(ctx context.Context, handle func(context.Context, []byte) error, onSubscribed func(context.Context)) (subscribed bool, err error) {
	ch, err := s.conn.Channel(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = ch.Close() }()
	stopWatch := context.AfterFunc(ctx, func() { _ = ch.Close() }) // ends the delivery stream
	defer stopWatch()
	deliveries, err := s.bind(ch)
	if err != nil {
		return false, err
	}
	s.subscribed.Inc()
	s.log.Info("rabbitmq subscribed")
	if onSubscribed != nil {
		onSubscribed(ctx)
	}
	for d := range deliveries {
		outcome := subscriberOK
		if herr := s.call(ctx, handle, d.Body); herr != nil {
			outcome = subscriberError
			s.log.Warn("subscribed message dropped: handler failed", "err", herr)
		}
		s.received.WithLabelValues(s.exchange, outcome).Inc()
		_ = d.Ack(false) // a failed ack dies with the channel, and so does the queue
	}
	if ctx.Err() != nil {
		return true, nil
	}
	return true, errStreamClosed
}

// bind declares the exchange and a queue of the subscription's own, binds it and starts consuming.
func (s *Subscriber) bind(ch *amqp.Channel) (<-chan amqp.Delivery, error) {
	if err := declareFanout(ch, s.exchange); err != nil {
		return nil, err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{"x-queue-type": "classic"})
	if err != nil {
		return nil, fmt.Errorf("declare subscription queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, "", s.exchange, false, nil); err != nil {
		return nil, fmt.Errorf("bind %s to %s: %w", q.Name, s.exchange, err)
	}
	if err := ch.Qos(subscriberPrefetch, 0, false); err != nil {
		return nil, fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.Consume(q.Name, "", false, true, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", q.Name, err)
	}
	return deliveries, nil
}

// call runs handle; a panic is an error.
func (s *Subscriber) call(ctx context.Context, handle func(context.Context, []byte) error, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return handle(ctx, body)
}
