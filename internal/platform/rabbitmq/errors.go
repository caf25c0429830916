package rabbitmq

import "errors"

// Sentinel errors of the connection manager, the publisher and the consumer.
var (
	// ErrClosed means the Conn (or a publisher or consumer built on it) was closed.
	ErrClosed = errors.New("rabbitmq: closed")
	// ErrNotConnected means there is currently no usable connection to the broker.
	ErrNotConnected = errors.New("rabbitmq: not connected")
	// ErrBlocked means the broker blocks publishers (a memory or disk alarm); publishes wait.
	ErrBlocked = errors.New("rabbitmq: broker blocked publishing")
	// ErrInvalidURL means the AMQP URL given to NewConn cannot be parsed.
	ErrInvalidURL = errors.New("rabbitmq: invalid url")
	// ErrNacked means the broker refused to take responsibility for the message (basic.nack).
	ErrNacked = errors.New("rabbitmq: publish nacked by broker")
	// ErrUnroutable means no queue took the message (it was returned as mandatory-unroutable).
	ErrUnroutable = errors.New("rabbitmq: message unroutable")
	// ErrInvalidHeaders means an Outgoing header holds a value AMQP cannot carry.
	ErrInvalidHeaders = errors.New("rabbitmq: invalid headers")
	// ErrTooManyChannelFailures means a publish lost its channel too many times in a row.
	ErrTooManyChannelFailures = errors.New("rabbitmq: too many channel failures")
	// ErrShutdownTimeout means in-flight handlers did not finish within ConsumerOptions.ShutdownTimeout;
	// their messages were left unacknowledged and go back to the queue.
	ErrShutdownTimeout = errors.New("rabbitmq: consumer shutdown timed out")
)

// Unexported errors of the publisher.
var (
	// errChannelLost means the channel died before the publish was confirmed; the publish is retried.
	errChannelLost = errors.New("channel lost before confirm")
	// errConfirmTimeout means the broker did not confirm a publish within PublisherOptions.ConfirmTimeout.
	errConfirmTimeout = errors.New("confirm timed out")
)
