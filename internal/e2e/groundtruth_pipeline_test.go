package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/worker"
)

// truthPipeline is the parser and the worker wired in process as cmd/parser and cmd/worker wire them (the
// same crawler, DMarket client, proxy pool, publisher, consumers, validation, analysis and price store),
// on the test's own Redis database and RabbitMQ vhost. Only the limits differ: the simulator does not
// rate-limit, so the account and per-IP budgets are raised to let full crawls, every title's sales and
// the fees finish in seconds. The crawler's own loop runs the first cycle and the sales; further cycles
// are run by the test, one after the other.
type truthPipeline struct {
	rdb       *redis.Client
	parserReg *prometheus.Registry
	workerReg *prometheus.Registry
	logs      *loggingtest.Buffer
	errs      chan error
	// stopCrawl stops the crawler (and its sales loop) once the crawl settled.
	stopCrawl context.CancelFunc
	crawl     *crawler.Crawler
	crawlCtx  context.Context
}

// parserBounds are PARSER_PRICE_BOUNDS' defaults in cents, as cmd/parser turns them into range starts.
var parserBounds = []int64{0, 10, 25, 50, 100, 200, 500, 1000, 2500, 5000, 10000, 25000, 100000}

func startTruthPipeline(t *testing.T, sim *dmarkettest.Server, games []string) *truthPipeline {
	t.Helper()
	p := &truthPipeline{parserReg: prometheus.NewRegistry(), workerReg: prometheus.NewRegistry(),
		logs: &loggingtest.Buffer{}, errs: make(chan error, 8)}
	log := slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- pipeline log ---\n%s", tail(p.logs.String(), 6000))
		}
	})
	clk := clock.Real{}
	redisURL := redisdbtest.URL(t)
	amqpURL := rabbitmqtest.NewVhost(t)
	opts, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	opts.PoolSize = 32
	p.rdb = redis.NewClient(opts)
	t.Cleanup(func() { _ = p.rdb.Close() })

	queues := make([]string, 0, len(message.Kinds))
	for _, k := range message.Kinds {
		queues = append(queues, message.Queue(k))
	}

	// Parser.
	pconn, err := rabbitmq.NewConn(amqpURL, log, p.parserReg, rabbitmq.ConnOptions{Queues: queues})
	require.NoError(t, err)
	publisher := rabbitmq.NewPublisher(pconn, rabbitmq.PublisherOptions{})
	pool, err := proxy.NewPool(proxy.Config{RatePerIP: 1000, Burst: 50}, clk, log, p.parserReg)
	require.NoError(t, err)
	pub, sec := dmarkettest.DemoKeys()
	signer, err := dmarket.NewSigner(pub, sec)
	require.NoError(t, err)
	client, err := dmarket.New(dmarket.Config{BaseURL: sim.URL(), RequestTimeout: 10 * time.Second, MaxAttempts: 4},
		crawler.NewPoolEgress(pool), log, p.parserReg, clk, dmarket.WithSigner(signer))
	require.NoError(t, err)
	ccfg := crawler.DefaultConfig()
	ccfg.Games = games
	ccfg.Bounds = parserBounds
	ccfg.CycleInterval = time.Hour
	ccfg.CycleDeadline = 2 * time.Minute
	ccfg.WithKeys = true
	ccfg.IsRetryable = dmarket.IsRetryable
	ccfg.Concurrency = 8
	ccfg.SignedWorkers = 2
	ccfg.SalesBatch = 50
	ccfg.SalesIdle = 100 * time.Millisecond
	ccfg.RetryBase = 50 * time.Millisecond
	ccfg.RetryMax = time.Second
	sched, err := salesschedule.New(p.rdb, clk, salesschedule.Config{})
	require.NoError(t, err)
	crawl, err := crawler.New(ccfg, crawler.Deps{API: crawler.NewDMarketAPI(client), Publisher: publisher,
		Schedule: sched, Gate: fetchgate.New(p.rdb, ""), Clock: clk, Log: log, Registry: p.parserReg})
	require.NoError(t, err)

	// Worker.
	store, err := pricestore.New(p.rdb, clk, pricestore.Config{PriceTTL: time.Hour, HistoryTTL: 24 * time.Hour})
	require.NoError(t, err)
	wsched, err := salesschedule.New(p.rdb, clk, salesschedule.Config{})
	require.NoError(t, err)
	handler, err := worker.New(worker.Config{}, worker.Deps{Store: store, Schedule: wsched, Analyse: worker.SellHistory,
		Logger: log, Registerer: p.workerReg, Clock: clk})
	require.NoError(t, err)
	wconn, err := rabbitmq.NewConn(amqpURL, log, p.workerReg, rabbitmq.ConnOptions{Queues: queues})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	run := func(name string, f func(context.Context) error) {
		g.Go(func() error {
			err := f(gctx)
			if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				p.errs <- errors.New(name + ": " + err.Error())
			}
			return nil
		})
	}
	run("parser connection", pconn.Run)
	run("worker connection", wconn.Run)
	for _, q := range queues {
		c := rabbitmq.NewConsumer(wconn, q, handler, rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8,
			MaxAttempts: 5, ShutdownTimeout: 5 * time.Second})
		run("consumer "+q, c.Run)
	}
	crawlCtx, stopCrawl := context.WithCancel(gctx)
	p.stopCrawl, p.crawl, p.crawlCtx = stopCrawl, crawl, crawlCtx
	g.Go(func() error {
		if err := crawl.Run(crawlCtx); err != nil && crawlCtx.Err() == nil {
			p.errs <- errors.New("crawler: " + err.Error())
		}
		return nil
	})
	t.Cleanup(func() {
		cancel()
		_ = g.Wait()
		publisher.Close()
		_ = pconn.Close()
		_ = wconn.Close()
	})
	return p
}

