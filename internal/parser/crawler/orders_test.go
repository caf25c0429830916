package crawler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

// ordersMarket is a laneMarket whose aggregated-prices calls are recorded and can fail or be held, and
// whose title scans of the titles in failScans fail.
type ordersMarket struct {
	*laneMarket
	omu       sync.Mutex
	calls     [][]string // titles of every aggregated-prices call, in order
	games     []string
	failN     int   // fail this many calls before answering
	failErr   error // with this error
	hold      chan struct{}
	inflight  int
	peak      int
	failScans map[string]bool
}

func newOrdersMarket() *ordersMarket {
	return &ordersMarket{laneMarket: newLaneMarket(), failScans: map[string]bool{}}
}

func (m *ordersMarket) MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error) {
	m.omu.Lock()
	fail := m.failScans[q.Title]
	m.omu.Unlock()
	if fail {
		return ListingsPage{}, errors.New("scan failed")
	}
	return m.laneMarket.MarketItems(ctx, q)
}

// AggregatedPrices answers a row with a buy order of 500 cents for every title, after hold lets it go
// when hold is set.
func (m *ordersMarket) AggregatedPrices(ctx context.Context, game string, titles []string) (Result, error) {
	m.omu.Lock()
	m.calls = append(m.calls, slices.Clone(titles))
	m.games = append(m.games, game)
	m.inflight++
	m.peak = max(m.peak, m.inflight)
	hold := m.hold
	fail := m.failN > 0
	if fail {
		m.failN--
	}
	m.omu.Unlock()
	defer func() {
		m.omu.Lock()
		m.inflight--
		m.omu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	if fail {
		return Result{}, m.failErr
	}
	rows := make([]string, len(titles))
	for i, t := range titles {
		rows[i] = fmt.Sprintf(`{"title":%q,"orderBestPrice":{"Currency":"USD","Amount":"500"},"orderCount":"1"}`, t)
	}
	return Result{Raw: []byte(`{"aggregatedPrices":[` + strings.Join(rows, ",") + `]}`),
		Request: message.Request{Method: "POST", Path: "/marketplace-api/v1/aggregated-prices"}}, nil
}

func (m *ordersMarket) orderCalls() [][]string {
	m.omu.Lock()
	defer m.omu.Unlock()
	return slices.Clone(m.calls)
}

func (m *ordersMarket) peakInFlight() int {
	m.omu.Lock()
	defer m.omu.Unlock()
	return m.peak
}

// drain takes every waiting call off q, oldest first.
func (q *ordersQueue) drain() []ordersBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []ordersBatch
	for _, b := range q.waiting {
		out = append(out, *b)
	}
	q.waiting = nil
	return out
}

// orderTitles returns the titles of the orders messages s received, message by message.
func (s *sink) orderTitles(t *testing.T) [][]string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]string
	for _, e := range s.msgs[message.Queue(message.KindOrders)] {
		var p struct {
			AggregatedPrices []struct {
				Title string `json:"title"`
			} `json:"aggregatedPrices"`
		}
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		var titles []string
		for _, r := range p.AggregatedPrices {
			titles = append(titles, r.Title)
		}
		out = append(out, titles)
	}
	return out
}

func keysConfig(fresh, watch float64) Config {
	cfg := laneConfig(fresh, watch)
	cfg.WithKeys = true
	return cfg
}

// numbered returns n titles named prefix0, prefix1, … each repeated every `every` listings.
func numbered(prefix string, n, every int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + fmt.Sprint(i%every)
	}
	return out
}

