// Package tracing owns distributed tracing (SPEC §7): the zipkin-go tracer of each binary, B3 propagation
// through RabbitMQ message headers, and the client span around calls to external APIs (DMarket,
// Telegram), which never carries trace headers to them.
//
// Propagation format: InjectHeaders writes the single-header B3 form ("b3":
// "{traceid}-{spanid}-{sampled}-{parentspanid}") because one AMQP header is enough; ExtractHeaders
// reads that form and, for interoperability, the multi-header form (x-b3-traceid, x-b3-spanid,
// x-b3-parentspanid, x-b3-sampled, x-b3-flags). Header names are matched case-insensitively and values
// may be strings or byte slices.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/propagation/b3"
	"github.com/openzipkin/zipkin-go/reporter"
	httpreporter "github.com/openzipkin/zipkin-go/reporter/http"

	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// Sentinel errors.
var (
	// ErrInvalidURL means the Zipkin URL is not an http(s) URL.
	ErrInvalidURL = errors.New("invalid zipkin url")
	// ErrInvalidSampleRate means the sample rate is outside 0..1.
	ErrInvalidSampleRate = errors.New("invalid zipkin sample rate")
)

// minRate is the smallest non-zero rate zipkin-go's boundary sampler supports.
const minRate = 0.0001

// How often buffered spans are sent, and how long one post to Zipkin may take.
const (
	batchInterval = time.Second
	postTimeout   = 5 * time.Second
)

// New returns the tracer of serviceName ("parser", "worker", "bot") reporting to zipkinURL (the v2 span
// endpoint, e.g. http://zipkin:9411/api/v2/spans) with the given sample rate (0..1; a rate between 0 and
// 0.0001 samples 0.0001). An empty zipkinURL gives a no-op tracer: spans cost nothing and go nowhere.
// shutdown flushes buffered spans and stops the reporter; it returns ctx's error when ctx ends first.
// Reporter failures are logged on log with the URL's password masked.
func New(serviceName, zipkinURL string, sampleRate float64, log *slog.Logger) (
	tracer *zipkin.Tracer, shutdown func(context.Context) error, err error,
) {
	endpoint := &model.Endpoint{ServiceName: serviceName}
	if zipkinURL == "" {
		tr, err := zipkin.NewTracer(reporter.NewNoopReporter(), zipkin.WithNoopTracer(true),
			zipkin.WithLocalEndpoint(endpoint))
		if err != nil {
			return nil, nil, fmt.Errorf("create noop tracer: %w", err)
		}
		return tr, func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(zipkinURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("%w %q: want an http(s) URL", ErrInvalidURL, redact.String(zipkinURL))
	}
	if !(sampleRate >= 0 && sampleRate <= 1) {
		return nil, nil, fmt.Errorf("%w %v: want 0..1", ErrInvalidSampleRate, sampleRate)
	}
	if sampleRate > 0 && sampleRate < minRate {
		sampleRate = minRate
	}
	sampler, err := zipkin.NewBoundarySampler(sampleRate, rand.Int64())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidSampleRate, err)
	}
	rep := httpreporter.NewReporter(zipkinURL,
		httpreporter.Client(&http.Client{Timeout: postTimeout}),
		httpreporter.BatchInterval(batchInterval),
		httpreporter.Logger(newStdLogger(log)),
	)
	tr, err := zipkin.NewTracer(rep,
		zipkin.WithLocalEndpoint(endpoint),
		zipkin.WithSampler(sampler),
		zipkin.WithTraceID128Bit(true),
	)
	if err != nil {
		_ = rep.Close()
		return nil, nil, fmt.Errorf("create tracer: %w", err)
	}
	return tr, closer(rep), nil
}

// closer returns a shutdown function that closes rep once, waiting no longer than the caller's context.
func closer(rep reporter.Reporter) func(context.Context) error {
	var once sync.Once
	done := make(chan struct{})
	var closeErr error
	return func(ctx context.Context) error {
		once.Do(func() {
			go func() {
				closeErr = rep.Close()
				close(done)
			}()
		})
		select {
		case <-done:
			if closeErr != nil {
				return fmt.Errorf("flush spans: %s", redact.String(closeErr.Error()))
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("flush spans: %w", ctx.Err())
		}
	}
}

// newStdLogger adapts log to the *log.Logger the reporter writes its failures to.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("zipkin reporter", "err", redact.String(strings.TrimSpace(string(p))))
	return len(p), nil
}

// InjectHeaders writes sc into h as the single B3 header "b3". An empty span context (as a no-op tracer
// gives) writes nothing. A nil h is left alone.
func InjectHeaders(sc model.SpanContext, h map[string]any) {
	if h == nil || (sc == model.SpanContext{}) {
		return
	}
	if sc.TraceID.Empty() || sc.ID == 0 {
		// A bare sampling decision.
		switch {
		case sc.Debug:
			h[b3.Context] = "d"
		case sc.Sampled != nil && *sc.Sampled:
			h[b3.Context] = "1"
		case sc.Sampled != nil:
			h[b3.Context] = "0"
		}
		return
	}
	h[b3.Context] = b3.BuildSingleHeader(sc)
}

