package crawler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

// fakeMarket is an in-memory listings book: listing i has price prices[i] (ascending) and title titles[i].
type fakeMarket struct {
	mu      sync.Mutex
	prices  []int64
	titles  []string
	calls   []ListingsQuery
	failN   int   // fail this many MarketItems calls before answering
	failErr error // error returned by failing calls
	block   bool  // MarketItems answers only when its context ends
	sales   map[string][]time.Time
	orders  [][]string
	fees    []string
	feesErr error
}

func newMarket(n int) *fakeMarket {
	m := &fakeMarket{sales: map[string][]time.Time{}}
	for i := range n {
		m.prices = append(m.prices, int64(1+i*7%5000))
		m.titles = append(m.titles, "Item "+strconv.Itoa(i%37))
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(m.prices[a] - m.prices[b]) })
	p, t := make([]int64, n), make([]string, n)
	for i, j := range idx {
		p[i], t[i] = m.prices[j], m.titles[j]
	}
	m.prices, m.titles = p, t
	return m
}

func (m *fakeMarket) MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, q)
	if m.block {
		m.mu.Unlock()
		<-ctx.Done()
		m.mu.Lock()
		return ListingsPage{}, ctx.Err()
	}
	if m.failN > 0 {
		m.failN--
		return ListingsPage{}, m.failErr
	}
	start := 0
	if q.Cursor != "" {
		start, _ = strconv.Atoi(q.Cursor)
	} else {
		for start < len(m.prices) && m.prices[start] < q.PriceFrom {
			start++
		}
	}
	var page ListingsPage
	var objs []string
	i := start
	for ; i < len(m.prices) && len(objs) < 100; i++ {
		if q.PriceTo != 0 && m.prices[i] > q.PriceTo {
			break
		}
		objs = append(objs, fmt.Sprintf(`{"itemId":"id-%d","price":{"USD":"%d"},"title":%q}`, i, m.prices[i], m.titles[i]))
		page.Titles = append(page.Titles, m.titles[i])
		page.LastPrice = m.prices[i]
	}
	page.Items = len(objs)
	more := i < len(m.prices) && (q.PriceTo == 0 || m.prices[i] <= q.PriceTo)
	if more {
		page.Cursor = strconv.Itoa(i)
	}
	page.Raw = []byte(`{"objects":[` + strings.Join(objs, ",") + `],"cursor":"` + page.Cursor + `"}`)
	page.Request = message.Request{Method: "GET", Path: "/exchange/v1/market/items",
		Query: fmt.Sprintf("gameId=%s&priceFrom=%d&priceTo=%d", q.GameID, q.PriceFrom, q.PriceTo)}
	return page, nil
}

func (m *fakeMarket) AggregatedPrices(_ context.Context, game string, titles []string) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.orders = append(m.orders, titles)
	return Result{Raw: []byte(`{"aggregatedPrices":[]}`), Request: message.Request{Method: "POST", Path: "/marketplace-api/v1/aggregated-prices"}}, nil
}

func (m *fakeMarket) LastSales(_ context.Context, game, title string, offset, limit int) (SalesPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := m.sales[title]
	var p SalesPage
	p.Request = message.Request{Method: "GET", Path: "/trade-aggregator/v1/last-sales", Query: "offset=" + strconv.Itoa(offset)}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		p.Sales = append(p.Sales, []byte(fmt.Sprintf(`{"price":"1.00","date":"%d"}`, all[i].Unix())))
		p.Oldest = all[i]
	}
	return p, nil
}

func (m *fakeMarket) CustomizedFees(_ context.Context, game string) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fees = append(m.fees, game)
	if m.feesErr != nil {
		return Result{}, m.feesErr
	}
	return Result{Raw: []byte(`{"defaultFee":{"fraction":"0.05","minAmount":"1"},"reducedFees":[]}`)}, nil
}

// sink records published envelopes.
type sink struct {
	mu   sync.Mutex
	msgs map[string][]message.Envelope
	ids  map[string]bool
}

func newSink() *sink { return &sink{msgs: map[string][]message.Envelope{}, ids: map[string]bool{}} }

func (s *sink) Publish(_ context.Context, queue string, m message.Outgoing) error {
	e, err := message.Decode(m.Body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[m.MessageID] {
		return fmt.Errorf("duplicate message id %s", m.MessageID)
	}
	s.ids[m.MessageID] = true
	s.msgs[queue] = append(s.msgs[queue], e)
	return nil
}

func (s *sink) listingIDs(t *testing.T) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]int{}
	for _, e := range s.msgs[message.Queue(message.KindListings)] {
		var p struct {
			Objects []struct {
				ItemID string `json:"itemId"`
			} `json:"objects"`
		}
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		for _, o := range p.Objects {
			seen[o.ItemID]++
		}
	}
	return seen
}

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = map[string][]message.Envelope{}
}

