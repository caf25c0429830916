package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixed(s Status, err error) CheckFunc {
	return func(context.Context) (Status, error) { return s, err }
}

func TestOverallStatusAndReadiness(t *testing.T) {
	boom := errors.New("boom")
	type comp struct {
		name     string
		check    CheckFunc
		critical bool
	}
	// Readiness and the HTTP status follow from the overall status.
	type outcome struct {
		ready bool
		http  int
	}
	outcomes := map[Status]outcome{StatusHealthy: {true, 200}, StatusDegraded: {true, 200}, StatusUnhealthy: {false, 503}}
	panics := func(context.Context) (Status, error) { panic("oops") }
	tests := []struct {
		name       string
		comps      []comp
		wantStatus Status
	}{
		{"no components", nil, StatusHealthy},
		{"all healthy", []comp{{"redis", fixed(StatusHealthy, nil), true}, {"dmarket", fixed("", nil), false}}, StatusHealthy},
		{"critical degraded", []comp{{"redis", fixed(StatusDegraded, boom), true}}, StatusDegraded},
		{"critical unhealthy", []comp{{"redis", fixed(StatusUnhealthy, boom), true}, {"dmarket", fixed(StatusHealthy, nil), false}},
			StatusUnhealthy},
		{"critical error without status", []comp{{"redis", fixed("", boom), true}}, StatusUnhealthy},
		{"critical error with healthy status", []comp{{"redis", fixed(StatusHealthy, boom), true}}, StatusUnhealthy},
		{"non-critical unhealthy only degrades",
			[]comp{{"redis", fixed(StatusHealthy, nil), true}, {"proxies", fixed(StatusUnhealthy, boom), false}}, StatusDegraded},
		{"unknown status is unhealthy", []comp{{"redis", fixed("sideways", nil), true}}, StatusUnhealthy},
		{"panicking check", []comp{{"redis", panics, true}}, StatusUnhealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry(clocktest.NewFake(t0))
			for _, c := range tt.comps {
				var opts []Option
				if c.critical {
					opts = append(opts, Critical())
				}
				r.Register(c.name, c.check, opts...)
			}
			rep := r.Check(context.Background())
			want := outcomes[tt.wantStatus]
			require.Equal(t, tt.wantStatus, rep.Status)
			require.Equal(t, want.ready, rep.Ready())
			require.Equal(t, want.ready, r.Ready(context.Background()))
			require.Equal(t, want.http, rep.HTTPStatus())
			require.Len(t, rep.Components, len(tt.comps))
			for i, c := range tt.comps {
				require.Equal(t, c.name, rep.Components[i].Name, "registration order")
			}
		})
	}
}

func TestComponentResultKeepsOwnStatus(t *testing.T) {
	r := NewRegistry(clocktest.NewFake(t0))
	r.Register("proxies", fixed(StatusUnhealthy, errors.New("0 of 3 usable")))
	rep := r.Check(context.Background())
	require.Equal(t, StatusDegraded, rep.Status, "a non-critical component only degrades the whole")
	p := rep.Components[0]
	require.Equal(t, "proxies", p.Name)
	require.Equal(t, StatusUnhealthy, p.Status, "the component shows what its check said")
	require.EqualError(t, p.Err, "0 of 3 usable")
	require.False(t, p.Critical)
	require.Equal(t, t0, p.CheckedAt)

	r2 := NewRegistry(clocktest.NewFake(t0))
	r2.Register("x", fixed("sideways", nil))
	require.ErrorContains(t, r2.Check(context.Background()).Components[0].Err, `unknown status "sideways"`)
	r3 := NewRegistry(clocktest.NewFake(t0))
	r3.Register("x", func(context.Context) (Status, error) { panic("oops") })
	require.ErrorIs(t, r3.Check(context.Background()).Components[0].Err, ErrPanic)
}

func TestErrorsAreRedacted(t *testing.T) {
	r := NewRegistry(clocktest.NewFake(t0))
	r.Register("redis", fixed(StatusUnhealthy, errors.New("dial redis://:hunter2@redis:6379/0: refused")), Critical())
	rep := r.Check(context.Background())
	require.EqualError(t, rep.Components[0].Err, "dial redis://:****@redis:6379/0: refused")
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.NotContains(t, string(b), "hunter2")
}

