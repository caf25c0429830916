package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

// laneMarket answers the lanes' requests: the newest listings of a feed (newest first) and title scans
// of a book of titles; other calls go to the embedded fakeMarket.
type laneMarket struct {
	*fakeMarket
	lmu    sync.Mutex
	feed   []string          // item ids, newest first
	titled map[string]string // item id -> title, "T" when absent
	book   map[string]int    // title -> listings of it
	calls  map[string]int    // lane -> requests
	bad    []ListingsQuery
	fail   error // every lane request fails with it when set
	onCall func(lane string, total int)
}

func newLaneMarket() *laneMarket {
	return &laneMarket{fakeMarket: newMarket(0), book: map[string]int{}, calls: map[string]int{}, titled: map[string]string{}}
}

// pushTitles adds a listing of each title at the top of the feed, the first title's newest.
func (m *laneMarket) pushTitles(titles ...string) {
	m.push(len(titles))
	m.lmu.Lock()
	defer m.lmu.Unlock()
	for i, t := range titles {
		m.titled[m.feed[i]] = t
	}
}

// titleOf returns the title of a listing of the feed.
func (m *laneMarket) titleOf(id string) string {
	if t, ok := m.titled[id]; ok {
		return t
	}
	return "T"
}

// push adds n listings at the top of the feed.
func (m *laneMarket) push(n int) {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("item-%d", len(m.feed)+n-i)
	}
	m.feed = append(ids, m.feed...)
}

func (m *laneMarket) lane(q ListingsQuery) string {
	switch {
	case q.OrderBy == dmarket.OrderByUpdated:
		return laneFresh
	case q.Title != "":
		return laneWatch
	}
	return laneRange
}

func (m *laneMarket) MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error) {
	lane := m.lane(q)
	if lane == laneRange {
		return m.fakeMarket.MarketItems(ctx, q)
	}
	m.lmu.Lock()
	m.calls[lane]++
	total := m.calls[laneFresh] + m.calls[laneWatch]
	onCall, fail := m.onCall, m.fail
	var ids, titles []string
	if q.Limit != 100 || q.Signed || q.PriceFrom != 0 || q.PriceTo != 0 {
		m.bad = append(m.bad, q)
	}
	if lane == laneFresh {
		if q.OrderDir != dmarket.OrderDesc || q.Title != "" {
			m.bad = append(m.bad, q)
		}
		ids = m.feed
		for _, id := range ids {
			titles = append(titles, m.titleOf(id))
		}
	} else {
		if q.OrderDir != dmarket.OrderAsc || q.OrderBy != dmarket.OrderByPrice {
			m.bad = append(m.bad, q)
		}
		for i := range m.book[q.Title] {
			ids = append(ids, fmt.Sprintf("%s-%d", q.Title, i))
			titles = append(titles, q.Title)
		}
	}
	m.lmu.Unlock()
	if onCall != nil {
		onCall(lane, total)
	}
	if fail != nil {
		return ListingsPage{}, fail
	}
	start, _ := strconv.Atoi(q.Cursor)
	end := min(start+100, len(ids))
	var page ListingsPage
	var objs []string
	for i := start; i < end; i++ {
		objs = append(objs, fmt.Sprintf(`{"itemId":%q,"price":{"USD":"100"},"title":%q}`, ids[i], titles[i]))
		page.Keys = append(page.Keys, ListingKey(ids[i], 100))
	}
	page.KeyTitles = titles[start:end]
	if lane == laneWatch {
		page.Titles = titles[start:end]
	}
	page.Items = len(objs)
	if end < len(ids) {
		page.Cursor = strconv.Itoa(end)
	}
	page.Raw = []byte(`{"objects":[` + strings.Join(objs, ",") + `],"cursor":"` + page.Cursor + `"}`)
	page.Request = message.Request{Method: "GET", Path: "/exchange/v1/market/items", Query: "title=" + q.Title}
	return page, nil
}

// requireGoodQueries checks every lane request asked for what its lane needs.
func (m *laneMarket) requireGoodQueries(t *testing.T) {
	t.Helper()
	m.lmu.Lock()
	defer m.lmu.Unlock()
	require.Empty(t, m.bad, "lane requests with a wrong query")
}

func (m *laneMarket) requests(lane string) int {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	return m.calls[lane]
}