type fakeSchedule struct {
	mu     sync.Mutex
	due    []string
	done   map[string]time.Duration
	failed map[string]int
}

func (f *fakeSchedule) Claim(_ context.Context, _ string, n int, _ time.Duration) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := min(n, len(f.due))
	out := f.due[:k]
	f.due = f.due[k:]
	return out, nil
}

func (f *fakeSchedule) Done(_ context.Context, _, title string, next time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done[title] = next
	return nil
}

func (f *fakeSchedule) Failed(_ context.Context, _, title string, attempt int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed[title] = attempt
	return nil
}

type fakeGate struct {
	mu       sync.Mutex
	taken    map[string]bool
	released []string
}

func (g *fakeGate) Due(_ context.Context, key string, _ time.Duration) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.taken[key] {
		return false, nil
	}
	g.taken[key] = true
	return true, nil
}

func (g *fakeGate) Release(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.taken, key)
	g.released = append(g.released, key)
	return nil
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Bounds = []int64{0, 1000, 3000}
	cfg.Concurrency = 3
	cfg.CycleInterval = 0
	cfg.CycleDeadline = 20 * time.Second
	cfg.MaxChainPages = 3
	cfg.RetryBase, cfg.RetryMax = time.Millisecond, 5*time.Millisecond
	return cfg
}

func newTestCrawler(t *testing.T, cfg Config, api API, pub message.Publisher, logs io.Writer) (*Crawler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if logs == nil {
		logs = io.Discard
	}
	c, err := New(cfg, Deps{
		API: api, Publisher: pub, Schedule: &fakeSchedule{done: map[string]time.Duration{}, failed: map[string]int{}},
		Gate: &fakeGate{taken: map[string]bool{}}, Clock: clock.NewFake(time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)),
		Log: slog.New(slog.NewTextHandler(logs, nil)), Registry: reg,
	})
	require.NoError(t, err)
	return c, reg
}

func TestCycleCoversEveryListingOnceAndSplitsLongRanges(t *testing.T) {
	m := newMarket(2500)
	s := newSink()
	c, reg := newTestCrawler(t, testConfig(), m, s, nil)

	for cycle := 1; cycle <= 3; cycle++ {
		s.reset()
		st := c.RunCycle(context.Background())
		require.Zero(t, st.Unfinished, "cycle %d", cycle)
		require.Equal(t, 2500, st.Listings, "cycle %d", cycle)
		ids := s.listingIDs(t)
		require.Len(t, ids, 2500, "cycle %d: every listing published", cycle)
		for id, n := range ids {
			require.Equal(t, 1, n, "cycle %d: listing %s published once", cycle, id)
		}
	}
	plan := c.Plan(market.GameCS2)
	require.Greater(t, len(plan), 3, "long ranges were split")
	for i := 1; i < len(plan); i++ {
		require.Equal(t, plan[i-1].To+1, plan[i].From, "ranges stay contiguous: %v", plan)
	}
	require.Zero(t, plan[len(plan)-1].To, "the last range stays open")
	require.Greater(t, testutil.ToFloat64(c.m.splits.WithLabelValues(market.GameCS2)), 0.0)
	require.Equal(t, 3.0, testutil.ToFloat64(c.m.cycles.WithLabelValues("complete")))
	n, err := testutil.GatherAndCount(reg, "dmarket_crawler_pages_published_total")
	require.NoError(t, err)
	require.Positive(t, n)
}

func TestFailingRequestsAreRetriedWithinTheCycle(t *testing.T) {
	m := newMarket(600)
	m.failN, m.failErr = 5, errors.New("connection reset")
	s := newSink()
	c, _ := newTestCrawler(t, testConfig(), m, s, nil)
	st := c.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	require.Len(t, s.listingIDs(t), 600)
	require.Equal(t, 5.0, testutil.ToFloat64(c.m.failures.WithLabelValues("listings")))
}

var errGone = errors.New("gone")

func TestPermanentFailureLeavesRangeForNextCycleFirst(t *testing.T) {
	m := newMarket(300)
	cfg := testConfig()
	cfg.Concurrency = 1
	cfg.IsRetryable = func(err error) bool { return !errors.Is(err, errGone) }
	m.failN, m.failErr = 1, errGone
	s := newSink()
	c, _ := newTestCrawler(t, cfg, m, s, nil)
	st := c.RunCycle(context.Background())
	require.Equal(t, 1, st.Unfinished)
	first := m.calls[0]

	m.calls = nil
	st = c.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	require.Equal(t, first.PriceFrom, m.calls[0].PriceFrom, "the unfinished range is crawled first")
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.cycles.WithLabelValues("partial")))
}