func TestCachingAndLatency(t *testing.T) {
	clk := clocktest.NewFake(t0)
	var calls atomic.Int32
	r := NewRegistry(clk)
	r.ttl = 10 * time.Second
	r.Register("redis", func(context.Context) (Status, error) {
		calls.Add(1)
		clk.Advance(1500 * time.Microsecond)
		return StatusHealthy, nil
	}, Critical())

	rep := r.Check(context.Background())
	require.Equal(t, int32(1), calls.Load())
	res := rep.Components[0]
	require.Equal(t, 1500*time.Microsecond, res.Latency)
	require.Equal(t, t0, res.CheckedAt)
	require.True(t, res.Critical)

	clk.Advance(5 * time.Second)
	rep = r.Check(context.Background())
	require.Equal(t, int32(1), calls.Load(), "cached result reused within the TTL")
	require.Equal(t, t0, rep.Components[0].CheckedAt)

	clk.Advance(5 * time.Second)
	rep = r.Check(context.Background())
	require.Equal(t, int32(2), calls.Load(), "stale result refreshed")
	require.Equal(t, t0.Add(10*time.Second+1500*time.Microsecond), rep.Components[0].CheckedAt)
}

func TestZeroTTLAlwaysChecks(t *testing.T) {
	var calls atomic.Int32
	r := NewRegistry(clocktest.NewFake(t0))
	r.ttl = 0
	r.Register("a", func(context.Context) (Status, error) { calls.Add(1); return StatusHealthy, nil })
	r.Check(context.Background())
	r.Check(context.Background())
	require.Equal(t, int32(2), calls.Load())
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := NewRegistry(clock.Real{})
	r.timeout = 20 * time.Millisecond
	// Ignores its context on purpose: the registry must stop waiting anyway.
	r.Register("stuck", func(context.Context) (Status, error) { <-release; return StatusHealthy, nil }, Critical())
	r.Register("polite", func(ctx context.Context) (Status, error) { <-ctx.Done(); return StatusHealthy, ctx.Err() })
	rep := r.Check(context.Background())
	require.Equal(t, StatusUnhealthy, rep.Status)
	require.ErrorIs(t, rep.Components[0].Err, ErrTimeout)
	require.ErrorContains(t, rep.Components[0].Err, "after 20ms")
	require.Equal(t, StatusUnhealthy, rep.Components[1].Status)
}

func TestCancelledContext(t *testing.T) {
	r := NewRegistry(clock.Real{})
	r.Register("stuck", func(ctx context.Context) (Status, error) { select {} }, Critical())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := r.Check(ctx)
	require.ErrorIs(t, rep.Components[0].Err, context.Canceled)
}

func TestRegisterPanics(t *testing.T) {
	r := NewRegistry(clock.Real{})
	r.Register("redis", fixed(StatusHealthy, nil))
	require.Panics(t, func() { r.Register("redis", fixed(StatusHealthy, nil)) })
	require.Panics(t, func() { r.Register("", fixed(StatusHealthy, nil)) })
	require.Panics(t, func() { r.Register("x", nil) })
}

