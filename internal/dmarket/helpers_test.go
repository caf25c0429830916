package dmarket

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// recClock tells the time of its fake clock (the real time when it has none) and records backoff sleeps
// instead of sleeping, advancing the fake clock by each wait. onSleep, when set, decides what a sleep
// returns.
type recClock struct {
	fake    *clock.Fake
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

// recEgress sends through the direct connection and records what leases were asked for and released
// with.
type recEgress struct {
	mu       sync.Mutex
	limited  []bool
	outcomes []Outcome
}

func (e *recEgress) Acquire(_ context.Context, limited bool) (Lease, error) {
	e.mu.Lock()
	e.limited = append(e.limited, limited)
	e.mu.Unlock()
	return &recLease{e: e}, nil
}

func (e *recEgress) released() []Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Outcome(nil), e.outcomes...)
}

type recLease struct{ e *recEgress }

func (*recLease) Do(req *http.Request) (*http.Response, error) { return http.DefaultClient.Do(req) }
func (*recLease) Name() string                                 { return DirectEgressName }

func (l *recLease) Release(o Outcome) {
	l.e.mu.Lock()
	l.e.outcomes = append(l.e.outcomes, o)
	l.e.mu.Unlock()
}

type testClient struct {
	*Client
	reg     *prometheus.Registry
	sleeper *recClock
	egress  *recEgress
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestClient builds a client for baseURL with fast test defaults: 3 attempts, 100 ms base delay and a
// jitter that always returns the ceiling, no real sleeping. clk, when not nil, is the client's time.
func newTestClient(t testing.TB, baseURL string, cfg Config, clk *clock.Fake, opts ...Option) *testClient {
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
