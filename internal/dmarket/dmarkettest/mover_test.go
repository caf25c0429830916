package dmarkettest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// gate is a test clock whose time moves only through Sleep, and only up to a limit the test sets: a
// sleep beyond the limit blocks until the limit moves past it (or its context ends).
type gate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	limit   time.Time
	waiting bool
}

func newGate(now time.Time) *gate {
	g := &gate{now: now, limit: now}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) Now() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *gate) Sleep(ctx context.Context, d time.Duration) error {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.cond.Broadcast()
	})
	defer stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	target := g.now.Add(max(0, d))
	for target.After(g.limit) && ctx.Err() == nil {
		g.waiting = true
		g.cond.Wait()
	}
	g.waiting = false
	if err := ctx.Err(); err != nil {
		return err
	}
	g.now = target
	return nil
}

// runTo lets time move up to t and waits until the sleeper has done everything due by then.
func (g *gate) runTo(t *testing.T, to time.Time) {
	t.Helper()
	g.mu.Lock()
	g.limit, g.waiting = to, false
	g.cond.Broadcast()
	g.mu.Unlock()
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.waiting
	}, 10*time.Second, time.Millisecond, "the mover waits beyond %s", to)
}

// runMover starts m.Run and returns a stop that ends it and checks it returned nil.
func runMover(t *testing.T, m *dmarkettest.Mover) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// targetProfit recomputes a deal's TARGET profit % from the catalogue's fees (SPEC §6.1).
func targetProfit(t *testing.T, fees *dmarkettest.Fees, title string, sell, buy int64, now time.Time) float64 {
	t.Helper()
	fraction := fees.DefaultFraction
	for _, rf := range fees.Reduced {
		if rf.Title == title && now.Before(rf.ExpiresAt) && (rf.OpenMin || sell >= rf.MinPriceCents) &&
			(rf.OpenMax || rf.MaxPriceCents == 0 || sell <= rf.MaxPriceCents) {
			fraction = rf.Fraction
		}
	}
	f, err := market.ParseFraction(fraction)
	require.NoError(t, err)
	fee := max(int64(f.Fee(market.Cents(sell))), fees.MinAmountCents)
	p := float64(sell-fee-buy) / float64(buy) * 100
	return float64(int64(p*100+0.5)) / 100
}

func TestMoverInjectsAndSellsDealsOnSchedule(t *testing.T) {
	g := newGate(refNow)
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.Simple, c.Clock = false, g }))
	require.NoError(t, err)
	start := h.Catalogue().ListingCount()
	var announced []dmarkettest.Deal
	m := dmarkettest.NewMover(h, dmarkettest.MoverConfig{DealEvery: 3 * time.Second, DealLife: 20 * time.Second,
		DealLifeJitter: -1, ChurnPerSecond: 2, OnDeal: func(d dmarkettest.Deal) { announced = append(announced, d) }})
	runMover(t, m)

	g.runTo(t, refNow.Add(10*time.Second))
	deals := m.Deals()
	require.Len(t, deals, 3, "a deal at 3, 6 and 9 s")
	require.Len(t, m.Sold(), 20, "two ordinary listings sold a second, no deal yet")
	for i, d := range deals {
		require.Equal(t, refNow.Add(time.Duration(3*(i+1))*time.Second), d.CreatedAt)
		require.Equal(t, d.CreatedAt.Add(20*time.Second), d.SellAt)
		require.Zero(t, d.SoldAt)
		require.False(t, d.Locked)
		h.Catalogue().View(func(c *dmarkettest.Catalogue) {
			ti := c.Title(d.Game, d.Title)
			require.Equal(t, d.ItemID, ti.Listings[0].ItemID, "the deal is the title's cheapest listing")
			require.Less(t, d.Price, ti.Listings[1].PriceCents, "strictly below every other listing")
			require.Equal(t, d.OrderPrice, ti.BuyOrder.PriceCents)
			profit := targetProfit(t, c.Fees[d.Game], d.Title, d.OrderPrice, d.Price, d.CreatedAt)
			require.Equal(t, profit, d.ProfitPercent)
			require.GreaterOrEqual(t, profit, 25.0)
			require.LessOrEqual(t, profit, 40.0)
		})
		// The fresh lane and a title scan both see it.
		scan, _, _ := pageOf(t, h, url.Values{"gameId": {d.Game}, "limit": {"1"}, "title": {d.Title}}, "")
		require.Equal(t, d.ItemID, scan[0].itemID)
	}
	require.Equal(t, deals, announced, "each deal is announced as it is listed")
	fresh, _, _ := pageOf(t, h, url.Values{"gameId": {"a8db"}, "limit": {"100"}, "orderBy": {"updated"}, "orderDir": {"desc"}}, "")
	require.Contains(t, ids(fresh), deals[2].ItemID)
	require.Equal(t, start+3, h.Catalogue().ListingCount(), "churn adds as many as it sells")

	g.runTo(t, refNow.Add(30*time.Second))
	deals = m.Deals()
	require.Len(t, deals, 10)
	sold := map[string]dmarkettest.SoldListing{}
	for _, s := range m.Sold() {
		sold[s.ItemID] = s
	}
	require.Len(t, sold, 60+3)
	for i, d := range deals {
		if i < 3 {
			require.Equal(t, d.SellAt, d.SoldAt, "deal %d sold after its life", i)
			require.Equal(t, dmarkettest.SoldListing{Game: d.Game, Title: d.Title, ItemID: d.ItemID, Price: d.Price, SoldAt: d.SoldAt}, sold[d.ItemID])
			require.Empty(t, listedIn(h, d))
			continue
		}
		require.Zero(t, d.SoldAt, "deal %d still listed", i)
		require.NotContains(t, sold, d.ItemID, "churn never sells a deal")
		require.Equal(t, []string{d.ItemID}, listedIn(h, d))
	}
	require.Equal(t, start+7, h.Catalogue().ListingCount())

	// A deal sold from outside (a buyer) shows in Deals too.
	require.True(t, h.Sell(deals[9].Game, deals[9].ItemID))
	require.Equal(t, refNow.Add(30*time.Second), m.Deals()[9].SoldAt)
}

