package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

// TestLaneBudgetFollowsTheUsableEgresses: the lanes' budget is the usable egresses × the rate per IP,
// read again at every call, so a proxy cooling down shrinks it.
func TestLaneBudgetFollowsTheUsableEgresses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "proxies.txt")
	require.NoError(t, os.WriteFile(file, []byte("http://127.0.0.1:1\nhttp://127.0.0.1:2\nhttp://127.0.0.1:3\n"), 0o600))
	pool, err := proxy.NewPool(proxy.Config{File: file, RatePerIP: 2}, clock.Real{}, loggingtest.Discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	budget := laneBudget(pool, 2)
	require.InDelta(t, 6.0, budget(), 1e-9)

	lease, err := pool.Acquire(t.Context(), false)
	require.NoError(t, err)
	lease.Release(dmarket.EgressFailure) // the proxy cools down
	require.InDelta(t, 4.0, budget(), 1e-9)
}

func TestCrawlerConfigTakesTheLaneSettings(t *testing.T) {
	pool, err := proxy.NewPool(proxy.Config{}, clock.Real{}, loggingtest.Discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	cfg := config.Parser{GameIDs: []string{"a8db"}, FreshShare: 0.25, WatchShare: 0.15, WatchInterval: 7 * time.Second}
	ccfg := crawlerConfig(cfg, pool)
	require.InDelta(t, 0.25, ccfg.FreshShare, 1e-9)
	require.InDelta(t, 0.15, ccfg.WatchShare, 1e-9)
	require.Equal(t, 7*time.Second, ccfg.WatchInterval)
}