// TestFreshLaneAsksBuyOrdersOfNewListings drives the fresh lane page by page: with keys, every page
// with new listings after the first poll asks for one call of their titles, without repeats; a page
// without new listings asks nothing. Without keys nothing is asked.
func TestFreshLaneAsksBuyOrdersOfNewListings(t *testing.T) {
	m := newOrdersMarket()
	m.pushTitles("Old A", "Old B")
	cfg := keysConfig(0.3, 0)
	c, clk := newLaneCrawler(t, cfg, m, newSink(), nil, constBudget(10), nil)
	f := newFreshLane(c)
	ctx := context.Background()
	big := numbered("N", 150, 70)
	tests := []struct {
		name string
		push []string
		want [][]string // the titles asked for, page by page (nil: nothing asked)
	}{
		{"the first poll asks nothing", nil, [][]string{nil}},
		{"new listings: their titles once, newest first", []string{"A", "B", "A"}, [][]string{{"A", "B"}}},
		{"nothing new", nil, [][]string{nil}},
		{"a title listed again is asked again", []string{"B"}, [][]string{{"B"}}},
		{"two pages of new listings: one call each", big, [][]string{distinctTitles(big[:100]), distinctTitles(big[100:])}},
	}
	for _, tc := range tests {
		m.pushTitles(tc.push...)
		clk.Advance(time.Second)
		var got [][]string
		for {
			f.next(ctx, 3)(ctx)
			batches := c.orders.drain()
			require.LessOrEqual(t, len(batches), 1, "%s: one call per page", tc.name)
			if len(batches) == 0 {
				got = append(got, nil)
			} else {
				require.Equal(t, laneFreshOrders, batches[0].lane, tc.name)
				require.Equal(t, market.GameCS2, batches[0].game, tc.name)
				got = append(got, batches[0].titles)
			}
			if len(f.pending) == 0 {
				break
			}
		}
		require.Equal(t, tc.want, got, tc.name)
	}

	t.Run("without keys", func(t *testing.T) {
		m := newOrdersMarket()
		c, _ := newLaneCrawler(t, laneConfig(0.3, 0), m, newSink(), nil, constBudget(10), nil)
		require.Nil(t, c.orders)
		f := newFreshLane(c)
		for _, push := range []int{1, 5} {
			m.push(push)
			f.next(ctx, 3)(ctx)
		}
		c.orders.request(laneFreshOrders, market.GameCS2, []string{"A"}) // a nil queue ignores it
		require.Empty(t, m.orderCalls())
	})
}

// TestWatchLaneAsksBuyOrdersOncePerClaim: the titles of one claim are asked for in one call once the
// last of them was scanned, leaving out those whose scan failed.
func TestWatchLaneAsksBuyOrdersOncePerClaim(t *testing.T) {
	m := newOrdersMarket()
	m.failScans["Broken"] = true
	wl := &fakeWatchlist{titles: map[string][]string{market.GameCS2: {"A", "Broken", "C", "D"}}}
	c, _ := newLaneCrawler(t, keysConfig(0, 0.2), m, newSink(), wl, constBudget(10), nil)
	w := &watchLane{c: c}
	ctx := context.Background()
	var jobs []job
	for range 3 {
		jobs = append(jobs, w.next(ctx, 3))
	}
	for i, j := range jobs {
		require.Empty(t, c.orders.drain(), "nothing asked before the claim's last scan")
		j(ctx)
		if i < len(jobs)-1 {
			continue
		}
		require.Equal(t, []ordersBatch{{lane: laneWatchOrders, game: market.GameCS2, titles: []string{"A", "C"}}},
			c.orders.drain(), "one call of the claim's scanned titles")
	}
	w.next(ctx, 1)(ctx) // a claim of one: D
	require.Equal(t, []ordersBatch{{lane: laneWatchOrders, game: market.GameCS2, titles: []string{"D"}}}, c.orders.drain())
}

// TestOrdersQueueBoundsItsCalls holds every aggregated-prices call: two are under way at once, the asks
// made meanwhile are merged per lane and game into calls of up to 100 titles, and a lane's oldest
// waiting calls are dropped (and counted) beyond four, while the other lane's wait. Once the calls go
// through, every waiting call is made and published, never more than two at once.
func TestOrdersQueueBoundsItsCalls(t *testing.T) {
	m := newOrdersMarket()
	m.hold = make(chan struct{})
	s := newSink()
	c, _ := newLaneCrawler(t, keysConfig(0.3, 0.2), m, s, nil, constBudget(10), nil)
	q := c.orders
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	q.request(laneFreshOrders, market.GameCS2, []string{"A"})
	require.Eventually(t, func() bool { return len(m.orderCalls()) == 1 }, 5*time.Second, time.Millisecond)
	q.request(laneWatchOrders, market.GameCS2, []string{"W"})
	require.Eventually(t, func() bool { return len(m.orderCalls()) == 2 }, 5*time.Second, time.Millisecond)

	// Both slots are taken: what is asked now waits, merged.
	q.request(laneFreshOrders, market.GameCS2, []string{"B", "C"})
	q.request(laneFreshOrders, market.GameCS2, []string{"C", "D"})
	q.request(laneFreshOrders, market.GameDota2, []string{"B"})
	q.request(laneWatchOrders, market.GameCS2, []string{"X", "Y"})
	q.mu.Lock()
	require.Len(t, q.waiting, 3)
	require.Equal(t, []string{"B", "C", "D"}, q.waiting[0].titles, "merged without repeats")
	q.mu.Unlock()
	// 350 more titles of cs2 fill the merged call and three more: five fresh calls wait, the oldest (100
	// titles) is dropped.
	q.request(laneFreshOrders, market.GameCS2, numbered("F", 350, 350))
	require.Equal(t, 100.0, testutil.ToFloat64(c.m.ordersDropped.WithLabelValues(laneFreshOrders)))
	require.Equal(t, 0.0, testutil.ToFloat64(c.m.ordersDropped.WithLabelValues(laneWatchOrders)))
	q.mu.Lock()
	var waiting []string
	for _, b := range q.waiting {
		waiting = append(waiting, fmt.Sprintf("%s/%s/%d", b.lane, b.game, len(b.titles)))
	}
	q.mu.Unlock()
	cs2, dota := market.GameCS2, market.GameDota2
	require.Equal(t, []string{"fresh-orders/" + dota + "/1", "watch-orders/" + cs2 + "/2", "fresh-orders/" + cs2 + "/100",
		"fresh-orders/" + cs2 + "/100", "fresh-orders/" + cs2 + "/53"}, waiting)
	require.Len(t, m.orderCalls(), 2, "no call beyond the two under way")

	close(m.hold)
	require.Eventually(t, func() bool { return len(s.orderTitles(t)) == 7 }, 5*time.Second, time.Millisecond,
		"every call made and published")
	require.Equal(t, 2, m.peakInFlight(), "never more than two calls at once")
	require.Len(t, m.orderCalls(), 7)
	require.Equal(t, 5.0, testutil.ToFloat64(c.m.laneRequests.WithLabelValues(laneFreshOrders)))
	require.Equal(t, 2.0, testutil.ToFloat64(c.m.laneRequests.WithLabelValues(laneWatchOrders)))
}

