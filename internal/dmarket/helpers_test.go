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

// recSleeper records backoff sleeps instead of sleeping; it advances clk (if any) by each wait.
type recSleeper struct {
	mu     sync.Mutex
	sleeps []time.Duration
	clk    *clock.Fake
}

func (s *recSleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.sleeps = append(s.sleeps, d)
	s.mu.Unlock()
	if s.clk != nil {
		s.clk.Advance(d)
	}
	return ctx.Err()
}

func (s *recSleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.sleeps...)
}

// recEgress wraps an Egress and records what leases were asked for and released with.
type recEgress struct {
	inner    Egress
	mu       sync.Mutex
	limited  []bool
	outcomes []Outcome
}

func (e *recEgress) Acquire(ctx context.Context, limited bool) (Lease, error) {
	e.mu.Lock()
	e.limited = append(e.limited, limited)
	e.mu.Unlock()
	l, err := e.inner.Acquire(ctx, limited)
	if err != nil {
		return nil, err
	}
	return &recLease{Lease: l, e: e}, nil
}

func (e *recEgress) released() []Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Outcome(nil), e.outcomes...)
}

type recLease struct {
	Lease
	e *recEgress
}

func (l *recLease) Release(o Outcome) {
	l.e.mu.Lock()
	l.e.outcomes = append(l.e.outcomes, o)
	l.e.mu.Unlock()
	l.Lease.Release(o)
}

type testClient struct {
	*Client
	reg     *prometheus.Registry
	sleeper *recSleeper
	egress  *recEgress
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestClient builds a client for baseURL with fast test defaults: 3 attempts, 100 ms base delay and a
// jitter that always returns the ceiling, no real sleeping.
func newTestClient(t testing.TB, baseURL string, cfg Config, clk clock.Clock, opts ...Option) *testClient {
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
	if clk == nil {
		clk = clock.Real{}
	}
	fake, _ := clk.(*clock.Fake)
	s := &recSleeper{clk: fake}
	eg := &recEgress{inner: NewDirectEgress(&http.Client{}, nil)}
	reg := prometheus.NewRegistry()
	all := append([]Option{WithSleeper(s.sleep), WithJitter(func(c time.Duration) time.Duration { return c })}, opts...)
	c, err := New(cfg, eg, discardLogger(), reg, clk, all...)
	require.NoError(t, err)
	return &testClient{Client: c, reg: reg, sleeper: s, egress: eg}
}
