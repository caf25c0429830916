package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// dashboardFile is the provisioned Grafana dashboard (deploy/grafana/dashboards).
const dashboardFile = "../../deploy/grafana/dashboards/dmarket-monitor.json"

// dashPanel is the part of a Grafana panel the tests read.
type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		RefID      string          `json:"refId"`
		Datasource *dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadDashboard reads the dashboard, checks its panels (unique ids, the Prometheus datasource on every
// query) and returns every query.
func loadDashboard(t *testing.T) []namedExpr {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	require.True(t, json.Valid(raw), "the dashboard is not valid JSON")
	var d struct {
		UID    string      `json:"uid"`
		Title  string      `json:"title"`
		Panels []dashPanel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	require.NotEmpty(t, d.UID)
	require.NotEmpty(t, d.Title)
	require.NotEmpty(t, d.Panels)

	ids := map[int]string{}
	var exprs []namedExpr
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			require.NotZero(t, p.ID, "%s has no id", name)
			prev, dup := ids[p.ID]
			require.False(t, dup, "%s reuses the id of %s", name, prev)
			ids[p.ID] = name
			if len(p.Targets) > 0 {
				require.NotNil(t, p.Datasource, "%s has no datasource", name)
				require.Equal(t, "prometheus", p.Datasource.UID, "%s datasource", name)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil {
					require.Equal(t, "prometheus", tg.Datasource.UID, "%s target %s datasource", name, tg.RefID)
				}
				require.NotEmpty(t, strings.TrimSpace(tg.Expr), "%s target %s has no query", name, tg.RefID)
				exprs = append(exprs, namedExpr{name: name + " " + tg.RefID, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return exprs
}

var (
	promString    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRange     = regexp.MustCompile(`\[[^\]]*\]`)
	promOffset    = regexp.MustCompile(`\boffset\s+-?[0-9a-zA-Z]+`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promNumber    = regexp.MustCompile(`(^|[^a-zA-Z0-9_:.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promSelector  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	promMatcher   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*""`)
	promKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
	histogramPart = []string{"_bucket", "_sum", "_count"}
)

// promQuery is what a PromQL expression refers to.
type promQuery struct {
	// metrics are the metric names selected.
	metrics []string
	// matchers maps a metric name to the label names its selectors match on.
	matchers map[string][]string
	// grouping are the label names of by/without/on/ignoring/group_* clauses.
	grouping []string
}

// parsePromQL extracts the metric names and label names of a PromQL expression: everything that is an
// identifier and not a function call, keyword, number, string, duration or grouping label.
func parsePromQL(expr string) promQuery {
	q := promQuery{matchers: map[string][]string{}}
	// Strings first: they may hold anything, braces included.
	s := promString.ReplaceAllString(expr, `""`)
	for _, m := range promSelector.FindAllStringSubmatch(s, -1) {
		for _, lm := range promMatcher.FindAllStringSubmatch(m[2], -1) {
			q.matchers[m[1]] = append(q.matchers[m[1]], lm[1])
		}
	}
	s = promMatchers.ReplaceAllString(s, " ")
	s = promOffset.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	for _, g := range promGrouping.FindAllStringSubmatch(s, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				q.grouping = append(q.grouping, l)
			}
		}
	}
	s = promGrouping.ReplaceAllString(s, " ")
	s = promNumber.ReplaceAllString(s, "$1 ")
	seen := map[string]bool{}
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promKeywords[strings.ToLower(name)] || seen[name] {
			continue // a function (or aggregation) call, a keyword, or already listed
		}
		seen[name] = true
		q.metrics = append(q.metrics, name)
	}
	return q
}

func TestParsePromQL(t *testing.T) {
	tests := []struct {
		name     string
		expr     string
		metrics  []string
		grouping []string
		matchers map[string][]string
	}{
		{name: "rate of a counter", expr: "sum(rate(a_total[5m]))", metrics: []string{"a_total"}},
		{name: "ratio with clamp and exponent number", expr: `sum(rate(a_total{outcome="x"}[5m])) / clamp_min(sum(rate(a_total[5m])), 1e-9)`,
			metrics: []string{"a_total"}, matchers: map[string][]string{"a_total": {"outcome"}}},
		{name: "histogram quantile", expr: "histogram_quantile(0.95, sum by (le, endpoint) (rate(d_seconds_bucket[5m])))",
			metrics: []string{"d_seconds_bucket"}, grouping: []string{"le", "endpoint"}},
		{name: "regexp matcher with braces and escapes", expr: `sum(q{queue=~".*\\.dlq", a!="}"})`,
			metrics: []string{"q"}, matchers: map[string][]string{"q": {"queue", "a"}}},
		{name: "bare gauges and binary operators", expr: "g1 and on (job) g2 or g3 > bool 2",
			metrics: []string{"g1", "g2", "g3"}, grouping: []string{"job"}},
		{name: "grouping after the aggregation", expr: "sum(rate(c_total[1h:5m])) without (proxy)",
			metrics: []string{"c_total"}, grouping: []string{"proxy"}},
		{name: "offset", expr: "c_total offset 5m", metrics: []string{"c_total"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := parsePromQL(tc.expr)
			require.Equal(t, tc.metrics, q.metrics)
			require.Equal(t, tc.grouping, q.grouping)
			if tc.matchers == nil {
				tc.matchers = map[string][]string{}
			}
			require.Equal(t, tc.matchers, q.matchers)
		})
	}
}

// exportedFamily finds the family that exports name, mapping a histogram's _bucket/_sum/_count series
// to the histogram. It returns the family and the binaries exporting it.
func exportedFamily(got workedMetrics, name string) (*dto.MetricFamily, []string) {
	var fam *dto.MetricFamily
	var by []string
	for bin, s := range got {
		if f, ok := s.families[name]; ok {
			fam, by = f, append(by, bin)
			continue
		}
		for _, suffix := range histogramPart {
			base, ok := strings.CutSuffix(name, suffix)
			if !ok {
				continue
			}
			if f, ok := s.families[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM ||
				(suffix != "_bucket" && f.GetType() == dto.MetricType_SUMMARY)) {
				fam, by = f, append(by, bin)
			}
		}
	}
	sort.Strings(by)
	return fam, by
}

// familyLabels are the label names of a family's series.
func familyLabels(f *dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetName()] = true
		}
	}
	if f.GetType() == dto.MetricType_HISTOGRAM {
		out["le"] = true
	}
	return out
}

// scrapeLabels are the labels Prometheus adds to every series (prometheus.yml).
var scrapeLabels = []string{"job", "instance", "service"}

func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	exprs := loadDashboard(t)
	got := scrapeWorkingBinaries(t)
	for _, bin := range []string{"parser", "worker", "bot"} {
		require.Contains(t, got, bin, "the dashboard has panels for the %s", bin)
	}
	// Redis, RabbitMQ and the queue depths.
	requireExportedMetrics(t, got, exprs, "redis_memory_used_bytes", "redis_evicted_keys_total",
		"rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked", "rabbitmq_queue_consumers",
		"dmarket_amqp_queue_messages")
}
