package crawler

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

var sharedStart = time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)

// pollClock is a fake clock whose waits also yield a millisecond of real time, so that a parser waiting
// for the ranges other parsers hold does not spin.
type pollClock struct{ *clocktest.Fake }

func (c pollClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := c.Fake.Sleep(ctx, d); err != nil {
		return err
	}
	return clock.Sleep(ctx, time.Millisecond)
}

func newSharedCrawler(t *testing.T, cfg Config, api API, pub message.Publisher, leases Leases) (*Crawler, pollClock) {
	t.Helper()
	clk := pollClock{clocktest.NewFake(sharedStart)}
	d := bareDeps(api, pub, nil)
	d.Clock, d.Leases = clk, leases
	return mustNew(t, cfg, d), clk
}

// thirdPageOfFirstRange picks the request of the third page of the range that starts at 0.
func thirdPageOfFirstRange() func(ListingsQuery) bool {
	calls := 0
	return func(q ListingsQuery) bool {
		if q.PriceFrom != 0 {
			return false
		}
		calls++
		return calls == 3
	}
}

func sharedConfig() Config {
	cfg := testConfig()
	cfg.CycleInterval = time.Hour
	return cfg
}

// requireCrawledOnce checks that the sinks together hold every one of n listings once, and that the
// pages of every range crawl are numbered 0..k-1 once each, whichever parser published them.
func requireCrawledOnce(t *testing.T, n int, sinks ...*sink) {
	t.Helper()
	ids := map[string]int{}
	pages := map[int64][]int{}
	for _, s := range sinks {
		for id, k := range s.listingIDs(t) {
			ids[id] += k
		}
		s.mu.Lock()
		for _, e := range s.msgs[message.Queue(message.KindListings)] {
			pages[e.Crawl.Cycle] = append(pages[e.Crawl.Cycle], e.Crawl.Page)
		}
		s.mu.Unlock()
	}
	require.Len(t, ids, n, "every listing published")
	for id, k := range ids {
		require.Equal(t, 1, k, "listing %s published once", id)
	}
	for cycle, idx := range pages {
		require.ElementsMatch(t, seq(len(idx)), idx, "pages of crawl %d are 0..n-1, once each", cycle)
	}
}

func TestSharedCycleIsCrawledOnceInTotal(t *testing.T) {
	m := newStallingMarket(newMarket(2500))
	leases := newFakeLeases()
	var crawlers []*Crawler
	var sinks []*sink
	var clocks []pollClock
	for range 3 {
		s := newSink()
		c, clk := newSharedCrawler(t, sharedConfig(), m, s, leases)
		crawlers, sinks, clocks = append(crawlers, c), append(sinks, s), append(clocks, clk)
	}
	round := func() (pages, unfinished int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range crawlers {
			wg.Go(func() {
				st := c.RunCycle(context.Background())
				mu.Lock()
				defer mu.Unlock()
				pages += st.Pages
				unfinished += st.Unfinished
			})
		}
		wg.Wait()
		return pages, unfinished
	}
	for cycle := 1; cycle <= 3; cycle++ {
		for _, s := range sinks {
			s.reset()
		}
		m.mu.Lock()
		clear(m.served)
		m.mu.Unlock()

		pages, unfinished := round()
		require.Zero(t, unfinished, "cycle %d", cycle)
		require.Empty(t, m.twice(), "cycle %d: pages fetched twice", cycle)
		require.Len(t, m.served, pages, "cycle %d: every fetched page published once", cycle)
		requireCrawledOnce(t, 2500, sinks...)

		// Parsers coming back before CycleInterval passed find the cycle done.
		pages, unfinished = round()
		require.Zero(t, pages, "cycle %d crawled again within the interval", cycle)
		require.Zero(t, unfinished)
		for _, clk := range clocks {
			clk.Advance(time.Hour)
		}
	}
	plan := crawlers[0].Plan(market.GameCS2)
	require.Greater(t, len(plan), 3, "long ranges were split")
	splits := 0.0
	for _, c := range crawlers {
		require.Equal(t, plan, c.Plan(market.GameCS2), "every parser crawls the same plan")
		splits += testutil.ToFloat64(c.m.splits.WithLabelValues(market.GameCS2))
	}
	require.Positive(t, splits, "the parser that planned a cycle counted its splits")
	require.Empty(t, leases.leaseKeys(), "every lease was released")
}