func TestMoverWithExistingOrdersNeverSetsAnOrder(t *testing.T) {
	g := newGate(refNow)
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.Simple, c.Clock, c.BuyOrderShare = false, g, 0.9 }))
	require.NoError(t, err)
	orders := map[string]int64{}
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		for _, ti := range c.Titles["a8db"] {
			if ti.BuyOrder != nil {
				orders[ti.Name] = ti.BuyOrder.PriceCents
			}
		}
	})
	m := dmarkettest.NewMover(h, dmarkettest.MoverConfig{DealEvery: time.Second, DealLife: time.Hour, ExistingOrders: true})
	runMover(t, m)
	g.runTo(t, refNow.Add(20*time.Second))
	deals := m.Deals()
	require.NotEmpty(t, deals)
	for _, d := range deals {
		require.Contains(t, orders, d.Title, "a deal only on a title that had an order")
		require.Equal(t, orders[d.Title], d.OrderPrice, "against the order as it stood")
		require.GreaterOrEqual(t, d.ProfitPercent, 25.0)
	}
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		for _, ti := range c.Titles["a8db"] {
			if ti.BuyOrder != nil {
				require.Equal(t, orders[ti.Name], ti.BuyOrder.PriceCents, "no order of %q changed", ti.Name)
			}
		}
	})
}

// listedIn returns the deal's item id if it is still on the market.
func listedIn(h *dmarkettest.Handler, d dmarkettest.Deal) []string {
	var out []string
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		for _, l := range c.Title(d.Game, d.Title).Listings {
			if l.ItemID == d.ItemID {
				out = append(out, l.ItemID)
			}
		}
	})
	return out
}

func TestMoverIsDeterministic(t *testing.T) {
	perPrice := map[int64]int{}
	for _, l := range adversarial(t, nil).Catalogue().Listings("a8db") {
		perPrice[l.PriceCents]++
	}
	run := func(seed int64) []dmarkettest.Deal {
		g := newGate(refNow)
		h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.Simple, c.Clock = false, g }))
		require.NoError(t, err)
		m := dmarkettest.NewMover(h, dmarkettest.MoverConfig{DealEvery: time.Second, ChurnPerSecond: 5, Seed: seed})
		runMover(t, m)
		g.runTo(t, refNow.Add(40*time.Second))
		return m.Deals()
	}
	a, b, c := run(3), run(3), run(4)
	crowded := 0
	for _, d := range a {
		if perPrice[d.Price] > 100 {
			crowded++
		}
	}
	require.Positive(t, crowded, "some deals share their price with more than a page of listings")
	require.Len(t, a, 40)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	var sold, nasty int
	for _, d := range a {
		if !d.SoldAt.IsZero() {
			sold++
			require.GreaterOrEqual(t, d.SoldAt.Sub(d.CreatedAt), 15*time.Second, "life 20 s ± 5 s")
			require.LessOrEqual(t, d.SoldAt.Sub(d.CreatedAt), 25*time.Second)
		}
		if !isPlain(d.Title) {
			nasty++
		}
	}
	require.Positive(t, sold)
	require.Positive(t, nasty, "some deals are on adversarial titles")
}

// isPlain reports whether a title is one of the ordinary generated ones.
func isPlain(title string) bool {
	for _, r := range title {
		switch r {
		case '*', ':', '+', '%', '&', '<', '>', '"', '★':
			return false
		}
	}
	return len(title) <= 100 && title[:min(len(title), 6)] != "Crowd "
}

