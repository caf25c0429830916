// Package health owns the component health model of SPEC §7: a registry of named checks, each run with a
// timeout and cached, whose results decide the overall status (/health) and readiness (/readyz).
//
// A check returns a Status and an error. Critical components (those the binary cannot work without)
// decide readiness: the binary is ready when no critical component is unhealthy. A non-critical
// component can only degrade the overall status: its own entry shows what its check said, but an
// unhealthy non-critical component makes the whole binary degraded, not unhealthy. The overall status is
// the worst of the components' (capped) statuses; no components means healthy.
//
// A Registry is also a prometheus.Collector exporting dmarket_health_component_status{component,status},
// dmarket_health_check_duration_seconds{component} and dmarket_health_ready.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// Status is the health of a component or of the whole binary.
type Status string

// Statuses, from best to worst.
const (
	// StatusHealthy means working normally.
	StatusHealthy Status = "healthy"
	// StatusDegraded means working with reduced capacity (some proxies down, breaker half-open, 429 storm).
	StatusDegraded Status = "degraded"
	// StatusUnhealthy means not working.
	StatusUnhealthy Status = "unhealthy"
)

// rank orders statuses from best (0) to worst; an unknown status ranks as unhealthy.
func (s Status) rank() int {
	switch s {
	case StatusHealthy:
		return 0
	case StatusDegraded:
		return 1
	default:
		return 2
	}
}

// Worse returns the worse of s and o.
func (s Status) Worse(o Status) Status {
	if o.rank() > s.rank() {
		return o
	}
	return s
}

// CheckFunc checks one component. It should honour ctx; the registry stops waiting for it when the
// component's timeout passes anyway. An empty Status means healthy when err is nil and unhealthy
// otherwise; a non-nil error with StatusHealthy is taken as unhealthy; StatusDegraded with an error keeps
// the error as the explanation.
type CheckFunc func(ctx context.Context) (Status, error)

// Defaults of a registry.
const (
	// DefaultTimeout bounds one run of a check.
	DefaultTimeout = 2 * time.Second
	// DefaultCacheTTL is how long a result is reused before the check runs again.
	DefaultCacheTTL = time.Second
)

// Sentinel errors reported as a component's error.
var (
	// ErrTimeout means the check did not answer within its timeout.
	ErrTimeout = errors.New("check timed out")
	// ErrPanic means the check panicked.
	ErrPanic = errors.New("check panicked")
)

// Option configures one registered component.
type Option func(*component)

// Critical marks the component as one readiness depends on.
func Critical() Option { return func(c *component) { c.critical = true } }

// Result is the last outcome of one component's check.
type Result struct {
	// Name is the component's name.
	Name string
	// Status is what the check said.
	Status Status
	// Err is the check's error, with secrets masked; nil when there was none.
	Err error
	// Latency is how long the check took.
	Latency time.Duration
	// CheckedAt is when the check started.
	CheckedAt time.Time
	// Critical is whether readiness depends on the component.
	Critical bool
}

// Report is the state of every component and the overall status.
type Report struct {
	// Status is the overall status.
	Status Status
	// Components are the components' results in registration order.
	Components []Result
}

// Ready reports whether no critical component is unhealthy.
func (r Report) Ready() bool {
	for _, c := range r.Components {
		if c.Critical && c.Status.rank() >= StatusUnhealthy.rank() {
			return false
		}
	}
	return true
}