// TestLaneOrdersRetriesAreBounded: a failing call is retried up to three attempts, each failure
// counted under the lane's kind; an answer is published as an orders message, a call given up is not.
func TestLaneOrdersRetriesAreBounded(t *testing.T) {
	errRefused := errors.New("refused")
	tests := []struct {
		name         string
		failN        int
		err          error
		wantCalls    int
		wantFailures float64
		wantMessages int
	}{
		{"answered", 0, errors.New("503"), 1, 0, 1},
		{"answered after two failures", 2, errors.New("503"), 3, 2, 1},
		{"given up after three attempts", 5, errors.New("503"), 3, 3, 0},
		{"a permanent error is not retried", 5, errRefused, 1, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newOrdersMarket()
			m.failN, m.failErr = tc.failN, tc.err
			s := newSink()
			logs := &loggingtest.Buffer{}
			cfg := keysConfig(0.3, 0)
			cfg.IsRetryable = func(err error) bool { return !errors.Is(err, errRefused) }
			c, _ := newLaneCrawler(t, cfg, m, s, nil, constBudget(10), logs)
			c.fetchLaneOrders(context.Background(), &ordersBatch{lane: laneFreshOrders, game: market.GameCS2, titles: []string{"A", "B"}})
			require.Len(t, m.orderCalls(), tc.wantCalls)
			require.Equal(t, float64(tc.wantCalls), testutil.ToFloat64(c.m.laneRequests.WithLabelValues(laneFreshOrders)))
			require.Equal(t, tc.wantFailures, testutil.ToFloat64(c.m.failures.WithLabelValues(laneFreshOrders)))
			require.Equal(t, 0.0, testutil.ToFloat64(c.m.failures.WithLabelValues("orders")), "not the cycle's kind")
			require.Len(t, s.orderTitles(t), tc.wantMessages)
			if tc.wantMessages > 0 {
				require.Equal(t, []string{"A", "B"}, s.orderTitles(t)[0])
			} else {
				require.Contains(t, logs.String(), "buy orders not fetched")
			}
		})
	}
}

// TestSlowBuyOrdersDoNotHoldTheLanes runs the lanes on the fake clock with every aggregated-prices
// call held: the fresh lane keeps polling (a new listing every poll), with two calls under way and the
// rest merged or dropped, not queued.
func TestSlowBuyOrdersDoNotHoldTheLanes(t *testing.T) {
	m := newOrdersMarket()
	m.hold = make(chan struct{})
	m.pushTitles("Old")
	n := 0
	m.onCall = func(string, int) {
		m.omu.Lock()
		n++
		title := fmt.Sprintf("Title %d", n)
		m.omu.Unlock()
		m.pushTitles(title)
	}
	c, _ := newLaneCrawler(t, keysConfig(0.3, 0), m, newSink(), nil, constBudget(10), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.RunLanes(ctx) }()
	require.Eventually(t, func() bool { return m.requests(laneFresh) >= 500 }, 10*time.Second, time.Millisecond,
		"the fresh lane keeps polling while the buy-orders calls hang")
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 2, m.peakInFlight())
	c.orders.mu.Lock()
	defer c.orders.mu.Unlock()
	require.LessOrEqual(t, len(c.orders.waiting), maxOrdersBacklog, "a bounded backlog")
}
