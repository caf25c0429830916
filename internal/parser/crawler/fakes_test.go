package crawler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
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
		ids, err := PageItemIDs(e.Payload)
		require.NoError(t, err)
		for _, id := range ids {
			seen[id]++
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

// testStart is where the fake clock of a test crawler starts.
var testStart = time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)

// bareDeps returns what every test crawler depends on: api, pub, a registry of its own and a log written
// to logs (discarded when nil). The test adds the clock and the rest.
func bareDeps(api API, pub message.Publisher, logs io.Writer) Deps {
	if logs == nil {
		logs = io.Discard
	}
	return Deps{API: api, Publisher: pub, Log: slog.New(slog.NewTextHandler(logs, nil)), Registry: prometheus.NewRegistry()}
}

// withFakeJobs gives d the fake schedule and gate of the signed jobs (orders, sales, fees).
func withFakeJobs(d *Deps) {
	d.Schedule = &fakeSchedule{done: map[string]time.Duration{}, failed: map[string]int{}}
	d.Gate = &fakeGate{taken: map[string]bool{}}
}

// mustNew returns the crawler New builds of cfg and d, failing t if it refuses them.
func mustNew(t *testing.T, cfg Config, d Deps) *Crawler {
	t.Helper()
	c, err := New(cfg, d)
	require.NoError(t, err)
	return c
}

func newTestCrawler(t *testing.T, cfg Config, api API, pub message.Publisher, logs io.Writer) (*Crawler, *prometheus.Registry) {
	t.Helper()
	d := bareDeps(api, pub, logs)
	withFakeJobs(&d)
	d.Clock = clocktest.NewFake(testStart)
	return mustNew(t, cfg, d), d.Registry.(*prometheus.Registry)
}

// failingPublisher fails every publish with err.
type failingPublisher struct{ err error }

func (p failingPublisher) Publish(context.Context, string, message.Outgoing) error { return p.err }

// idleClock is a fake clock whose waits last until their context ends.
type idleClock struct{ *clocktest.Fake }

func (idleClock) Sleep(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}
