package rabbitmq

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome label values of dmarket_amqp_published_total.
const (
	publishOK         = "ok"
	publishNack       = "nack"
	publishUnroutable = "unroutable"
	publishError      = "error"
)

// Outcome label values of dmarket_amqp_consumed_total.
const (
	consumeAck        = "ack"
	consumeRetry      = "retry"
	consumeDeadLetter = "dead_letter"
	consumeRequeue    = "requeue"
)

// metrics are shared by a Conn and every publisher and consumer built on it.
type metrics struct {
	published      *prometheus.CounterVec
	publishRetries *prometheus.CounterVec
	publishSeconds *prometheus.HistogramVec
	consumed       *prometheus.CounterVec
	held           *prometheus.CounterVec
	handleSeconds  *prometheus.HistogramVec
	connected      prometheus.Gauge
	reconnects     prometheus.Counter
	connectFails   prometheus.Counter
	queueMismatch  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	byQueue := []string{"queue"}
	return &metrics{
		published: newCounterVec(reg, "dmarket_amqp_published_total",
			"Messages published to RabbitMQ, by queue and outcome (ok = confirmed by the broker, nack, unroutable, error).",
			"queue", "outcome"),
		publishRetries: newCounterVec(reg, "dmarket_amqp_publish_retries_total",
			"Publishes retried on a new channel because the channel or connection was lost before the confirm, by queue.",
			byQueue...),
		publishSeconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dmarket_amqp_publish_duration_seconds",
			Help:    "Time from the start of a publish to its final outcome (confirm included), by queue.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, byQueue)),
		consumed: newCounterVec(reg, "dmarket_amqp_consumed_total",
			"Deliveries consumed, by queue and outcome (ack, retry, dead_letter, requeue).", "queue", "outcome"),
		held: newCounterVec(reg, "dmarket_amqp_held_total",
			"Handler failures caused by an unreachable dependency, by queue: the delivery was held, its attempt unspent, until the dependency answered again.",
			byQueue...),
		handleSeconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dmarket_amqp_handle_duration_seconds", Help: "Time a handler spent on one delivery, by queue.",
			Buckets: prometheus.DefBuckets,
		}, byQueue)),
		connected: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmarket_amqp_connected",
			Help: "1 while the RabbitMQ connection is up and the topology is declared, else 0.",
		})),
		reconnects: newCounter(reg, "dmarket_amqp_reconnects_total",
			"Successful reconnections to RabbitMQ after the connection was lost."),
		connectFails: newCounter(reg, "dmarket_amqp_connect_failures_total",
			"Failed attempts to connect to RabbitMQ and declare the topology."),
		queueMismatch: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmarket_amqp_queue_mismatch",
			Help: "1 for a queue that exists with other arguments than this process declares, used as it is, by queue and kind (classic = a classic queue of an older release waiting for its migration to a quorum queue, arguments = a quorum queue with another delivery limit), else 0.",
		}, []string{"queue", "kind"})),
	}
}

// newCounterVec registers and returns the counter vector name with help and labels (see register).
func newCounterVec(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// newCounter registers and returns the counter name with help (see register).
func newCounter(reg prometheus.Registerer, name, help string) prometheus.Counter {
	return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

// register registers c with reg and returns it; when an identical collector is already registered (a
// second Conn on the same registry) the existing one is returned so that both share it. A nil reg leaves
// c unregistered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
