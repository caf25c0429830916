package rabbitmq

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// BenchmarkPublish measures confirmed publishes of page-sized bodies from many goroutines at once, as
// the crawler does, for several channel pool sizes.
func BenchmarkPublish(b *testing.B) {
	u := rabbitmqtest.NewVhost(b)
	opts := fastConn
	opts.Queues = []string{"bench"}
	c, err := NewConn(u, nil, prometheus.NewRegistry(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() }) // once Run has returned
	lifecycletest.Run(b, waitFor, c.Run)
	body := bytes.Repeat([]byte("x"), 8<<10)
	for _, channels := range []int{1, 4} {
		b.Run(fmt.Sprintf("channels=%d", channels), func(b *testing.B) {
			p := NewPublisher(c, PublisherOptions{Channels: channels})
			defer func() { _ = p.Close() }()
			b.SetBytes(int64(len(body)))
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Publish(context.Background(), "bench", message.Outgoing{MessageID: "m", Body: body}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
