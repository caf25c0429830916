package crawler

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

// streamRecorder records, in publish order, the plain listings pages (the fresh lane's: their item ids)
// and the orders messages (their decoded rows).
type streamRecorder struct {
	mu     sync.Mutex
	events []streamEvent
}

type streamEvent struct {
	at     time.Time
	items  []string                  // a fresh listings page
	orders []dmarket.AggregatedPrice // an orders message
}

func (r *streamRecorder) Publish(_ context.Context, queue string, m message.Outgoing) error {
	e, err := message.Decode(m.Body)
	if err != nil {
		return err
	}
	ev := streamEvent{at: time.Now()}
	switch {
	case queue == message.Queue(message.KindOrders):
		body, err := dmarket.DecodeAggregatedPrices(e.Payload)
		if err != nil {
			return err
		}
		ev.orders = body.Orders
	case e.Crawl == nil && e.Scan == nil:
		if ev.items, err = PageItemIDs(e.Payload); err != nil {
			return err
		}
	default:
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *streamRecorder) snapshot() []streamEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// TestFreshLaneBringsTheNewBuyOrderOfANewListing runs the fresh lane with keys against the simulator
// (the demo keys, two polls a second): after a title's buy order changes and a listing of it appears,
// the fresh page with the listing is followed, before the lane's next page, by an orders message with
// the title's new order.
func TestFreshLaneBringsTheNewBuyOrderOfANewListing(t *testing.T) {
	pub, sec := dmarkettest.DemoKeys()
	sim := dmarkettest.New(dmarkettest.Config{Titles: 40, ListingsPerTitle: 3, Simple: true, PublicKeys: []string{pub}})
	t.Cleanup(sim.Close)
	signer, err := dmarket.NewSigner(pub, sec)
	require.NoError(t, err)
	client := NewSimClient(t, dmarket.Config{BaseURL: sim.URL(), BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, nil,
		dmarket.WithSigner(signer))

	cfg := keysConfig(0.5, 0)
	cfg.IsRetryable = dmarket.IsRetryable
	rec := &streamRecorder{}
	d := bareDeps(NewDMarketAPI(client), rec, nil)
	withFakeJobs(&d)
	d.Budget = constBudget(4)
	c := mustNew(t, cfg, d)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.RunLanes(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool { return len(rec.snapshot()) >= 2 }, 10*time.Second, 10*time.Millisecond,
		"the fresh lane polls")

	title := sim.Handler.Catalogue().Listings(market.GameCS2)[0].Title
	sim.Handler.SetOrder(market.GameCS2, title, 4321, 7)
	listing := sim.Handler.AddListing(market.GameCS2, title, 5000, 0)
	require.NotNil(t, listing)

	var page, orders = -1, -1
	require.Eventually(t, func() bool {
		events := rec.snapshot()
		page, orders = -1, -1
		for i, ev := range events {
			if page < 0 && slices.Contains(ev.items, listing.ItemID) {
				page = i
			}
			if page >= 0 && orders < 0 && slices.ContainsFunc(ev.orders, func(p dmarket.AggregatedPrice) bool {
				return p.Order.Title == title && p.Order.Price == 4321 && p.Order.Count == 7
			}) {
				orders = i
			}
		}
		return orders >= 0
	}, 10*time.Second, 10*time.Millisecond, "no orders message with the new buy order after the listing's page")
	events := rec.snapshot()
	between := 0
	for _, ev := range events[page+1 : orders] {
		if ev.items != nil {
			between++
		}
	}
	t.Logf("orders message %s after the listing's page, %d fresh pages between",
		events[orders].at.Sub(events[page].at).Round(time.Millisecond), between)
	require.Zero(t, between, "the new buy order published before the fresh lane's next page")
}
