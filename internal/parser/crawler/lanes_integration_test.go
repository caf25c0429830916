//go:build !race

// The throughput this test measures is the race detector's when it runs, so it runs without it.

package crawler_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/watchlist"
)

// freshRecorder records when each listing id was first published on a plain listings page (the fresh
// lane's) and drops the rest.
type freshRecorder struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (r *freshRecorder) Publish(_ context.Context, _ string, m message.Outgoing) error {
	e, err := message.Decode(m.Body)
	if err != nil || e.Crawl != nil || e.Scan != nil {
		return err
	}
	ids, err := crawler.PageItemIDs(e.Payload)
	if err != nil {
		return err
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if _, ok := r.first[id]; !ok {
			r.first[id] = now
		}
	}
	return nil
}

func (r *freshRecorder) at(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.first[id]
	return t, ok
}

// laneCounts are the simulator's market-items counters by lane at one moment.
type laneCounts struct {
	at                  time.Time
	requests, throttled map[dmarkettest.Lane]int64
}

func countLanes(sim *dmarkettest.Server) laneCounts {
	out := laneCounts{at: time.Now(), requests: map[dmarkettest.Lane]int64{}, throttled: map[dmarkettest.Lane]int64{}}
	for lane, st := range sim.Handler.Stats().Lanes {
		out.requests[lane] = st.Requests
		out.throttled[lane] = st.RateLimited
	}
	return out
}

// TestLanesShareTheBudgetThroughProxies runs the range crawl with the fresh and watch lanes (shares 0.3
// and 0.2, the defaults) through five SOCKS5 test proxies at 2 requests/s each, the simulator limiting
// every egress IP to 2 market-items requests/s with 429s, and a real Redis watchlist of twenty titles.
// Over a window of about fifteen seconds the three lanes together use at least 90 % of the budget, at
// most 1 % of the requests are answered 429, and each lane's share of the answered requests is its
// configured share within a few points (the range crawl taking the rest). Listings added to the market
// meanwhile, one every half second, are each published by the fresh lane within five seconds.
func TestLanesShareTheBudgetThroughProxies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about twenty seconds")
	}
	const (
		rate     = 2.0
		egresses = 5
		fresh    = 0.3
		watch    = 0.2
	)
	sim := dmarkettest.New(dmarkettest.Config{Titles: 2000, ListingsPerTitle: 5, PublicMarketRate: rate})
	t.Cleanup(sim.Close)

	var lines []string
	for i := range egresses {
		lines = append(lines, proxytest.New(t, proxytest.Options{Kind: proxytest.SOCKS5, SourceIP: fmt.Sprintf("127.0.0.%d", 40+i)}).URL())
	}
	pool := crawler.NewTestPool(t, proxy.Config{RatePerIP: rate}, lines...)
	client := crawler.NewSimClient(t, dmarket.Config{BaseURL: sim.URL(), RequestTimeout: 5 * time.Second, BreakerFailures: 1000},
		crawler.NewPoolEgress(pool))

	wl := watchlist.New(redisdbtest.New(t), clock.Real{})
	var titles []string
	for _, l := range sim.Handler.Catalogue().Listings(market.GameCS2) {
		if len(titles) < 20 && !slices.Contains(titles, l.Title) {
			titles = append(titles, l.Title)
		}
	}
	require.NoError(t, wl.Watch(t.Context(), market.GameCS2, titles, time.Now().Add(time.Hour)))

	cfg := crawler.DefaultConfig()
	cfg.Bounds = crawler.SquareBounds(40, 40)
	cfg.Concurrency = 2 * egresses
	cfg.CycleInterval = 0
	cfg.IsRetryable = dmarket.IsRetryable
	cfg.FreshShare, cfg.WatchShare, cfg.WatchInterval = fresh, watch, time.Second
	budget := func() float64 {
		usable, _ := pool.Usable()
		return float64(usable) * rate
	}
	rec := &freshRecorder{first: map[string]time.Time{}}
	c, err := crawler.New(cfg, crawler.Deps{API: crawler.NewDMarketAPI(client), Publisher: rec,
		Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Budget: budget, Watchlist: wl})
	require.NoError(t, err)

	stop := lifecycletest.Start(t, 10*time.Second, c.Run)
	// Warm up: every lane has answered requests.
	require.Eventually(t, func() bool {
		n := countLanes(sim)
		return n.requests[dmarkettest.LaneRange] > 10 && n.requests[dmarkettest.LaneFresh] > 5 && n.requests[dmarkettest.LaneTitle] > 5
	}, 20*time.Second, 10*time.Millisecond, "not every lane made requests")
	from := countLanes(sim)
	added := map[string]time.Time{}
	tick := time.NewTicker(500 * time.Millisecond)
	for time.Since(from.at) < 15*time.Second {
		<-tick.C
		l := sim.Handler.AddListing(market.GameCS2, titles[len(added)%len(titles)], 1234, 0)
		added[l.ItemID] = time.Now()
	}
	tick.Stop()
	to := countLanes(sim)
	var latencies []time.Duration
	require.Eventually(t, func() bool {
		latencies = latencies[:0]
		for id, at := range added {
			if p, ok := rec.at(id); ok {
				latencies = append(latencies, p.Sub(at))
			}
		}
		return len(latencies) == len(added)
	}, 10*time.Second, 10*time.Millisecond, "not every added listing was published by the fresh lane")
	require.NoError(t, stop())
	slices.Sort(latencies)
	t.Logf("%d listings added: published by the fresh lane after %s (median), %s (p95), %s (max)", len(latencies),
		latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)*95/100].Round(time.Millisecond),
		latencies[len(latencies)-1].Round(time.Millisecond))
	require.LessOrEqual(t, latencies[len(latencies)-1], 5*time.Second, "a new listing published by the fresh lane within 5 s")

	secs := to.at.Sub(from.at).Seconds()
	var requests, throttled, answered float64
	share := map[dmarkettest.Lane]float64{}
	for _, lane := range []dmarkettest.Lane{dmarkettest.LaneRange, dmarkettest.LaneFresh, dmarkettest.LaneTitle} {
		r := float64(to.requests[lane] - from.requests[lane])
		l := float64(to.throttled[lane] - from.throttled[lane])
		requests += r
		throttled += l
		answered += r - l
		share[lane] = (r - l) / (egresses * rate * secs)
	}
	used := answered / (egresses * rate * secs)
	t.Logf("%.0f s: %.0f requests, %.0f answered 429; budget used %.1f %%: range %.1f %%, fresh %.1f %%, watch %.1f %%",
		secs, requests, throttled, 100*used, 100*share[dmarkettest.LaneRange], 100*share[dmarkettest.LaneFresh], 100*share[dmarkettest.LaneTitle])
	require.GreaterOrEqual(t, used, 0.90, "the lanes together use at least 90 % of the budget")
	require.LessOrEqual(t, throttled/requests, 0.01, "at most 1 % of the requests answered 429")
	require.InDelta(t, fresh, share[dmarkettest.LaneFresh], 0.04, "the fresh lane's share")
	require.InDelta(t, watch, share[dmarkettest.LaneTitle], 0.04, "the watch lane's share")
	require.InDelta(t, 1-fresh-watch, share[dmarkettest.LaneRange], 0.1, "the range crawl takes the rest")
}
