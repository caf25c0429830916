package dmarket

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// deadProxies returns n proxies that fail to connect.
func deadProxies(n int) []fakeEgress {
	out := make([]fakeEgress, n)
	for i := range out {
		out[i] = fakeEgress{name: fmt.Sprintf("socks5://192.0.2.%d:1080", i+1), dead: true}
	}
	return out
}

// TestDeadProxiesDoNotOpenTheBreaker: the breaker judges DMarket; a proxy that cannot connect only cools
// that proxy down (its lease is released with EgressFailure for the pool).
func TestDeadProxiesDoNotOpenTheBreaker(t *testing.T) {
	tests := map[string]struct {
		egresses []fakeEgress
		answer   answer
		calls    int
		wantOpen bool
	}{
		"a batch of dead proxies": {egresses: deadProxies(10), answer: answer{status: 200, body: emptyPage},
			calls: 10},
		"dead proxies beside a live one": {egresses: append(deadProxies(6), fakeEgress{name: "http://198.51.100.1:3128"}),
			answer: answer{status: 200, body: emptyPage}, calls: 14},
		"DMarket failing through live proxies still opens": {answer: answer{status: 503}, calls: 5, wantOpen: true,
			egresses: []fakeEgress{{name: "http://198.51.100.1:3128"}, {name: "http://198.51.100.2:3128"}}},
		"a dead direct connection still opens": {egresses: []fakeEgress{{name: DirectEgressName, dead: true}},
			answer: answer{status: 200, body: emptyPage}, calls: 5, wantOpen: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, srv := serve(t, tc.answer)
			eg := &recEgress{egresses: tc.egresses}
			c, err := New(Config{BaseURL: srv.URL, MaxAttempts: 1, BreakerFailures: 3, BreakerOpenFor: time.Hour}, eg,
				discardLogger(), prometheus.NewRegistry(), &recClock{})
			require.NoError(t, err)
			for range tc.calls {
				_, _ = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			}
			if tc.wantOpen {
				require.Equal(t, BreakerOpen, c.BreakerState(EndpointMarketItems))
				return
			}
			require.Equal(t, BreakerClosed, c.BreakerState(EndpointMarketItems))
			for _, e := range tc.egresses {
				if e.dead {
					require.NotEmpty(t, eg.releasedBy(e.name))
					for _, o := range eg.releasedBy(e.name) {
						require.Equal(t, EgressFailure, o, "the pool still learns that %s failed", e.name)
					}
				}
			}
		})
	}
}

// TestDeadProxyErrorIsReturnedAsIs: excluding a proxy failure from the breaker keeps its classification.
func TestDeadProxyErrorIsReturnedAsIs(t *testing.T) {
	eg := &recEgress{egresses: deadProxies(1)}
	c, err := New(Config{BaseURL: "http://127.0.0.1:1", MaxAttempts: 1}, eg, discardLogger(), prometheus.NewRegistry(),
		clock.Real{})
	require.NoError(t, err)
	_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrNetwork)
	require.True(t, IsRetryable(err))
	require.NotErrorIs(t, err, ErrBreakerOpen)
}

// TestHalfOpenProbeThroughDeadProxy: a probe lost to a dead proxy neither reopens the breaker nor uses
// up the half-open probe, so the next probe through a live proxy closes it.
func TestHalfOpenProbeThroughDeadProxy(t *testing.T) {
	s, srv := serve(t, answer{status: 503}, answer{status: 503}, answer{status: 200, body: emptyPage})
	live := fakeEgress{name: "http://198.51.100.1:3128"}
	dead := deadProxies(1)[0]
	eg := &recEgress{egresses: []fakeEgress{live, live, dead, live}}
	c, err := New(Config{BaseURL: srv.URL, MaxAttempts: 1, BreakerFailures: 2, BreakerOpenFor: time.Second}, eg,
		discardLogger(), prometheus.NewRegistry(), clock.Real{})
	require.NoError(t, err)
	awaitHalfOpen(t, c, 2)
	_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrNetwork)
	require.Equal(t, BreakerHalfOpen, c.BreakerState(EndpointMarketItems))
	_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	require.Equal(t, BreakerClosed, c.BreakerState(EndpointMarketItems))
	require.Equal(t, 3, s.count())
}
