// Package dmarket owns the parser's conversation with DMarket's trading API: request building and
// Ed25519 signing, rate limiting through an Egress and an AccountLimiter, retries with backoff, a
// circuit breaker per endpoint family, error classification, tracing and metrics, and the decoding of
// the four answers the system uses into integer cents at the API boundary.
package dmarket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
)

// DefaultBaseURL is DMarket's production API.
const DefaultBaseURL = "https://api.dmarket.com"

// Paths of the endpoints the client calls.
const (
	PathMarketItems      = "/exchange/v1/market/items"
	PathAggregatedPrices = "/marketplace-api/v1/aggregated-prices"
	PathLastSales        = "/trade-aggregator/v1/last-sales"
	PathCustomizedFees   = "/exchange/v1/customized-fees"
)

// Limits DMarket enforces on request sizes.
const (
	// MaxMarketItemsLimit is the largest market-items page.
	MaxMarketItemsLimit = 100
	// MaxAggregatedTitles is the most titles the client asks aggregated prices for in one call.
	MaxAggregatedTitles = 100
	// MaxLastSalesLimit is the most sales one last-sales call returns.
	MaxLastSalesLimit = 20
)

// Endpoint names one endpoint (and its circuit-breaker family). The values are metric labels.
type Endpoint string

// The endpoints.
const (
	EndpointMarketItems      Endpoint = "market_items"
	EndpointAggregatedPrices Endpoint = "aggregated_prices"
	EndpointLastSales        Endpoint = "last_sales"
	EndpointCustomizedFees   Endpoint = "customized_fees"
)

// Endpoints lists every endpoint in a stable order.
var Endpoints = []Endpoint{EndpointMarketItems, EndpointAggregatedPrices, EndpointLastSales, EndpointCustomizedFees}

// Family returns the account rate-limit family of signed calls to e.
func (e Endpoint) Family() Family {
	switch e {
	case EndpointMarketItems:
		return FamilyListings
	case EndpointLastSales:
		return FamilySales
	default:
		return FamilyOther
	}
}

// Config tunes a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the API root, default DefaultBaseURL. http:// is allowed (simulators).
	BaseURL string
	// RequestTimeout bounds one attempt, default 20s.
	RequestTimeout time.Duration
	// MaxAttempts bounds the attempts of one call, default 4.
	MaxAttempts int
	// BaseDelay is the first backoff ceiling, default 500ms; it doubles per attempt (full jitter).
	BaseDelay time.Duration
	// MaxDelay caps the backoff, default 30s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for inside a call, default 2m; a longer
	// wait returns the 429 to the caller.
	MaxRetryAfter time.Duration
	// BreakerFailures is the number of consecutive infrastructure failures that open an endpoint's
	// breaker, default 5.
	BreakerFailures uint32
	// BreakerOpenFor is how long an open breaker rejects calls before letting a probe through,
	// default 30s.
	BreakerOpenFor time.Duration
	// BreakerProbes is how many probes a half-open breaker lets through, default 1.
	BreakerProbes uint32
	// StopFor is how long an endpoint stays stopped after an auth failure or a 410, default 15m.
	StopFor time.Duration
	// MaxBodyBytes bounds an answer's body, default 16 MiB; a longer body is a bad body.
	MaxBodyBytes int64
	// UserAgent is sent on every request, default "dmarket-monitor".
	UserAgent string
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 20 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 4
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = 500 * time.Millisecond
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 30 * time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 2 * time.Minute
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerOpenFor <= 0 {
		c.BreakerOpenFor = 30 * time.Second
	}
	if c.BreakerProbes == 0 {
		c.BreakerProbes = 1
	}
	if c.StopFor <= 0 {
		c.StopFor = 15 * time.Minute
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.UserAgent == "" {
		c.UserAgent = "dmarket-monitor"
	}
}

// Clock tells the time and waits between retries; clock.Real and *clocktest.Fake implement it.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// Option sets an optional dependency of a Client.
type Option func(*Client)

// WithSigner gives the client the account keys; without them signed calls fail with ErrNoCredentials.
func WithSigner(s *Signer) Option { return func(c *Client) { c.signer = s } }

// WithAccountLimiter paces signed calls per account family; without it they are not paced.
func WithAccountLimiter(l AccountLimiter) Option { return func(c *Client) { c.account = l } }

// WithTracer records a client span per attempt; nil (the default) records none.
func WithTracer(t *zipkin.Tracer) Option { return func(c *Client) { c.tracer = t } }

// Client calls DMarket. It is safe for concurrent use.
type Client struct {
	cfg     Config
	egress  Egress
	log     *slog.Logger
	clock   Clock
	policy  backoff.Policy
	signer  *Signer
	account AccountLimiter
	tracer  *zipkin.Tracer
	metrics *metrics
	// send runs one attempt through the client's layers, composed in New.
	send sender

	breakers map[Endpoint]*gobreaker.CircuitBreaker[struct{}]
	mu       sync.Mutex
	stopped  map[stopKey]stopState
	recent   map[Endpoint]*window
}