func TestFailingRequestsGiveUpAfterMaxAttempts(t *testing.T) {
	m := newMarket(300)
	m.failN, m.failErr = 1<<30, errors.New("connection reset")
	cfg := testConfig()
	cfg.Concurrency = 1
	c, _ := newTestCrawler(t, cfg, m, newSink(), nil)
	st := c.RunCycle(context.Background())
	require.Equal(t, 3, st.Unfinished, "every range gave up")
	require.Len(t, m.calls, 3*MaxAttempts, "each range's first page was tried MaxAttempts times")
	require.Equal(t, float64(3*MaxAttempts), testutil.ToFloat64(c.m.failures.WithLabelValues("listings")))
	slept := c.clock.(*clock.Fake).Slept()
	require.Positive(t, slept)
	require.LessOrEqual(t, slept, 3*(MaxAttempts-1)*cfg.RetryMax, "waits come from the capped policy, on the clock")
}

func TestPublishGivesUpAfterMaxAttempts(t *testing.T) {
	m := newMarket(50)
	pub := &failingPublisher{err: errors.New("broker down")}
	cfg := testConfig()
	cfg.Bounds = []int64{0}
	c, _ := newTestCrawler(t, cfg, m, pub, nil)
	st := c.RunCycle(context.Background())
	require.Equal(t, 1, st.Unfinished)
	require.Equal(t, int64(MaxAttempts), pub.calls.Load())
	require.Equal(t, float64(MaxAttempts), testutil.ToFloat64(c.m.failures.WithLabelValues("publish")))
}

// failingPublisher fails every publish.
type failingPublisher struct {
	err   error
	calls atomic.Int64
}

func (p *failingPublisher) Publish(context.Context, string, message.Outgoing) error {
	p.calls.Add(1)
	return p.err
}

func TestCycleDeadlineLeavesRangesUnfinished(t *testing.T) {
	m := newMarket(300)
	m.block = true
	cfg := testConfig()
	cfg.CycleDeadline = 50 * time.Millisecond
	c, _ := newTestCrawler(t, cfg, m, newSink(), nil)
	st := c.RunCycle(context.Background())
	require.Equal(t, 3, st.Unfinished)
	require.Equal(t, 3, len(c.Plan(market.GameCS2)))
}

func TestOrdersAndFeesWithKeys(t *testing.T) {
	m := newMarket(500)
	m.feesErr = errors.New("503")
	cfg := testConfig()
	cfg.WithKeys = true
	cfg.IsRetryable = func(err error) bool { return !errors.Is(err, m.feesErr) }
	s := newSink()
	c, _ := newTestCrawler(t, cfg, m, s, nil)
	st := c.RunCycle(context.Background())
	require.Equal(t, 37, st.Titles)
	require.Len(t, m.orders, 1, "37 titles fit one batch")
	require.Len(t, m.orders[0], 37)
	require.Len(t, s.msgs[message.Queue(message.KindOrders)], 1)
	require.Empty(t, s.msgs[message.Queue(message.KindFees)], "failed fees are not published")
	gate := c.gate.(*fakeGate)
	require.Equal(t, []string{"fees:" + market.GameCS2}, gate.released, "a failed fetch makes fees due again")

	m.feesErr = nil
	c.RunCycle(context.Background())
	c.RunCycle(context.Background())
	require.Len(t, s.msgs[message.Queue(message.KindFees)], 1, "fees once per period")
	require.Len(t, m.fees, 2)
}

