package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	requests   *prometheus.CounterVec
	cooldowns  *prometheus.CounterVec
	fileErrors prometheus.Counter
	reloads    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, p *Pool) *metrics {
	f := promauto.With(reg)
	gauge := func(name, help string, value func() float64) {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge("dmarket_proxy_usable", "Configured proxies that are not cooling down (0 when the direct connection is used).",
		func() float64 { u, _ := p.proxyCounts(); return float64(u) })
	gauge("dmarket_proxy_configured", "Configured valid proxies (0 when the direct connection is used).",
		func() float64 { _, t := p.proxyCounts(); return float64(t) })
	gauge("dmarket_proxy_direct", "1 when DMarket requests use the direct connection because no valid proxy is configured.",
		func() float64 {
			if p.Direct() {
				return 1
			}
			return 0
		})
	return &metrics{
		requests: counter("dmarket_proxy_requests_total",
			"Requests made through an egress, by outcome (success, throttled, egress_failure, api_error).", "proxy", "outcome"),
		cooldowns: counter("dmarket_proxy_cooldowns_total",
			"Times a proxy was taken out of rotation after failures or repeated 429 answers.", "proxy"),
		fileErrors: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_proxy_file_errors_total",
			Help: "Bad lines of the proxy file, skipped."}),
		reloads: counter("dmarket_proxy_file_loads_total", "Reads of the proxy file, by result (ok, error).", "result"),
	}
}
