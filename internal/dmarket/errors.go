package dmarket

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class is the category of a failed DMarket call. It decides whether the call is retried, whether it
// counts against the endpoint's circuit breaker and whether the endpoint is stopped.
type Class int

// The classes of failure.
const (
	// ClassNetwork is a transport failure: connection refused or reset, DNS, proxy failure.
	ClassNetwork Class = iota + 1
	// ClassTimeout is a request that did not finish within its per-attempt timeout.
	ClassTimeout
	// ClassRateLimited is HTTP 429.
	ClassRateLimited
	// ClassServer is HTTP 5xx.
	ClassServer
	// ClassAuth is HTTP 401 or a DMarket 403: the key or signature was refused.
	ClassAuth
	// ClassNotFound is HTTP 404.
	ClassNotFound
	// ClassGone is HTTP 410: the endpoint was retired. Never retried.
	ClassGone
	// ClassBadRequest is any other 4xx, or a request the client refused to send.
	ClassBadRequest
	// ClassBadBody is a 2xx answer whose body is not the expected JSON.
	ClassBadBody
)

// String returns the class's name as used in logs and metric labels.
func (c Class) String() string {
	switch c {
	case ClassNetwork:
		return "network"
	case ClassTimeout:
		return "timeout"
	case ClassRateLimited:
		return "rate_limited"
	case ClassServer:
		return "server_error"
	case ClassAuth:
		return "auth"
	case ClassNotFound:
		return "not_found"
	case ClassGone:
		return "gone"
	case ClassBadRequest:
		return "bad_request"
	case ClassBadBody:
		return "bad_body"
	default:
		return "unknown"
	}
}

// Retryable reports whether a failure of this class may succeed when tried again.
func (c Class) Retryable() bool {
	switch c {
	case ClassNetwork, ClassTimeout, ClassRateLimited, ClassServer, ClassBadBody:
		return true
	default:
		return false
	}
}

// infrastructure reports whether a failure of this class counts against the circuit breaker.
func (c Class) infrastructure() bool {
	return c == ClassNetwork || c == ClassTimeout || c == ClassServer
}

// Sentinel errors. Every *Error matches the sentinel of its class with errors.Is.
var (
	// ErrNetwork matches ClassNetwork errors.
	ErrNetwork = errors.New("dmarket network error")
	// ErrTimeout matches ClassTimeout errors.
	ErrTimeout = errors.New("dmarket request timed out")
	// ErrRateLimited matches ClassRateLimited errors.
	ErrRateLimited = errors.New("dmarket rate limit exceeded")
	// ErrServer matches ClassServer errors.
	ErrServer = errors.New("dmarket server error")
	// ErrAuth matches ClassAuth errors.
	ErrAuth = errors.New("dmarket refused the credentials")
	// ErrNotFound matches ClassNotFound errors.
	ErrNotFound = errors.New("dmarket resource not found")
	// ErrGone matches ClassGone errors.
	ErrGone = errors.New("dmarket endpoint retired")
	// ErrBadRequest matches ClassBadRequest errors.
	ErrBadRequest = errors.New("dmarket rejected the request")
	// ErrBadBody matches ClassBadBody errors.
	ErrBadBody = errors.New("dmarket answered an unexpected body")

	// ErrBreakerOpen means the endpoint's circuit breaker rejected the call without sending it. It is
	// transient: try again later.
	ErrBreakerOpen = errors.New("dmarket circuit breaker open")
	// ErrEndpointStopped means the endpoint was stopped after an auth failure or a 410 and is not called
	// until it is resumed or its stop expires.
	ErrEndpointStopped = errors.New("dmarket endpoint stopped")
	// ErrNoCredentials means a signed call was asked of a client without keys.
	ErrNoCredentials = errors.New("dmarket keys not configured")
	// ErrInvalidKey means a public or secret key is malformed or the two do not belong together.
	ErrInvalidKey = errors.New("invalid dmarket key")
)

func (c Class) sentinel() error {
	switch c {
	case ClassNetwork:
		return ErrNetwork
	case ClassTimeout:
		return ErrTimeout
	case ClassRateLimited:
		return ErrRateLimited
	case ClassServer:
		return ErrServer
	case ClassAuth:
		return ErrAuth
	case ClassNotFound:
		return ErrNotFound
	case ClassGone:
		return ErrGone
	case ClassBadRequest:
		return ErrBadRequest
	default:
		return ErrBadBody
	}
}

// Error is a classified failure of one DMarket call.
type Error struct {
	// Class is the failure's category.
	Class Class
	// Endpoint is the endpoint that failed.
	Endpoint Endpoint
	// Status is the HTTP status, 0 when no answer was received.
	Status int
	// Code is DMarket's error code from the body (code or Code), if any.
	Code string
	// Message is DMarket's error message from the body (message or Message), if any.
	Message string
	// RetryAfter is how long DMarket asked to wait (429: Retry-After or RateLimit-Reset), 0 if unknown.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure without credentials.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Endpoint))
	b.WriteString(": ")
	b.WriteString(e.Class.sentinel().Error())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (http %d)", e.Status)
	}
	if detail := strings.TrimSpace(e.Code + " " + e.Message); detail != "" {
		b.WriteString(": ")
		b.WriteString(detail)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the class sentinel and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class.sentinel()}
	}
	return []error{e.Class.sentinel(), e.Err}
}

// ClassOf returns the class of err when err is or wraps an *Error.
func ClassOf(err error) (Class, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Class, true
	}
	return 0, false
}

// RetryAfter returns the wait DMarket asked for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// IsRetryable reports whether err is transient: a retryable class, or an open circuit breaker. Auth
// failures, 404, 410, 400, a stopped endpoint, missing keys and context cancellation are not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrEndpointStopped) || errors.Is(err, ErrNoCredentials) {
		return false
	}
	if errors.Is(err, ErrBreakerOpen) {
		return true
	}
	if c, ok := ClassOf(err); ok {
		return c.Retryable()
	}
	return false
}
