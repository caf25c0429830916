package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

// start runs s until the test ends and returns its base URL.
func start(t *testing.T, s *Server) string {
	t.Helper()
	require.NoError(t, s.Listen())
	lifecycletest.Run(t, 30*time.Second, s.Run)
	return "http://" + s.Addr()
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestEndpoints(t *testing.T) {
	reg := NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "dmarket_test_things_total", Help: "Things."}).Add(3)

	var redisErr atomic.Pointer[error]
	clk := clocktest.NewFake(time.Now())
	hr := health.NewRegistry(clk)
	hr.Register("redis", func(context.Context) (health.Status, error) {
		if e := redisErr.Load(); e != nil {
			return health.StatusUnhealthy, *e
		}
		return health.StatusHealthy, nil
	}, health.Critical())
	hr.Register("dmarket", func(context.Context) (health.Status, error) {
		return health.StatusDegraded, errors.New("breaker half-open")
	})

	s := New("127.0.0.1:0", reg, hr, loggingtest.Discard())
	base := start(t, s)

	code, body, hdr := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "dmarket_test_things_total 3")
	require.Contains(t, body, "go_goroutines")
	require.Contains(t, body, "process_cpu_seconds_total")
	require.Contains(t, hdr.Get("Content-Type"), "text/plain")

	code, body, _ = get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	code, body, _ = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready\n", body)

	code, body, hdr = get(t, base+"/health")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	var rep struct {
		Status     string `json:"status"`
		Components []struct {
			Name      string   `json:"name"`
			Status    string   `json:"status"`
			LatencyMS *float64 `json:"latency_ms"`
			Error     *string  `json:"error"`
			CheckedAt string   `json:"checked_at"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.Equal(t, "degraded", rep.Status)
	require.Len(t, rep.Components, 2)
	require.Equal(t, "redis", rep.Components[0].Name)
	require.NotNil(t, rep.Components[0].LatencyMS)
	require.Nil(t, rep.Components[0].Error)
	require.Equal(t, "breaker half-open", *rep.Components[1].Error)
	_, err := time.Parse(time.RFC3339, rep.Components[0].CheckedAt)
	require.NoError(t, err)

	// Redis goes away: not ready, unhealthy, and the password stays hidden.
	e := errors.New("dial redis://:hunter2@redis:6379: connection refused")
	redisErr.Store(&e)
	clk.Advance(health.DefaultCacheTTL)
	code, body, _ = get(t, base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready\nredis: unhealthy: dial redis://:****@redis:6379: connection refused")
	require.NotContains(t, body, "dmarket")
	code, body, _ = get(t, base+"/health")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `"status":"unhealthy"`)
	require.NotContains(t, body, "hunter2")

	// Liveness does not depend on health.
	code, _, _ = get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)

	resp, err := http.Post(base+"/healthz", "text/plain", strings.NewReader(""))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	code, _, _ = get(t, base+"/nope")
	require.Equal(t, http.StatusNotFound, code)
}

func TestNilHealthRegistry(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil, loggingtest.Discard())
	base := start(t, s)
	code, body, _ := get(t, base+"/health")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"healthy","components":[]}`, body)
	code, _, _ = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code)
}

func TestMetricsGatherErrorIsLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(brokenCollector{})
	promauto.With(reg).NewGauge(prometheus.GaugeOpts{Name: "dmarket_test_ok", Help: "Fine."}).Set(1)
	base := start(t, New("127.0.0.1:0", reg, nil, log))
	code, body, _ := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "dmarket_test_ok 1")
	require.Contains(t, buf.String(), "collector broke")
}

func TestAddrBeforeListenAndBusyPort(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil, loggingtest.Discard())
	require.Empty(t, s.Addr())
	require.NoError(t, s.Listen())
	require.NoError(t, s.Listen(), "listen twice is a no-op")
	t.Cleanup(func() { s.ln.Close() })

	busy := New(s.Addr(), prometheus.NewRegistry(), nil, loggingtest.Discard())
	err := busy.Run(context.Background())
	require.ErrorContains(t, err, "listen on "+s.Addr())
}

func TestGracefulShutdownWaitsForRequests(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil, loggingtest.Discard(), WithShutdownTimeout(time.Minute), WithShutdownTimeout(0))
	s.mux.Handle("GET /slow", slow)
	require.Equal(t, time.Minute, s.shutdownTimeout)
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	cancel()
	// New connections are refused once shutdown started, while the in-flight request is still served.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, 10*time.Millisecond)
	close(release)
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, "done", r.body)
	require.NoError(t, <-done)
}

func TestShutdownTimeoutClosesStuckConnections(t *testing.T) {
	entered := make(chan struct{})
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil, loggingtest.Discard(), WithShutdownTimeout(50*time.Millisecond))
	s.mux.Handle("GET /stuck", stuck)
	require.NoError(t, s.Listen())
	stop := lifecycletest.Start(t, 30*time.Second, s.Run) // fails the test when the shutdown is not bounded
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	require.ErrorIs(t, stop(), context.DeadlineExceeded)
}

var brokenDesc = prometheus.NewDesc("dmarket_test_broken", "Broken.", nil, nil)

type brokenCollector struct{}

func (brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- brokenDesc }

func (brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(brokenDesc, errors.New("collector broke"))
}