// ExtractHeaders reads a B3 span context (single or multi-header form) from h. ok is false when h holds
// no usable B3 context (absent or malformed), in which case a consumer starts a new trace.
func ExtractHeaders(h map[string]any) (model.SpanContext, bool) {
	m := b3.Map{}
	for k, v := range h {
		key := strings.ToLower(k)
		switch key {
		case b3.Context, b3.TraceID, b3.SpanID, b3.ParentSpanID, b3.Sampled, b3.Flags:
		default:
			continue
		}
		switch s := v.(type) {
		case string:
			m[key] = s
		case []byte:
			m[key] = string(s)
		}
	}
	if len(m) == 0 {
		return model.SpanContext{}, false
	}
	sc, err := m.Extract()
	if err != nil || sc == nil {
		return model.SpanContext{}, false
	}
	if sc.TraceID.Empty() && sc.Sampled == nil && !sc.Debug {
		return model.SpanContext{}, false
	}
	return *sc, true
}

// StartSpan starts a span named name, child of the span in ctx if any, and returns a context carrying it
// with the function that finishes it. A nil tracer records nothing: ctx comes back as it is.
func StartSpan(ctx context.Context, tr *zipkin.Tracer, name string) (context.Context, func()) {
	if tr == nil {
		return ctx, func() {}
	}
	span, ctx := tr.StartSpanFromContext(ctx, name)
	return ctx, span.Finish
}

// StartConsumerSpan starts a consumer span named name that continues the trace found in the message
// headers h (or a new trace when they hold none) and returns it with a context carrying it.
func StartConsumerSpan(ctx context.Context, tr *zipkin.Tracer, name string, h map[string]any) (zipkin.Span, context.Context) {
	opts := []zipkin.SpanOption{zipkin.Kind(model.Consumer)}
	if sc, ok := ExtractHeaders(h); ok {
		opts = append(opts, zipkin.Parent(sc))
	}
	span := tr.StartSpan(name, opts...)
	return span, zipkin.NewContext(ctx, span)
}

// StartProducerSpan starts a producer span named name, child of the span in ctx if any, and writes its
// context into the outgoing message headers h.
func StartProducerSpan(ctx context.Context, tr *zipkin.Tracer, name string, h map[string]any) (zipkin.Span, context.Context) {
	span, ctx := tr.StartSpanFromContext(ctx, name, zipkin.Kind(model.Producer))
	InjectHeaders(span.Context(), h)
	return span, ctx
}

// b3HeaderNames are the headers stripped from requests to external APIs.
var b3HeaderNames = []string{b3.Context, b3.TraceID, b3.SpanID, b3.ParentSpanID, b3.Sampled, b3.Flags}

// ExternalTransport is an http.RoundTripper for calls to external APIs: it records a client span per
// request (child of the span in the request's context) and makes sure no B3 header leaves the process.
// Span names and tags carry the method and the path with bot tokens and URL passwords masked; never the
// query string.
type ExternalTransport struct {
	tracer *zipkin.Tracer
	base   http.RoundTripper
	remote *model.Endpoint
}

// NewExternalTransport wraps base (nil means http.DefaultTransport) with client spans whose remote
// service is remoteService ("dmarket", "telegram").
func NewExternalTransport(tr *zipkin.Tracer, base http.RoundTripper, remoteService string) *ExternalTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &ExternalTransport{tracer: tr, base: base, remote: &model.Endpoint{ServiceName: remoteService}}
}

// RoundTrip sends req without trace headers inside a client span.
func (t *ExternalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	path := redact.String(req.URL.EscapedPath())
	span, ctx := t.tracer.StartSpanFromContext(req.Context(), req.Method+" "+path,
		zipkin.Kind(model.Client), zipkin.RemoteEndpoint(t.remote))
	defer span.Finish()
	zipkin.TagHTTPMethod.Set(span, req.Method)
	zipkin.TagHTTPPath.Set(span, path)

	out := req.WithContext(ctx)
	if hasB3(req.Header) {
		out.Header = req.Header.Clone()
		for _, name := range b3HeaderNames {
			out.Header.Del(name)
		}
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		zipkin.TagError.Set(span, redact.String(err.Error()))
		return nil, err
	}
	zipkin.TagHTTPStatusCode.Set(span, fmt.Sprint(resp.StatusCode))
	if resp.StatusCode >= 400 {
		zipkin.TagError.Set(span, fmt.Sprint(resp.StatusCode))
	}
	return resp, nil
}

func hasB3(h http.Header) bool {
	for _, name := range b3HeaderNames {
		if _, ok := h[http.CanonicalHeaderKey(name)]; ok {
			return true
		}
	}
	return false
}

// MessageSpans returns a span starter for message consumers: with headers the span continues the trace
// the message's B3 headers carry (a consumer span); with nil headers it is a child of the span in ctx
// (the consumer's inner steps, such as Redis writes). The returned function ends the span, tagging err.
func MessageSpans(tr *zipkin.Tracer) func(ctx context.Context, name string, headers map[string]any) (context.Context, func(error)) {
	return func(ctx context.Context, name string, headers map[string]any) (context.Context, func(error)) {
		var span zipkin.Span
		if headers == nil {
			span, ctx = tr.StartSpanFromContext(ctx, name)
		} else {
			span, ctx = StartConsumerSpan(ctx, tr, name, headers)
		}
		return ctx, func(err error) {
			if err != nil {
				zipkin.TagError.Set(span, err.Error())
			}
			span.Finish()
		}
	}
}