// TestSharedRangeIsTakenOverFromItsCheckpoint: a parser dies in the middle of a range's chain without
// releasing its lease; once the lease expired another parser continues the chain where it stopped, with
// the same crawl identity and the next page numbers.
func TestSharedRangeIsTakenOverFromItsCheckpoint(t *testing.T) {
	m := newStallingMarket(newMarket(2500))
	m.stall = thirdPageOfFirstRange()
	leases := newFakeLeases()
	leases.keep = true
	cfg := sharedConfig()
	cfg.Concurrency = 1
	sa, sb := newSink(), newSink()
	a, _ := newSharedCrawler(t, cfg, m, sa, leases)
	b, _ := newSharedCrawler(t, sharedConfig(), m, sb, leases)

	st := m.interrupt(a)
	require.Equal(t, 2, st.Pages, "the first parser published two pages before it died")
	held := leases.leaseKeys()
	require.Len(t, held, 1)
	require.True(t, strings.HasSuffix(held[0], ":0-999"), held[0])

	// The other parser finds the range held until the dead parser's lease expires.
	leases.keep = false
	bctx, bcancel := context.WithCancel(context.Background())
	bdone := make(chan CycleStats)
	go func() { bdone <- b.RunCycle(bctx) }()
	leases.expire(held[0])
	st = <-bdone
	bcancel()
	require.Zero(t, st.Unfinished)
	require.Empty(t, m.twice(), "pages fetched twice")
	requireCrawledOnce(t, 2500, sa, sb)
	require.Equal(t, 1.0, testutil.ToFloat64(b.m.takeovers.WithLabelValues(market.GameCS2)))

	// The taken-over chain continued with the dead parser's crawl identity.
	sa.mu.Lock()
	cycle := sa.msgs[message.Queue(message.KindListings)][0].Crawl.Cycle
	sa.mu.Unlock()
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var continued, last []int
	for _, e := range sb.msgs[message.Queue(message.KindListings)] {
		if e.Crawl.Cycle == cycle {
			continued = append(continued, e.Crawl.Page)
			if e.Crawl.Last {
				last = append(last, e.Crawl.Page)
			}
		}
	}
	require.NotEmpty(t, continued)
	require.Equal(t, 2, continued[0], "the other parser went on with page 2")
	require.Equal(t, []int{continued[len(continued)-1]}, last, "the crawl completed by the other parser marks its final page")
}

// TestSharedLostLeaseIsResumed: a parser whose lease renewal fails stops the range at once and, finding
// the lease free, takes it up again from the checkpoint.
func TestSharedLostLeaseIsResumed(t *testing.T) {
	m := newStallingMarket(newMarket(2500))
	leases := newFakeLeases()
	m.stall = thirdPageOfFirstRange()
	m.at = func() {
		for _, k := range leases.leaseKeys() {
			if strings.HasSuffix(k, ":0-999") {
				leases.lose(k)
			}
		}
	}
	s := newSink()
	c, _ := newSharedCrawler(t, sharedConfig(), m, s, leases)
	st := c.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	require.Len(t, m.stalled, 1, "the lease was lost mid-chain")
	require.Empty(t, m.twice(), "pages fetched twice")
	requireCrawledOnce(t, 2500, s)
}

func TestSharedCycleUnavailableLeavesTheGameUnfinished(t *testing.T) {
	m := newStallingMarket(newMarket(100))
	leases := newFakeLeases()
	leases.getErr = errNoSharedCycle
	c, _ := newSharedCrawler(t, sharedConfig(), m, newSink(), leases)
	st := c.RunCycle(context.Background())
	require.Equal(t, 3, st.Unfinished)
	require.Zero(t, st.Pages)
	require.Empty(t, m.calls)
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.cycles.WithLabelValues("partial")))
}

func TestSharedCycleUnreadableIsReplaced(t *testing.T) {
	m := newStallingMarket(newMarket(600))
	leases := newFakeLeases()
	leases.values[cycleKey(market.GameCS2)] = "{"
	s := newSink()
	c, _ := newSharedCrawler(t, sharedConfig(), m, s, leases)
	st := c.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	requireCrawledOnce(t, 600, s)
	require.Contains(t, leases.values[cycleKey(market.GameCS2)], `"ranges":[[0,999],[1000,2999],[3000,0]]`)
}

// TestSharedCyclePastItsDeadlineIsReplannedUnfinishedFirst: a cycle whose deadline passed with ranges
// unfinished is replaced by one that crawls them first.
func TestSharedCyclePastItsDeadlineIsReplannedUnfinishedFirst(t *testing.T) {
	m := newStallingMarket(newMarket(600))
	leases := newFakeLeases()
	old := sharedStart.Add(-2 * time.Hour).UnixMilli()
	leases.values[cycleKey(market.GameCS2)] = `{"id":` + strconv.FormatInt(old, 10) + `,"ranges":[[0,999],[1000,2999],[3000,0]]}`
	leases.records[task{game: market.GameCS2, r: Range{0, 999}, shared: old}.recordKey()] = map[string]string{"done": "1", "pages": "1", "cuts": ""}
	c, _ := newSharedCrawler(t, sharedConfig(), m, newSink(), leases)
	st := c.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	require.Equal(t, []Range{{1000, 2999}, {3000, 0}, {0, 999}}, c.Plan(market.GameCS2))
}

// TestSharedRunPacesCyclesFromTheSharedStart: a parser that joined a cycle another parser started waits
// until CycleInterval after that start, not after its own.
func TestSharedRunPacesCyclesFromTheSharedStart(t *testing.T) {
	leases := newFakeLeases()
	started := sharedStart.Add(-10 * time.Minute).UnixMilli()
	leases.values[cycleKey(market.GameCS2)] = `{"id":` + strconv.FormatInt(started, 10) + `,"ranges":[[0,999],[1000,2999],[3000,0]]}`
	waits := make(chan time.Duration, 1)
	clk := &waitClock{Fake: clocktest.NewFake(sharedStart), waits: waits}
	d := bareDeps(newMarket(600), newSink(), nil)
	d.Clock, d.Leases = clk, leases
	require.NoError(t, mustNew(t, sharedConfig(), d).Run(context.Background()))
	require.Equal(t, 50*time.Minute, <-waits)
}

// waitClock is a fake clock whose waits are reported on waits and then refused, so that Run returns after
// its first cycle.
type waitClock struct {
	*clocktest.Fake
	waits chan time.Duration
}

func (c *waitClock) Sleep(_ context.Context, d time.Duration) error {
	c.waits <- d
	return context.Canceled
}
