// Package tracingtest holds test helpers for code that reports spans: an in-process Zipkin v2 span
// endpoint that keeps what it receives.
package tracingtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/openzipkin/zipkin-go/model"
)

// SpansPath is the path of the Zipkin v2 span endpoint.
const SpansPath = "/api/v2/spans"

// Collector is a fake Zipkin server: it accepts POST SpansPath with a JSON list of spans and keeps them.
// It is safe for concurrent use.
type Collector struct {
	srv *httptest.Server

	mu       sync.Mutex
	spans    []model.SpanModel
	rejected []string
}

// NewCollector starts a Collector that is shut down when the test ends.
func NewCollector(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != SpansPath {
		c.reject(r.Method + " " + r.URL.Path)
		http.NotFound(w, r)
		return
	}
	var spans []model.SpanModel
	if err := json.NewDecoder(r.Body).Decode(&spans); err != nil {
		c.reject("undecodable spans: " + err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.spans = append(c.spans, spans...)
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (c *Collector) reject(why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejected = append(c.rejected, why)
}

// URL is the span endpoint, to give a tracer as its Zipkin URL.
func (c *Collector) URL() string { return c.srv.URL + SpansPath }

// Spans returns the spans received so far, in arrival order.
func (c *Collector) Spans() []model.SpanModel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

// ByName returns the spans received so far that are called name.
func (c *Collector) ByName(name string) []model.SpanModel {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []model.SpanModel
	for _, s := range c.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Rejected returns the requests refused so far: another method or path, or a body that is not a list of
// spans.
func (c *Collector) Rejected() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rejected)
}
