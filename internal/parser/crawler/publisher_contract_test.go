package crawler

import (
	"slices"
	"testing"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// The sink that stands in for the RabbitMQ publisher keeps the publisher contract.
func TestSinkPublisherContract(t *testing.T) {
	rabbitmqtest.PublisherContract(t, func(*testing.T, ...string) rabbitmqtest.PublisherSubject {
		s := newSink()
		return rabbitmqtest.PublisherSubject{Publisher: s, Received: func(_ *testing.T, q string) ([]message.Envelope, []string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			ids := make([]string, 0, len(s.ids))
			for id := range s.ids {
				ids = append(ids, id)
			}
			return slices.Clone(s.msgs[q]), ids
		}}
	})
}