func TestMovingMarketServesConsistentPagesUnderLoad(t *testing.T) {
	srv := dmarkettest.New(small(func(c *dmarkettest.Config) { c.Simple = false }))
	defer srv.Close()
	m := dmarkettest.NewMover(srv.Handler, dmarkettest.MoverConfig{DealEvery: 5 * time.Millisecond,
		DealLife: 30 * time.Millisecond, ChurnPerSecond: 400})
	runMover(t, m)

	queries := []url.Values{
		{"orderBy": {"updated"}, "orderDir": {"desc"}, "limit": {"20"}},
		{"limit": {"30"}, "priceFrom": {"500"}, "priceTo": {"5000"}},
		{"title": {"Crowd |"}, "limit": {"25"}},
		{"title": {"Shared Price Case"}, "limit": {"11"}},
	}
	var wg sync.WaitGroup
	for _, q := range queries {
		q.Set("gameId", "a8db")
		wg.Go(func() {
			for range 3 {
				seen := map[string]bool{}
				var prev *servedJSON
				for pages := 0; pages < 200; pages++ {
					p, err := fetchPage(srv.URL(), q)
					if !assertPage(t, err, p.Objects, seen, &prev, q.Get("orderBy") == "updated") || p.Cursor == "" {
						break
					}
					q.Set("cursor", p.Cursor)
				}
				q.Del("cursor")
			}
		})
	}
	wg.Go(func() {
		for range 30 {
			res, err := http.Post(srv.URL()+"/marketplace-api/v1/aggregated-prices", "application/json", nil)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
			_ = m.Deals()
		}
	})
	wg.Wait()
	require.Eventually(t, func() bool { return len(m.Deals()) >= 3 }, 10*time.Second, time.Millisecond)
}

type servedJSON struct {
	ItemID    string `json:"itemId"`
	CreatedAt int64  `json:"createdAt"`
	Price     struct {
		USD string `json:"USD"`
	} `json:"price"`
}

type pageJSON struct {
	Objects []servedJSON `json:"objects"`
	Cursor  string       `json:"cursor"`
}

// fetchPage gets one market-items page over HTTP.
func fetchPage(base string, q url.Values) (pageJSON, error) {
	var p pageJSON
	res, err := http.Get(base + "/exchange/v1/market/items?" + q.Encode())
	if err != nil {
		return p, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return p, fmt.Errorf("status %d", res.StatusCode)
	}
	return p, json.NewDecoder(res.Body).Decode(&p)
}

// assertPage checks that a page came, that no listing repeats within its cursor chain and that the chain
// keeps its order (createdAt descending when updated, else price ascending).
func assertPage(t *testing.T, err error, items []servedJSON, seen map[string]bool, prev **servedJSON, updated bool) bool {
	if !assert(t, err == nil, "page: %v", err) {
		return false
	}
	for i := range items {
		it := &items[i]
		if !assert(t, !seen[it.ItemID], "listing %s served twice in one chain", it.ItemID) {
			return false
		}
		seen[it.ItemID] = true
		if p := *prev; p != nil {
			ok := p.CreatedAt >= it.CreatedAt
			if !updated {
				a, _ := strconv.ParseInt(p.Price.USD, 10, 64)
				b, _ := strconv.ParseInt(it.Price.USD, 10, 64)
				ok = a <= b
			}
			if !assert(t, ok, "out of order: %+v then %+v", *p, *it) {
				return false
			}
		}
		*prev = it
	}
	return true
}

func assert(t *testing.T, ok bool, format string, args ...any) bool {
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

// stallClock is a clock on which every sleep oversleeps by far (a stalled process): each Sleep moves
// time on by jump, whatever was asked, until sleeps run out; then it blocks until its context ends.
type stallClock struct {
	mu     sync.Mutex
	now    time.Time
	jump   time.Duration
	left   int
	parked bool
}

func (s *stallClock) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *stallClock) Sleep(ctx context.Context, _ time.Duration) error {
	s.mu.Lock()
	if s.left == 0 {
		s.parked = true
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	s.left--
	s.now = s.now.Add(s.jump)
	s.mu.Unlock()
	return nil
}

func TestMoverSkipsWhatItMissedInsteadOfBursting(t *testing.T) {
	clk := &stallClock{now: refNow, jump: 10 * time.Second, left: 5}
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.Clock = clk }))
	require.NoError(t, err)
	m := dmarkettest.NewMover(h, dmarkettest.MoverConfig{DealEvery: 3 * time.Second, DealLife: time.Hour, ChurnPerSecond: 2})
	runMover(t, m)
	require.Eventually(t, func() bool {
		clk.mu.Lock()
		defer clk.mu.Unlock()
		return clk.parked
	}, 10*time.Second, time.Millisecond)
	deals := m.Deals()
	require.Len(t, deals, 5, "one deal per wake-up, not one per 3 s missed")
	for i, d := range deals {
		require.Equal(t, refNow.Add(time.Duration(10*(i+1))*time.Second), d.CreatedAt)
	}
	require.Len(t, m.Sold(), 5*(2+1), "churn catches up on one second at most (two steps, and the one due now)")
}