func TestSalesWalkBackAndPublishOneMessagePerTitle(t *testing.T) {
	m := newMarket(10)
	now := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	for i := range 70 { // one sale every 3 hours: 7 days = 56 sales; pages of 20
		m.sales["AK"] = append(m.sales["AK"], now.Add(-time.Duration(i)*3*time.Hour))
	}
	for i := range 5 {
		m.sales["Sticker"] = append(m.sales["Sticker"], now.Add(-time.Duration(i)*time.Hour))
	}
	cfg := testConfig()
	cfg.WithKeys = true
	s := newSink()
	c, _ := newTestCrawler(t, cfg, m, s, nil)
	sched := c.sched.(*fakeSchedule)
	sched.due = []string{"AK", "Sticker", "Empty"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.runSales(ctx)
	require.Eventually(t, func() bool {
		sched.mu.Lock()
		defer sched.mu.Unlock()
		return len(sched.done) == 3
	}, 10*time.Second, 5*time.Millisecond)
	cancel()

	byTitle := map[string]message.Envelope{}
	s.mu.Lock()
	for _, e := range s.msgs[message.Queue(message.KindSales)] {
		byTitle[e.Request.Title] = e
	}
	s.mu.Unlock()
	require.Len(t, byTitle, 3)
	count := func(e message.Envelope) int {
		var p struct {
			Sales []json.RawMessage `json:"sales"`
		}
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		return len(p.Sales)
	}
	require.Equal(t, 60, count(byTitle["AK"]), "walked back 3 pages until older than 7 days")
	require.Equal(t, 3, byTitle["AK"].Request.Pages)
	require.Equal(t, 5, count(byTitle["Sticker"]))
	require.Equal(t, 0, count(byTitle["Empty"]))
	require.Equal(t, cfg.SalesRefresh, sched.done["AK"])
}

func TestRunWarnsOnceWithoutKeysAndStops(t *testing.T) {
	var logs loggingtest.Buffer
	m := newMarket(50)
	s := newSink()
	cfg := testConfig()
	cfg.CycleInterval = time.Millisecond
	c, _ := newTestCrawler(t, cfg, m, s, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(c.m.cycles.WithLabelValues("complete")) >= 3
	}, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, strings.Count(logs.String(), "API keys are not set"))
}

func TestRanges(t *testing.T) {
	tests := []struct {
		name    string
		bounds  []int64
		want    []Range
		wantErr string
	}{
		{name: "three", bounds: []int64{0, 100, 1000}, want: []Range{{0, 99}, {100, 999}, {1000, 0}}},
		{name: "single", bounds: []int64{0}, want: []Range{{0, 0}}},
		{name: "none", wantErr: "first bound must be 0"},
		{name: "not from zero", bounds: []int64{5, 10}, wantErr: "first bound must be 0"},
		{name: "not ascending", bounds: []int64{0, 10, 10}, wantErr: "10 is not above 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RangesFromBounds(tc.bounds)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, "5-", Range{From: 5}.String())
	require.Equal(t, "5-9", Range{From: 5, To: 9}.String())
}

func TestSplitRange(t *testing.T) {
	tests := []struct {
		name string
		r    Range
		cuts []int64
		want []Range
	}{
		{name: "none", r: Range{0, 99}, want: []Range{{0, 99}}},
		{name: "two cuts", r: Range{0, 99}, cuts: []int64{60, 30, 30}, want: []Range{{0, 29}, {30, 59}, {60, 99}}},
		{name: "open", r: Range{100, 0}, cuts: []int64{500}, want: []Range{{100, 499}, {500, 0}}},
		{name: "outside ignored", r: Range{10, 20}, cuts: []int64{10, 5, 21}, want: []Range{{10, 20}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, splitRange(tc.r, tc.cuts))
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{name: "no games", edit: func(c *Config) { c.Games = nil }},
		{name: "no concurrency", edit: func(c *Config) { c.Concurrency = 0 }},
		{name: "short chains", edit: func(c *Config) { c.MaxChainPages = 1 }},
		{name: "bad bounds", edit: func(c *Config) { c.Bounds = []int64{1} }},
		{name: "keys without schedule", edit: func(c *Config) { c.WithKeys = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.edit(&cfg)
			_, err := New(cfg, Deps{Registry: prometheus.NewRegistry()})
			require.Error(t, err)
		})
	}
}

// signedRefusingMarket refuses every signed request permanently, as DMarket does with bad keys.
type signedRefusingMarket struct {
	*fakeMarket
	signed int
}

var errUnauthorized = errors.New("401 unauthorized")

func (s *signedRefusingMarket) MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error) {
	if q.Signed {
		s.mu.Lock()
		s.signed++
		s.mu.Unlock()
		return ListingsPage{}, errUnauthorized
	}
	return s.fakeMarket.MarketItems(ctx, q)
}

func TestRefusedKeysFallBackToUnsignedListings(t *testing.T) {
	var logs loggingtest.Buffer
	m := &signedRefusingMarket{fakeMarket: newMarket(800)}
	cfg := testConfig()
	cfg.SignedWorkers = 2
	cfg.IsRetryable = func(err error) bool { return !errors.Is(err, errUnauthorized) }
	s := newSink()
	c, _ := newTestCrawler(t, cfg, m, s, &logs)
	for range 2 {
		s.reset()
		st := c.RunCycle(context.Background())
		require.Zero(t, st.Unfinished, "bad keys never stall the unsigned crawl")
		require.Len(t, s.listingIDs(t), 800)
	}
	require.LessOrEqual(t, m.signed, 2, "signing stops after the first refusal")
	require.Equal(t, 1, strings.Count(logs.String(), "refused signed listings requests"))
}
