package rabbitmq

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

func TestPublisherContract(t *testing.T) {
	rabbitmqtest.PublisherContract(t, func(t *testing.T, queues ...string) rabbitmqtest.PublisherSubject {
		amqpURL, c := connected(t, queues...)
		pub := startPublisher(t, c, PublisherOptions{})
		got := &received{envelopes: map[string][]message.Envelope{}}
		ch := rawChannel(t, amqpURL)
		return rabbitmqtest.PublisherSubject{Publisher: pub, Received: func(t *testing.T, q string) ([]message.Envelope, []string) {
			return got.take(t, ch, q)
		}}
	})
}

// received collects what a plain client got from the queues.
type received struct {
	mu        sync.Mutex
	envelopes map[string][]message.Envelope
	ids       []string
}

// take gets the ready messages of q with a plain client and returns every envelope got from q so far
// and the id of every message got from any queue.
func (r *received) take(t *testing.T, ch *amqp.Channel, q string) ([]message.Envelope, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range drain(t, ch, q) {
		env, err := message.Decode(d.Body)
		require.NoError(t, err)
		r.envelopes[q] = append(r.envelopes[q], env)
		r.ids = append(r.ids, d.MessageId)
	}
	return slices.Clone(r.envelopes[q]), slices.Clone(r.ids)
}

// consumers returns how many consumers q has.
func consumers(t *testing.T, ch *amqp.Channel, q string) int {
	t.Helper()
	info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	require.NoError(t, err)
	return info.Consumers
}

func TestConsumerContract(t *testing.T) {
	const q = "contract.consumed"
	rabbitmqtest.ConsumerContract(t, func(t *testing.T) rabbitmqtest.ConsumerSubject {
		amqpURL, c := connected(t, q)
		pub := startPublisher(t, c, PublisherOptions{})
		ch := rawChannel(t, amqpURL)
		var (
			mu   sync.Mutex
			dead []message.Delivery
		)
		opts := ConsumerOptions{MaxAttempts: 3, RetryMinBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
		return rabbitmqtest.ConsumerSubject{
			MaxAttempts: opts.MaxAttempts,
			Start: func(t *testing.T, h message.Handler) {
				cons := NewConsumer(c, q, h, opts)
				runConsumer(t, cons)
				require.Eventually(t, func() bool { return consumers(t, ch, q) == 1 }, waitFor, 10*time.Millisecond)
			},
			Publish: func(t *testing.T, m message.Outgoing) {
				require.NoError(t, pub.Publish(context.Background(), q, m))
			},
			DeadLetters: func(t *testing.T) []message.Delivery {
				mu.Lock()
				defer mu.Unlock()
				for _, d := range drain(t, ch, q+message.DeadLetterSuffix) {
					dead = append(dead, message.Delivery{MessageID: d.MessageId, Body: d.Body, Headers: d.Headers, Attempt: attemptOf(d.Headers)})
				}
				return append([]message.Delivery(nil), dead...)
			},
		}
	})
}
