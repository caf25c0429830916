package crawler_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := dmarkettest.New(dmarkettest.Config{Simple: true, Titles: 20, ListingsPerTitle: 2, PublicMarketRate: -1})
	t.Cleanup(sim.Close)
	live := proxytest.New(t, proxytest.Options{Kind: proxytest.HTTP})

	lines := []string{live.URL()}
	for range 8 {
		lines = append(lines, "socks5://"+deadAddr(t))
	}
	file := filepath.Join(t.TempDir(), "proxies.txt")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	pool, err := proxy.NewPool(proxy.Config{File: file, RatePerIP: 1000, Burst: 10, CooldownBase: time.Hour,
		CooldownMax: time.Hour, DialTimeout: 5 * time.Second}, clock.Real{}, log, prometheus.NewRegistry())
	require.NoError(t, err)
	const failures = 3
	client, err := dmarket.New(dmarket.Config{BaseURL: sim.URL(), MaxAttempts: 1, BreakerFailures: failures,
		BreakerOpenFor: time.Hour}, crawler.NewPoolEgress(pool), log, prometheus.NewRegistry(), clock.Real{})
	require.NoError(t, err)

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
