package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
)

// Config configures a Pool. Zero fields take the documented defaults.
type Config struct {
	// File is the proxy file; empty means the direct connection.
	File string
	// RatePerIP is the ceiling rate of each egress's limiter in requests per second (default 2).
	RatePerIP float64
	// Burst is each egress limiter's burst (default 1).
	Burst int
	// RootCAs verifies the servers' certificates; nil uses the system pool (SSL_CERT_FILE and
	// SSL_CERT_DIR apply). Certificates are always verified.
	RootCAs *x509.CertPool
	// PollInterval is how often Watch checks the file for changes (default 5s).
	PollInterval time.Duration
	// ThrottleStreak is the number of 429s in a row that cools a proxy down (default 3).
	ThrottleStreak int
	// CooldownBase is the first cooldown of a failing proxy; each further one doubles (default 5s).
	CooldownBase time.Duration
	// CooldownMax caps the cooldown (default 5m).
	CooldownMax time.Duration
	// CooldownJitter is the fraction of a cooldown removed at random (default 0.2: 80–100 %).
	CooldownJitter float64
	// MaxIdleConnsPerHost sizes each transport's idle pool to the expected concurrency (default 16).
	MaxIdleConnsPerHost int
	// DialTimeout bounds connecting through an egress, handshake included (default 10s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake with the server (default 10s).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers (default 30s).
	ResponseHeaderTimeout time.Duration
	// Rand returns a number in [0, 1) for jitter (default math/rand/v2).
	Rand func() float64
	// Resolver resolves SOCKS4 targets (default net.DefaultResolver).
	Resolver Resolver
}

func (c Config) withDefaults() (Config, error) {
	if c.RatePerIP == 0 {
		c.RatePerIP = 2
	}
	if !(c.RatePerIP > 0) || math.IsInf(c.RatePerIP, 0) {
		return c, fmt.Errorf("proxy pool: rate per ip %v must be positive", c.RatePerIP)
	}
	if c.CooldownJitter < 0 || c.CooldownJitter >= 1 {
		return c, fmt.Errorf("proxy pool: cooldown jitter %v must be in [0, 1)", c.CooldownJitter)
	}
	orDefault(&c.CooldownJitter, 0.2)
	orDefault(&c.Burst, 1)
	orDefault(&c.ThrottleStreak, 3)
	orDefault(&c.MaxIdleConnsPerHost, 16)
	orDefault(&c.PollInterval, 5*time.Second)
	orDefault(&c.CooldownBase, 5*time.Second)
	orDefault(&c.CooldownMax, 5*time.Minute)
	c.CooldownMax = max(c.CooldownMax, c.CooldownBase)
	orDefault(&c.DialTimeout, 10*time.Second)
	orDefault(&c.TLSHandshakeTimeout, 10*time.Second)
	orDefault(&c.ResponseHeaderTimeout, 30*time.Second)
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return c, nil
}

// orDefault sets *v to def when it is not positive.
func orDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// egress is one way out: a proxy, or the direct connection.
type egress struct {
	key       string
	name      string
	direct    bool
	transport *http.Transport
	client    *http.Client
	limiter   *ratelimit.AIMD

	// Guarded by Pool.mu.
	seq            uint64 // order of the last acquisition, for round-robin among equals
	coolUntil      time.Time
	cooldowns      int // cooldowns since the last success: the backoff exponent
	throttleStreak int
	inflight       int
	removed        bool
}

// Pool hands out egresses for DMarket requests: fairly (earliest available first), skipping proxies
// that are cooling down, and, for rate-limited calls, after waiting on the egress's AIMD limiter. It
// is safe for concurrent use.
type Pool struct {
	cfg   Config
	clock ratelimit.Clock
	log   *slog.Logger
	m     *metrics
	rlm   *ratelimit.EgressMetrics

	mu       sync.Mutex
	egresses []*egress
	seq      uint64
	// changed ends when the egress set changes; markChanged ends it (and apply starts the next one).
	changed     context.Context
	markChanged context.CancelFunc

	reloadMu sync.Mutex
	fileSig  fileSignature
}

