package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go/model"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing/tracingtest"
)

const tgToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"

// byName returns the spans col received, by name (the last one of each name).
func byName(col *tracingtest.Collector) map[string]model.SpanModel {
	out := map[string]model.SpanModel{}
	for _, s := range col.Spans() {
		out[s.Name] = s
	}
	return out
}

func shutdown(t *testing.T, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, f(ctx))
}

func TestSpansReachCollectorAndTraceCrossesHeaders(t *testing.T) {
	col := tracingtest.NewCollector(t)
	parser, stopParser, err := New("parser", col.URL(), 1, loggingtest.Discard())
	require.NoError(t, err)
	worker, stopWorker, err := New("worker", col.URL(), 1, loggingtest.Discard())
	require.NoError(t, err)

	// Parser publishes with a producer span; the worker consumes from the headers.
	root, ctx := parser.StartSpanFromContext(context.Background(), "crawl")
	headers := map[string]any{"x-error": "unrelated"}
	pub, _ := StartProducerSpan(ctx, parser, "publish dmarket.listings", headers)
	pub.Finish()
	root.Finish()
	require.Contains(t, headers, "b3")

	cons, cctx := StartConsumerSpan(context.Background(), worker, "consume dmarket.listings", headers)
	write, _ := worker.StartSpanFromContext(cctx, "redis write")
	write.Finish()
	_, finish := StartSpan(cctx, worker, "handle")
	finish()
	cons.Finish()

	shutdown(t, stopParser)
	shutdown(t, stopWorker)
	shutdown(t, stopWorker) // a second call is harmless

	spans := byName(col)
	require.Len(t, spans, 5)
	trace := spans["crawl"].TraceID
	for name, s := range spans {
		require.Equal(t, trace, s.TraceID, "span %s in the same trace", name)
	}
	require.Equal(t, "parser", spans["publish dmarket.listings"].LocalEndpoint.ServiceName)
	require.Equal(t, model.Producer, spans["publish dmarket.listings"].Kind)
	require.Equal(t, "worker", spans["consume dmarket.listings"].LocalEndpoint.ServiceName)
	require.Equal(t, model.Consumer, spans["consume dmarket.listings"].Kind)
	require.Equal(t, spans["publish dmarket.listings"].ID, *spans["consume dmarket.listings"].ParentID)
	require.Equal(t, spans["consume dmarket.listings"].ID, *spans["redis write"].ParentID)
	require.Equal(t, spans["consume dmarket.listings"].ID, *spans["handle"].ParentID)
}

func TestStartSpanWithoutTracer(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	got, finish := StartSpan(ctx, nil, "x")
	finish()
	require.Equal(t, ctx, got, "without a tracer the context comes back as it is")
}

func TestNoopTracer(t *testing.T) {
	tr, stop, err := New("bot", "", 1, loggingtest.Discard())
	require.NoError(t, err)
	span := tr.StartSpan("x")
	span.Finish()
	h := map[string]any{}
	InjectHeaders(span.Context(), h)
	require.Empty(t, h, "a no-op span propagates nothing")
	require.NoError(t, stop(context.Background()))
}

func TestNewRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		rate    float64
		wantErr error
	}{
		{name: "scheme", url: "zipkin:9411", rate: 1, wantErr: ErrInvalidURL},
		{name: "unparsable", url: "http://u:pw@h:port/x", rate: 1, wantErr: ErrInvalidURL},
		{name: "rate", url: "http://zipkin:9411/api/v2/spans", rate: 1.5, wantErr: ErrInvalidSampleRate},
		{name: "negative rate", url: "http://zipkin:9411/api/v2/spans", rate: -1, wantErr: ErrInvalidSampleRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := New("x", tt.url, tt.rate, loggingtest.Discard())
			require.ErrorIs(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "pw@")
		})
	}
}

func TestSampling(t *testing.T) {
	col := tracingtest.NewCollector(t)
	never, stop, err := New("worker", col.URL(), 0, loggingtest.Discard())
	require.NoError(t, err)
	for range 20 {
		never.StartSpan("unsampled").Finish()
	}
	tiny, stopTiny, err := New("worker", col.URL(), 0.00001, loggingtest.Discard())
	require.NoError(t, err)
	tiny.StartSpan("maybe").Finish()
	shutdown(t, stop)
	shutdown(t, stopTiny)
	_, found := byName(col)["unsampled"]
	require.False(t, found)
}

func TestInjectExtract(t *testing.T) {
	yes, no := true, false
	parent := model.ID(7)
	tid := model.TraceID{High: 1, Low: 2}
	tests := []struct {
		name   string
		sc     model.SpanContext
		header string
	}{
		{name: "sampled", sc: model.SpanContext{TraceID: tid, ID: 3, Sampled: &yes}, header: "00000000000000010000000000000002-0000000000000003-1"},
		{name: "not sampled with parent", sc: model.SpanContext{TraceID: tid, ID: 3, ParentID: &parent, Sampled: &no}, header: "00000000000000010000000000000002-0000000000000003-0-0000000000000007"},
		{name: "debug", sc: model.SpanContext{TraceID: tid, ID: 3, Debug: true}, header: "00000000000000010000000000000002-0000000000000003-d"},
		{name: "decision only", sc: model.SpanContext{Sampled: &no}, header: "0"},
		{name: "decision sampled only", sc: model.SpanContext{Sampled: &yes}, header: "1"},
		{name: "debug only", sc: model.SpanContext{Debug: true}, header: "d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]any{}
			InjectHeaders(tt.sc, h)
			require.Equal(t, map[string]any{"b3": tt.header}, h)
			got, ok := ExtractHeaders(h)
			require.True(t, ok)
			require.Equal(t, tt.sc, got)
		})
	}
	InjectHeaders(model.SpanContext{TraceID: tid, ID: 3}, nil) // nil map: no panic
}

