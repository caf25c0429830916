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
	takeovers    *prometheus.CounterVec
	// The lanes (SPEC §9.1): every listings request and published page by lane, the request rate the
	// fresh and watch lanes are given, and what the fresh lane finds.
	laneRequests  *prometheus.CounterVec
	lanePages     *prometheus.CounterVec
	laneBudget    *prometheus.GaugeVec
	freshNew      *prometheus.CounterVec
	freshInterval *prometheus.GaugeVec
	// ordersDropped counts the titles of the lanes' buy-orders calls dropped while the calls were behind.
	ordersDropped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return f.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &metrics{
		pages:    counter("dmarket_crawler_pages_published_total", "API answers published to RabbitMQ, by game and kind.", "game", "kind"),
		listings: counter("dmarket_crawler_listings_published_total", "Listings contained in the published listings pages, by game.", "game"),
		cycles: counter("dmarket_crawler_cycles_total",
			"Finished crawl cycles, by outcome (complete: every range crawled; partial: some left for the next cycle).", "outcome"),
		cycleSeconds: f.NewHistogram(prometheus.HistogramOpts{Name: "dmarket_crawler_cycle_duration_seconds",
			Help: "Duration of crawl cycles.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		ranges:      gauge("dmarket_crawler_ranges", "Price ranges in the crawl plan, by game.", "game"),
		unfinished:  gauge("dmarket_crawler_ranges_unfinished", "Price ranges the last cycle could not finish, by game.", "game"),
		splits:      counter("dmarket_crawler_range_splits_total", "Price ranges split because their cursor chain was too long, by game.", "game"),
		failures:    counter("dmarket_crawler_fetch_failures_total", "Failed fetch attempts the crawler will retry or give up on, by kind.", "kind"),
		salesTitles: counter("dmarket_crawler_sales_titles_total", "Titles whose sales were fetched, by outcome.", "outcome"),
		takeovers: counter("dmarket_crawler_ranges_taken_over_total",
			"Range crawls of a shared cycle continued from the checkpoint of a parser that stopped or lost its lease, by game.", "game"),
	}
	m.laneRequests = counter("dmarket_crawler_lane_requests_total",
		"Requests made, by lane: listings requests of the range (the price-range crawl), fresh (newest listings) and watch "+
			"(scans of watched titles) lanes; aggregated-prices calls for the titles the fresh and watch lanes found "+
			"(fresh-orders, watch-orders).", "lane")
	m.lanePages = counter("dmarket_crawler_lane_pages_published_total", "Listings pages published, by lane.", "lane")
	m.laneBudget = gauge("dmarket_crawler_lane_budget_requests_per_second",
		"Request rate the fresh and watch lanes are paced at: their share of the usable egresses' budget, by lane.", "lane")
	m.freshNew = counter("dmarket_crawler_fresh_new_listings_total",
		"Listings (or new prices of listings) the fresh lane found that it had not seen before, by game.", "game")
	m.freshInterval = gauge("dmarket_crawler_fresh_poll_interval_seconds",
		"Time between the last two polls of a game's newest listings by the fresh lane, by game.", "game")
	m.ordersDropped = counter("dmarket_crawler_lane_orders_dropped_titles_total",
		"Titles of the fresh-orders and watch-orders calls dropped unasked because the calls were behind, by lane.", "lane")
	// Every retried kind has a series from the start: dashboards and alerts see zero, not absence.
	for _, kind := range []string{"listings", "orders", "fees", "publish", laneFresh, laneWatch, laneFreshOrders, laneWatchOrders} {
		m.failures.WithLabelValues(kind)
	}
	for _, lane := range []string{laneRange, laneFresh, laneWatch} {
		m.laneRequests.WithLabelValues(lane)
		m.lanePages.WithLabelValues(lane)
	}
	for _, lane := range []string{laneFreshOrders, laneWatchOrders} {
		m.laneRequests.WithLabelValues(lane)
		m.ordersDropped.WithLabelValues(lane)
	}
	return m
}
