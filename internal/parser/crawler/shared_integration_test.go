package crawler_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// shiftClock is the wall clock moved forward by what the test adds, so that a test can start the next
// cycle without waiting for CycleInterval.
type shiftClock struct{ shift atomic.Int64 }

func (c *shiftClock) Now() time.Time { return time.Now().Add(time.Duration(c.shift.Load())) }

func (c *shiftClock) Sleep(ctx context.Context, d time.Duration) error { return clock.Sleep(ctx, d) }

// pageLog counts the listings pages every parser fetched, by range and cursor.
type pageLog struct {
	mu      sync.Mutex
	fetched map[string][]string // "<from>-<to>/<cursor>" -> parsers that fetched it
	at      map[string]time.Time
}

func newPageLog() *pageLog {
	return &pageLog{fetched: map[string][]string{}, at: map[string]time.Time{}}
}

func pageKey(q crawler.ListingsQuery) string {
	return crawler.Range{From: q.PriceFrom, To: q.PriceTo}.String() + "/" + q.Cursor
}

func (l *pageLog) twice() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for k, who := range l.fetched {
		if len(who) > 1 {
			out[k] = who
		}
	}
	return out
}

func (l *pageLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.fetched)
	clear(l.at)
}

// countingAPI records in log every listings page it answered; when stall picks a query, that call
// signals stalled and waits for its context to end instead.
type countingAPI struct {
	crawler.API
	name    string
	log     *pageLog
	stall   func(q crawler.ListingsQuery) bool
	stalled chan crawler.ListingsQuery
}

func (a *countingAPI) MarketItems(ctx context.Context, q crawler.ListingsQuery) (crawler.ListingsPage, error) {
	if a.stall != nil && a.stall(q) {
		a.stall = nil
		a.stalled <- q
		<-ctx.Done()
		return crawler.ListingsPage{}, ctx.Err()
	}
	p, err := a.API.MarketItems(ctx, q)
	if err == nil {
		a.log.mu.Lock()
		k := pageKey(q)
		a.log.fetched[k] = append(a.log.fetched[k], a.name)
		a.log.at[k] = time.Now()
		a.log.mu.Unlock()
	}
	return p, err
}

// idPublisher counts the listing ids of every listings page published to it.
type idPublisher struct {
	mu   sync.Mutex
	seen map[string]int
}

func (p *idPublisher) Publish(_ context.Context, _ string, m message.Outgoing) error {
	e, err := message.Decode(m.Body)
	if err != nil {
		return err
	}
	if e.Kind != message.KindListings {
		return nil
	}
	ids, err := crawler.PageItemIDs(e.Payload)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.seen[id]++
	}
	return nil
}

func (p *idPublisher) requireEach(t *testing.T, want map[string]bool) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Len(t, p.seen, len(want), "every listing published")
	for id, n := range p.seen {
		require.True(t, want[id], "unknown listing %s", id)
		require.Equal(t, 1, n, "listing %s published once", id)
	}
	clear(p.seen)
}

type sharedRig struct {
	sim  *dmarkettest.Server
	want map[string]bool
	log  *pageLog
	pub  *idPublisher
	clk  *shiftClock
}

func newSharedRig(t *testing.T) *sharedRig {
	t.Helper()
	sim := dmarkettest.New(dmarkettest.Config{PublicMarketRate: -1, PublicOtherRate: -1})
	t.Cleanup(sim.Close)
	want := map[string]bool{}
	for _, l := range sim.Handler.Catalogue().Listings(market.GameCS2) {
		want[l.ItemID] = true
	}
	return &sharedRig{sim: sim, want: want, log: newPageLog(), pub: &idPublisher{seen: map[string]int{}}, clk: &shiftClock{}}
}

// parser returns a crawler with its own DMarket client that shares the crawl through rdb.
func (r *sharedRig) parser(t *testing.T, name string, rdb lease.Client, ttl time.Duration, concurrency int) (*crawler.Crawler, *countingAPI) {
	t.Helper()
	client := crawler.NewSimClient(t, dmarket.Config{BaseURL: r.sim.URL(), BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		RequestTimeout: 5 * time.Second, BreakerFailures: 1000}, nil)
	store, err := lease.New(rdb, ttl, clock.Real{})
	require.NoError(t, err)
	api := &countingAPI{API: crawler.NewDMarketAPI(client), name: name, log: r.log, stalled: make(chan crawler.ListingsQuery, 1)}
	cfg := crawler.DefaultConfig()
	cfg.Bounds = []int64{0, 100, 1000, 10000}
	cfg.Concurrency = concurrency
	cfg.MaxChainPages = 3
	cfg.CycleInterval = time.Hour
	cfg.CycleDeadline = time.Minute
	cfg.RetryBase, cfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	cfg.IsRetryable = dmarket.IsRetryable
	c, err := crawler.New(cfg, crawler.Deps{API: api, Publisher: r.pub, Clock: r.clk, Log: slog.New(slog.DiscardHandler),
		Registry: prometheus.NewRegistry(), Leases: crawler.NewLeases(store)})
	require.NoError(t, err)
	return c, api
}

