package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// redisReply is a Redis error reply as go-redis returns it.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

func TestUnreachable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "connection refused", err: fmt.Errorf("write listings: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), want: true},
		{name: "bare ECONNRESET", err: fmt.Errorf("read: %w", syscall.ECONNRESET), want: true},
		{name: "EOF", err: fmt.Errorf("write listings: %w", io.EOF), want: true},
		{name: "deadline", err: fmt.Errorf("write: %w", context.DeadlineExceeded), want: true},
		{name: "pool timeout", err: redis.ErrPoolTimeout, want: true},
		{name: "client closed", err: redis.ErrClosed, want: true},
		{name: "loading", err: fmt.Errorf("x: %w", redisReply("LOADING Redis is loading the dataset in memory")), want: true},
		{name: "busy script", err: redisReply("BUSY Redis is busy running a script"), want: true},
		{name: "read-only replica", err: redisReply("READONLY You can't write against a read only replica."), want: true},
		{name: "master down", err: redisReply("MASTERDOWN Link with MASTER is down"), want: true},
		{name: "script error is the message's", err: redisReply("ERR Error running script: user_script:3: bad argument"), want: false},
		{name: "wrong type is the message's", err: redisReply("WRONGTYPE Operation against a key holding the wrong kind of value"), want: false},
		{name: "plain error", err: errors.New("handler panic: boom"), want: false},
		{name: "permanent", err: message.Permanent(io.EOF), want: false},
		{name: "cancelled", err: context.Canceled, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Unreachable(tc.err))
		})
	}
}

// switchProbe is a probe the test switches between failing and answering.
type switchProbe struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (p *switchProbe) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *switchProbe) probe(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return p.err
}

func (p *switchProbe) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func runGuard(t *testing.T, g *Guard) {
	t.Helper()
	lifecycletest.Run(t, 10*time.Second, g.Run)
}

func TestGuardPausesUntilRedisAnswers(t *testing.T) {
	p := &switchProbe{}
	reg := prometheus.NewRegistry()
	g, err := NewGuard(p.probe, GuardOptions{ProbeMinBackoff: time.Millisecond, ProbeMaxBackoff: 5 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	runGuard(t, g)
	ctx := context.Background()
	redisCheck := func(context.Context) (health.Status, error) { return health.StatusHealthy, nil }

	// A failure of the message itself: no probe, no pause.
	require.False(t, g.Unavailable(ctx, errors.New("ERR script")))
	require.Zero(t, p.count())
	// Looks like an outage, but Redis answers: the failure is the message's.
	require.False(t, g.Unavailable(ctx, io.EOF))
	require.Equal(t, 1, p.count())
	require.False(t, g.Down())
	require.NoError(t, g.Wait(ctx))

	// Redis is down: the guard pauses and the health check fails.
	p.set(errors.New("ping redis: connection refused"))
	require.True(t, g.Unavailable(ctx, io.EOF))
	require.True(t, g.Down())
	require.True(t, g.Unavailable(ctx, io.EOF), "while down, every outage-like error is held")
	require.ErrorIs(t, g.Check(ctx), ErrRedisUnavailable)
	status, err := g.HealthCheck(redisCheck)(ctx)
	require.Equal(t, health.StatusUnhealthy, status)
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, 1.0, testutil.ToFloat64(g.paused))

	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Wait(waitCtx), context.DeadlineExceeded, "consumers wait while Redis is down")
	before := p.count()
	require.Eventually(t, func() bool { return p.count() >= before+3 }, 10*time.Second, time.Millisecond, "Run keeps probing")
	require.True(t, g.Down())

	// Redis answers: Run resumes the consumers by itself.
	resumed := make(chan error, 1)
	go func() { resumed <- g.Wait(ctx) }()
	p.set(nil)
	select {
	case err := <-resumed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("consumers were not resumed")
	}
	require.False(t, g.Down())
	require.NoError(t, g.Check(ctx))
	status, err = g.HealthCheck(redisCheck)(ctx)
	require.Equal(t, health.StatusHealthy, status)
	require.NoError(t, err)
	// Run resets the gauge after it has released the waiting consumers.
	require.Eventually(t, func() bool { return testutil.ToFloat64(g.paused) == 0 }, 10*time.Second, time.Millisecond,
		"paused gauge: have %v", testutil.ToFloat64(g.paused))
	require.Equal(t, 1.0, testutil.ToFloat64(g.outages))

	// A second outage works the same way.
	p.set(errors.New("ping redis: i/o timeout"))
	require.True(t, g.Unavailable(ctx, context.DeadlineExceeded))
	p.set(nil)
	require.Eventually(t, func() bool { return !g.Down() }, 10*time.Second, time.Millisecond)
	require.Equal(t, 2.0, testutil.ToFloat64(g.outages))
}

func TestNewGuardConfig(t *testing.T) {
	probe := func(context.Context) error { return nil }
	tests := []struct {
		name  string
		probe func(context.Context) error
		opts  GuardOptions
		ok    bool
	}{
		{name: "defaults", probe: probe, ok: true},
		{name: "nil probe", probe: nil},
		{name: "negative timeout", probe: probe, opts: GuardOptions{ProbeTimeout: -1}},
		{name: "max below min", probe: probe, opts: GuardOptions{ProbeMinBackoff: time.Second, ProbeMaxBackoff: time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewGuard(tc.probe, tc.opts)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

// TestGuardRealRedisBehindProxy checks the probe and the classification against real Redis errors.
func TestGuardRealRedisBehindProxy(t *testing.T) {
	direct := redisdbtest.New(t)
	proxy, err := netfaulttest.New(direct.Options().Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DB: direct.Options().DB, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	g, err := NewGuard(func(ctx context.Context) error { return redisdb.Check(ctx, rdb) },
		GuardOptions{ProbeMinBackoff: time.Millisecond, ProbeMaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	runGuard(t, g)
	ctx := context.Background()

	// A real error reply of a healthy Redis is the message's.
	require.NoError(t, rdb.Set(ctx, "k", "v", time.Minute).Err())
	werr := rdb.HSet(ctx, "k", "f", "v").Err()
	require.Error(t, werr)
	require.False(t, g.Unavailable(ctx, werr))

	proxy.SetRefuse(true)
	proxy.CutAll()
	werr = rdb.Set(ctx, "k", "v", time.Minute).Err()
	require.Error(t, werr)
	require.True(t, Unreachable(werr), "%v", werr)
	require.True(t, g.Unavailable(ctx, werr))
	require.True(t, g.Down())

	proxy.SetRefuse(false)
	require.Eventually(t, func() bool { return !g.Down() }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, rdb.Set(ctx, "k", "v", time.Minute).Err())
}
