package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

func TestAccountDefaultsPerFamily(t *testing.T) {
	clk := clock.NewFake(t0)
	reg := prometheus.NewPedanticRegistry()
	a, err := NewAccount(AccountConfig{}, clk, reg)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		family Family
		rate   float64
		gap    time.Duration
	}{
		{"listings", FamilyListings, 10, 100 * time.Millisecond},
		{"sales", FamilySales, 6, 166666667 * time.Nanosecond},
		{"other", FamilyOther, 20, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.rate, a.Rate(tc.family))
			now := clk.Now()
			require.Zero(t, a.Reserve(tc.family, now))
			require.Equal(t, tc.gap, a.Reserve(tc.family, now))
		})
	}
	require.Equal(t, 20.0, a.Rate("fees"), "unknown families share the other limit")
	require.Equal(t, 10.0, testutil.ToFloat64(a.limiters[FamilyListings].obs.(labelObserver).rate))
}

func TestAccountWaitAndThrottle(t *testing.T) {
	clk := clock.NewFake(t0)
	reg := prometheus.NewPedanticRegistry()
	a, err := NewAccount(AccountConfig{Listings: 4, Sales: 2, Other: 8}, clk, reg)
	require.NoError(t, err)

	for i := 0; i < 5; i++ {
		require.NoError(t, a.Wait(context.Background(), FamilySales))
	}
	require.Equal(t, t0.Add(2*time.Second), clk.Now(), "5 sales calls at 2/s")

	require.True(t, a.OnThrottle(FamilyListings))
	require.Equal(t, 2.0, a.Rate(FamilyListings))
	require.Equal(t, 2.0, a.Rate(FamilySales), "families are independent")
	require.Equal(t, 8.0, a.Rate(FamilyOther))
	clk.Advance(5 * time.Second)
	a.OnSuccess(FamilyListings)
	require.InDelta(t, 3.0, a.Rate(FamilyListings), 1e-9)

	n, err := testutil.GatherAndCount(reg, "dmarket_ratelimit_account_throttles_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.NoError(t, testutil.GatherAndCompare(reg, stringsReader(`
# HELP dmarket_ratelimit_account_throttles_total Throttle events (HTTP 429 answers) seen by the account limiter of an endpoint family.
# TYPE dmarket_ratelimit_account_throttles_total counter
dmarket_ratelimit_account_throttles_total{family="listings"} 1
dmarket_ratelimit_account_throttles_total{family="other"} 0
dmarket_ratelimit_account_throttles_total{family="sales"} 0
`), "dmarket_ratelimit_account_throttles_total"))
}

func TestAccountRejectsNegativeRate(t *testing.T) {
	_, err := NewAccount(AccountConfig{Sales: -1}, clock.NewFake(t0), nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
