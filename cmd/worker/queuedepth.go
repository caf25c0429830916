package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// depther reads a queue's ready messages.
type depther interface {
	QueueDepth(ctx context.Context, q string) (int, error)
}

// queueDepth exports the depth of every queue and its dead-letter queue at scrape time; a queue that
// cannot be read (broker down) is left out of that scrape.
type queueDepth struct {
	conn   depther
	queues []string
	desc   *prometheus.Desc
}

func newQueueDepth(conn depther, queues []string) *queueDepth {
	return &queueDepth{conn: conn, queues: queues, desc: prometheus.NewDesc(
		"dmarket_amqp_queue_messages",
		"Messages ready in a queue (dead-letter queues included), read from the broker at scrape time.",
		[]string{"queue"}, nil)}
}

// Describe sends the metric's description.
func (q *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

// Collect reads every queue's depth.
func (q *queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range q.queues {
		for _, n := range []string{name, name + ".dlq"} {
			depth, err := q.conn.QueueDepth(ctx, n)
			if err != nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(depth), n)
		}
	}
}
