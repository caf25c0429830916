package dmarket

import (
	"context"
	"net/http"
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

// DirectEgressName is the Name of a lease that leaves through the direct connection rather than a proxy.
const DirectEgressName = "direct"

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

// AccountLimiter paces signed calls per account rate-limit family.
type AccountLimiter interface {
	Wait(ctx context.Context, f Family) error
}

// AccountObserver is optionally implemented by an AccountLimiter that adapts its rates: after every
// signed attempt that reached DMarket the client reports the attempt's outcome (Throttled on a 429).
type AccountObserver interface {
	Observe(f Family, o Outcome)
}