// fakeWatchlist hands out its titles in turn, unless err is set.
type fakeWatchlist struct {
	mu     sync.Mutex
	titles map[string][]string // game -> watched titles
	err    error
	claims []time.Duration
}

func (w *fakeWatchlist) Claim(_ context.Context, game string, n int, every time.Duration) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.claims = append(w.claims, every)
	if w.err != nil {
		return nil, w.err
	}
	all := w.titles[game]
	k := min(n, len(all))
	out := append([]string(nil), all[:k]...)
	w.titles[game] = append(all[k:], out...) // due again later: at the back
	return out, nil
}

func laneConfig(fresh, watch float64) Config {
	cfg := testConfig()
	cfg.FreshShare, cfg.WatchShare = fresh, watch
	return cfg
}

func newLaneCrawler(t *testing.T, cfg Config, api API, pub message.Publisher, wl Watchlist, budget func() float64,
	logs io.Writer) (*Crawler, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(testStart)
	d := bareDeps(api, pub, logs)
	d.Clock, d.Budget, d.Watchlist = clk, budget, wl
	if cfg.WithKeys {
		withFakeJobs(&d)
	}
	return mustNew(t, cfg, d), clk
}

func constBudget(v float64) func() float64 { return func() float64 { return v } }

// TestLanePacingMatchesTheShares: on the fake clock, the fresh and watch lanes make share × budget
// requests per second each, whatever else they do.
func TestLanePacingMatchesTheShares(t *testing.T) {
	tests := []struct {
		name         string
		fresh, watch float64
		budget       float64
	}{
		{"defaults on five egresses", 0.3, 0.2, 10},
		{"fresh alone", 0.5, 0, 10},
		{"watch alone on one egress", 0, 0.4, 2},
		{"unequal shares", 0.1, 0.6, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newLaneMarket()
			m.push(300)
			wl := &fakeWatchlist{titles: map[string][]string{market.GameCS2: {"A", "B", "C"}}}
			c, clk := newLaneCrawler(t, laneConfig(tc.fresh, tc.watch), m, newSink(), wl, constBudget(tc.budget), nil)
			start := clk.Now()
			const total = 2000
			ctx, cancel := context.WithCancel(context.Background())
			var end time.Time
			m.onCall = func(_ string, n int) {
				if n == total {
					end = clk.Now()
					cancel()
				}
			}
			require.NoError(t, c.RunLanes(ctx))
			require.False(t, end.IsZero(), "the lanes stopped before %d requests", total)
			elapsed := end.Sub(start).Seconds()
			for lane, share := range map[string]float64{laneFresh: tc.fresh, laneWatch: tc.watch} {
				got := float64(m.requests(lane)) / (elapsed * tc.budget)
				require.InDelta(t, share, got, 0.03*share+0.002, "%s lane's share of the budget", lane)
				if share > 0 {
					require.InDelta(t, share*tc.budget, testutil.ToFloat64(c.m.laneBudget.WithLabelValues(lane)), 1e-9)
				}
			}
			m.requireGoodQueries(t)
		})
	}
}

// TestLanePacingFollowsTheBudget: the rate is taken of the budget as it is at each request, so a pool
// that loses egresses slows the lanes down, and no budget at all stops them.
func TestLanePacingFollowsTheBudget(t *testing.T) {
	m := newLaneMarket()
	m.push(10)
	var mu sync.Mutex
	budget := 10.0
	c, clk := newLaneCrawler(t, laneConfig(0.5, 0), m, newSink(), nil, func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return budget
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var marks []time.Time
	m.onCall = func(_ string, n int) {
		mu.Lock()
		defer mu.Unlock()
		switch n {
		case 500:
			marks = append(marks, clk.Now())
			budget = 2 // four of five egresses are cooling down
		case 700:
			marks = append(marks, clk.Now())
			budget = 0
		}
	}
	done := make(chan error)
	go func() { done <- c.RunLanes(ctx) }()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(marks) == 2 && clk.Now().Sub(marks[1]) > time.Hour
	}, 10*time.Second, time.Millisecond, "the pacer idles on the clock while there is no budget")
	cancel()
	require.NoError(t, <-done)
	require.LessOrEqual(t, m.requests(laneFresh), 703, "no request while the budget is zero")
	require.InDelta(t, 200.0, marks[1].Sub(marks[0]).Seconds(), 20, "200 requests at 0.5 × 2 per second")
	m.requireGoodQueries(t)
}

