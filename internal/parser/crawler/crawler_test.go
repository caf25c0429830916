package crawler

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

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
	slept := c.clock.(*clocktest.Fake).Slept()
	require.Positive(t, slept)
	require.LessOrEqual(t, slept, 3*(MaxAttempts-1)*cfg.RetryMax, "waits come from the capped policy, on the clock")
}

func TestPublishGivesUpAfterMaxAttempts(t *testing.T) {
	tests := []struct {
		name        string
		isRetryable func(error) bool
	}{
		{"without a classifier", nil},
		// IsRetryable judges DMarket's answers; a broker failure such as a nack is retried regardless.
		{"a classifier that refuses every error", func(error) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMarket(50)
			pub := failingPublisher{err: errors.New("publish nacked by broker")}
			cfg := testConfig()
			cfg.Bounds = []int64{0}
			cfg.IsRetryable = tc.isRetryable
			c, _ := newTestCrawler(t, cfg, m, pub, nil)
			st := c.RunCycle(context.Background())
			require.Equal(t, 1, st.Unfinished)
			require.Equal(t, float64(MaxAttempts), testutil.ToFloat64(c.m.failures.WithLabelValues("publish")))
		})
	}
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
	// Once the due titles are done the loop idles until it is stopped, instead of spinning on the fake clock.
	c.clock = idleClock{Fake: c.clock.(*clocktest.Fake)}

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
	stop := lifecycletest.Start(t, 10*time.Second, c.Run)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(c.m.cycles.WithLabelValues("complete")) >= 3
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	require.Equal(t, 1, strings.Count(logs.String(), "API keys are not set"))
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
			_, err := New(cfg, Deps{})
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

// TestListingsPagesCarryCrawlIdentity: every listings page names its range crawl and its place in the
// chain, so that workers can count a price over all the pages it spans (issue: counts overwritten page
// by page); a later crawl of a range has a larger cycle even when the clock did not move.
func TestListingsPagesCarryCrawlIdentity(t *testing.T) {
	m := newMarket(2500)
	s := newSink()
	cfg := testConfig()
	cfg.WithKeys = true
	c, _ := newTestCrawler(t, cfg, m, s, nil)

	lastCycle := map[string]int64{}
	for round := 1; round <= 2; round++ {
		s.reset()
		st := c.RunCycle(context.Background())
		require.Zero(t, st.Unfinished)
		s.mu.Lock()
		pages := map[int64][]int{} // cycle -> page indexes
		ranges := map[int64]string{}
		last := map[int64][]int{} // cycle -> pages marked last
		for _, e := range s.msgs[message.Queue(message.KindListings)] {
			require.NotNil(t, e.Crawl, "listings page without crawl identity")
			pages[e.Crawl.Cycle] = append(pages[e.Crawl.Cycle], e.Crawl.Page)
			if e.Crawl.Last {
				last[e.Crawl.Cycle] = append(last[e.Crawl.Cycle], e.Crawl.Page)
			}
			if r, ok := ranges[e.Crawl.Cycle]; ok {
				require.Equal(t, r, e.Crawl.Range, "one cycle is one range")
			}
			ranges[e.Crawl.Cycle] = e.Crawl.Range
			require.Contains(t, e.Request.Query, "&priceFrom="+rangeFrom(e.Crawl.Range)+"&", "the range is the request's")
		}
		for _, q := range []message.Kind{message.KindOrders, message.KindFees} {
			for _, e := range s.msgs[message.Queue(q)] {
				require.Nil(t, e.Crawl, "%s messages carry no crawl", q)
			}
		}
		s.mu.Unlock()
		require.NotEmpty(t, pages)
		seenRanges := map[string]bool{}
		for cycle, idx := range pages {
			require.ElementsMatch(t, seq(len(idx)), idx, "pages of cycle %d are 0..n-1, once each", cycle)
			require.Equal(t, []int{len(idx) - 1}, last[cycle], "the completed crawl %d marks its final page alone", cycle)
			r := ranges[cycle]
			require.False(t, seenRanges[r], "range %s crawled under two cycles in one round", r)
			seenRanges[r] = true
		}
		for cycle := range pages {
			for _, prev := range lastCycle {
				require.Greater(t, cycle, prev, "round %d reuses or precedes an earlier cycle", round)
			}
		}
		clear(lastCycle)
		for cycle, idx := range pages {
			if len(idx) > 0 {
				lastCycle[ranges[cycle]] = cycle
			}
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// rangeFrom returns the lower bound of a "<from>-<to>" range.
func rangeFrom(r string) string {
	for i := range len(r) {
		if r[i] == '-' {
			_, err := strconv.ParseInt(r[:i], 10, 64)
			if err != nil {
				return "invalid"
			}
			return r[:i]
		}
	}
	return "invalid"
}

// TestInterruptedCrawlMarksNoLastPage: a range whose chain stops on a failure before its end publishes
// no page marked last, so that nothing is removed on its account; the ranges that completed do.
func TestInterruptedCrawlMarksNoLastPage(t *testing.T) {
	m := newStallingMarket(newMarket(600))
	m.stall = thirdPageOfFirstRange()
	cfg := testConfig()
	cfg.Bounds = []int64{0}
	cfg.MaxChainPages = 100
	s := newSink()
	c, _ := newTestCrawler(t, cfg, m, s, nil)
	st := m.interrupt(c)
	require.Equal(t, 1, st.Unfinished)
	s.mu.Lock()
	envs := s.msgs[message.Queue(message.KindListings)]
	require.Len(t, envs, 2, "two pages published before the crawl was interrupted")
	for _, e := range envs {
		require.False(t, e.Crawl.Last, "page %d of an interrupted crawl marked last", e.Crawl.Page)
	}
	s.mu.Unlock()

	s.reset()
	st = c.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	s.mu.Lock()
	defer s.mu.Unlock()
	envs = s.msgs[message.Queue(message.KindListings)]
	require.Len(t, envs, 6)
	for i, e := range envs {
		require.Equal(t, i == len(envs)-1, e.Crawl.Last, "page %d", e.Crawl.Page)
	}
}
