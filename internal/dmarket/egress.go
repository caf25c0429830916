package dmarket

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// Outcome is what one request through a Lease came to, from the egress's point of view.
type Outcome int

// The outcomes a Lease is released with.
const (
	// Success is an answer from DMarket that says nothing bad about the egress (2xx, or a 4xx that is
	// the request's own fault is reported as APIError instead).
	Success Outcome = iota + 1
	// Throttled is HTTP 429: the egress sent too fast.
	Throttled
	// EgressFailure is a connect error, a timeout or a 403 from a proxy: the egress itself is suspect.
	EgressFailure
	// APIError is DMarket's own failure (5xx, 4xx, bad body), not the egress's fault.
	APIError
	// Aborted means the request did not complete for a reason that says nothing about the egress
	// (the caller's context ended, the circuit breaker rejected the call). Pools treat it as neutral.
	Aborted
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Throttled:
		return "throttled"
	case EgressFailure:
		return "egress_failure"
	case APIError:
		return "api_error"
	case Aborted:
		return "aborted"
	default:
		return "unknown"
	}
}

// Egress hands out the network path a request leaves through (a proxy or the direct connection).
// limited is true for unsigned calls, which DMarket limits per IP: the egress then applies its own per-IP
// rate limiter before returning.
type Egress interface {
	Acquire(ctx context.Context, limited bool) (Lease, error)
}

// Lease is one use of an egress. Do sends the request; Release must be called exactly once with the
// request's outcome.
type Lease interface {
	// Do sends req through the egress.
	Do(req *http.Request) (*http.Response, error)
	// Release returns the lease with the outcome of the request.
	Release(o Outcome)
	// Name identifies the egress without credentials; it is used as a metric label.
	Name() string
}

// Limiter waits for permission to send one request. *rate.Limiter implements it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// DirectEgressName is the Name of the leases NewDirectEgress hands out.
const DirectEgressName = "direct"

// NewDirectEgress returns an Egress that sends every request through client, with no proxy. limiter,
// when not nil, paces the limited (unsigned) requests.
func NewDirectEgress(client *http.Client, limiter Limiter) Egress {
	if client == nil {
		client = http.DefaultClient
	}
	return &directEgress{client: client, limiter: limiter}
}

type directEgress struct {
	client  *http.Client
	limiter Limiter
}

func (d *directEgress) Acquire(ctx context.Context, limited bool) (Lease, error) {
	if limited && d.limiter != nil {
		if err := d.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("wait for direct egress: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("acquire direct egress: %w", err)
	}
	return directLease{client: d.client}, nil
}

type directLease struct{ client *http.Client }

func (l directLease) Do(req *http.Request) (*http.Response, error) { return l.client.Do(req) }
func (directLease) Release(Outcome)                                {}
func (directLease) Name() string                                   { return DirectEgressName }

// Family is a DMarket account rate-limit family for signed calls.
type Family int

// The account rate-limit families.
const (
	// FamilyListings is market items (10 requests/s per account).
	FamilyListings Family = iota + 1
	// FamilySales is last sales (6 requests/s per account).
	FamilySales
	// FamilyOther is every other signed method together (20 requests/s per account).
	FamilyOther
)

// String names the family.
func (f Family) String() string {
	switch f {
	case FamilyListings:
		return "listings"
	case FamilySales:
		return "sales"
	case FamilyOther:
		return "other"
	default:
		return "unknown"
	}
}

// DefaultAccountRates are DMarket's documented per-account limits in requests per second.
var DefaultAccountRates = map[Family]float64{FamilyListings: 10, FamilySales: 6, FamilyOther: 20}

// AccountLimiter paces signed calls per account rate-limit family.
type AccountLimiter interface {
	Wait(ctx context.Context, f Family) error
}

// AccountObserver is optionally implemented by an AccountLimiter that adapts its rates: after every
// signed attempt that reached DMarket the client reports the attempt's outcome (Throttled on a 429).
type AccountObserver interface {
	Observe(f Family, o Outcome)
}

// RateAccountLimiter is a fixed token-bucket AccountLimiter, one bucket per family.
type RateAccountLimiter struct {
	mu       sync.Mutex
	limiters map[Family]*rate.Limiter
}

// NewRateAccountLimiter returns an AccountLimiter with the given rates per family in requests per second
// (nil means DefaultAccountRates). Families without a rate are not limited. Each bucket's burst is 1.
func NewRateAccountLimiter(rates map[Family]float64) *RateAccountLimiter {
	if rates == nil {
		rates = DefaultAccountRates
	}
	l := &RateAccountLimiter{limiters: make(map[Family]*rate.Limiter, len(rates))}
	for f, r := range rates {
		l.limiters[f] = rate.NewLimiter(rate.Limit(r), 1)
	}
	return l
}

// Wait blocks until the family's bucket allows one request or ctx ends.
func (l *RateAccountLimiter) Wait(ctx context.Context, f Family) error {
	l.mu.Lock()
	lim := l.limiters[f]
	l.mu.Unlock()
	if lim == nil {
		return ctx.Err()
	}
	if err := lim.Wait(ctx); err != nil {
		return fmt.Errorf("wait for %s account limit: %w", f, err)
	}
	return nil
}
