package message

import (
	"context"
	"errors"
)

// Outgoing is a message to publish.
type Outgoing struct {
	// MessageID identifies the message; a redelivery or republish keeps it.
	MessageID string
	// Body is the encoded envelope.
	Body []byte
	// Headers are extra AMQP headers (B3 trace headers among them).
	Headers map[string]any
}

// Publisher publishes one message and returns only once the broker confirmed it.
type Publisher interface {
	Publish(ctx context.Context, queue string, m Outgoing) error
}

// Delivery is one consumed message as a handler sees it.
type Delivery struct {
	// MessageID is the publisher's message id.
	MessageID string
	// Body is the raw message body.
	Body []byte
	// Headers are the AMQP headers.
	Headers map[string]any
	// Attempt is 1 on the first delivery and grows with each retry.
	Attempt int
}

// Handler processes one delivery. A nil error acks it; an error marked Permanent dead-letters it at once;
// any other error is transient and the delivery is retried a bounded number of times.
type Handler interface {
	Handle(ctx context.Context, d Delivery) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, d Delivery) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, d Delivery) error { return f(ctx, d) }

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot cure (undecodable or invalid message).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
