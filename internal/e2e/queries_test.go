package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// externalMetric is a metric that Prometheus itself or an exporter of the compose stack provides, not
// the binaries: the dashboard and the alert rules may use it with these labels.
type externalMetric struct {
	// source says where it comes from.
	source string
	// labels are its label names (besides the scrape labels).
	labels []string
}

// externalMetrics are the metrics of docker-compose.yml's other scrape targets that the dashboard and
// the rules use: Prometheus' own series, redis_exporter (job redis) and RabbitMQ's rabbitmq_prometheus
// plugin with per-object metrics (job rabbitmq).
func externalMetrics() map[string]externalMetric {
	const prom, redis, rabbit = "prometheus", "oliver006/redis_exporter", "rabbitmq_prometheus"
	return map[string]externalMetric{
		"up":                                     {source: prom},
		"ALERTS":                                 {source: prom, labels: []string{"alertname", "alertstate", "severity", "service", "queue"}},
		"redis_memory_used_bytes":                {source: redis},
		"redis_memory_max_bytes":                 {source: redis},
		"redis_evicted_keys_total":               {source: redis},
		"redis_expired_keys_total":               {source: redis},
		"redis_db_keys":                          {source: redis, labels: []string{"db"}},
		"redis_connected_clients":                {source: redis},
		"rabbitmq_queue_messages_ready":          {source: rabbit, labels: []string{"queue", "vhost"}},
		"rabbitmq_queue_messages_unacked":        {source: rabbit, labels: []string{"queue", "vhost"}},
		"rabbitmq_queue_consumers":               {source: rabbit, labels: []string{"queue", "vhost"}},
		"rabbitmq_process_resident_memory_bytes": {source: rabbit},
		"rabbitmq_resident_memory_limit_bytes":   {source: rabbit},
		"rabbitmq_alarms_memory_used_watermark":  {source: rabbit},
	}
}

// pendingMetrics are metrics SPEC names that no binary exports yet, mapped to their labels: a query may
// use them (it has no data until they exist). deal_latency_seconds is the bot's histogram of SPEC §9.1.
func pendingMetrics() map[string][]string {
	return map[string][]string{"deal_latency_seconds": {"le"}}
}

// checkQueryMetrics fails unless every metric and label expr uses is exported by a binary (got), is an
// external metric or a pending one. It returns the exported family names and external names it used.
func checkQueryMetrics(t *testing.T, got workedMetrics, expr string) []string {
	t.Helper()
	q := parsePromQL(expr)
	require.NotEmpty(t, q.metrics, "no metric found in %q", expr)
	available := map[string]bool{}
	for _, l := range scrapeLabels {
		available[l] = true
	}
	external, pending := externalMetrics(), pendingMetrics()
	var used []string
	for _, name := range q.metrics {
		var labels map[string]bool
		if fam, _ := exportedFamily(got, name); fam != nil {
			used = append(used, fam.GetName())
			labels = familyLabels(fam)
		} else if ext, ok := external[name]; ok {
			used = append(used, name)
			labels = setOf(ext.labels)
		} else if p, ok := pending[pendingBase(name)]; ok {
			labels = setOf(p)
		} else {
			require.Failf(t, "unknown metric", "%s (in %q) is exported by no binary and is no known exporter's metric", name, expr)
		}
		for l := range labels {
			available[l] = true
		}
		for _, l := range q.matchers[name] {
			require.True(t, labels[l] || available[l], "%s has no label %q (in %q)", name, l, expr)
		}
	}
	for _, l := range q.grouping {
		require.True(t, available[l], "%q groups by %q, a label none of its metrics has", expr, l)
	}
	return used
}

// namedExpr is a PromQL expression and what holds it (a dashboard panel's target, an alert).
type namedExpr struct {
	name string
	expr string
}

// requireExportedMetrics checks every expression with checkQueryMetrics, each in a subtest named after
// it, and requires that together they use every metric of mustUse.
func requireExportedMetrics(t *testing.T, got workedMetrics, exprs []namedExpr, mustUse ...string) {
	t.Helper()
	used := map[string]bool{}
	for _, e := range exprs {
		t.Run(e.name, func(t *testing.T) {
			for _, m := range checkQueryMetrics(t, got, e.expr) {
				used[m] = true
			}
		})
	}
	for _, m := range mustUse {
		require.True(t, used[m], "no expression uses %s", m)
	}
}

func setOf(names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// pendingBase maps a histogram series name to its histogram.
func pendingBase(name string) string {
	for _, suffix := range histogramPart {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

// ruleExprs reads the alert expressions of deploy/prometheus/*rules*.yml, keyed by alert name. The files
// use `expr: |` blocks (checked: every alert has one).
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../deploy/prometheus/*rules*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no rule file in deploy/prometheus")
	out := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(string(raw), "\n")
		alerts := 0
		alert := ""
		for i := 0; i < len(lines); i++ {
			line := strings.TrimSpace(lines[i])
			if name, ok := strings.CutPrefix(line, "- alert: "); ok {
				alert = name
				alerts++
				continue
			}
			if line != "expr: |" {
				if strings.HasPrefix(line, "expr:") {
					require.Failf(t, "rule format", "%s: %s: write expr as a `|` block", f, alert)
				}
				continue
			}
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var expr []string
			for i+1 < len(lines) {
				next := lines[i+1]
				if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
					break
				}
				expr = append(expr, next)
				i++
			}
			require.NotEmpty(t, alert, "%s: expr before any alert", f)
			out[alert] = strings.TrimSpace(strings.Join(expr, "\n"))
		}
		require.NotZero(t, alerts, "%s has no alert", f)
	}
	return out
}

func TestRuleExprsParse(t *testing.T) {
	exprs := ruleExprs(t)
	for _, name := range []string{"DMarketDeadLetterQueueGrowing", "DMarketParserCycleStalled", "DMarketBinaryNotReady",
		"DMarketProxiesMostlyUnusable", "DMarketRateLimitedShareHigh", "DMarketNotificationsFailing", "DMarketDealLatencyHigh"} {
		require.NotEmpty(t, exprs[name], "alert %s has no expression", name)
	}
	require.Contains(t, exprs["DMarketDealLatencyHigh"], "deal_latency_seconds_bucket")
}

// TestAlertRulesUseExportedMetrics checks every alert expression against what the binaries export after
// a real crawl, so that a renamed metric cannot leave an alert that never fires.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	rules := ruleExprs(t)
	exprs := make([]namedExpr, 0, len(rules))
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		exprs = append(exprs, namedExpr{name: name, expr: rules[name]})
	}
	requireExportedMetrics(t, scrapeWorkingBinaries(t), exprs, "dmarket_amqp_queue_messages",
		"dmarket_crawler_cycles_total", "dmarket_health_ready", "dmarket_proxy_usable", "dmarket_api_requests_total",
		"dmarket_bot_notifications_total")
}
