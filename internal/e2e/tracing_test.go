package e2e

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go/model"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing/tracingtest"
)

// serviceOf returns the name of the service that reported s ("" when it names none).
func serviceOf(s model.SpanModel) string {
	if s.LocalEndpoint == nil {
		return ""
	}
	return s.LocalEndpoint.ServiceName
}

// b3Headers lists the B3 header names of any request whose headers include one.
func b3Headers(h http.Header) []string {
	var found []string
	for name := range h {
		l := strings.ToLower(name)
		if l == "b3" || strings.HasPrefix(l, "x-b3-") {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	return found
}

// headerRecorder remembers the B3 headers of the requests it passes on, and counts requests.
type headerRecorder struct {
	mu       sync.Mutex
	requests int
	leaked   []string
}

func (h *headerRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests++
		if found := b3Headers(r.Header); len(found) > 0 {
			h.leaked = append(h.leaked, r.Method+" "+r.URL.Path+": "+strings.Join(found, ", "))
		}
		h.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (h *headerRecorder) counts() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, append([]string(nil), h.leaked...)
}

// traceSpan names a span to find: the service that reported it and its name (prefix).
type traceSpan struct{ service, namePrefix string }

func TestOneTraceFollowsAPageFromFetchToRedis(t *testing.T) {
	zc := tracingtest.NewCollector(t)
	p := startObsPipeline(t, obsOptions{env: map[string]string{"ZIPKIN_URL": zc.URL(), "ZIPKIN_SAMPLE_RATE": "1"}})
	awaitMetrics(t, p.parser, p.parserURL, 60*time.Second, "a finished crawl cycle",
		func(s metricsPage) bool { return s.sum("dmarket_crawler_cycles_total") > 0 })
	awaitMetrics(t, p.worker, p.workerURL, 60*time.Second, "listings written", func(s metricsPage) bool {
		return s.sum("dmarket_worker_write_duration_seconds", "kind", "listings") > 0
	})
	// Shutdown flushes the reporters' buffers.
	took, code := p.parser.stop(t, 15*time.Second)
	require.Zero(t, code)
	t.Logf("parser stopped in %s", took)
	took, code = p.worker.stop(t, 15*time.Second)
	require.Zero(t, code)
	t.Logf("worker stopped in %s", took)

	spans := zc.Spans()
	require.Empty(t, zc.Rejected(), "requests the collector refused")
	require.NotEmpty(t, spans)

	want := []traceSpan{
		{"parser", "dmarket market_items"}, // the DMarket fetch
		{"parser", "publish listings"},     // the RabbitMQ publish
		{"worker", "worker.handle"},        // the consume
		{"worker", "redis.write listings"}, // the Redis write
	}
	byTrace := map[model.TraceID][]model.SpanModel{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	complete := 0
	for _, trace := range byTrace {
		found := 0
		for _, w := range want {
			for _, s := range trace {
				if serviceOf(s) == w.service && strings.HasPrefix(s.Name, w.namePrefix) {
					found++
					break
				}
			}
		}
		if found == len(want) {
			complete++
			requireConnected(t, trace)
		}
	}
	if complete == 0 {
		var names []string
		for _, s := range spans {
			names = append(names, serviceOf(s)+"/"+s.Name+"/"+s.TraceID.String())
		}
		sort.Strings(names)
		t.Fatalf("no trace holds %v; spans: %v", want, names)
	}
	t.Logf("%d traces, %d of them from fetch to redis write", len(byTrace), complete)
}

// requireConnected checks that every span of a trace but its root has its parent in the trace, so that
// the trace is one tree.
func requireConnected(t *testing.T, trace []model.SpanModel) {
	t.Helper()
	ids := map[model.ID]bool{}
	for _, s := range trace {
		ids[s.ID] = true
	}
	roots := 0
	for _, s := range trace {
		if s.ParentID == nil {
			roots++
			continue
		}
		require.True(t, ids[*s.ParentID], "span %s/%s has a parent outside its trace", serviceOf(s), s.Name)
	}
	require.Equal(t, 1, roots, "one root per trace")
}

func TestTraceHeadersNeverReachDMarketOrTelegram(t *testing.T) {
	t.Run("dmarket", func(t *testing.T) {
		zc := tracingtest.NewCollector(t)
		rec := &headerRecorder{}
		p := startObsPipeline(t, obsOptions{
			wrap: rec.wrap, noWorker: true,
			env: map[string]string{"ZIPKIN_URL": zc.URL(), "ZIPKIN_SAMPLE_RATE": "1"},
		})
		awaitMetrics(t, p.parser, p.parserURL, 60*time.Second, "a finished crawl cycle",
			func(s metricsPage) bool { return s.sum("dmarket_crawler_cycles_total") > 0 })
		_, code := p.parser.stop(t, 15*time.Second)
		require.Zero(t, code)

		n, leaked := rec.counts()
		require.Positive(t, n)
		require.Empty(t, leaked, "B3 headers sent to DMarket")
		requireSpansOf(t, zc, "parser", "dmarket ")
	})

	t.Run("telegram", func(t *testing.T) {
		zc := tracingtest.NewCollector(t)
		tg := telegramtest.New(t, telegramtest.Options{PerChatInterval: -1, GlobalLimit: -1})
		rec := &headerRecorder{}
		target, err := url.Parse(tg.URL())
		require.NoError(t, err)
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.ErrorLog = log.New(io.Discard, "", 0) // the bot's long poll is cut at shutdown
		front := httptest.NewServer(rec.wrap(rp))
		t.Cleanup(front.Close)

		b, base := startObsBot(t, redisdbtest.URL(t), front.URL+"/bot%s/%s", tg.Token(),
			map[string]string{"ZIPKIN_URL": zc.URL(), "ZIPKIN_SAMPLE_RATE": "1"})
		tg.SendText(obsBotUser, "/settings")
		awaitMetrics(t, b, base, 30*time.Second, "/settings answered", func(s metricsPage) bool {
			return s.sum("dmarket_bot_commands_total", "command", "settings") > 0
		})
		require.Eventually(t, func() bool { return len(tg.Sent(obsBotUser)) > 0 }, 10*time.Second, 20*time.Millisecond)
		_, code := b.stop(t, 15*time.Second)
		require.Zero(t, code)

		n, leaked := rec.counts()
		require.Positive(t, n)
		require.Empty(t, leaked, "B3 headers sent to Telegram")
		requireSpansOf(t, zc, "bot", "command settings")
	})
}

// requireSpansOf checks that the collector got a span of service whose name starts with prefix: the
// tracer was on, so the absence of headers means something.
func requireSpansOf(t *testing.T, zc *tracingtest.Collector, service, prefix string) {
	t.Helper()
	require.Empty(t, zc.Rejected())
	var names []string
	for _, s := range zc.Spans() {
		if serviceOf(s) == service && strings.HasPrefix(s.Name, prefix) {
			return
		}
		names = append(names, serviceOf(s)+"/"+s.Name)
	}
	t.Fatalf("no %s span %q*; got %v", service, prefix, names)
}

func TestB3HeadersAreRecognised(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   []string
	}{
		{name: "none", header: http.Header{"Accept": {"*/*"}, "X-Api-Key": {"k"}}},
		{name: "single header", header: http.Header{"B3": {"a-b-1"}}, want: []string{"B3"}},
		{name: "multi header", header: http.Header{"X-B3-Traceid": {"a"}, "X-B3-Spanid": {"b"}, "X-B3-Sampled": {"1"}},
			want: []string{"X-B3-Sampled", "X-B3-Spanid", "X-B3-Traceid"}},
		{name: "lower case keys set directly", header: http.Header{"x-b3-flags": {"1"}}, want: []string{"x-b3-flags"}},
		{name: "look-alike names", header: http.Header{"X-B3x": {"1"}, "B30": {"1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, b3Headers(tc.header))
		})
	}
}