// TestFreshLaneStopsAtTheFirstSeenListing drives the fresh lane poll by poll: the first poll publishes
// the first page alone, a poll reads on while every listing of a page is new, up to FreshMaxPages
// pages, and stops at the page where it meets a listing it has seen.
func TestFreshLaneStopsAtTheFirstSeenListing(t *testing.T) {
	m := newLaneMarket()
	m.push(1000)
	s := newSink()
	cfg := laneConfig(0.3, 0)
	cfg.FreshMaxPages = 4
	c, clk := newLaneCrawler(t, cfg, m, s, nil, constBudget(10), nil)
	f := newFreshLane(c)
	ctx := context.Background()
	poll := func() int {
		pages := 0
		for {
			f.next(ctx, 3)(ctx)
			pages++
			if len(f.pending) == 0 {
				return pages
			}
		}
	}
	tests := []struct {
		name      string
		push      int
		wantPages int
		wantNew   float64
	}{
		{"the first poll reads the first page alone", 0, 1, 0},
		{"nothing new", 0, 1, 0},
		{"a few new listings", 30, 1, 30},
		{"more than a page: read on until a seen listing", 250, 3, 250},
		{"exactly a page", 100, 2, 100},
		{"more than the bound", 1000, 4, 400},
		{"after the bound the rest is not walked", 0, 1, 0},
	}
	newTotal := 0.0
	for _, tc := range tests {
		m.push(tc.push)
		before := m.requests(laneFresh)
		clk.Advance(time.Second)
		require.Equal(t, tc.wantPages, poll(), tc.name)
		require.Equal(t, tc.wantPages, m.requests(laneFresh)-before, tc.name)
		newTotal += tc.wantNew
		require.Equal(t, newTotal, testutil.ToFloat64(c.m.freshNew.WithLabelValues(market.GameCS2)), tc.name)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.freshInterval.WithLabelValues(market.GameCS2)), "polls a second apart")
	s.mu.Lock()
	defer s.mu.Unlock()
	envs := s.msgs[message.Queue(message.KindListings)]
	require.Len(t, envs, 13, "every page read is published")
	for _, e := range envs {
		require.Nil(t, e.Crawl, "fresh pages are plain listings pages")
		require.Nil(t, e.Scan)
	}
	require.Equal(t, 13.0, testutil.ToFloat64(c.m.lanePages.WithLabelValues(laneFresh)))
}

// TestFreshLaneRepricedListingIsNew: a listing seen at one price is new again at another.
func TestFreshLaneRepricedListingIsNew(t *testing.T) {
	s := newSeenSet(10)
	require.True(t, s.add(ListingKey("a", 100)))
	require.False(t, s.add(ListingKey("a", 100)))
	require.True(t, s.add(ListingKey("a", 90)))
}

func TestSeenSetForgetsTheOldestBeyondItsSize(t *testing.T) {
	s := newSeenSet(3)
	for _, k := range []string{"a", "b", "c"} {
		require.True(t, s.add(k))
	}
	require.False(t, s.add("a"))
	require.True(t, s.add("d"), "a fourth key")
	require.Len(t, s.set, 3)
	require.True(t, s.add("a"), "the oldest was forgotten")
	require.False(t, s.add("d"))
}

func TestFreshLaneTakesTheGamesInTurn(t *testing.T) {
	m := newLaneMarket()
	m.push(5)
	cfg := laneConfig(0.3, 0)
	cfg.Games = []string{market.GameCS2, market.GameDota2}
	c, _ := newLaneCrawler(t, cfg, m, newSink(), nil, constBudget(10), nil)
	f := newFreshLane(c)
	var games []string
	for range 4 {
		f.next(context.Background(), 3)
		games = append(games, f.lastGame())
	}
	require.Equal(t, []string{market.GameCS2, market.GameDota2, market.GameCS2, market.GameDota2}, games)
}

// lastGame returns the game the lane polled last.
func (f *freshLane) lastGame() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.c.cfg.Games[(f.turn-1)%len(f.c.cfg.Games)]
}

