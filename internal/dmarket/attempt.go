package dmarket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/sony/gobreaker/v2"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// call is one logical request.
type call struct {
	endpoint Endpoint
	method   string
	path     string
	rawQuery string
	body     []byte
	signed   bool
	validate func([]byte) error
}

func (cl call) request() message.Request {
	return message.Request{Method: cl.method, Path: cl.path, Query: cl.rawQuery}
}

// do runs cl with retries and returns the body of the first successful attempt.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	if err := c.checkStopped(cl.endpoint, cl.signed); err != nil {
		return nil, err
	}
	if cl.signed && c.signer == nil {
		return nil, fmt.Errorf("%s: %w", cl.endpoint, ErrNoCredentials)
	}
	for attempt := 1; ; attempt++ {
		r := c.send(ctx, try{call: cl, attempt: attempt})
		err := r.err
		if err == nil {
			return r.body, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if cls, ok := ClassOf(err); ok && (cls == ClassAuth || cls == ClassGone) {
			c.stop(cl.endpoint, cl.signed, err)
			return nil, err
		}
		if !IsRetryable(err) || errors.Is(err, ErrBreakerOpen) || attempt >= c.policy.MaxAttempts {
			return nil, err
		}
		delay, ok := c.backoff(attempt, RetryAfter(err))
		if !ok {
			return nil, err
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < delay {
			return nil, err
		}
		cls, _ := ClassOf(err)
		c.metrics.retries.WithLabelValues(string(cl.endpoint), cls.String()).Inc()
		c.log.Warn("dmarket request failed, retrying", "endpoint", cl.endpoint, "attempt", attempt,
			"delay", delay, "err", err)
		if serr := c.clock.Sleep(ctx, delay); serr != nil {
			return nil, fmt.Errorf("%s: wait before retry: %w (last error: %w)", cl.endpoint, serr, err)
		}
	}
}

// backoff returns the wait before attempt+1: the client's policy (full jitter over an exponential
// ceiling), at least the server's Retry-After. ok is false when the server asked for more than
// MaxRetryAfter.
func (c *Client) backoff(attempt int, retryAfter time.Duration) (time.Duration, bool) {
	if retryAfter > c.cfg.MaxRetryAfter {
		return 0, false
	}
	return max(c.policy.Delay(attempt), retryAfter), true
}

// try is one attempt of a call on its way through the client's layers.
type try struct {
	call
	attempt int
	// lease is the egress the attempt leaves through; the breaker layer takes it once it admits the
	// attempt, so the layers inside it always have one.
	lease Lease
}

// reply is what one attempt came to.
type reply struct {
	// status is the HTTP status, 0 when no answer arrived.
	status int
	// body is the validated body of a 2xx answer.
	body []byte
	// outcome is the attempt as the egress sees it; Aborted when it never went out.
	outcome Outcome
	// elapsed is how long the HTTP exchange took, body read included.
	elapsed time.Duration
	err     error
}

// sender runs one attempt. The HTTP exchange is the innermost sender; each other concern of an attempt
// is a layer wrapped around it.
type sender func(ctx context.Context, t try) reply

// layer wraps a sender with one concern.
type layer func(next sender) sender

// chain wraps inner in layers, the first layer outermost.
func chain(inner sender, layers ...layer) sender {
	for i := len(layers) - 1; i >= 0; i-- {
		inner = layers[i](inner)
	}
	return inner
}

// outcomeLabel names an attempt's result as the metrics and logs do.
func outcomeLabel(err error) string {
	if err == nil {
		return "success"
	}
	if cls, ok := ClassOf(err); ok {
		return cls.String()
	}
	return "canceled"
}

// rateLimited paces signed attempts by the account limiter and tells an adaptive limiter how each
// attempt that went out fared.
func (c *Client) rateLimited(next sender) sender {
	return func(ctx context.Context, t try) reply {
		if !t.signed || c.account == nil {
			return next(ctx, t)
		}
		family := t.endpoint.Family()
		if err := c.account.Wait(ctx, family); err != nil {
			return reply{outcome: Aborted, err: fmt.Errorf("%s: %w", t.endpoint, err)}
		}
		r := next(ctx, t)
		if obs, ok := c.account.(AccountObserver); ok && r.outcome != Aborted {
			obs.Observe(family, r.outcome)
		}
		return r
	}
}

// guarded runs an attempt under its endpoint's circuit breaker. An open breaker rejects the attempt
// before it takes an egress; an admitted attempt takes one and releases it with its outcome. A proxy's
// own failure is kept out of the breaker's count.
func (c *Client) guarded(next sender) sender {
	return func(ctx context.Context, t try) reply {
		br := c.breakers[t.endpoint]
		if br.State() == gobreaker.StateOpen {
			c.metrics.requests.WithLabelValues(string(t.endpoint), "breaker_open", "none").Inc()
			return reply{outcome: Aborted, err: fmt.Errorf("%s: %w", t.endpoint, ErrBreakerOpen)}
		}
		lease, err := c.acquire(ctx, t)
		if err != nil {
			return reply{outcome: Aborted, err: err}
		}
		t.lease = lease
		r := reply{outcome: Aborted}
		_, err = br.Execute(func() (struct{}, error) {
			r = next(ctx, t)
			if r.err != nil && proxyFault(r.outcome, lease) {
				return struct{}{}, &egressFault{err: r.err}
			}
			return struct{}{}, r.err
		})
		lease.Release(r.outcome)
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			c.metrics.requests.WithLabelValues(string(t.endpoint), "breaker_open", lease.Name()).Inc()
			return reply{outcome: r.outcome, err: fmt.Errorf("%s: %w: %w", t.endpoint, ErrBreakerOpen, err)}
		}
		return r
	}
}

