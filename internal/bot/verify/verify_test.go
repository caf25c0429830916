package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// fakeAPI answers market items from a list of listings per title and aggregated prices from orders.
type fakeAPI struct {
	mu       sync.Mutex
	listings map[string][]dmarket.MarketItem // by title filter, price ascending
	orders   map[string]market.BuyOrder
	pageSize int
	err      error
	items    int // market-items calls
	aggs     int // aggregated-prices calls
}

func (f *fakeAPI) MarketItems(_ context.Context, q dmarket.MarketItemsQuery, _ bool) (*dmarket.MarketItemsPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items++
	if f.err != nil {
		return nil, f.err
	}
	all := f.listings[q.Title]
	start := 0
	if q.Cursor != "" {
		_, _ = fmt.Sscan(q.Cursor, &start)
	}
	size := f.pageSize
	if size == 0 {
		size = q.Limit
	}
	end := min(start+size, len(all))
	p := &dmarket.MarketItemsPage{Request: message.Request{Method: "GET", Path: dmarket.PathMarketItems, Query: "title=" + q.Title},
		Raw: json.RawMessage(`{"objects":[],"cursor":""}`)}
	p.Items = all[start:end]
	for i, it := range p.Items {
		if i == 0 || it.PriceCents < p.MinPriceCents {
			p.MinPriceCents = it.PriceCents
		}
		p.MaxPriceCents = max(p.MaxPriceCents, it.PriceCents)
	}
	if end < len(all) {
		p.Cursor = fmt.Sprint(end)
	}
	return p, nil
}

func (f *fakeAPI) AggregatedPrices(_ context.Context, _ string, titles []string) (*dmarket.AggregatedPricesResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aggs++
	r := &dmarket.AggregatedPricesResult{Raw: json.RawMessage(`{"aggregatedPrices":[]}`)}
	for _, t := range titles {
		if o, ok := f.orders[t]; ok {
			r.Orders = append(r.Orders, dmarket.AggregatedPrice{Order: o})
		}
	}
	return r, nil
}

func (f *fakeAPI) calls() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items, f.aggs
}

type fakeForget struct {
	mu     sync.Mutex
	levels []string
	orders []string
	items  []string
}

func (f *fakeForget) ForgetItem(title, itemID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, title+"/"+itemID)
}

func (f *fakeForget) gotItems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.items...)
}

func (f *fakeForget) Forget(title string, locked bool, price market.Cents) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.levels = append(f.levels, fmt.Sprintf("%s/%v/%d", title, locked, price))
}

func (f *fakeForget) ForgetOrder(title string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders = append(f.orders, title)
}

func (f *fakeForget) got() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.levels...), append([]string(nil), f.orders...)
}

type fakePub struct {
	mu   sync.Mutex
	msgs map[string][]message.Envelope
}

func (p *fakePub) Publish(_ context.Context, queue string, m message.Outgoing) error {
	e, err := message.Decode(m.Body)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]message.Envelope{}
	}
	p.msgs[queue] = append(p.msgs[queue], e)
	return nil
}

func (p *fakePub) on(queue string) []message.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]message.Envelope(nil), p.msgs[queue]...)
}

func item(title string, price int64, locked bool, created time.Time) dmarket.MarketItem {
	it := dmarket.MarketItem{Title: title, PriceCents: market.Cents(price), Tradable: true, CreatedAt: created}
	if locked {
		it.Tradable, it.LockDays = false, 3
	}
	return it
}

type harness struct {
	api    *fakeAPI
	forget *fakeForget
	pub    *fakePub
	clk    *clocktest.Fake
	reg    *prometheus.Registry
	v      *Verifier
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{api: &fakeAPI{listings: map[string][]dmarket.MarketItem{}, orders: map[string]market.BuyOrder{}},
		forget: &fakeForget{}, pub: &fakePub{}, clk: clocktest.NewFake(t0), reg: prometheus.NewRegistry()}
	v, err := New(cfg, h.api, h.pub, h.forget, h.clk, slog.New(slog.DiscardHandler), h.reg)
	require.NoError(t, err)
	h.v = v
	return h
}

const ak = "AK-47 | Redline (Field-Tested)"

func offer(kind market.OfferKind, status market.ListingStatus, buy, sell int64) offers.Offer {
	return offers.Offer{Title: ak, GameID: "a8db", Kind: kind, Status: status, Buy: buy, Sell: sell}
}

