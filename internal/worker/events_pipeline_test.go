package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
)

// TestChangeEventsReachASubscriber streams pages through a worker and checks, with a subscriber of the
// dmarket.changes exchange on the real broker, that every title of every page is announced as changed
// prices, and that pages delivered again announce nothing.
func TestChangeEventsReachASubscriber(t *testing.T) {
	t.Parallel()
	amqpURL, rdb, clk := newEnv(t)
	w := startStack(t, stackConfig{amqpURL: amqpURL, redis: testRedisOptions(rdb), clock: clk, consumer: productionConsumer()})

	var (
		mu     sync.Mutex
		titles = map[string]int{}
		events int
	)
	subscribed := make(chan struct{}, 4)
	sub := rabbitmq.NewSubscriber(w.conn, message.ChangesExchange, testLogger(), nil)
	lifecycletest.Run(t, waitLong, func(ctx context.Context) error {
		return sub.Run(ctx, func(_ context.Context, body []byte) error {
			ev, err := message.DecodeChanges(body)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			events++
			for _, c := range ev.Changes {
				if c.GameID == "a8db" && len(c.What) == 1 && c.What[0] == message.ChangedPrices {
					titles[c.Title]++
				}
			}
			return nil
		}, func(context.Context) { subscribed <- struct{}{} })
	})
	select {
	case <-subscribed:
	case <-time.After(waitLong):
		t.Fatal("the subscriber never subscribed")
	}

	gen := newPageGen(t, 300)
	pages := gen.pages(t, 20, clk.Now().Add(-time.Minute))
	want := map[string]bool{}
	for _, pg := range pages {
		for _, it := range pg.items {
			want[it.title] = true
		}
	}
	prod := startProducer(t, amqpURL)
	require.NoError(t, prod.publishAll(context.Background(), pages, 4))
	require.Eventually(t, func() bool { return w.rec.distinct() == len(pages) }, waitLong, poll)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(titles) == len(want)
	}, waitLong, poll, "every title written is announced")
	// Every event the worker published (confirmed by the broker) has arrived: a title is announced by
	// the first page that writes it, so later pages' events may still be on their way.
	published := func() int {
		return int(counterValue(w.reg, "dmarket_worker_change_events_total", map[string]string{"outcome": "ok"}))
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return events == published()
	}, waitLong, poll, "every published event arrives")
	mu.Lock()
	for title := range titles {
		require.True(t, want[title], title)
	}
	before := events
	mu.Unlock()

	// The same pages again change nothing: no event. A last fresh page shows that events still flow.
	again := append([]page(nil), pages...)
	for i := range again {
		again[i].id += "-again"
	}
	require.NoError(t, prod.publishAll(context.Background(), again, 4))
	require.Eventually(t, func() bool { return w.rec.distinct() == 2*len(pages) }, waitLong, poll)
	last := newPageGen(t, 100_000).page(t, 20, clk.Now().Add(-30*time.Second)) // titles never seen
	last.id = "last"
	require.NoError(t, prod.publishAll(context.Background(), []page{last}, 1))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return events > before
	}, waitLong, poll)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, before+1, events, "the redelivered pages published nothing")
}
