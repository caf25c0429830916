package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// ErrNotDeadLetterQueue means a queue name given to DLQ does not end in message.DeadLetterSuffix.
var ErrNotDeadLetterQueue = errors.New("rabbitmq: not a dead-letter queue")

// resetHeaders are removed from a replayed message so that it starts afresh: its attempt count, the
// reason it was dead-lettered, and the broker's own dead-lettering history.
var resetHeaders = []string{HeaderAttempt, message.HeaderError, "x-death", "x-first-death-queue",
	"x-first-death-reason", "x-first-death-exchange", "x-last-death-queue", "x-last-death-reason",
	"x-last-death-exchange", "x-delivery-count"}

// DeadLetter is one message of a dead-letter queue.
type DeadLetter struct {
	// Queue is the dead-letter queue that holds it.
	Queue string
	// MessageID is the publisher's message id.
	MessageID string
	// Body is the message body (an envelope, unless it was undecodable).
	Body []byte
	// Headers are its AMQP headers.
	Headers map[string]any
	// Attempt is the attempt that gave up (x-attempt; 1 when absent).
	Attempt int
	// Error is the reason it was dead-lettered: x-error when the worker dead-lettered it, else the
	// broker's reason (x-first-death-reason), e.g. for a message that reached the delivery limit.
	Error string
}

// DLQ reads and replays dead-letter queues for an operator. It is safe for concurrent use.
type DLQ struct {
	conn *Conn
	pub  *Publisher
}

// NewDLQ returns a DLQ working on conn (which must be running). Close it when done.
func NewDLQ(conn *Conn) *DLQ {
	return &DLQ{conn: conn, pub: NewPublisher(conn, PublisherOptions{Channels: 1})}
}

// Close closes the DLQ's publisher.
func (q *DLQ) Close() error { return q.pub.Close() }

// DeadLetterQueue returns the dead-letter queue of queue: queue itself when it already names one.
func DeadLetterQueue(queue string) string {
	if strings.HasSuffix(queue, message.DeadLetterSuffix) {
		return queue
	}
	return queue + message.DeadLetterSuffix
}

// List returns up to n (n <= 0: all) messages of dead-letter queue dlq, oldest first, and leaves the
// queue as it was: it takes them unacknowledged on a channel of its own and then hands them all back
// with one basic.nack (requeue), which returns them to their places in the queue. Messages that reach
// the queue while List runs are not shown.
func (q *DLQ) List(ctx context.Context, dlq string, n int) ([]DeadLetter, error) {
	if !strings.HasSuffix(dlq, message.DeadLetterSuffix) {
		return nil, fmt.Errorf("list %s: %w", dlq, ErrNotDeadLetterQueue)
	}
	ch, limit, err := q.open(ctx, dlq, n)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dlq, err)
	}
	defer func() { _ = ch.Close() }()
	out := make([]DeadLetter, 0, limit)
	var last uint64
	for range limit {
		d, ok, err := ch.Get(dlq, false)
		if err != nil {
			// Closing the channel hands back whatever was taken.
			return nil, fmt.Errorf("list %s: get: %w", dlq, err)
		}
		if !ok {
			break
		}
		last = d.DeliveryTag
		out = append(out, deadLetterOf(dlq, d))
	}
	if last > 0 {
		if err := ch.Nack(last, true, true); err != nil {
			return nil, fmt.Errorf("list %s: hand back: %w", dlq, err)
		}
	}
	return out, nil
}

// Replay moves up to n (n <= 0: all) messages of dead-letter queue dlq back to their queue (dlq
// without its suffix), oldest first, with a fresh attempt count: x-attempt, x-error and the broker's
// x-death headers are removed, the body, message id and other headers (trace) are kept. Each message
// is acked in dlq only after its publish was confirmed; a failed publish hands it back and stops the
// replay. It replays at most the messages dlq held when it started, so a message dead-lettered again
// meanwhile is not replayed twice. It returns how many messages were moved.
func (q *DLQ) Replay(ctx context.Context, dlq string, n int) (int, error) {
	target, ok := strings.CutSuffix(dlq, message.DeadLetterSuffix)
	if !ok || target == "" {
		return 0, fmt.Errorf("replay %s: %w", dlq, ErrNotDeadLetterQueue)
	}
	ch, limit, err := q.open(ctx, dlq, n)
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", dlq, err)
	}
	defer func() { _ = ch.Close() }()
	moved := 0
	for range limit {
		if err := ctx.Err(); err != nil {
			return moved, fmt.Errorf("replay %s: %w", dlq, err)
		}
		d, ok, err := ch.Get(dlq, false)
		if err != nil {
			return moved, fmt.Errorf("replay %s: get: %w", dlq, err)
		}
		if !ok {
			break
		}
		headers := make(map[string]any, len(d.Headers))
		for k, v := range d.Headers {
			headers[k] = v
		}
		for _, k := range resetHeaders {
			delete(headers, k)
		}
		if err := q.pub.Publish(ctx, target, message.Outgoing{MessageID: d.MessageId, Body: d.Body, Headers: headers}); err != nil {
			_ = d.Nack(false, true)
			return moved, fmt.Errorf("replay %s: %w", dlq, err)
		}
		if err := d.Ack(false); err != nil {
			// The message is in its queue and, as the ack was lost, still in dlq: a later replay
			// sends it again, which the worker tolerates.
			return moved, fmt.Errorf("replay %s: ack: %w", dlq, err)
		}
		moved++
	}
	return moved, nil
}

// open opens a channel and returns it with the number of messages to take: the queue's depth, at most
// n when n > 0.
func (q *DLQ) open(ctx context.Context, dlq string, n int) (*amqp.Channel, int, error) {
	ch, err := q.conn.Channel(ctx)
	if err != nil {
		return nil, 0, err
	}
	info, err := ch.QueueDeclarePassive(dlq, true, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, 0, err
	}
	limit := info.Messages
	if n > 0 && n < limit {
		limit = n
	}
	return ch, limit, nil
}

func deadLetterOf(dlq string, d amqp.Delivery) DeadLetter {
	headers := make(map[string]any, len(d.Headers))
	for k, v := range d.Headers {
		headers[k] = v
	}
	reason, _ := d.Headers[message.HeaderError].(string)
	if reason == "" {
		reason = brokerDeathReason(d.Headers)
	}
	return DeadLetter{Queue: dlq, MessageID: d.MessageId, Body: d.Body, Headers: headers,
		Attempt: attemptOf(d.Headers), Error: reason}
}

// brokerDeathReason describes why the broker dead-lettered a message, from its x-first-death-reason
// header; "" when the broker did not dead-letter it.
func brokerDeathReason(h amqp.Table) string {
	reason, _ := h["x-first-death-reason"].(string)
	switch reason {
	case "":
		return ""
	case "delivery_limit":
		return "broker: delivery limit reached (the message was handed out and returned unsettled too often, " +
			"e.g. its worker process died while handling it)"
	default:
		return "broker: " + reason
	}
}