// NewPool loads cfg.File (a missing, unreadable or empty file means the direct connection, with a
// warning) and returns the pool, which waits for limiters and cooldowns on clk. It registers its metrics and those of the egress limiters with reg
// (nil registers nothing). Only an invalid cfg is an error.
func NewPool(cfg Config, clk ratelimit.Clock, log *slog.Logger, reg prometheus.Registerer) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, clock: clk, log: log, rlm: ratelimit.NewEgressMetrics(reg)}
	p.changed, p.markChanged = context.WithCancel(context.Background())
	p.m = newMetrics(reg, p)
	if cfg.File == "" {
		log.Warn("no proxy file configured: DMarket requests use the direct connection")
		p.apply(nil, true)
		return p, nil
	}
	proxies, sig, err := p.readFile()
	if err != nil {
		log.Warn("proxy file unusable: DMarket requests use the direct connection", "file", cfg.File, "err", err)
		p.m.reloads.WithLabelValues("error").Inc()
	} else {
		p.fileSig = sig
		p.m.reloads.WithLabelValues("ok").Inc()
	}
	p.apply(proxies, true)
	return p, nil
}

func (p *Pool) newEgress(pr *Proxy) (*egress, error) {
	e := &egress{}
	forward := &net.Dialer{Timeout: p.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var d ContextDialer
	if pr == nil {
		e.key, e.name, e.direct = "direct", dmarket.DirectEgressName, true
		d = egressDialer{name: dmarket.DirectEgressName, d: forward}
	} else {
		e.key, e.name = pr.key(), pr.Name()
		d = pr.Dialer(forward, p.cfg.Resolver)
	}
	timeout := p.cfg.DialTimeout
	e.transport = &http.Transport{
		Proxy: nil, // never the environment's proxies: the pool decides the egress
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: p.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   p.cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: p.cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          p.cfg.MaxIdleConnsPerHost * 4,
		MaxIdleConnsPerHost:   p.cfg.MaxIdleConnsPerHost,
	}
	e.client = &http.Client{Transport: e.transport}
	lim, err := ratelimit.NewAIMD(ratelimit.AIMDConfig{Ceiling: p.cfg.RatePerIP, Burst: p.cfg.Burst},
		p.clock, p.rlm.For(e.name))
	if err != nil {
		return nil, fmt.Errorf("egress limiter: %w", err)
	}
	e.limiter = lim
	return e, nil
}

// apply replaces the egress set by proxies, keeping the state of unchanged ones. With no proxy it
// uses the direct connection, unless proxies are in use and this is a reload: the host's own address
// is never exposed because a file was emptied or broken while being edited.
func (p *Pool) apply(proxies []Proxy, initial bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(proxies) == 0 && !initial && len(p.egresses) > 0 && !p.egresses[0].direct {
		p.log.Error("proxy file has no valid proxy: keeping the current proxies (restart to use the direct connection)",
			"file", p.cfg.File, "proxies", len(p.egresses))
		return
	}
	old := make(map[string]*egress, len(p.egresses))
	for _, e := range p.egresses {
		old[e.key] = e
	}
	keys := make(map[string]bool, len(proxies)+1)
	if len(proxies) == 0 {
		keys["direct"] = true
	}
	for _, pr := range proxies {
		keys[pr.key()] = true
	}
	var removed []string
	for _, e := range p.egresses {
		if !keys[e.key] {
			e.removed = true
			e.transport.CloseIdleConnections()
			p.rlm.Forget(e.name)
			removed = append(removed, e.name)
		}
	}
	next := make([]*egress, 0, len(keys))
	var added []string
	add := func(pr *Proxy) {
		key := "direct"
		if pr != nil {
			key = pr.key()
		}
		if e, ok := old[key]; ok {
			next = append(next, e)
			return
		}
		e, err := p.newEgress(pr)
		if err != nil { // cannot happen: the rate was validated by NewPool
			p.log.Error("create egress", "err", err)
			return
		}
		next = append(next, e)
		added = append(added, e.name)
	}
	if len(proxies) == 0 {
		if len(p.egresses) == 0 || !p.egresses[0].direct {
			p.log.Warn("no valid proxy: DMarket requests use the direct connection", "file", p.cfg.File)
		}
		add(nil)
	}
	for i := range proxies {
		add(&proxies[i])
	}
	p.egresses = next
	p.markChanged()
	p.changed, p.markChanged = context.WithCancel(context.Background())
	if len(added) > 0 || len(removed) > 0 {
		p.log.Info("egresses updated", "total", len(next), "added", added, "removed", removed)
	}
}

// Lease is one acquired egress for one request. Release it exactly once with the request's outcome.
type Lease struct {
	pool    *Pool
	e       *egress
	limited bool
	once    sync.Once
}

// Name returns the egress's name: scheme://host:port of a proxy, or "direct".
func (l *Lease) Name() string { return l.e.name }

// Do sends req through the egress. Dial failures wrap ErrEgress.
func (l *Lease) Do(req *http.Request) (*http.Response, error) { return l.e.client.Do(req) }

// Client returns the HTTP client of the egress (no timeout of its own: bound requests with contexts).
func (l *Lease) Client() *http.Client { return l.e.client }

// Release reports the outcome of the request made with the lease; later calls do nothing.
//   - dmarket.Success (the API answered): the egress's rate recovers and its failure streak resets.
//   - dmarket.Throttled (429): for a limited lease (per-IP limit) the egress's rate halves and repeated
//     429s cool it down; an unlimited lease (signed call, per-account limit) does not blame the egress:
//     those 429s are the account limiter's.
//   - dmarket.EgressFailure (connect error, timeout, proxy refusal): the egress cools down.
//   - dmarket.APIError and dmarket.Aborted say nothing about the egress: nothing changes, and both
//     count as api_error in dmarket_proxy_requests_total.
func (l *Lease) Release(o dmarket.Outcome) {
	l.once.Do(func() { l.pool.release(l.e, o, l.limited) })
}

// errNoEgress cannot happen in practice: a pool always has a proxy or the direct connection.
var errNoEgress = errors.New("no egress configured")

// Acquire picks an egress for one request: among those not cooling down, the one available earliest
// (for limited calls, the one whose limiter frees soonest, whose token it then waits for), ties going
// to the least recently used. When every proxy is cooling down it waits for the first to come back.
func (p *Pool) Acquire(ctx context.Context, limited bool) (*Lease, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.mu.Lock()
		now := p.clock.Now()
		var best *egress
		var bestDelay time.Duration
		var earliest time.Time
		for _, e := range p.egresses {
			if e.coolUntil.After(now) {
				if earliest.IsZero() || e.coolUntil.Before(earliest) {
					earliest = e.coolUntil
				}
				continue
			}
			if !e.coolUntil.IsZero() {
				e.coolUntil = time.Time{}
				p.log.Info("proxy back in rotation", "proxy", e.name)
			}
			var d time.Duration
			if limited {
				d = e.limiter.Delay(now)
			}
			if best == nil || d < bestDelay || (d == bestDelay && e.seq < best.seq) {
				best, bestDelay = e, d
			}
		}
		if best == nil {
			changed := p.changed
			p.mu.Unlock()
			if earliest.IsZero() {
				return nil, errNoEgress
			}
			if err := p.waitOrChange(ctx, changed, earliest.Sub(now)); err != nil {
				return nil, err
			}
			continue
		}
		var wait time.Duration
		if limited {
			wait = best.limiter.Reserve(now)
		}
		p.seq++
		best.seq = p.seq
		best.inflight++
		p.mu.Unlock()
		if wait > 0 {
			if err := p.clock.Sleep(ctx, wait); err != nil {
				best.limiter.Cancel()
				p.mu.Lock()
				best.inflight--
				p.mu.Unlock()
				return nil, err
			}
			p.mu.Lock()
			gone := best.removed || best.coolUntil.After(p.clock.Now())
			if gone {
				best.inflight--
			}
			p.mu.Unlock()
			if gone {
				continue
			}
		}
		return &Lease{pool: p, e: best, limited: limited}, nil
	}
}