// TestParsersShareOneCrawlThroughRedis: three parsers sharing Redis crawl the simulator's market once in
// total per cycle, cycle after cycle, and leave only expiring parser keys behind.
func TestParsersShareOneCrawlThroughRedis(t *testing.T) {
	redisdbtest.Both(t, testParsersShareOneCrawlThroughRedis)
}

func testParsersShareOneCrawlThroughRedis(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rig := newSharedRig(t)
	var parsers []*crawler.Crawler
	for _, name := range []string{"a", "b", "c"} {
		c, _ := rig.parser(t, name, rdb, 5*time.Second, 3)
		parsers = append(parsers, c)
	}
	for cycle := 1; cycle <= 3; cycle++ {
		rig.log.reset()
		var wg sync.WaitGroup
		var unfinished atomic.Int64
		for _, c := range parsers {
			wg.Go(func() { unfinished.Add(int64(c.RunCycle(ctx).Unfinished)) })
		}
		wg.Wait()
		require.Zero(t, unfinished.Load(), "cycle %d", cycle)
		require.Empty(t, rig.log.twice(), "cycle %d: pages fetched twice", cycle)
		rig.pub.requireEach(t, rig.want)
		who := map[string]bool{}
		for _, names := range rig.log.fetched {
			who[names[0]] = true
		}
		t.Logf("cycle %d: %d pages, fetched by %d parsers", cycle, len(rig.log.fetched), len(who))
		rig.clk.shift.Add(int64(time.Hour))
	}

	keys := 0
	require.NoError(t, redisdb.ScanEach(ctx, rdb, "*", 100, func(batch []string) error {
		for _, k := range batch {
			keys++
			require.True(t, strings.HasPrefix(k, "parser:cycle:") || strings.HasPrefix(k, "parser:range:"), "unexpected key %s", k)
			require.Positive(t, rdb.PTTL(ctx, k).Val(), "key %s expires", k)
		}
		return nil
	}))
	require.Positive(t, keys)
}

// TestStoppedParserRangeIsFinishedByAnother: a parser that dies in the middle of a range's chain (it
// stops answering and stops reaching Redis, its lease left to expire) has the range finished by another
// parser from its checkpoint within one lease period, with no page fetched twice.
func TestStoppedParserRangeIsFinishedByAnother(t *testing.T) {
	const ttl = time.Second
	rig := newSharedRig(t)
	rdb := redisdbtest.New(t)
	// The dying parser has a connection of its own, closed when it dies.
	opts := rdb.Options()
	dying := redis.NewClient(&redis.Options{Addr: opts.Addr, Username: opts.Username, Password: opts.Password, DB: opts.DB})
	t.Cleanup(func() { _ = dying.Close() })

	a, aapi := rig.parser(t, "dead", dying, ttl, 1)
	pages := 0
	aapi.stall = func(q crawler.ListingsQuery) bool {
		if q.Cursor == "" {
			return false
		}
		pages++
		return pages == 2
	}
	b, _ := rig.parser(t, "live", rdb, ttl, 3)

	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	adone := make(chan crawler.CycleStats, 1)
	go func() { adone <- a.RunCycle(actx) }()
	stalled := <-aapi.stalled
	killed := time.Now()
	require.NoError(t, dying.Close())
	acancel()
	<-adone

	st := b.RunCycle(context.Background())
	require.Zero(t, st.Unfinished)
	require.Empty(t, rig.log.twice(), "pages fetched twice")
	rig.pub.requireEach(t, rig.want)

	rig.log.mu.Lock()
	defer rig.log.mu.Unlock()
	k := pageKey(stalled)
	require.Equal(t, []string{"live"}, rig.log.fetched[k], "the other parser went on from the dead one's cursor")
	took := rig.log.at[k].Sub(killed)
	t.Logf("range taken over %v after the parser died (lease %v)", took.Round(time.Millisecond), ttl)
	// The lease expires at most ttl after the death and is looked at every ttl/10; the rest is slack for a
	// loaded machine.
	require.Less(t, took, 2*ttl, "taken over within about one lease period")
}