func TestReportJSON(t *testing.T) {
	clk := clocktest.NewFake(time.Date(2026, 11, 25, 13, 4, 5, 0, time.FixedZone("X", 3600)))
	r := NewRegistry(clk)
	r.Register("redis", func(context.Context) (Status, error) {
		clk.Advance(2345678 * time.Nanosecond)
		return StatusHealthy, nil
	}, Critical())
	rep := r.Check(context.Background())
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"healthy","components":[
		{"name":"redis","status":"healthy","latency_ms":2.346,"checked_at":"2026-11-25T12:04:05Z"}
	]}`, string(b))

	r2 := NewRegistry(clk)
	r2.Register("dmarket", fixed(StatusDegraded, errors.New("breaker half-open")))
	b2, err := json.Marshal(r2.Check(context.Background()))
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"degraded","components":[
		{"name":"dmarket","status":"degraded","latency_ms":0,"error":"breaker half-open","checked_at":"2026-11-25T12:04:05.002345678Z"}
	]}`, string(b2))

	var generic map[string]any
	require.NoError(t, json.Unmarshal(b, &generic))
	comps := generic["components"].([]any)
	first := comps[0].(map[string]any)
	require.IsType(t, float64(0), first["latency_ms"])
	_, hasErr := first["error"]
	require.False(t, hasErr, "error omitted when there is none")
	_, err = time.Parse(time.RFC3339, first["checked_at"].(string))
	require.NoError(t, err)

	empty, err := json.Marshal(NewRegistry(clk).Check(context.Background()))
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"healthy","components":[]}`, string(empty))
	require.Equal(t, http.StatusOK, Report{Status: StatusDegraded}.HTTPStatus())
}

func TestWorse(t *testing.T) {
	require.Equal(t, StatusDegraded, StatusHealthy.Worse(StatusDegraded))
	require.Equal(t, StatusUnhealthy, StatusUnhealthy.Worse(StatusDegraded))
	require.Equal(t, StatusHealthy, StatusHealthy.Worse(StatusHealthy))
}

func TestConcurrentChecksShareOneRun(t *testing.T) {
	var calls atomic.Int32
	r := NewRegistry(clocktest.NewFake(t0))
	r.ttl = time.Hour
	r.Register("redis", func(context.Context) (Status, error) { calls.Add(1); return StatusHealthy, nil })
	done := make(chan struct{})
	for range 8 {
		go func() { r.Check(context.Background()); done <- struct{}{} }()
	}
	for range 8 {
		<-done
	}
	require.Equal(t, int32(1), calls.Load())
}

func TestPrometheusCollector(t *testing.T) {
	clk := clocktest.NewFake(t0)
	r := NewRegistry(clk)
	r.ttl = 0
	r.Register("redis", fixed(StatusHealthy, nil), Critical())
	r.Register("proxies", func(context.Context) (Status, error) { return StatusDegraded, errors.New("2 of 3 usable") })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dmarket_health_check_duration_seconds Duration of the last health check of a component.
# TYPE dmarket_health_check_duration_seconds gauge
dmarket_health_check_duration_seconds{component="proxies"} 0
dmarket_health_check_duration_seconds{component="redis"} 0
# HELP dmarket_health_component_status Status of a component at the last check: 1 for the status it is in, 0 for the others.
# TYPE dmarket_health_component_status gauge
dmarket_health_component_status{component="proxies",status="degraded"} 1
dmarket_health_component_status{component="proxies",status="healthy"} 0
dmarket_health_component_status{component="proxies",status="unhealthy"} 0
dmarket_health_component_status{component="redis",status="degraded"} 0
dmarket_health_component_status{component="redis",status="healthy"} 1
dmarket_health_component_status{component="redis",status="unhealthy"} 0
# HELP dmarket_health_ready 1 when no critical component is unhealthy (the binary is ready), else 0.
# TYPE dmarket_health_ready gauge
dmarket_health_ready 1
`))
	require.NoError(t, err)

	r2 := NewRegistry(clk)
	r2.Register("redis", fixed(StatusUnhealthy, errors.New("down")), Critical())
	require.Equal(t, 0.0, testutil.ToFloat64(readyOnly{r2}))

	// The duration is the check's latency in seconds.
	r3 := NewRegistry(clk)
	r3.Register("redis", func(context.Context) (Status, error) {
		clk.Advance(250 * time.Millisecond)
		return StatusHealthy, nil
	})
	reg3 := prometheus.NewRegistry()
	reg3.MustRegister(r3)
	require.NoError(t, testutil.GatherAndCompare(reg3, strings.NewReader(`
# HELP dmarket_health_check_duration_seconds Duration of the last health check of a component.
# TYPE dmarket_health_check_duration_seconds gauge
dmarket_health_check_duration_seconds{component="redis"} 0.25
`), "dmarket_health_check_duration_seconds"))
}

// readyOnly exposes just the readiness gauge of a registry.
type readyOnly struct{ r *Registry }

func (o readyOnly) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (o readyOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 16)
	o.r.Collect(all)
	close(all)
	for m := range all {
		if m.Desc() == readyDesc {
			ch <- m
		}
	}
}
