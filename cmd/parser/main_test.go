package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// newPool returns a proxy pool over the proxies at urls (none: the direct connection alone) with a
// discarded log and its own registry.
func newPool(t *testing.T, cfg proxy.Config, urls ...string) *proxy.Pool {
	t.Helper()
	if len(urls) > 0 {
		cfg.File = proxytest.WriteFile(t, urls...)
	}
	pool, err := proxy.NewPool(cfg, clock.Real{}, loggingtest.Discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	return pool
}

// TestLaneBudgetFollowsTheUsableEgresses: the lanes' budget is the usable egresses × the rate per IP,
// read again at every call, so a proxy cooling down shrinks it.
func TestLaneBudgetFollowsTheUsableEgresses(t *testing.T) {
	pool := newPool(t, proxy.Config{RatePerIP: 2}, "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3")
	budget := laneBudget(pool, 2)
	require.InDelta(t, 6.0, budget(), 1e-9)

	lease, err := pool.Acquire(t.Context(), false)
	require.NoError(t, err)
	lease.Release(dmarket.EgressFailure) // the proxy cools down
	require.InDelta(t, 4.0, budget(), 1e-9)
}

func TestCrawlerConfigTakesTheLaneSettings(t *testing.T) {
	cfg := config.Parser{GameIDs: []string{"a8db"}, FreshShare: 0.25, WatchShare: 0.15, WatchInterval: 7 * time.Second}
	ccfg := crawlerConfig(cfg, newPool(t, proxy.Config{}))
	require.InDelta(t, 0.25, ccfg.FreshShare, 1e-9)
	require.InDelta(t, 0.15, ccfg.WatchShare, 1e-9)
	require.Equal(t, 7*time.Second, ccfg.WatchInterval)
}

func TestPriceBounds(t *testing.T) {
	require.Equal(t, []int64{0, 10, 25, 100}, priceBounds(config.CentsList{10, 25, 25, 100}))
	require.Equal(t, []int64{0}, priceBounds(nil))
}

func TestCrawlLeasesFollowTheSharedCrawlSetting(t *testing.T) {
	rdb := redisdbtest.Unreachable(t)
	tests := []struct {
		name    string
		shared  bool
		ttl     time.Duration
		want    bool
		wantErr bool
	}{
		{name: "off: the parser crawls alone", shared: false, ttl: 30 * time.Second},
		{name: "on", shared: true, ttl: 30 * time.Second, want: true},
		{name: "on with a lease too short", shared: true, ttl: time.Millisecond, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leases, err := crawlLeases(config.Parser{SharedCrawl: tc.shared, LeaseTTL: tc.ttl}, rdb, clock.Real{})
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, leases != nil)
			if tc.want {
				require.Equal(t, tc.ttl, leases.TTL())
			}
		})
	}
}
