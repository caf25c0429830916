package crawler_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
)

type discardPublisher struct{}

func (discardPublisher) Publish(context.Context, string, message.Outgoing) error { return nil }

// BenchmarkCrawlThroughProxies crawls the simulator through K SOCKS5 test proxies, each leaving from its
// own loopback address, while the simulator allows R unsigned market-items requests per second per client
// IP. It reports the achieved request rate as a share of the budget K×R and the share answered 429.
func BenchmarkCrawlThroughProxies(b *testing.B) {
	const rate = 5.0
	for _, k := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("proxies=%d", k), func(b *testing.B) {
			sim := dmarkettest.New(dmarkettest.Config{Titles: 400, ListingsPerTitle: 10, PublicMarketRate: rate})
			defer sim.Close()

			var lines []string
			for i := range k {
				srv, err := proxytest.Start(proxytest.Options{Kind: proxytest.SOCKS5, SourceIP: fmt.Sprintf("127.0.0.%d", i+2)})
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Close()
				lines = append(lines, srv.URL())
			}
			pool := crawler.NewTestPool(b, proxy.Config{RatePerIP: rate}, lines...)
			client := crawler.NewSimClient(b, dmarket.Config{BaseURL: sim.URL(), BreakerFailures: 1000}, crawler.NewPoolEgress(pool))
			cfg := crawler.DefaultConfig()
			cfg.Bounds = crawler.SquareBounds(32, 60)
			cfg.Concurrency = 3 * k
			cfg.IsRetryable = dmarket.IsRetryable
			c, err := crawler.New(cfg, crawler.Deps{API: crawler.NewDMarketAPI(client), Publisher: discardPublisher{},
				Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			sim.Handler.ResetStats()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if st := c.RunCycle(context.Background()); st.Unfinished > 0 {
					b.Fatalf("cycle left %d ranges", st.Unfinished)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			st := sim.Handler.Stats()
			var reqs, limited int64
			for ip, n := range st.Requests {
				if strings.HasPrefix(ip, "127.0.0.") {
					reqs += n
					limited += st.RateLimited[ip]
				}
			}
			achieved := float64(reqs) / elapsed.Seconds()
			b.ReportMetric(achieved, "req/s")
			b.ReportMetric(achieved/(float64(k)*rate), "budget_share")
			b.ReportMetric(float64(limited)/float64(max(reqs, 1)), "429_share")
		})
	}
}