// HTTPStatus is the status code of /health: 200 unless the overall status is unhealthy, then 503.
func (r Report) HTTPStatus() int {
	if r.Status == StatusUnhealthy {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

type componentJSON struct {
	Name      string  `json:"name"`
	Status    Status  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	CheckedAt string  `json:"checked_at"`
}

type reportJSON struct {
	Status     Status          `json:"status"`
	Components []componentJSON `json:"components"`
}

// MarshalJSON encodes the report as SPEC §7's /health body.
func (r Report) MarshalJSON() ([]byte, error) {
	out := reportJSON{Status: r.Status, Components: make([]componentJSON, 0, len(r.Components))}
	for _, c := range r.Components {
		cj := componentJSON{
			Name:      c.Name,
			Status:    c.Status,
			LatencyMS: math.Round(float64(c.Latency)/float64(time.Microsecond)) / 1000,
			CheckedAt: c.CheckedAt.UTC().Format(time.RFC3339Nano),
		}
		if c.Err != nil {
			cj.Error = c.Err.Error()
		}
		out.Components = append(out.Components, cj)
	}
	return json.Marshal(out)
}

type component struct {
	name     string
	check    CheckFunc
	critical bool
	timeout  time.Duration

	mu     sync.Mutex // serialises runs and guards last
	last   Result
	hasRun bool
}

// Registry holds the components of one binary. It is safe for concurrent use.
type Registry struct {
	clk     clock.Clock
	ttl     time.Duration
	timeout time.Duration

	mu         sync.RWMutex
	components []*component
	byName     map[string]*component
}

// NewRegistry returns an empty registry whose latencies and timestamps come from clk. Results are
// reused for DefaultCacheTTL and each check is bounded by DefaultTimeout.
func NewRegistry(clk clock.Clock) *Registry {
	return &Registry{clk: clk, ttl: DefaultCacheTTL, timeout: DefaultTimeout, byName: map[string]*component{}}
}

// Register adds a component. It panics on an empty or duplicate name or a nil check: both are wiring
// mistakes that must not reach production.
func (r *Registry) Register(name string, check CheckFunc, opts ...Option) {
	if name == "" || check == nil {
		panic("health: register needs a name and a check")
	}
	c := &component{name: name, check: check, timeout: r.timeout}
	for _, o := range opts {
		o(c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byName[name]; dup {
		panic(fmt.Sprintf("health: component %q registered twice", name))
	}
	r.byName[name] = c
	r.components = append(r.components, c)
}

// Check runs the checks whose cached result is older than the cache TTL (concurrently, each bounded by
// its timeout) and returns the report.
func (r *Registry) Check(ctx context.Context) Report {
	r.mu.RLock()
	comps := append([]*component(nil), r.components...)
	r.mu.RUnlock()

	results := make([]Result, len(comps))
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Go(func() { results[i] = r.result(ctx, c) })
	}
	wg.Wait()

	rep := Report{Status: StatusHealthy, Components: results}
	for _, res := range results {
		s := res.Status
		if !res.Critical {
			s = StatusDegraded.capped(s)
		}
		rep.Status = rep.Status.Worse(s)
	}
	return rep
}

// capped returns o, but no worse than s.
func (s Status) capped(o Status) Status {
	if o.rank() > s.rank() {
		return s
	}
	return o
}

// Ready reports whether no critical component is unhealthy, running stale checks as Check does.
func (r *Registry) Ready(ctx context.Context) bool { return r.Check(ctx).Ready() }

func (r *Registry) result(ctx context.Context, c *component) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := r.clk.Now()
	if c.hasRun && now.Sub(c.last.CheckedAt) < r.ttl {
		return c.last
	}
	status, err := run(ctx, c)
	c.last = Result{
		Name:      c.name,
		Status:    status,
		Err:       err,
		Latency:   max(r.clk.Now().Sub(now), 0),
		CheckedAt: now,
		Critical:  c.critical,
	}
	c.hasRun = true
	return c.last
}

type outcome struct {
	status Status
	err    error
}

// run runs c's check bounded by its timeout and normalises the outcome.
func run(ctx context.Context, c *component) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{StatusUnhealthy, fmt.Errorf("%w: %v", ErrPanic, p)}
			}
		}()
		s, err := c.check(ctx)
		done <- outcome{s, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			o = outcome{StatusUnhealthy, fmt.Errorf("%w after %s", ErrTimeout, c.timeout)}
		} else {
			o = outcome{StatusUnhealthy, fmt.Errorf("check abandoned: %w", ctx.Err())}
		}
	}
	switch {
	case o.err != nil && (o.status == "" || o.status == StatusHealthy):
		o.status = StatusUnhealthy
	case o.status == "":
		o.status = StatusHealthy
	case o.status.rank() == 2 && o.status != StatusUnhealthy:
		o.err = errors.Join(o.err, fmt.Errorf("unknown status %q", o.status))
		o.status = StatusUnhealthy
	}
	if o.err != nil {
		o.err = redact.Error(o.err)
	}
	return o.status, o.err
}

var (
	statusDesc = prometheus.NewDesc("dmarket_health_component_status",
		"Status of a component at the last check: 1 for the status it is in, 0 for the others.",
		[]string{"component", "status"}, nil)
	latencyDesc = prometheus.NewDesc("dmarket_health_check_duration_seconds",
		"Duration of the last health check of a component.", []string{"component"}, nil)
	readyDesc = prometheus.NewDesc("dmarket_health_ready",
		"1 when no critical component is unhealthy (the binary is ready), else 0.", nil, nil)
)

// CollectTimeout bounds the checks a Prometheus scrape triggers.
const CollectTimeout = 5 * time.Second

// Describe implements prometheus.Collector.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	ch <- statusDesc
	ch <- latencyDesc
	ch <- readyDesc
}

// Collect implements prometheus.Collector: a scrape runs the stale checks (as /health does) and exports
// each component's status as a state set, its check duration and the readiness. Register the registry
// on the binary's Prometheus registry to get them.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), CollectTimeout)
	defer cancel()
	rep := r.Check(ctx)
	for _, c := range rep.Components {
		for _, s := range []Status{StatusHealthy, StatusDegraded, StatusUnhealthy} {
			v := 0.0
			if c.Status == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(statusDesc, prometheus.GaugeValue, v, c.Name, string(s))
		}
		ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.GaugeValue, c.Latency.Seconds(), c.Name)
	}
	ready := 0.0
	if rep.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready)
}
