package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/egresstest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

func TestAccountLimiterAdaptsToSignedOutcomes(t *testing.T) {
	clk := clocktest.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	acc, err := ratelimit.NewAccount(ratelimit.AccountConfig{}, clk, prometheus.NewRegistry())
	require.NoError(t, err)
	a := accountLimiter{acc}
	tests := []struct {
		name string
		fam  dmarket.Family
		full float64
	}{
		{name: "listings", fam: dmarket.FamilyListings, full: 10},
		{name: "sales", fam: dmarket.FamilySales, full: 6},
		{name: "other", fam: dmarket.FamilyOther, full: 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.full, acc.Rate(tc.fam))
			a.Observe(tc.fam, dmarket.Throttled)
			require.Equal(t, tc.full/2, acc.Rate(tc.fam), "a 429 halves the family's rate")
			a.Observe(tc.fam, dmarket.APIError)
			require.Equal(t, tc.full/2, acc.Rate(tc.fam), "other outcomes change nothing")
			require.NoError(t, a.Wait(context.Background(), tc.fam))
		})
	}
}

func TestHealthOfDMarketAndProxies(t *testing.T) {
	sim := dmarkettest.New(dmarkettest.Config{Titles: 5, PublicMarketRate: -1})
	defer sim.Close()
	client, err := dmarket.New(dmarket.Config{BaseURL: sim.URL(), MaxAttempts: 1, BreakerFailures: 2},
		egresstest.Direct(&http.Client{}), loggingtest.Discard(), prometheus.NewRegistry(), clock.Real{})
	require.NoError(t, err)
	check := dmarket.HealthCheck(client, dmarket.HealthCheckConfig{MinSuccessPercent: 90})
	st, err := check(context.Background())
	require.Equal(t, health.StatusHealthy, st)
	require.NoError(t, err)

	sim.Handler.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{ServerErrorRate: 1})
	for range 3 {
		_, _ = client.MarketItems(context.Background(), dmarket.MarketItemsQuery{GameID: market.GameCS2}, false)
	}
	st, err = check(context.Background())
	require.Equal(t, health.StatusDegraded, st, "an open breaker only degrades")
	require.ErrorContains(t, err, "market_items breaker open")

	st, err = proxiesHealth(newPool(t, proxy.Config{}))(context.Background())
	require.Equal(t, health.StatusHealthy, st, "the direct connection is always usable")
	require.NoError(t, err)
}
