// Command parser crawls DMarket through rotating proxies and publishes raw API pages to RabbitMQ.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/watchlist"
)

func main() {
	os.Exit(service.Main("parser", config.LoadParser, run))
}

// run wires the parser in dependency order and runs it until ctx ends; SIGHUP reloads the proxy file.
func run(ctx context.Context, cfg config.Parser, log *slog.Logger) error {
	log.Info("parser starting", "config", cfg)
	reload := reloadOnHangup(ctx)
	reg := ops.NewRegistry()
	clk := clock.Real{}

	tracer, rdb, closeAll, err := service.Open("parser", cfg.Common, log)
	if err != nil {
		return err
	}
	defer closeAll()

	amqpConn, err := rabbitmq.NewConn(cfg.RabbitMQURL, log, reg,
		rabbitmq.ConnOptions{Queues: rabbitmq.Queues(), DeliveryLimit: cfg.DeliveryLimit})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer amqpConn.Close()
	publisher := rabbitmq.NewPublisher(amqpConn, rabbitmq.PublisherOptions{})
	defer publisher.Close()

	pool, holdProxies, err := newProxyPool(ctx, cfg, rdb, clk, log, reg)
	if err != nil { // a stop while waiting for a free proxy file is a clean exit
		return lifecycle.IgnoreCanceled(err)
	}
	client, err := newDMarketClient(cfg, pool, tracer, clk, log, reg)
	if err != nil {
		return err
	}
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	if err != nil {
		return fmt.Errorf("sales schedule: %w", err)
	}
	leases, err := crawlLeases(cfg, rdb, clk)
	if err != nil {
		return err
	}
	crawl, err := crawler.New(crawlerConfig(cfg, pool), crawler.Deps{
		API: crawler.NewDMarketAPI(client), Publisher: publisher, Schedule: sched, Gate: fetchgate.New(rdb, ""),
		Clock: clk, Log: log, Tracer: tracer, Registry: reg, Leases: leases,
		Budget: laneBudget(pool, cfg.RatePerIP), Watchlist: watchlist.New(rdb, clk),
	})
	if err != nil {
		return fmt.Errorf("crawler: %w", err)
	}

	checks := health.NewRegistry(clk)
	checks.Register("redis", redisdb.HealthCheck(rdb), health.Critical())
	checks.Register("rabbitmq", rabbitmq.HealthCheck(amqpConn), health.Critical())
	checks.Register("dmarket", dmarket.HealthCheck(client, dmarket.HealthCheckConfig{MinSuccessPercent: 90}))
	checks.Register("proxies", proxiesHealth(pool))
	err = service.Serve(ctx, cfg.Common, reg, checks, log,
		func(ctx context.Context) error { return lifecycle.IgnoreCanceled(amqpConn.Run(ctx)) },
		func(ctx context.Context) error { return lifecycle.IgnoreCanceled(pool.Watch(ctx, reload)) },
		crawl.Run, holdProxies)
	log.Info("parser stopped")
	return err
}

// reloadOnHangup returns a channel that fires on SIGHUP until ctx ends; signals that arrive while a
// reload is pending are merged into it.
func reloadOnHangup(ctx context.Context) <-chan struct{} {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	return reload
}

// newDMarketClient returns the DMarket client sending through pool, limited per account and signing
// when both keys are set.
func newDMarketClient(cfg config.Parser, pool *proxy.Pool, tracer *zipkin.Tracer, clk clock.Real, log *slog.Logger,
	reg prometheus.Registerer) (*dmarket.Client, error) {
	account, err := ratelimit.NewAccount(ratelimit.AccountConfig{}, clk, reg)
	if err != nil {
		return nil, fmt.Errorf("account limits: %w", err)
	}
	opts := []dmarket.Option{dmarket.WithTracer(tracer), dmarket.WithAccountLimiter(accountLimiter{account})}
	if withKeys(cfg) {
		signer, err := dmarket.NewSigner(cfg.PublicKey, cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("dmarket keys: %w", err)
		}
		opts = append(opts, dmarket.WithSigner(signer))
	}
	client, err := dmarket.New(dmarket.Config{
		BaseURL: cfg.DMarketAPIURL, RequestTimeout: cfg.RequestTimeout, MaxAttempts: cfg.MaxRetries + 1,
	}, crawler.NewPoolEgress(pool), log, reg, clk, opts...)
	if err != nil {
		return nil, fmt.Errorf("dmarket client: %w", err)
	}
	return client, nil
}

// crawlLeases returns the Redis leases through which the parser shares each crawl cycle with the other
// parsers when PARSER_SHARED_CRAWL is on, nil (crawl alone) when it is off.
func crawlLeases(cfg config.Parser, rdb lease.Client, clk clock.Real) (crawler.Leases, error) {
	if !cfg.SharedCrawl {
		return nil, nil
	}
	store, err := lease.New(rdb, cfg.LeaseTTL, clk)
	if err != nil {
		return nil, fmt.Errorf("crawl leases: %w", err)
	}
	return crawler.NewLeases(store), nil
}

// withKeys reports whether both DMarket keys are set: signed jobs (buy orders, sales, fees) need them.
func withKeys(cfg config.Parser) bool { return cfg.PublicKey != "" && cfg.SecretKey != "" }

// crawlerConfig returns the crawl's configuration, sized to the proxy pool.
func crawlerConfig(cfg config.Parser, pool *proxy.Pool) crawler.Config {
	ccfg := crawler.DefaultConfig()
	ccfg.Games = cfg.GameIDs
	ccfg.Bounds = priceBounds(cfg.PriceBounds)
	ccfg.MaxChainPages = cfg.SplitPages
	ccfg.CycleInterval = cfg.CycleInterval
	ccfg.CycleDeadline = cfg.CycleTimeout
	ccfg.SalesRefresh = cfg.SalesInterval
	ccfg.FeesPeriod = cfg.FeesInterval
	ccfg.WithKeys = withKeys(cfg)
	ccfg.FreshShare = cfg.FreshShare
	ccfg.WatchShare = cfg.WatchShare
	ccfg.WatchInterval = cfg.WatchInterval
	ccfg.IsRetryable = dmarket.IsRetryable
	// Enough chains to keep every egress busy while a page is in flight.
	_, egresses := pool.Usable()
	ccfg.Concurrency = max(4, 2*egresses)
	if ccfg.WithKeys {
		// The account's signed listings budget (10/s) next to the egresses' per-IP budget.
		ccfg.SignedWorkers = max(1, int(float64(ccfg.Concurrency)*10/(pool.Capacity()+10)))
		ccfg.Concurrency += ccfg.SignedWorkers
	}
	return ccfg
}

// laneBudget returns the listings budget the fresh and watch lanes take their shares of: the usable
// egresses × PARSER_RATE_PER_IP, read at every request, so that it follows the proxy file and cooldowns.
func laneBudget(pool *proxy.Pool, ratePerIP float64) func() float64 {
	return func() float64 {
		usable, _ := pool.Usable()
		return float64(usable) * ratePerIP
	}
}

func priceBounds(dollars config.CentsList) []int64 {
	out := []int64{0}
	for _, c := range dollars {
		if int64(c) > out[len(out)-1] {
			out = append(out, int64(c))
		}
	}
	return out
}
