package crawler

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	pages        *prometheus.CounterVec
	listings     *prometheus.CounterVec
	cycles       *prometheus.CounterVec
	cycleSeconds prometheus.Histogram
	ranges       *prometheus.GaugeVec
	unfinished   *prometheus.GaugeVec
	splits       *prometheus.CounterVec
	failures     *prometheus.CounterVec
	salesTitles  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		pages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_crawler_pages_published_total",
			Help: "API answers published to RabbitMQ, by game and kind.",
		}, []string{"game", "kind"}),
		listings: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_crawler_listings_published_total",
			Help: "Listings contained in the published listings pages, by game.",
		}, []string{"game"}),
		cycles: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_crawler_cycles_total",
			Help: "Finished crawl cycles, by outcome (complete: every range crawled; partial: some left for the next cycle).",
		}, []string{"outcome"}),
		cycleSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "dmarket_crawler_cycle_duration_seconds",
			Help:    "Duration of crawl cycles.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		ranges: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmarket_crawler_ranges",
			Help: "Price ranges in the crawl plan, by game.",
		}, []string{"game"}),
		unfinished: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmarket_crawler_ranges_unfinished",
			Help: "Price ranges the last cycle could not finish, by game.",
		}, []string{"game"}),
		splits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_crawler_range_splits_total",
			Help: "Price ranges split because their cursor chain was too long, by game.",
		}, []string{"game"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_crawler_fetch_failures_total",
			Help: "Failed fetch attempts the crawler will retry or give up on, by kind.",
		}, []string{"kind"}),
		salesTitles: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_crawler_sales_titles_total",
			Help: "Titles whose sales were fetched, by outcome.",
		}, []string{"outcome"}),
	}
	// Every retried kind has a series from the start: dashboards and alerts see zero, not absence.
	for _, kind := range []string{"listings", "orders", "fees", "publish"} {
		m.failures.WithLabelValues(kind)
	}
	return m
}
