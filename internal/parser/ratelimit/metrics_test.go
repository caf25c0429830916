package ratelimit_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func TestAccountDefaultsPerFamily(t *testing.T) {
	clk := clocktest.NewFake(t0)
	reg := prometheus.NewPedanticRegistry()
	a, err := ratelimit.NewAccount(ratelimit.AccountConfig{}, clk, reg)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		family dmarket.Family
		rate   float64
		gap    time.Duration
	}{
		{"listings", dmarket.FamilyListings, 10, 100 * time.Millisecond},
		{"sales", dmarket.FamilySales, 6, 166666667 * time.Nanosecond},
		{"other", dmarket.FamilyOther, 20, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.rate, a.Rate(tc.family))
			now := clk.Now()
			require.Zero(t, a.Reserve(tc.family, now))
			require.Equal(t, tc.gap, a.Reserve(tc.family, now))
		})
	}
	require.Equal(t, 20.0, a.Rate(dmarket.Family(0)), "unknown families share the other limit")
	require.Equal(t, 10.0, seriesValue(t, reg, "dmarket_ratelimit_account_rate", "listings"))
}

func TestAccountWaitAndThrottle(t *testing.T) {
	clk := clocktest.NewFake(t0)
	reg := prometheus.NewPedanticRegistry()
	a, err := ratelimit.NewAccount(ratelimit.AccountConfig{Listings: 4, Sales: 2, Other: 8}, clk, reg)
	require.NoError(t, err)

	for i := 0; i < 5; i++ {
		require.NoError(t, a.Wait(context.Background(), dmarket.FamilySales))
	}
	require.Equal(t, t0.Add(2*time.Second), clk.Now(), "5 sales calls at 2/s")

	require.True(t, a.OnThrottle(dmarket.FamilyListings))
	require.Equal(t, 2.0, a.Rate(dmarket.FamilyListings))
	require.Equal(t, 2.0, a.Rate(dmarket.FamilySales), "families are independent")
	require.Equal(t, 8.0, a.Rate(dmarket.FamilyOther))
	clk.Advance(5 * time.Second)
	a.OnSuccess(dmarket.FamilyListings)
	require.InDelta(t, 3.0, a.Rate(dmarket.FamilyListings), 1e-9)

	n, err := testutil.GatherAndCount(reg, "dmarket_ratelimit_account_throttles_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.NoError(t, testutil.GatherAndCompare(reg, bytes.NewBufferString(`
# HELP dmarket_ratelimit_account_throttles_total Throttle events (HTTP 429 answers) seen by the account limiter of an endpoint family.
# TYPE dmarket_ratelimit_account_throttles_total counter
dmarket_ratelimit_account_throttles_total{family="listings"} 1
dmarket_ratelimit_account_throttles_total{family="other"} 0
dmarket_ratelimit_account_throttles_total{family="sales"} 0
`), "dmarket_ratelimit_account_throttles_total"))
}

func TestAccountRejectsNegativeRate(t *testing.T) {
	_, err := ratelimit.NewAccount(ratelimit.AccountConfig{Sales: -1}, clocktest.NewFake(t0), nil)
	require.ErrorIs(t, err, ratelimit.ErrInvalidConfig)
}

// seriesValue returns the value of the gauge or counter series of metric name whose one label is
// labelValue.
func seriesValue(t *testing.T, reg prometheus.Gatherer, name, labelValue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() != name || len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != labelValue {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s{%s}", name, labelValue)
	return 0
}

func TestEgressMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := ratelimit.NewEgressMetrics(reg)
	clk := clocktest.NewFake(t0)
	a, err := ratelimit.NewAIMD(ratelimit.AIMDConfig{Ceiling: 2}, clk, m.For("socks5://10.0.0.1:1080"))
	require.NoError(t, err)
	require.Equal(t, 2.0, seriesValue(t, reg, "dmarket_ratelimit_rate", "socks5://10.0.0.1:1080"))
	a.OnThrottle()
	require.Equal(t, 1.0, seriesValue(t, reg, "dmarket_ratelimit_rate", "socks5://10.0.0.1:1080"))
	require.Equal(t, 1.0, seriesValue(t, reg, "dmarket_ratelimit_throttles_total", "socks5://10.0.0.1:1080"))
	m.Forget("socks5://10.0.0.1:1080")
	for name, want := range map[string]int{"dmarket_ratelimit_rate": 0, "dmarket_ratelimit_throttles_total": 1} {
		n, err := testutil.GatherAndCount(reg, name)
		require.NoError(t, err)
		require.Equal(t, want, n, name)
	}

	var nilMetrics *ratelimit.EgressMetrics
	require.Nil(t, nilMetrics.For("x"))
	nilMetrics.Forget("x")
}
