package crawler

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/egresstest"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// PageItemIDs returns the item ids of a listings page payload in page order (an empty, not nil, slice
// for a page without objects).
func PageItemIDs(payload []byte) ([]string, error) {
	var page struct {
		Objects []struct {
			ItemID string `json:"itemId"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(payload, &page); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(page.Objects))
	for _, o := range page.Objects {
		ids = append(ids, o.ItemID)
	}
	return ids, nil
}

// distinctTitles returns titles without repeats, in order of first appearance.
func distinctTitles(titles []string) []string {
	seen := make(map[string]bool, len(titles))
	out := make([]string, 0, len(titles))
	for _, t := range titles {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// NewSimClient returns a DMarket client of the server at cfg.BaseURL (the simulator) with its own
// registry, the wall clock and a discarded log. A nil egress reaches the server directly.
func NewSimClient(tb testing.TB, cfg dmarket.Config, egress dmarket.Egress, opts ...dmarket.Option) *dmarket.Client {
	tb.Helper()
	if egress == nil {
		egress = egresstest.Direct(&http.Client{})
	}
	c, err := dmarket.New(cfg, egress, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), clock.Real{}, opts...)
	require.NoError(tb, err)
	return c
}

// NewTestPool returns a proxy pool over the proxies at urls (written to a file that cfg.File is set to)
// with its own registry, the wall clock and a discarded log.
func NewTestPool(tb testing.TB, cfg proxy.Config, urls ...string) *proxy.Pool {
	tb.Helper()
	cfg.File = proxytest.WriteFile(tb, urls...)
	pool, err := proxy.NewPool(cfg, clock.Real{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(tb, err)
	return pool
}

// SquareBounds returns the range bounds 0, step, 4·step, 9·step, … up to (n-1)²·step: ranges that widen
// as the prices grow.
func SquareBounds(n, step int64) []int64 {
	bounds := []int64{0}
	for i := int64(1); i < n; i++ {
		bounds = append(bounds, i*i*step)
	}
	return bounds
}