// stopKey names what a stop covers: an auth failure stops only the signed (or only the unsigned)
// calls of an endpoint, so bad keys never stop the unsigned listings crawl; a 410 stops both.
type stopKey struct {
	endpoint Endpoint
	signed   bool
}

type stopState struct {
	until  time.Time
	reason string
	err    error
}

// New returns a Client sending through egress. logger, reg and clk are required; reg receives the
// client's metrics and clk times stops and retries.
func New(cfg Config, egress Egress, logger *slog.Logger, reg prometheus.Registerer, clk Clock, opts ...Option) (*Client, error) {
	if egress == nil || logger == nil || reg == nil || clk == nil {
		return nil, errors.New("new dmarket client: egress, logger, registerer and clock are required")
	}
	cfg.setDefaults()
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, errors.New("new dmarket client: base url must be http:// or https://")
	}
	c := &Client{
		cfg:    cfg,
		egress: egress,
		log:    logger,
		clock:  clk,
		policy: backoff.Policy{Initial: min(cfg.BaseDelay, cfg.MaxDelay), Max: cfg.MaxDelay,
			Jitter: backoff.FullJitter, MaxAttempts: cfg.MaxAttempts},
		breakers: make(map[Endpoint]*gobreaker.CircuitBreaker[struct{}], len(Endpoints)),
		stopped:  make(map[stopKey]stopState),
		recent:   make(map[Endpoint]*window, len(Endpoints)),
	}
	for _, o := range opts {
		o(c)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new dmarket client: %w", err)
	}
	c.metrics = m
	for _, ep := range Endpoints {
		c.breakers[ep] = c.newBreaker(ep)
		c.recent[ep] = &window{}
		m.breakerState.WithLabelValues(string(ep)).Set(0)
	}
	// One attempt: rate limit → circuit breaker → span → log → metrics → HTTP exchange.
	c.send = chain(c.exchange, c.rateLimited, c.guarded, c.traced, c.logged, c.measured)
	return c, nil
}

func (c *Client) newBreaker(ep Endpoint) *gobreaker.CircuitBreaker[struct{}] {
	failures := c.cfg.BreakerFailures
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        string(ep),
		MaxRequests: c.cfg.BreakerProbes,
		Timeout:     c.cfg.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= failures },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.metrics.breakerState.WithLabelValues(string(ep)).Set(breakerGauge(to))
			c.log.Warn("dmarket circuit breaker changed state", "endpoint", ep, "from", from.String(), "to", to.String())
		},
		IsSuccessful: func(err error) bool {
			if err == nil {
				return true
			}
			if cl, ok := ClassOf(err); ok {
				return !cl.infrastructure()
			}
			return false
		},
		IsExcluded: func(err error) bool {
			var ef *egressFault
			if errors.As(err, &ef) {
				return true
			}
			return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout)
		},
	})
}

// HasCredentials reports whether the client has keys for signed calls. Without them only unsigned
// market items can be fetched.
func (c *Client) HasCredentials() bool { return c.signer != nil }

// BreakerState is an endpoint breaker's state.
type BreakerState string

// Breaker states.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerHalfOpen BreakerState = "half-open"
	BreakerOpen     BreakerState = "open"
)

func toBreakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}

func breakerGauge(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateOpen:
		return 2
	case gobreaker.StateHalfOpen:
		return 1
	default:
		return 0
	}
}

// BreakerState returns the state of ep's circuit breaker.
func (c *Client) BreakerState(ep Endpoint) BreakerState {
	b, ok := c.breakers[ep]
	if !ok {
		return BreakerClosed
	}
	return toBreakerState(b.State())
}

// EndpointHealth is the health of one endpoint.
type EndpointHealth struct {
	// Endpoint is the endpoint.
	Endpoint Endpoint
	// Breaker is its circuit breaker's state.
	Breaker BreakerState
	// Stopped is true while the endpoint is stopped after an auth failure or a 410.
	Stopped bool
	// StoppedUntil is when a stop ends.
	StoppedUntil time.Time
	// SignedOnly is true when only the endpoint's signed calls are stopped (an auth failure of signed
	// market items leaves the unsigned crawl running).
	SignedOnly bool
	// StopReason describes the failure that stopped the endpoint (no credentials).
	StopReason string
	// Attempts is the number of recent attempts considered (at most 100).
	Attempts int
	// Successes is how many of them succeeded.
	Successes int
}

// SuccessRate returns Successes/Attempts, or 1 when there were no attempts.
func (h EndpointHealth) SuccessRate() float64 {
	if h.Attempts == 0 {
		return 1
	}
	return float64(h.Successes) / float64(h.Attempts)
}

