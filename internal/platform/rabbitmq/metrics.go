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
	return &metrics{
		published: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_amqp_published_total",
			Help: "Messages published to RabbitMQ, by queue and outcome (ok = confirmed by the broker, nack, unroutable, error).",
		}, []string{"queue", "outcome"})),
		publishRetries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_amqp_publish_retries_total",
			Help: "Publishes retried on a new channel because the channel or connection was lost before the confirm, by queue.",
		}, []string{"queue"})),
		publishSeconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dmarket_amqp_publish_duration_seconds",
			Help:    "Time from the start of a publish to its final outcome (confirm included), by queue.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"queue"})),
		consumed: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_amqp_consumed_total",
			Help: "Deliveries consumed, by queue and outcome (ack, retry, dead_letter, requeue).",
		}, []string{"queue", "outcome"})),
		held: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_amqp_held_total",
			Help: "Handler failures caused by an unreachable dependency, by queue: the delivery was held, its attempt unspent, until the dependency answered again.",
		}, []string{"queue"})),
		handleSeconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dmarket_amqp_handle_duration_seconds",
			Help:    "Time a handler spent on one delivery, by queue.",
			Buckets: prometheus.DefBuckets,
		}, []string{"queue"})),
		connected: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmarket_amqp_connected",
			Help: "1 while the RabbitMQ connection is up and the topology is declared, else 0.",
		})),
		reconnects: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmarket_amqp_reconnects_total",
			Help: "Successful reconnections to RabbitMQ after the connection was lost.",
		})),
		connectFails: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmarket_amqp_connect_failures_total",
			Help: "Failed attempts to connect to RabbitMQ and declare the topology.",
		})),
		queueMismatch: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmarket_amqp_queue_mismatch",
			Help: "1 for a queue that exists with other arguments than this process declares, used as it is, by queue and kind (classic = a classic queue of an older release waiting for its migration to a quorum queue, arguments = a quorum queue with another delivery limit), else 0.",
		}, []string{"queue", "kind"})),
	}
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
