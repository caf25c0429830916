package dmarket

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

// recClock tells the time of its fake clock (the real time when it has none) and records backoff sleeps
// instead of sleeping, advancing the fake clock by each wait. onSleep, when set, decides what a sleep
// returns.
type recClock struct {
	fake    *clocktest.Fake
	onSleep func(ctx context.Context) error
	mu      sync.Mutex
	sleeps  []time.Duration
}

func (c *recClock) Now() time.Time {
	if c.fake != nil {
		return c.fake.Now()
	}
	return time.Now()
}

func (c *recClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	if c.onSleep != nil {
		return c.onSleep(ctx)
	}
	if c.fake != nil {
		c.fake.Advance(d)
	}
	return ctx.Err()
}

func (c *recClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// recEgress hands out its egresses in turn, like a proxy pool, or the direct connection when it has
// none: a dead egress fails to connect, a live one reaches the server. It records what leases were asked
// for and the outcomes they were released with, in order and per egress name.
type recEgress struct {
	egresses []fakeEgress
	mu       sync.Mutex
	next     int
	limited  []bool
	outcomes []Outcome
	byName   map[string][]Outcome
}

// fakeEgress is one egress of a recEgress.
type fakeEgress struct {
	name string
	dead bool
}

func (e *recEgress) Acquire(_ context.Context, limited bool) (Lease, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.limited = append(e.limited, limited)
	eg := fakeEgress{name: DirectEgressName}
	if len(e.egresses) > 0 {
		eg = e.egresses[e.next%len(e.egresses)]
		e.next++
	}
	return &recLease{r: e, e: eg}, nil
}

// released returns the outcomes of every released lease, in order.
func (e *recEgress) released() []Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Outcome(nil), e.outcomes...)
}

// releasedBy returns the outcomes of the leases of the egress named name, in order.
func (e *recEgress) releasedBy(name string) []Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Outcome(nil), e.byName[name]...)
}

type recLease struct {
	r *recEgress
	e fakeEgress
}

func (l *recLease) Do(req *http.Request) (*http.Response, error) {
	if l.e.dead {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return http.DefaultClient.Do(req)
}

func (l *recLease) Name() string { return l.e.name }

func (l *recLease) Release(o Outcome) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	l.r.outcomes = append(l.r.outcomes, o)
	if l.r.byName == nil {
		l.r.byName = map[string][]Outcome{}
	}
	l.r.byName[l.e.name] = append(l.r.byName[l.e.name], o)
}

type testClient struct {
	*Client
	reg     *prometheus.Registry
	sleeper *recClock
	egress  *recEgress
}

// awaitHalfOpen fails failures market-items calls of c, which must open its breaker, and waits until the
// breaker turns half-open on its own after BreakerOpenFor: long enough that it is still open when read
// right after the failures on a loaded machine.
func awaitHalfOpen(t *testing.T, c *Client, failures int) {
	t.Helper()
	for range failures {
		_, _ = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	}
	require.Equal(t, BreakerOpen, c.BreakerState(EndpointMarketItems))
	require.Eventually(t, func() bool { return c.BreakerState(EndpointMarketItems) == BreakerHalfOpen },
		10*time.Second, 5*time.Millisecond)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestClient builds a client for baseURL with fast test defaults: 3 attempts, 100 ms base delay and a
// jitter that always returns the ceiling, no real sleeping. clk, when not nil, is the client's time.
func newTestClient(t testing.TB, baseURL string, cfg Config, clk *clocktest.Fake, opts ...Option) *testClient {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = baseURL
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = 100 * time.Millisecond
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	s := &recClock{fake: clk}
	eg := &recEgress{}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, eg, discardLogger(), reg, s, opts...)
	require.NoError(t, err)
	c.policy.Rand = func() float64 { return 1 }
	return &testClient{Client: c, reg: reg, sleeper: s, egress: eg}
}