// Health reports every endpoint's breaker, stop and recent success rate, for the ops server.
func (c *Client) Health() []EndpointHealth {
	now := c.clock.Now()
	out := make([]EndpointHealth, 0, len(Endpoints))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ep := range Endpoints {
		h := EndpointHealth{Endpoint: ep, Breaker: toBreakerState(c.breakers[ep].State())}
		signedStop, sOK := c.stopped[stopKey{ep, true}]
		unsignedStop, uOK := c.stopped[stopKey{ep, false}]
		sOK, uOK = sOK && now.Before(signedStop.until), uOK && now.Before(unsignedStop.until)
		switch {
		case uOK:
			h.Stopped, h.StoppedUntil, h.StopReason = true, unsignedStop.until, unsignedStop.reason
			h.SignedOnly = ep == EndpointMarketItems && !sOK
		case sOK:
			h.Stopped, h.StoppedUntil, h.StopReason = true, signedStop.until, signedStop.reason
			h.SignedOnly = ep == EndpointMarketItems
		}
		h.Attempts, h.Successes = c.recent[ep].counts()
		out = append(out, h)
	}
	return out
}

// Resume lifts a stop of ep before it expires (e.g. after new keys were configured).
func (c *Client) Resume(ep Endpoint) {
	c.mu.Lock()
	delete(c.stopped, stopKey{ep, true})
	delete(c.stopped, stopKey{ep, false})
	c.mu.Unlock()
}

func (c *Client) checkStopped(ep Endpoint, signed bool) error {
	key := stopKey{ep, signed}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stopped[key]
	if !ok {
		return nil
	}
	if !c.clock.Now().Before(st.until) {
		delete(c.stopped, key)
		return nil
	}
	return fmt.Errorf("%s: %w until %s: %w", ep, ErrEndpointStopped, st.until.UTC().Format(time.RFC3339), st.err)
}

// stop stops the calls of ep after err: an auth failure stops calls signed like the failed one, a
// 410 stops every call of ep.
func (c *Client) stop(ep Endpoint, signed bool, err error) {
	until := c.clock.Now().Add(c.cfg.StopFor)
	st := stopState{until: until, reason: err.Error(), err: err}
	c.mu.Lock()
	if cls, _ := ClassOf(err); cls == ClassGone {
		c.stopped[stopKey{ep, true}] = st
		c.stopped[stopKey{ep, false}] = st
	} else {
		c.stopped[stopKey{ep, signed}] = st
	}
	c.mu.Unlock()
	c.log.Error("dmarket endpoint stopped", "endpoint", ep, "signed", signed, "until", until, "err", err)
}

// proxyFault reports whether a failed attempt is the fault of the proxy it went through (it could not
// connect, timed out or refused) rather than DMarket's. Such a failure cools that proxy down in the pool
// and says nothing about DMarket: it counts neither against the circuit breaker nor in the recent success
// rate. A failure of the direct connection does count, since there is no other path to judge by.
func proxyFault(o Outcome, lease Lease) bool {
	return o == EgressFailure && lease.Name() != DirectEgressName
}

// egressFault carries a proxy's failure through the circuit breaker, which excludes it.
type egressFault struct{ err error }

func (e *egressFault) Error() string { return e.err.Error() }
func (e *egressFault) Unwrap() error { return e.err }

// window remembers the outcomes of the last 100 attempts.
type window struct {
	mu    sync.Mutex
	ring  [100]bool
	n, at int
}

func (w *window) add(ok bool) {
	w.mu.Lock()
	w.ring[w.at] = ok
	w.at = (w.at + 1) % len(w.ring)
	if w.n < len(w.ring) {
		w.n++
	}
	w.mu.Unlock()
}

func (w *window) counts() (attempts, successes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 0; i < w.n; i++ {
		if w.ring[i] {
			successes++
		}
	}
	return w.n, successes
}

// classifyStatus turns a non-2xx answer into an *Error and the egress outcome.
func classifyStatus(ep Endpoint, resp *http.Response, body []byte, now time.Time) (*Error, Outcome) {
	code, msg, isDMarket := DecodeError(body)
	e := &Error{Endpoint: ep, Status: resp.StatusCode, Code: code, Message: msg}
	s := resp.StatusCode
	switch {
	case s == http.StatusTooManyRequests:
		e.Class, e.RetryAfter = ClassRateLimited, parseRetryAfter(resp.Header, now)
		return e, Throttled
	case s == http.StatusUnauthorized:
		e.Class = ClassAuth
		return e, APIError
	case s == http.StatusForbidden && isDMarket:
		e.Class = ClassAuth
		return e, APIError
	case s == http.StatusForbidden || s == http.StatusProxyAuthRequired:
		e.Class, e.Err = ClassNetwork, errors.New("refused by egress")
		return e, EgressFailure
	case s == http.StatusNotFound:
		e.Class = ClassNotFound
	case s == http.StatusGone:
		e.Class = ClassGone
	case s == http.StatusRequestTimeout:
		e.Class = ClassTimeout
	case s >= 500:
		e.Class = ClassServer
	case s >= 400:
		e.Class = ClassBadRequest
	default:
		e.Class, e.Err = ClassBadBody, fmt.Errorf("unexpected status %d", s)
	}
	return e, APIError
}

// parseRetryAfter reads Retry-After (seconds or an HTTP date), else RateLimit-Reset (seconds).
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e6 {
			return time.Duration(n * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e6 {
			return time.Duration(n * float64(time.Second))
		}
	}
	return 0
}
