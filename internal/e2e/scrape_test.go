package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// metricsPage is one set of metric families: a binary's /metrics answer (raw holds its text) or what an
// in-process registry gathered.
type metricsPage struct {
	raw      []byte
	families map[string]*dto.MetricFamily
}

// scrapeMetrics GETs base+"/metrics" in the plain text format, the one promtool and promlint read, and
// parses it.
func scrapeMetrics(base string) (metricsPage, error) {
	code, raw, err := get(base+"/metrics", "text/plain; version=0.0.4")
	if err != nil {
		return metricsPage{}, err
	}
	if code != http.StatusOK {
		return metricsPage{}, fmt.Errorf("GET %s/metrics: %d", base, code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return metricsPage{}, fmt.Errorf("parse metrics of %s: %w", base, err)
	}
	return metricsPage{raw: raw, families: fams}, nil
}

// gathered returns what reg holds now.
func gathered(t *testing.T, reg *prometheus.Registry) metricsPage {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	page := metricsPage{families: map[string]*dto.MetricFamily{}}
	for _, mf := range mfs {
		page.families[mf.GetName()] = mf
	}
	return page
}

// sum adds up the samples of family name (counter and gauge values, histogram sample counts) whose
// labels include every name/value pair of labels; 0 when the family is absent.
func (s metricsPage) sum(name string, labels ...string) float64 {
	var total float64
	for _, m := range s.families[name].GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// hasLabels reports whether m carries every name/value pair of labels.
func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}
		if !found {
			return false
		}
	}
	return true
}

// awaitMetrics scrapes base until cond holds on a scrape and returns that scrape; p, when not nil, must
// keep running meanwhile. A wait that times out reports the last scrape's dmarket_ series.
func awaitMetrics(t *testing.T, p *proc, base string, within time.Duration, what string, cond func(metricsPage) bool) metricsPage {
	t.Helper()
	var mu sync.Mutex // the condition may still run when a timed-out wait formats its message
	var last metricsPage
	require.Eventually(t, func() bool {
		if p != nil {
			p.requireRunning(t)
		}
		s, err := scrapeMetrics(base)
		if err != nil {
			return false
		}
		mu.Lock()
		last = s
		mu.Unlock()
		return cond(s)
	}, within, 50*time.Millisecond, "%s: %s never happened; the last scrape's dmarket_ series:\n%s", base, what,
		lazyText(func() string {
			mu.Lock()
			defer mu.Unlock()
			return dmarketSeries(last.raw)
		}))
	mu.Lock()
	defer mu.Unlock()
	return last
}

// lazyText is a message argument computed only when it is formatted (a failure), after the wait.
type lazyText func() string

func (f lazyText) String() string { return f() }

// dmarketSeries returns the lines of a metrics page that are samples of this project's dmarket_ series.
func dmarketSeries(raw []byte) string {
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "dmarket_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
