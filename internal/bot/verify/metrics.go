package verify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	checks    *prometheus.CounterVec
	stale     prometheus.Counter
	published *prometheus.CounterVec
	tracked   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		checks: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_bot_rechecks_total",
			Help: "Offer re-checks against DMarket, by purpose (send: before a notification, background: offers being shown) and outcome (stands, gone, cheaper, failed; held: a recent refusal answered again without a request)."},
			[]string{"purpose", "outcome"}),
		stale: f.NewCounter(prometheus.CounterOpts{Name: "stale_offers_total",
			Help: "Re-checks that found the offer gone on DMarket (listing sold or repriced, buy order gone); the offer was hidden and not sent."}),
		published: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_bot_recheck_pages_published_total",
			Help: "Pages read by re-checks and published to the parser's queues for the workers, by outcome (ok, failed, dropped, invalid)."},
			[]string{"outcome"}),
		tracked: f.NewGauge(prometheus.GaugeOpts{Name: "dmarket_bot_rechecked_offers",
			Help: "Offers users are being shown that are re-checked in the background."}),
	}
	for _, p := range []string{"send", "background"} {
		for _, o := range []string{string(Stands), string(Gone), string(Cheaper), "failed"} {
			m.checks.WithLabelValues(p, o)
		}
	}
	m.checks.WithLabelValues("send", "held")
	for _, o := range []string{"ok", "failed", "dropped"} {
		m.published.WithLabelValues(o)
	}
	return m
}
