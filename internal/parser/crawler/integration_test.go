package crawler_test

import (
	"context"
	"log/slog"
	"net"
	"net/url"
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
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// collector consumes the listings queue and counts every listing id it sees.
type collector struct {
	mu       sync.Mutex
	seen     map[string]int
	messages int
	bad      int
}

func (c *collector) Handle(_ context.Context, d message.Delivery) error {
	env, err := message.Decode(d.Body)
	if err != nil {
		c.mu.Lock()
		c.bad++
		c.mu.Unlock()
		return err
	}
	ids, err := crawler.PageItemIDs(env.Payload)
	if err != nil {
		c.mu.Lock()
		c.bad++
		c.mu.Unlock()
		return message.Permanent(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages++
	for _, id := range ids {
		c.seen[id]++
	}
	return nil
}

func (c *collector) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.seen))
	for k, v := range c.seen {
		out[k] = v
	}
	return out, c.bad
}

func (c *collector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = map[string]int{}
	c.messages = 0
}

func TestParserPublishesTheWholeCatalogueThroughFaults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	sim := dmarkettest.New(dmarkettest.Config{Titles: 300, ListingsPerTitle: 8, PublicMarketRate: -1, PublicOtherRate: -1})
	defer sim.Close()
	want := map[string]bool{}
	for _, l := range sim.Handler.Catalogue().Listings(market.GameCS2) {
		want[l.ItemID] = true
	}
	require.Greater(t, len(want), 1500)

	client := crawler.NewSimClient(t, dmarket.Config{BaseURL: sim.URL(), BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		RequestTimeout: 5 * time.Second, BreakerFailures: 1000}, nil)

	// The parser reaches the broker through a fault proxy; the test consumes directly.
	direct := rabbitmqtest.NewVhost(t)
	fault, err := netfaulttest.New("127.0.0.1:5672")
	require.NoError(t, err)
	defer fault.Close()
	u, err := url.Parse(direct)
	require.NoError(t, err)
	u.Host = fault.Addr()
	queues := []string{message.Queue(message.KindListings)}

	pubConn, err := rabbitmq.NewConn(u.String(), log, prometheus.NewRegistry(), rabbitmq.ConnOptions{Queues: queues, MaxBackoff: 200 * time.Millisecond})
	require.NoError(t, err)
	defer pubConn.Close()
	go func() { _ = pubConn.Run(ctx) }()
	pub := rabbitmq.NewPublisher(pubConn, rabbitmq.PublisherOptions{})
	defer pub.Close()

	subConn, err := rabbitmq.NewConn(direct, log, prometheus.NewRegistry(), rabbitmq.ConnOptions{Queues: queues})
	require.NoError(t, err)
	defer subConn.Close()
	go func() { _ = subConn.Run(ctx) }()
	col := &collector{seen: map[string]int{}}
	cons := rabbitmq.NewConsumer(subConn, queues[0], col, rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 4})
	go func() { _ = cons.Run(ctx) }()

	cfg := crawler.DefaultConfig()
	cfg.Bounds = []int64{0, 100, 1000, 10000}
	cfg.Concurrency = 4
	cfg.MaxChainPages = 3
	cfg.RetryBase, cfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	cfg.IsRetryable = dmarket.IsRetryable
	c, err := crawler.New(cfg, crawler.Deps{API: crawler.NewDMarketAPI(client), Publisher: pub, Log: log,
		Registry: prometheus.NewRegistry()})
	require.NoError(t, err)

	awaitAll := func(t *testing.T, exact bool) {
		t.Helper()
		require.Eventually(t, func() bool {
			seen, _ := col.snapshot()
			return len(seen) == len(want)
		}, 60*time.Second, 20*time.Millisecond)
		seen, bad := col.snapshot()
		require.Zero(t, bad, "nothing undecodable was published")
		for id, n := range seen {
			require.True(t, want[id], "unknown listing %s", id)
			if exact {
				require.Equal(t, 1, n, "listing %s published once", id)
			}
		}
	}

	t.Run("clean cycle publishes every listing once", func(t *testing.T) {
		col.reset()
		st := c.RunCycle(ctx)
		require.Zero(t, st.Unfinished)
		require.Equal(t, len(want), st.Listings)
		awaitAll(t, true)
	})

	// pages is the listings pages of the latest cycle: the progress of the next one is measured in them.
	var pages int
	t.Run("split plan still publishes every listing once", func(t *testing.T) {
		require.Greater(t, len(c.Plan(market.GameCS2)), 4, "long ranges were split")
		col.reset()
		st := c.RunCycle(ctx)
		require.Zero(t, st.Unfinished)
		pages = st.Pages
		awaitAll(t, true)
	})

	t.Run("broker connection cut mid-crawl loses nothing", func(t *testing.T) {
		col.reset()
		// Slow answers stretch the cycle so that the cuts land in the middle of it.
		sim.Handler.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Delay: 20 * time.Millisecond})
		defer sim.Handler.ClearFaults()
		fetchedBefore := sim.Handler.Stats().ByEndpoint[dmarkettest.EndpointMarketItems]
		done := make(chan crawler.CycleStats, 1)
		go func() { done <- c.RunCycle(ctx) }()
		cuts := 0
		var st crawler.CycleStats
	wait:
		for {
			select {
			case st = <-done:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
			// A cut is due after each fifth of the crawl, judged by what was consumed or, as the
			// consumer may lag on a loaded machine, by the pages the simulator served.
			seen, _ := col.snapshot()
			fetched := int(sim.Handler.Stats().ByEndpoint[dmarkettest.EndpointMarketItems] - fetchedBefore)
			due := len(seen) > (cuts+1)*len(want)/5 || (pages > 0 && fetched > (cuts+1)*pages/5)
			if cuts < 3 && due && fault.CutAll() > 0 {
				cuts++
			}
		}
		require.Zero(t, st.Unfinished)
		require.GreaterOrEqual(t, cuts, 2, "the connection was cut while the crawl published")
		awaitAll(t, false)
	})

	t.Run("5xx, malformed bodies and slow answers are survived", func(t *testing.T) {
		col.reset()
		sim.Handler.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{ServerErrorRate: 0.2, MalformedRate: 0.15, Delay: 2 * time.Millisecond})
		defer sim.Handler.ClearFaults()
		st := c.RunCycle(ctx)
		require.Zero(t, st.Unfinished)
		awaitAll(t, true)
	})
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestDeadProxiesDoNotOpenTheListingsBreaker: through the real proxy pool, a batch of proxies that refuse
// connections is cooled down one by one while the listings breaker stays closed, and the crawl goes on
// through the live proxy.
func TestDeadProxiesDoNotOpenTheListingsBreaker(t *testing.T) {
	sim := dmarkettest.New(dmarkettest.Config{Simple: true, Titles: 20, ListingsPerTitle: 2, PublicMarketRate: -1})
	t.Cleanup(sim.Close)
	live := proxytest.New(t, proxytest.Options{Kind: proxytest.HTTP})

	lines := []string{live.URL()}
	for range 8 {
		lines = append(lines, "socks5://"+deadAddr(t))
	}
	pool := crawler.NewTestPool(t, proxy.Config{RatePerIP: 1000, Burst: 10, CooldownBase: time.Hour,
		CooldownMax: time.Hour, DialTimeout: 5 * time.Second}, lines...)
	const failures = 3
	client := crawler.NewSimClient(t, dmarket.Config{BaseURL: sim.URL(), MaxAttempts: 1, BreakerFailures: failures,
		BreakerOpenFor: time.Hour}, crawler.NewPoolEgress(pool))

	failed, ok := 0, 0
	for range 2 * len(lines) {
		_, err := client.MarketItems(context.Background(), dmarket.MarketItemsQuery{GameID: market.GameCS2, Limit: 1}, false)
		if err != nil {
			require.ErrorIs(t, err, dmarket.ErrNetwork, "only the dead proxies fail")
			failed++
			continue
		}
		ok++
	}
	require.Equal(t, 8, failed, "each dead proxy fails once, then cools down")
	require.Equal(t, 2*len(lines)-8, ok)
	require.Equal(t, dmarket.BreakerClosed, client.BreakerState(dmarket.EndpointMarketItems))
	require.Positive(t, live.Tunnels())
}