func TestExtractForms(t *testing.T) {
	tid := "463ac35c9f6413ad48485a3953bb6124"
	tests := []struct {
		name   string
		h      map[string]any
		ok     bool
		spanID model.ID
	}{
		{name: "nil", h: nil},
		{name: "no b3", h: map[string]any{"x-error": "x"}},
		{name: "single as bytes", h: map[string]any{"b3": []byte(tid + "-a2fb4a1d1a96d312-1")}, ok: true, spanID: 0xa2fb4a1d1a96d312},
		{name: "multi header mixed case", h: map[string]any{"X-B3-TraceId": tid, "X-B3-SpanId": "a2fb4a1d1a96d312", "X-B3-Sampled": "1"}, ok: true, spanID: 0xa2fb4a1d1a96d312},
		{name: "malformed single", h: map[string]any{"b3": "nonsense"}},
		{name: "multi without span id", h: map[string]any{"x-b3-traceid": tid}},
		{name: "wrong value type", h: map[string]any{"b3": 42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, ok := ExtractHeaders(tt.h)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.spanID, sc.ID)
		})
	}
}

func TestExternalTransportRecordsSpanWithoutB3(t *testing.T) {
	col := tracingtest.NewCollector(t)
	tr, stop, err := New("bot", col.URL(), 1, loggingtest.Discard())
	require.NoError(t, err)

	var mu sync.Mutex
	var seen []http.Header
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer ext.Close()

	client := &http.Client{Transport: NewExternalTransport(tr, nil, "telegram")}
	parent, ctx := tr.StartSpanFromContext(context.Background(), "notification cycle")

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ext.URL+"/bot"+tgToken+"/sendMessage?chat_id=1", strings.NewReader("{}"))
	require.NoError(t, err)
	// Even a header someone set by hand never reaches the external API.
	req.Header.Set("X-B3-TraceId", "463ac35c9f6413ad48485a3953bb6124")
	req.Header.Set("b3", "1")
	req.Header.Set("X-Keep", "yes")
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.JSONEq(t, `{"ok":true}`, string(body))
	require.Equal(t, "463ac35c9f6413ad48485a3953bb6124", req.Header.Get("X-B3-TraceId"), "the caller's request is not modified")

	req2, err := http.NewRequestWithContext(ctx, http.MethodGet, ext.URL+"/fail", nil)
	require.NoError(t, err)
	resp, err = client.Do(req2)
	require.NoError(t, err)
	resp.Body.Close()

	req3, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/unreachable", nil)
	require.NoError(t, err)
	_, err = client.Do(req3)
	require.Error(t, err)

	parent.Finish()
	shutdown(t, stop)

	mu.Lock()
	require.Len(t, seen, 2)
	for _, h := range seen {
		for name := range h {
			require.False(t, strings.HasPrefix(strings.ToLower(name), "x-b3-") || strings.EqualFold(name, "b3"), "header %s sent", name)
		}
	}
	require.Equal(t, "yes", seen[0].Get("X-Keep"))
	mu.Unlock()

	spans := byName(col)
	send, ok := spans["post /bot****/sendmessage"]
	require.True(t, ok, "spans: %v", keys(spans))
	require.Equal(t, model.Client, send.Kind)
	require.Equal(t, "telegram", send.RemoteEndpoint.ServiceName)
	require.Equal(t, "200", send.Tags["http.status_code"])
	require.Equal(t, "/bot****/sendMessage", send.Tags["http.path"])
	require.Equal(t, spans["notification cycle"].ID, *send.ParentID)
	require.Equal(t, "429", spans["get /fail"].Tags["error"])
	require.Contains(t, spans["get /unreachable"].Tags["error"], "connect")

	raw, err := json.Marshal(col.Spans())
	require.NoError(t, err)
	require.NotContains(t, string(raw), tgToken)
	require.NotContains(t, string(raw), "chat_id")
}

func TestExternalTransportWithNoopTracer(t *testing.T) {
	tr, _, err := New("parser", "", 1, loggingtest.Discard())
	require.NoError(t, err)
	var got http.Header
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer ext.Close()
	span, ctx := tr.StartSpanFromContext(context.Background(), "x")
	defer span.Finish()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ext.URL, nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: NewExternalTransport(tr, http.DefaultTransport, "dmarket")}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, got.Get("b3"))
	require.Empty(t, got.Get("X-B3-TraceId"))
}

func TestReporterFailuresAreLoggedWithoutPassword(t *testing.T) {
	var buf loggingtest.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer down.Close()
	u := strings.Replace(down.URL, "http://", "http://zipkin:s3cr3tpw@", 1) + "/api/v2/spans"
	tr, stop, err := New("worker", u, 1, log)
	require.NoError(t, err)
	tr.StartSpan("x").Finish()
	shutdown(t, stop)
	require.Contains(t, buf.String(), "status code 500")
	require.NotContains(t, buf.String(), "s3cr3tpw")
}

func TestShutdownBoundedByContext(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer func() { close(block); slow.Close() }()
	tr, stop, err := New("worker", slow.URL+"/api/v2/spans", 1, loggingtest.Discard())
	require.NoError(t, err)
	tr.StartSpan("x").Finish()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = stop(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestFlushErrorIsReported(t *testing.T) {
	f := closer(failingReporter{})
	err := f(context.Background())
	require.ErrorContains(t, err, "flush spans: closed redis://:****@h")
}

type failingReporter struct{}

func (failingReporter) Send(model.SpanModel) {}
func (failingReporter) Close() error         { return errors.New("closed redis://:pw@h") }

func keys(m map[string]model.SpanModel) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
