package bot

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// MarketMetrics are the metrics of the bot's market reads and of the offers index built from them:
// dmarket_offers_market_reads_total{result}, dmarket_offers_market_read_duration_seconds,
// dmarket_offers_market_titles, dmarket_offers_malformed_keys_total{kind},
// dmarket_offers_index_builds_total{result}, dmarket_offers_index_build_duration_seconds (read plus
// build), dmarket_offers_index_offers, and of the reads of changed titles dmarket_offers_title_reads_total{result}
// and dmarket_offers_titles_read_total. It is an offers.BuildObserver; Source meters the reads.
type MarketMetrics struct {
	reads        *prometheus.CounterVec
	readDuration prometheus.Histogram
	titles       prometheus.Gauge
	malformed    *prometheus.CounterVec

	builds        *prometheus.CounterVec
	buildDuration prometheus.Histogram
	offers        prometheus.Gauge

	titleReads *prometheus.CounterVec
	titlesRead prometheus.Counter
}

// NewMarketMetrics registers the market metrics with reg.
func NewMarketMetrics(reg prometheus.Registerer) *MarketMetrics {
	f := promauto.With(reg)
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	seconds := func(name, help string, buckets ...float64) prometheus.Histogram {
		return f.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	m := &MarketMetrics{
		reads: counterVec("dmarket_offers_market_reads_total", "Reads of the whole market from Redis, by result (ok, error).", "result"),
		readDuration: seconds("dmarket_offers_market_read_duration_seconds", "Duration of a read of the whole market from Redis.",
			.01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10),
		titles: gauge("dmarket_offers_market_titles", "Titles with at least one live listing in the last market read."),
		malformed: counterVec("dmarket_offers_malformed_keys_total",
			"Stored keys skipped because their data could not be read, by key kind (prices, orders, history, fees).", "kind"),
		builds: counterVec("dmarket_offers_index_builds_total", "Market reads turned into the offers index, by result (ok, error).", "result"),
		buildDuration: seconds("dmarket_offers_index_build_duration_seconds",
			"Duration of one market read plus the build of the offers index from it.", .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10, 30),
		offers: gauge("dmarket_offers_index_offers",
			"Offers (every title, kind and status, before users' filters) in the latest offers index."),
		titleReads: counterVec("dmarket_offers_title_reads_total",
			"Reads of changed titles from Redis (change events, expiries), by result (ok, error).", "result"),
		titlesRead: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_offers_titles_read_total",
			Help: "Titles asked for by the reads of changed titles."}),
	}
	for _, r := range []string{"ok", "error"} {
		m.reads.WithLabelValues(r)
		m.builds.WithLabelValues(r)
		m.titleReads.WithLabelValues(r)
	}
	for _, k := range pricestore.MalformedKinds {
		m.malformed.WithLabelValues(k)
	}
	return m
}

// IndexBuilt counts a build of the offers index.
func (m *MarketMetrics) IndexBuilt(d time.Duration, offers int) {
	m.buildDuration.Observe(d.Seconds())
	m.builds.WithLabelValues("ok").Inc()
	m.offers.Set(float64(offers))
}

// IndexFailed counts a market read that left the offers index as it was.
func (m *MarketMetrics) IndexFailed() { m.builds.WithLabelValues("error").Inc() }

// Source returns src with its reads counted and timed, and the malformed keys they skipped counted. When
// src also reads single titles (an offers.TitleSource such as pricestore.MarketReader), so does the
// result, with those reads counted too.
func (m *MarketMetrics) Source(src offers.Source) offers.Source {
	if tr, ok := src.(titleReader); ok {
		ts := meteredTitleSource{meteredSource: meteredSource{src: src, m: m}, titles: tr}
		if hs, ok := src.(offers.HistorySource); ok {
			return meteredHistorySource{meteredTitleSource: ts, histories: hs}
		}
		return ts
	}
	return meteredSource{src: src, m: m}
}

// meteredHistorySource is a meteredTitleSource whose source also reads sticker histories (an
// offers.HistorySource); those reads pass through uncounted.
type meteredHistorySource struct {
	meteredTitleSource
	histories offers.HistorySource
}

// StickerHistories reads the named sticker titles' histories from the wrapped source.
func (s meteredHistorySource) StickerHistories(ctx context.Context, titles []string) (map[string]*market.ResaleHistory, error) {
	return s.histories.StickerHistories(ctx, titles)
}

// titleReader reads the state of single titles (the Titles method of offers.TitleSource).
type titleReader interface {
	Titles(ctx context.Context, titles []string) ([]market.TitleState, error)
}

// meteredTitleSource is a meteredSource that also reads single titles.
type meteredTitleSource struct {
	meteredSource
	titles titleReader
}

// Titles reads the named titles from the wrapped source.
func (s meteredTitleSource) Titles(ctx context.Context, titles []string) ([]market.TitleState, error) {
	out, err := s.titles.Titles(ctx, titles)
	if err != nil {
		s.m.titleReads.WithLabelValues("error").Inc()
		return out, err
	}
	s.m.titleReads.WithLabelValues("ok").Inc()
	s.m.titlesRead.Add(float64(len(titles)))
	return out, nil
}

// meteredSource is a Source whose reads MarketMetrics counts.
type meteredSource struct {
	src offers.Source
	m   *MarketMetrics
}

// Market reads the market from the wrapped source.
func (s meteredSource) Market(ctx context.Context) (market.Snapshot, error) {
	start := time.Now()
	snap, err := s.src.Market(ctx)
	s.m.readDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.reads.WithLabelValues("error").Inc()
		return snap, err
	}
	s.m.reads.WithLabelValues("ok").Inc()
	s.m.titles.Set(float64(len(snap.Titles)))
	for kind, n := range snap.Malformed {
		s.m.malformed.WithLabelValues(kind).Add(float64(n))
	}
	return snap, nil
}