// acquire takes the egress of an attempt: unsigned calls are limited per IP.
func (c *Client) acquire(ctx context.Context, t try) (Lease, error) {
	lease, err := c.egress.Acquire(ctx, !t.signed)
	if err == nil {
		return lease, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: acquire egress: %w", t.endpoint, err)
	}
	return nil, &Error{Class: ClassNetwork, Endpoint: t.endpoint, Err: fmt.Errorf("acquire egress: %w", err)}
}

// traced records a client span per attempt when the client has a tracer. The span's context is not
// passed on: no trace header ever reaches DMarket.
func (c *Client) traced(next sender) sender {
	if c.tracer == nil {
		return next
	}
	return func(ctx context.Context, t try) reply {
		span, _ := c.tracer.StartSpanFromContext(ctx, "dmarket "+string(t.endpoint), zipkin.Kind(model.Client))
		defer span.Finish()
		zipkin.TagHTTPMethod.Set(span, t.method)
		zipkin.TagHTTPPath.Set(span, t.path)
		span.Tag("dmarket.egress", t.lease.Name())
		span.Tag("dmarket.attempt", strconv.Itoa(t.attempt))
		r := next(ctx, t)
		if r.status != 0 {
			zipkin.TagHTTPStatusCode.Set(span, strconv.Itoa(r.status))
		}
		if r.err != nil {
			zipkin.TagError.Set(span, outcomeLabel(r.err))
		}
		return r
	}
}

// logged writes a debug line per attempt.
func (c *Client) logged(next sender) sender {
	return func(ctx context.Context, t try) reply {
		r := next(ctx, t)
		c.log.DebugContext(ctx, "dmarket request", "endpoint", t.endpoint, "method", t.method, "path", t.path,
			"status", r.status, "outcome", outcomeLabel(r.err), "egress", t.lease.Name(), "attempt", t.attempt,
			"duration", r.elapsed, "err", r.err)
		return r
	}
}

// measured counts and times every attempt and keeps the endpoint's recent success rate.
func (c *Client) measured(next sender) sender {
	return func(ctx context.Context, t try) reply {
		r := next(ctx, t)
		label := outcomeLabel(r.err)
		c.metrics.requests.WithLabelValues(string(t.endpoint), label, t.lease.Name()).Inc()
		c.metrics.duration.WithLabelValues(string(t.endpoint)).Observe(r.elapsed.Seconds())
		// The recent success rate describes DMarket: a proxy that failed to connect says nothing about it
		// (the proxy pool reports its own health), while a failure of the direct connection does.
		if label != "canceled" && !proxyFault(r.outcome, t.lease) {
			c.recent[t.endpoint].add(r.err == nil)
		}
		return r
	}
}

// exchange sends one HTTP request through the attempt's lease and classifies the answer.
func (c *Client) exchange(ctx context.Context, t try) (r reply) {
	start := time.Now()
	defer func() { r.elapsed = time.Since(start) }()
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := c.newRequest(actx, t.call)
	if err != nil {
		return reply{outcome: Aborted, err: &Error{Class: ClassBadRequest, Endpoint: t.endpoint, Err: err}}
	}
	resp, err := t.lease.Do(req)
	if err != nil {
		return reply{outcome: c.transportOutcome(ctx), err: c.transportError(ctx, actx, t.endpoint, err)}
	}
	defer resp.Body.Close()
	r.status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	switch {
	case err != nil:
		r.outcome, r.err = c.transportOutcome(ctx), c.transportError(ctx, actx, t.endpoint, fmt.Errorf("read body: %w", err))
	case int64(len(body)) > c.cfg.MaxBodyBytes:
		r.outcome, r.err = APIError, &Error{Class: ClassBadBody, Endpoint: t.endpoint, Status: resp.StatusCode,
			Err: fmt.Errorf("body larger than %d bytes", c.cfg.MaxBodyBytes)}
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		var e *Error
		e, r.outcome = classifyStatus(t.endpoint, resp, body, c.clock.Now())
		r.err = e
	default:
		if err := t.validate(body); err != nil {
			r.outcome, r.err = APIError, &Error{Class: ClassBadBody, Endpoint: t.endpoint, Status: resp.StatusCode, Err: err}
		} else {
			r.outcome, r.body = Success, body
		}
	}
	return r
}

// newRequest builds (and signs, for a signed call) the HTTP request of cl.
func (c *Client) newRequest(ctx context.Context, cl call) (*http.Request, error) {
	target := c.cfg.BaseURL + cl.path
	if cl.rawQuery != "" {
		target += "?" + cl.rawQuery
	}
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.signed {
		c.signer.Sign(req, cl.body, c.clock.Now())
	}
	return req, nil
}

func (c *Client) transportOutcome(ctx context.Context) Outcome {
	if ctx.Err() != nil {
		return Aborted
	}
	return EgressFailure
}

func (c *Client) transportError(ctx, actx context.Context, ep Endpoint, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", ep, ctx.Err())
	}
	var ne net.Error
	if errors.Is(actx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Class: ClassTimeout, Endpoint: ep, Err: err}
	}
	return &Error{Class: ClassNetwork, Endpoint: ep, Err: err}
}
