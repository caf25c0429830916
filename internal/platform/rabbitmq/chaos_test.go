package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// TestNoLossWhenConnectionsDrop publishes and consumes concurrently while every connection is cut
// several times (by the network and once by the broker) and checks that every confirmed message was
// consumed at least once.
func TestNoLossWhenConnectionsDrop(t *testing.T) {
	t.Parallel()
	u := rabbitmqtest.NewVhost(t)
	vhost := rabbitmqtest.VhostOf(t, u)
	proxy := netfaulttest.Start(t, "127.0.0.1:5672")
	viaU := viaProxy(t, u, proxy.Addr())

	// Publisher and consumer live in different processes in production: separate connections.
	pubConn, _ := startConn(t, viaU, "pages")
	subConn, _ := startConn(t, viaU, "pages")
	waitConnected(t, pubConn)
	waitConnected(t, subConn)

	const total, publishers = 2000, 40
	var seen sync.Map
	var unique atomic.Int32
	allSeen := make(chan struct{})
	h := message.HandlerFunc(func(_ context.Context, d message.Delivery) error {
		if _, dup := seen.LoadOrStore(d.MessageID, true); !dup && unique.Add(1) == total {
			close(allSeen)
		}
		return nil
	})
	stopConsumer := runConsumer(t, NewConsumer(subConn, "pages", h, ConsumerOptions{Prefetch: 50, Concurrency: 4}))

	// Faults fire when publishing reaches these counts, so they hit mid-stream whatever the speed.
	type fault struct {
		at     int32
		broker bool // closed by the broker (rabbitmqctl) instead of cut on the wire
	}
	faults := []fault{{at: 200}, {at: 700}, {at: 1100, broker: true}, {at: 1500}}
	triggers := make([]chan struct{}, len(faults))
	for i := range triggers {
		triggers[i] = make(chan struct{})
	}
	var confirmed atomic.Int32
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for i, f := range faults {
			select {
			case <-triggers[i]:
			case <-time.After(time.Minute):
				return
			}
			pubBefore, subBefore := counter(pubConn.metrics.reconnects), counter(subConn.metrics.reconnects)
			if f.broker {
				rabbitmqtest.CloseConnections(t, vhost)
			} else {
				proxy.CutAll()
			}
			// Let both sides come back before the next fault, so that each fault hits both.
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && (counter(pubConn.metrics.reconnects) == pubBefore ||
				counter(subConn.metrics.reconnects) == subBefore) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()

	p := startPublisher(t, pubConn, PublisherOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ids := make(chan int)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				if err := p.Publish(ctx, "pages", testMsg(fmt.Sprintf("page-%04d", i))); err != nil {
					errs <- err
					continue
				}
				n := confirmed.Add(1)
				for j, f := range faults {
					if n == f.at {
						close(triggers[j])
					}
				}
			}
		}()
	}
	for i := range total {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a publish made during the faults failed")
	}
	<-chaosDone
	require.EqualValues(t, total, confirmed.Load())

	select {
	case <-allSeen:
	case <-time.After(45 * time.Second):
		missing := 0
		for i := range total {
			if _, ok := seen.Load(fmt.Sprintf("page-%04d", i)); !ok {
				missing++
			}
		}
		t.Fatalf("%d of %d confirmed messages were never consumed", missing, total)
	}
	require.NoError(t, stopConsumer())
	require.GreaterOrEqual(t, counter(pubConn.metrics.reconnects), float64(len(faults)))
	require.GreaterOrEqual(t, counter(subConn.metrics.reconnects), float64(len(faults)))
	t.Logf("publish retries after channel loss: %v, consumer requeues: %v",
		counter(pubConn.metrics.publishRetries.WithLabelValues("pages")),
		counter(subConn.metrics.consumed.WithLabelValues("pages", consumeRequeue)))
}