func TestWatchLanePublishesScans(t *testing.T) {
	m := newLaneMarket()
	m.book["Small"] = 3
	m.book["Large"] = 150
	m.book["Empty"] = 0
	s := newSink()
	wl := &fakeWatchlist{titles: map[string][]string{market.GameCS2: {"Small", "Large", "Empty"}}}
	cfg := laneConfig(0, 0.2)
	cfg.WatchInterval = 7 * time.Second
	c, _ := newLaneCrawler(t, cfg, m, s, wl, constBudget(10), nil)
	w := &watchLane{c: c}
	ctx := context.Background()
	for range 3 {
		j := w.next(ctx, 2)
		require.NotNil(t, j)
		j(ctx)
	}
	require.Equal(t, []time.Duration{7 * time.Second, 7 * time.Second}, wl.claims,
		"claims of two titles (the lane's rate), due again after the interval")
	s.mu.Lock()
	envs := s.msgs[message.Queue(message.KindListings)]
	s.mu.Unlock()
	require.Len(t, envs, 3)
	got := map[string]bool{}
	for _, e := range envs {
		require.Nil(t, e.Crawl)
		require.NotNil(t, e.Scan)
		got[e.Scan.Title] = e.Scan.Complete
	}
	require.Equal(t, map[string]bool{"Small": true, "Large": false, "Empty": true}, got,
		"complete when the title's listings fit on the page")
	require.Equal(t, 3.0, testutil.ToFloat64(c.m.lanePages.WithLabelValues(laneWatch)))
	require.Equal(t, 3.0, testutil.ToFloat64(c.m.laneRequests.WithLabelValues(laneWatch)))
}

func TestWatchLaneIdlesWithoutDueTitles(t *testing.T) {
	logs := &loggingtest.Buffer{}
	wl := &fakeWatchlist{titles: map[string][]string{}}
	c, _ := newLaneCrawler(t, laneConfig(0, 0.2), newLaneMarket(), newSink(), wl, constBudget(10), logs)
	w := &watchLane{c: c}
	ctx := context.Background()
	require.Nil(t, w.next(ctx, 2), "nothing due")
	wl.err = errors.New("redis down")
	require.Nil(t, w.next(ctx, 2))
	require.Nil(t, w.next(ctx, 2))
	require.Equal(t, 1, strings.Count(logs.String(), "watchlist unavailable"), "logged once while it fails")
	wl.err = nil
	wl.titles[market.GameCS2] = []string{"A"}
	require.NotNil(t, w.next(ctx, 2))
	require.Contains(t, logs.String(), "watchlist available again")
}

func TestLaneFailuresAreCountedAndSkipped(t *testing.T) {
	m := newLaneMarket()
	m.fail = errors.New("429")
	s := newSink()
	wl := &fakeWatchlist{titles: map[string][]string{market.GameCS2: {"A"}}}
	c, _ := newLaneCrawler(t, laneConfig(0.3, 0.2), m, s, wl, constBudget(10), nil)
	ctx := context.Background()
	newFreshLane(c).next(ctx, 3)(ctx)
	(&watchLane{c: c}).next(ctx, 2)(ctx)
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.failures.WithLabelValues(laneFresh)))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.failures.WithLabelValues(laneWatch)))
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Empty(t, s.msgs, "nothing published")
}

func TestLanesOff(t *testing.T) {
	c, _ := newLaneCrawler(t, laneConfig(0, 0), newLaneMarket(), newSink(), nil, nil, nil)
	require.NoError(t, c.RunLanes(context.Background()), "returns at once with both lanes off")
	c, _ = newLaneCrawler(t, laneConfig(0, 0.2), newLaneMarket(), newSink(), nil, constBudget(10), nil)
	require.NoError(t, c.RunLanes(context.Background()), "the watch lane is off without a watchlist")
}

func TestNewRefusesBadLaneSettings(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		budget func() float64
	}{
		{"negative share", func(c *Config) { c.FreshShare = -0.1 }, constBudget(1)},
		{"shares leave nothing to the range crawl", func(c *Config) { c.FreshShare, c.WatchShare = 0.5, 0.5 }, constBudget(1)},
		{"no budget", func(c *Config) { c.FreshShare = 0.3 }, nil},
		{"no fresh pages", func(c *Config) { c.FreshShare, c.FreshMaxPages = 0.3, 0 }, constBudget(1)},
		{"no watch interval", func(c *Config) { c.WatchShare, c.WatchInterval = 0.3, 0 }, constBudget(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.edit(&cfg)
			d := bareDeps(newMarket(0), newSink(), nil)
			d.Budget = tc.budget
			_, err := New(cfg, d)
			require.Error(t, err)
		})
	}
}