// awaitSettled waits until the crawler's first cycle completed, runs cycles−1 more complete cycles, waits
// until every title's sales were fetched, stops the crawler and waits until the worker handled every
// message the parser published (acknowledged or dead-lettered).
func (p *truthPipeline) awaitSettled(t *testing.T, cycles, titles int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	await := func(what string, done func() (bool, string)) {
		for {
			select {
			case err := <-p.errs:
				t.Fatalf("pipeline component failed: %v", err)
			default:
			}
			ok, why := done()
			if ok {
				t.Logf("%s: %s", what, why)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s: %s", what, within, why)
			}
			<-tick.C
		}
	}
	cycle := func(outcome string) float64 {
		return gathered(t, p.parserReg).sum("dmarket_crawler_cycles_total", "outcome", outcome)
	}
	await("first crawl", func() (bool, string) {
		if cycle("partial") > 0 {
			t.Fatalf("a crawl cycle left ranges unfinished")
		}
		return cycle("complete") >= 1, fmt.Sprintf("complete cycles %v", cycle("complete"))
	})
	for i := 1; i < cycles; i++ {
		st := p.crawl.RunCycle(p.crawlCtx)
		require.Zero(t, st.Unfinished, "crawl %d left ranges unfinished", i+1)
		t.Logf("crawl %d: %d pages, %d listings", i+1, st.Pages, st.Listings)
	}
	await("sales", func() (bool, string) {
		sales := gathered(t, p.parserReg).sum("dmarket_crawler_sales_titles_total", "outcome", "ok")
		return sales >= float64(titles), fmt.Sprintf("titles with sales fetched %v of %d", sales, titles)
	})
	p.stopCrawl()
	await("worker", func() (bool, string) {
		published := gathered(t, p.parserReg).sum("dmarket_crawler_pages_published_total")
		handled := gathered(t, p.workerReg).sum("dmarket_worker_pages_total", "outcome", "ok") +
			gathered(t, p.workerReg).sum("dmarket_worker_pages_total", "outcome", "invalid")
		return handled >= published, fmt.Sprintf("messages handled %v of %v", handled, published)
	})
}
