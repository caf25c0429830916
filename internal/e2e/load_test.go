//go:build load

package e2e

import (
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
)

// listingsSeries returns the metric of family name labelled kind="listings".
func listingsSeries(mfs map[string]*dto.MetricFamily, name string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "kind" && l.GetValue() == "listings" {
				return m
			}
		}
	}
	return nil
}

// quantile estimates q from cumulative histogram buckets (upper bound → count) the way Prometheus'
// histogram_quantile does: linear interpolation inside the bucket that holds the rank.
func quantile(q float64, buckets map[float64]uint64) float64 {
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := buckets[bounds[len(bounds)-1]]
	rank := q * float64(total)
	prevBound, prevCount := 0.0, uint64(0)
	for _, b := range bounds {
		c := buckets[b]
		if float64(c) >= rank {
			if math.IsInf(b, 1) {
				return prevBound
			}
			return prevBound + (b-prevBound)*(rank-float64(prevCount))/float64(c-prevCount)
		}
		prevBound, prevCount = b, c
	}
	return prevBound
}

// TestLoad runs 1 parser and 4 workers over a simulator catalogue of about 200,000 listings and reports
// the throughput from the first publish to the last listing in Redis and the p99 latency from fetch to
// Redis (from the workers' dmarket_worker_pipeline_latency_seconds histograms). Run with `make load`.
func TestLoad(t *testing.T) {
	sim := dmarkettest.New(dmarkettest.Config{Titles: 20000, ListingsPerTitle: 10, PublicMarketRate: -1, PublicOtherRate: -1})
	t.Cleanup(sim.Close)
	want := sim.Handler.Catalogue().ListingCount()
	t.Logf("catalogue: %d listings", want)

	d := newDeps(t)
	var workers []string
	for range 4 {
		// Info, so that the worker logs its ops address; it logs nothing else at info while it works.
		_, base := serve(t, "worker", map[string]string{"REDIS_URL": d.redisURL, "RABBITMQ_URL": d.amqpURL,
			"LOG_LEVEL": "info"})
		workers = append(workers, base)
	}
	for _, w := range workers {
		awaitStatus(t, nil, w+"/readyz", 200, 30*time.Second)
	}
	begin := time.Now()
	start(t, "parser", map[string]string{"REDIS_URL": d.redisURL, "RABBITMQ_URL": d.amqpURL, "HTTP_ADDR": "127.0.0.1:0",
		"LOG_LEVEL": "warn", "DMARKET_API_URL": sim.URL(), "DMARKET_PROXIES_FILE": "/nonexistent",
		"PARSER_RATE_PER_IP": "1000", "PARSER_CYCLE_INTERVAL": "1h"})

	processed := func() (float64, map[float64]uint64) {
		var items float64
		buckets := map[float64]uint64{}
		for _, w := range workers {
			page, err := scrapeMetrics(w)
			require.NoError(t, err)
			mfs := page.families
			if m := listingsSeries(mfs, "dmarket_worker_items_processed_total"); m != nil {
				items += m.GetCounter().GetValue()
			}
			if m := listingsSeries(mfs, "dmarket_worker_pipeline_latency_seconds"); m != nil {
				hasInf := false
				for _, b := range m.GetHistogram().GetBucket() {
					buckets[b.GetUpperBound()] += b.GetCumulativeCount()
					hasInf = hasInf || math.IsInf(b.GetUpperBound(), 1)
				}
				if !hasInf {
					buckets[math.Inf(1)] += m.GetHistogram().GetSampleCount()
				}
			}
		}
		return items, buckets
	}
	var items float64
	var buckets map[float64]uint64
	require.Eventually(t, func() bool {
		items, buckets = processed()
		return items >= float64(want)
	}, 10*time.Minute, 200*time.Millisecond)
	elapsed := time.Since(begin)
	msgs := buckets[math.Inf(1)]
	report := fmt.Sprintf("load: %d listings in %d pages through 1 parser and 4 workers in %s: %.0f listings/s; "+
		"fetch→Redis latency p50 %.3fs, p99 %.3fs (histogram estimate)",
		int(items), msgs, elapsed.Round(time.Millisecond), items/elapsed.Seconds(),
		quantile(0.5, buckets), quantile(0.99, buckets))
	t.Log(report)
	t.Logf("latency buckets (le → cumulative messages): %v", buckets)
	fmt.Println(report)
}