func TestCheckListings(t *testing.T) {
	listed := t0.Add(-3 * time.Second)
	tests := []struct {
		name     string
		listings []dmarket.MarketItem
		offer    offers.Offer
		want     Outcome
		listedAt time.Time
		forgot   []string
	}{
		{name: "still the cheapest", offer: offer(market.KindHistory, market.StatusAvailable, 1000, 1500),
			listings: []dmarket.MarketItem{item(ak, 1000, false, listed.Add(time.Second)), item(ak, 1000, false, listed), item(ak, 1200, false, t0)},
			want:     Stands, listedAt: listed},
		{name: "sold", offer: offer(market.KindHistory, market.StatusAvailable, 1000, 1500),
			listings: []dmarket.MarketItem{item(ak, 1200, false, t0)}, want: Gone, forgot: []string{ak + "/false/1000"}},
		{name: "no listing at all", offer: offer(market.KindHistory, market.StatusLocked, 1000, 1500),
			want: Gone, forgot: []string{ak + "/true/1000"}},
		{name: "a cheaper one came", offer: offer(market.KindHistory, market.StatusAvailable, 1000, 1500),
			listings: []dmarket.MarketItem{item(ak, 900, false, t0), item(ak, 1000, false, t0)}, want: Cheaper},
		{name: "other status and title do not count", offer: offer(market.KindHistory, market.StatusLocked, 1000, 1500),
			listings: []dmarket.MarketItem{item(ak+" X", 500, true, t0), item(ak, 600, false, t0), item(ak, 1000, true, listed)},
			want:     Stands, listedAt: listed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.api.listings[ak] = tc.listings
			res, err := h.v.Check(context.Background(), tc.offer)
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Outcome)
			require.True(t, tc.listedAt.Equal(res.ListedAt), "listed at %v", res.ListedAt)
			levels, _ := h.forget.got()
			require.Equal(t, tc.forgot, levels)
			require.Equal(t, float64(len(tc.forgot)), testutil.ToFloat64(h.v.m.stale))
			require.Equal(t, 1.0, testutil.ToFloat64(h.v.m.checks.WithLabelValues("send", string(tc.want))))
		})
	}
}

func TestCheckBuyOrder(t *testing.T) {
	tests := []struct {
		name   string
		orders map[string]market.BuyOrder
		keys   bool
		want   Outcome
		aggs   int
	}{
		{name: "order still pays", keys: true, orders: map[string]market.BuyOrder{ak: {Title: ak, Price: 1500, Count: 2}}, want: Stands, aggs: 1},
		{name: "order lowered", keys: true, orders: map[string]market.BuyOrder{ak: {Title: ak, Price: 1400, Count: 2}}, want: Gone, aggs: 1},
		{name: "order gone", keys: true, want: Gone, aggs: 1},
		{name: "without keys only the listing", keys: false, want: Stands, aggs: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{CheckOrders: tc.keys})
			h.api.listings[ak] = []dmarket.MarketItem{item(ak, 1000, false, t0)}
			h.api.orders = tc.orders
			res, err := h.v.Check(context.Background(), offer(market.KindTarget, market.StatusAvailable, 1000, 1500))
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Outcome)
			_, aggs := h.api.calls()
			require.Equal(t, tc.aggs, aggs)
			levels, orders := h.forget.got()
			require.Empty(t, levels)
			if tc.want == Gone {
				require.Equal(t, []string{ak}, orders)
			} else {
				require.Empty(t, orders)
			}
		})
	}
}

func TestCheckReusesAReadAndPublishesIt(t *testing.T) {
	h := newHarness(t, Config{CheckOrders: true})
	h.api.listings[ak] = []dmarket.MarketItem{item(ak, 1000, false, t0), item(ak, 1100, true, t0)}
	h.api.orders[ak] = market.BuyOrder{Title: ak, Price: 2000, Count: 1}
	ctx := context.Background()
	for _, o := range []offers.Offer{offer(market.KindTarget, market.StatusAvailable, 1000, 2000),
		offer(market.KindHistory, market.StatusLocked, 1100, 1500), offer(market.KindTarget, market.StatusLocked, 1100, 2000)} {
		res, err := h.v.Check(ctx, o)
		require.NoError(t, err)
		require.Equal(t, Stands, res.Outcome)
	}
	items, aggs := h.api.calls()
	require.Equal(t, 1, items, "one listings read answers every check of the title within Reuse")
	require.Equal(t, 1, aggs)

	h.clk.Advance(2 * time.Second)
	_, err := h.v.Check(ctx, offer(market.KindHistory, market.StatusAvailable, 1000, 1500))
	require.NoError(t, err)
	items, _ = h.api.calls()
	require.Equal(t, 2, items, "an older read is not reused")

	lifecycletest.Run(t, 5*time.Second, h.v.Run)
	require.Eventually(t, func() bool {
		return len(h.pub.on(message.Queue(message.KindListings))) == 2 && len(h.pub.on(message.Queue(message.KindOrders))) == 1
	}, 5*time.Second, 10*time.Millisecond)
	for _, e := range h.pub.on(message.Queue(message.KindListings)) {
		require.Equal(t, message.KindListings, e.Kind)
		require.Equal(t, &message.Scan{Title: ak, Complete: true}, e.Scan)
		require.Equal(t, "a8db", e.GameID)
	}
	require.Equal(t, message.KindOrders, h.pub.on(message.Queue(message.KindOrders))[0].Kind)
}

