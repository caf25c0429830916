package dmarket

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
)

func TestHealthProblems(t *testing.T) {
	rate := func(successes, attempts int) EndpointHealth {
		return EndpointHealth{Endpoint: EndpointMarketItems, Breaker: BreakerClosed, Attempts: attempts, Successes: successes}
	}
	tests := []struct {
		name       string
		h          EndpointHealth
		minPercent int
		want       []string
	}{
		{name: "healthy", h: rate(10, 10), minPercent: 90},
		{name: "stopped", h: EndpointHealth{Endpoint: EndpointMarketItems, Breaker: BreakerOpen, Stopped: true, StopReason: "401"},
			want: []string{"market_items stopped: 401"}},
		{name: "breaker not closed", h: EndpointHealth{Endpoint: EndpointMarketItems, Breaker: BreakerHalfOpen},
			want: []string{"market_items breaker half-open"}},
		{name: "success rate at the floor", h: rate(9, 10), minPercent: 90},
		{name: "success rate under the floor", h: rate(89, 100), minPercent: 90,
			want: []string{"market_items success rate 89/100"}},
		{name: "too few attempts to judge", h: rate(0, 9), minPercent: 90},
		{name: "success rate left out", h: rate(0, 100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, healthProblems([]EndpointHealth{tc.h}, tc.minPercent))
		})
	}
}

func TestHealthCheckDegradesWithLabel(t *testing.T) {
	_, srv := serve(t, answer{status: 500})
	c := newTestClient(t, srv.URL, Config{MaxAttempts: 1, BreakerFailures: 2}, nil)
	plain := HealthCheck(c.Client, HealthCheckConfig{})
	labelled := HealthCheck(c.Client, HealthCheckConfig{Label: "re-checks"})
	st, err := plain(context.Background())
	require.Equal(t, health.StatusHealthy, st)
	require.NoError(t, err)

	for range 3 {
		_, _ = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	}
	st, err = plain(context.Background())
	require.Equal(t, health.StatusDegraded, st, "an open breaker only degrades")
	require.EqualError(t, err, "market_items breaker open")
	st, err = labelled(context.Background())
	require.Equal(t, health.StatusDegraded, st)
	require.EqualError(t, err, "re-checks: market_items breaker open")
}