// waitOrChange sleeps d, returning early when the egress set changes; it fails only when ctx is done.
func (p *Pool) waitOrChange(ctx, changed context.Context, d time.Duration) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(changed, cancel)()
	_ = p.clock.Sleep(wctx, d)
	return ctx.Err()
}

func (p *Pool) release(e *egress, o dmarket.Outcome, limited bool) {
	if o == dmarket.Aborted {
		o = dmarket.APIError
	}
	p.m.requests.WithLabelValues(e.name, o.String()).Inc()
	p.mu.Lock()
	defer p.mu.Unlock()
	e.inflight--
	now := p.clock.Now()
	cooling := e.coolUntil.After(now)
	switch o {
	case dmarket.Success:
		e.limiter.OnSuccess()
		e.cooldowns = 0
		e.throttleStreak = 0
	case dmarket.Throttled:
		if !limited {
			break
		}
		e.limiter.OnThrottle()
		e.throttleStreak++
		if e.throttleStreak >= p.cfg.ThrottleStreak && !cooling {
			e.throttleStreak = 0
			p.coolDown(e, now, "repeated 429 answers")
		}
	case dmarket.EgressFailure:
		if !cooling {
			p.coolDown(e, now, "egress failure")
		}
	}
}

// coolDown takes e out of rotation for a growing, jittered time. The direct connection has no
// alternative and is never cooled down. Callers hold mu.
func (p *Pool) coolDown(e *egress, now time.Time, reason string) {
	if e.direct {
		return
	}
	d := backoff.Policy{Initial: p.cfg.CooldownBase, Max: p.cfg.CooldownMax}.Ceiling(e.cooldowns + 1)
	d -= time.Duration(float64(d) * p.cfg.CooldownJitter * p.cfg.Rand())
	e.cooldowns++
	e.coolUntil = now.Add(d)
	e.transport.CloseIdleConnections()
	p.m.cooldowns.WithLabelValues(e.name).Inc()
	p.log.Warn("proxy cooling down", "proxy", e.name, "reason", reason, "for", d.Round(time.Millisecond),
		"cooldowns_in_a_row", e.cooldowns)
}