func TestCheckReadsOnWhileThePagesEndBelowTheBuyPrice(t *testing.T) {
	tests := []struct {
		name     string
		maxPages int
		want     Outcome
		err      error
		pages    int
	}{
		{name: "found on the third page", maxPages: 3, want: Stands, pages: 3},
		{name: "not reached", maxPages: 2, err: ErrInconclusive, pages: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxPages: tc.maxPages})
			h.api.pageSize = 2
			// Other titles matching the filter are cheaper than the offer.
			h.api.listings[ak] = []dmarket.MarketItem{item(ak+" 1", 100, false, t0), item(ak+" 2", 200, false, t0),
				item(ak+" 3", 300, false, t0), item(ak+" 4", 400, false, t0), item(ak, 1000, false, t0), item(ak, 1200, false, t0)}
			res, err := h.v.Check(context.Background(), offer(market.KindHistory, market.StatusAvailable, 1000, 1500))
			items, _ := h.api.calls()
			require.Equal(t, tc.pages, items)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				levels, _ := h.forget.got()
				require.Empty(t, levels, "an inconclusive check forgets nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Outcome)
			lifecycletest.Run(t, 5*time.Second, h.v.Run)
			require.Eventually(t, func() bool { return len(h.pub.on(message.Queue(message.KindListings))) == tc.pages }, 5*time.Second, 10*time.Millisecond)
			scans := 0
			for _, e := range h.pub.on(message.Queue(message.KindListings)) {
				if e.Scan != nil {
					scans++
					require.False(t, e.Scan.Complete)
				}
			}
			require.Equal(t, 1, scans, "only the first page answers the scan question")
		})
	}
}

func TestCheckFailureIsNotAnOutcome(t *testing.T) {
	h := newHarness(t, Config{})
	h.api.err = &dmarket.Error{Class: dmarket.ClassRateLimited, Endpoint: dmarket.EndpointMarketItems}
	_, err := h.v.Check(context.Background(), offer(market.KindHistory, market.StatusAvailable, 1000, 1500))
	require.Error(t, err)
	levels, _ := h.forget.got()
	require.Empty(t, levels)
	require.Zero(t, testutil.ToFloat64(h.v.m.stale))
	require.Equal(t, 1.0, testutil.ToFloat64(h.v.m.checks.WithLabelValues("send", "failed")))
}

func TestBackgroundRecheckForgetsWhatWasSold(t *testing.T) {
	h := newHarness(t, Config{ReverifyInterval: 10 * time.Second})
	h.api.listings[ak] = []dmarket.MarketItem{item(ak, 1000, false, t0)}
	shown := offer(market.KindHistory, market.StatusAvailable, 1000, 1500)
	h.v.Track(shown, t0.Add(5*time.Minute))
	h.v.Track(shown, t0.Add(30*time.Minute))
	require.Equal(t, 1, h.v.Tracked())

	// First round: it stands. Then it is sold; a later round finds it gone.
	due := h.v.due(h.clk.Now())
	require.Len(t, due, 1)
	ctx := context.Background()
	h.v.recheck(ctx, due)
	require.Empty(t, h.v.due(h.clk.Now()), "checked just now")
	h.api.mu.Lock()
	h.api.listings[ak] = nil
	h.api.mu.Unlock()
	h.clk.Advance(10 * time.Second)
	h.v.recheck(ctx, h.v.due(h.clk.Now()))
	levels, _ := h.forget.got()
	require.Equal(t, []string{ak + "/false/1000"}, levels)
	require.Equal(t, 0, h.v.Tracked(), "a gone offer is tracked no more")
	require.Equal(t, 1.0, testutil.ToFloat64(h.v.m.checks.WithLabelValues("background", string(Gone))))

	h.v.Track(shown, t0.Add(time.Minute))
	h.clk.Advance(time.Minute)
	require.Empty(t, h.v.due(h.clk.Now()))
	require.Equal(t, 0, h.v.Tracked(), "tracking ends at until")
}

func TestBackgroundRecheckOldestFirst(t *testing.T) {
	h := newHarness(t, Config{ReverifyInterval: 10 * time.Second})
	a, b := offer(market.KindHistory, market.StatusAvailable, 1000, 1500), offer(market.KindHistory, market.StatusAvailable, 1100, 1500)
	h.v.Track(a, t0.Add(time.Hour))
	h.v.Track(b, t0.Add(time.Hour))
	h.v.mu.Lock()
	h.v.tracked[offerKey(a)].checked = t0.Add(-time.Minute)
	h.v.tracked[offerKey(b)].checked = t0.Add(-2 * time.Minute)
	h.v.mu.Unlock()
	due := h.v.due(t0)
	require.Len(t, due, 2)
	require.Equal(t, b, due[0].offer)
}

