// Package rabbitmq owns the RabbitMQ rails of the monitor: a connection manager that stays connected
// across broker restarts and declares the queues (quorum queues whose broker-side delivery limit
// dead-letters a message that keeps killing its consumer) with their dead-letter queues, a publisher
// that returns only once the broker confirmed a message, and a consumer with bounded prefetch, manual
// acknowledgements, bounded retries, dead-lettering, a cautious start that takes returned messages one
// at a time and a pause while a dependency of the handler is unreachable, and the operator's view of
// the dead-letter queues (list without consuming, replay). Durable fanout exchanges carry broadcasts
// (change events): the publisher publishes to them with confirms, and a Subscriber receives them through
// an exclusive, auto-delete queue of its own, declared again after every reconnect. Everything is instrumented with Prometheus
// metrics prefixed dmarket_amqp_.
package rabbitmq