// Usable returns how many egresses are usable now (not cooling down) and how many there are. The
// direct connection counts as one always usable egress.
func (p *Pool) Usable() (usable, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	for _, e := range p.egresses {
		if !e.coolUntil.After(now) {
			usable++
		}
	}
	return usable, len(p.egresses)
}

// Direct reports whether the pool uses the direct connection (no valid proxy configured).
func (p *Pool) Direct() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.egresses) == 1 && p.egresses[0].direct
}

// EgressStatus describes one egress for health reports.
type EgressStatus struct {
	// Name is scheme://host:port or "direct".
	Name string
	// CoolingUntil is when a cooling egress comes back; zero when usable.
	CoolingUntil time.Time
	// Rate is the current rate of its limiter in requests per second.
	Rate float64
	// InFlight is the number of unreleased leases.
	InFlight int
}

// Status returns the state of every egress in file order.
func (p *Pool) Status() []EgressStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	out := make([]EgressStatus, 0, len(p.egresses))
	for _, e := range p.egresses {
		s := EgressStatus{Name: e.name, Rate: e.limiter.Rate(), InFlight: e.inflight}
		if e.coolUntil.After(now) {
			s.CoolingUntil = e.coolUntil
		}
		out = append(out, s)
	}
	return out
}

// Capacity returns the sum of the egresses' ceiling rates in requests per second: the budget of
// unsigned listings calls.
func (p *Pool) Capacity() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return float64(len(p.egresses)) * p.cfg.RatePerIP
}

// proxyCounts returns the configured and usable proxies (the direct connection is not a proxy).
func (p *Pool) proxyCounts() (usable, total int) {
	if p.Direct() {
		return 0, 0
	}
	return p.Usable()
}