func TestRefusalsAreHeld(t *testing.T) {
	tests := []struct {
		name     string
		listings []dmarket.MarketItem
		err      error
		want     Outcome
		hold     time.Duration
	}{
		{name: "gone", want: Gone, hold: 10 * time.Second},
		{name: "undercut", listings: []dmarket.MarketItem{item(ak, 900, false, t0)}, want: Cheaper, hold: 10 * time.Second},
		{name: "failed", err: errors.New("network"), hold: 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Hold: 10 * time.Second})
			h.api.listings[ak] = tc.listings
			h.api.err = tc.err
			o := offer(market.KindHistory, market.StatusAvailable, 1000, 1500)
			ctx := context.Background()
			for range 2 {
				res, err := h.v.Check(ctx, o)
				require.Equal(t, tc.want, res.Outcome)
				require.Equal(t, tc.err != nil, err != nil)
				h.clk.Advance(tc.hold - time.Millisecond)
			}
			items, _ := h.api.calls()
			require.Equal(t, 1, items, "the refusal answers again within its hold")
			require.Equal(t, 1.0, testutil.ToFloat64(h.v.m.checks.WithLabelValues("send", "held")))
			h.clk.Advance(time.Millisecond)
			_, _ = h.v.Check(ctx, o)
			items, _ = h.api.calls()
			require.Equal(t, 2, items, "asked again once the hold ended")
		})
	}
	h := newHarness(t, Config{})
	h.api.listings[ak] = []dmarket.MarketItem{item(ak, 1000, false, t0)}
	o := offer(market.KindHistory, market.StatusAvailable, 1000, 1500)
	for range 2 {
		res, err := h.v.Check(context.Background(), o)
		require.NoError(t, err)
		require.Equal(t, Stands, res.Outcome)
		h.clk.Advance(time.Second)
	}
	items, _ := h.api.calls()
	require.Equal(t, 2, items, "an offer that stands is checked anew before every send")
}

// TestCheckReadsAgainForAnOfferNewerThanTheRead checks that a check never judges an offer from a read of
// its title that began before the offer's listing price was written: such a read (taken for another offer
// of the title within Reuse) may predate the listing and call a fresh deal gone. A read begun after the
// write is reused, and an offer written "later" than the verifier's clock (another host's clock ahead)
// is judged from the check's own read.
func TestCheckReadsAgainForAnOfferNewerThanTheRead(t *testing.T) {
	before := []dmarket.MarketItem{item(ak, 1100, true, t0)}
	after := []dmarket.MarketItem{item(ak, 800, false, t0), item(ak, 1100, true, t0)}
	tests := []struct {
		name string
		// listedLater: the deal is listed and the order raised after the first read began (else before).
		listedLater bool
		// written is the deal's UpdatedAt, after the first read began.
		written     time.Duration
		items, aggs int
	}{
		{name: "written after the read began: read again", listedLater: true, written: 50 * time.Millisecond, items: 2, aggs: 2},
		{name: "written an hour ahead of this clock: read once more", listedLater: true, written: time.Hour, items: 2, aggs: 2},
		{name: "written before the read began: reused", written: -time.Second, items: 1, aggs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{CheckOrders: true, Reuse: time.Second})
			ctx := context.Background()
			h.api.listings[ak], h.api.orders[ak] = after, market.BuyOrder{Title: ak, Price: 2100, Count: 1}
			if tc.listedLater {
				h.api.listings[ak], h.api.orders[ak] = before, market.BuyOrder{Title: ak, Price: 2000, Count: 1}
			}
			// A locked offer of the title is checked first.
			res, err := h.v.Check(ctx, offer(market.KindTarget, market.StatusLocked, 1100, 2000))
			require.NoError(t, err)
			require.Equal(t, Stands, res.Outcome)

			h.clk.Advance(100 * time.Millisecond)
			h.api.mu.Lock()
			h.api.listings[ak], h.api.orders[ak] = after, market.BuyOrder{Title: ak, Price: 2100, Count: 1}
			h.api.mu.Unlock()
			deal := offer(market.KindTarget, market.StatusAvailable, 800, 2100)
			deal.UpdatedAt = t0.Add(tc.written)
			res, err = h.v.Check(ctx, deal)
			require.NoError(t, err)
			require.Equal(t, Stands, res.Outcome)
			items, aggs := h.api.calls()
			require.Equal(t, tc.items, items, "listings reads")
			require.Equal(t, tc.aggs, aggs, "order reads")
			levels, orders := h.forget.got()
			require.Empty(t, levels)
			require.Empty(t, orders)
		})
	}
}
