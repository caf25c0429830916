// Command parser crawls DMarket through rotating proxies and publishes raw API pages to RabbitMQ.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
)

func main() {
	cfg, err := config.LoadParser(os.Args[1:], os.Environ())
	if err != nil {
		os.Exit(config.Exit(os.Stdout, os.Stderr, "parser", err))
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, logging.WithSecrets(cfg.Secrets()...))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	if err := run(ctx, cfg, log, reload); err != nil {
		log.Error("parser stopped", "err", err)
		os.Exit(1)
	}
}

// run wires the parser in dependency order and runs it until ctx ends.
func run(ctx context.Context, cfg config.Parser, log *slog.Logger, reload <-chan struct{}) error {
	log.Info("parser starting", "config", cfg)
	reg := ops.NewRegistry()
	clk := clock.Real{}

	tracer, stopTracing, err := tracing.New("parser", cfg.ZipkinURL, cfg.ZipkinSampleRate, log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer lifecycle.Shutdown(log, "tracing", cfg.ShutdownTimeout, stopTracing)

	rdb, err := redisdb.New(cfg.RedisURL, redisdb.WithClientName("parser"))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.Close()

	queues := make([]string, 0, len(message.Kinds))
	for _, k := range message.Kinds {
		queues = append(queues, message.Queue(k))
	}
	amqpConn, err := rabbitmq.NewConn(cfg.RabbitMQURL, log, reg, rabbitmq.ConnOptions{Queues: queues, DeliveryLimit: cfg.DeliveryLimit})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer amqpConn.Close()
	publisher := rabbitmq.NewPublisher(amqpConn, rabbitmq.PublisherOptions{})
	defer publisher.Close()

	pool, err := proxy.NewPool(proxy.Config{File: cfg.ProxiesFile, RatePerIP: cfg.RatePerIP}, clk, log, reg)
	if err != nil {
		return fmt.Errorf("proxies: %w", err)
	}
	withKeys := cfg.PublicKey != "" && cfg.SecretKey != ""
	account, err := ratelimit.NewAccount(ratelimit.AccountConfig{}, clk, reg)
	if err != nil {
		return fmt.Errorf("account limits: %w", err)
	}
	opts := []dmarket.Option{dmarket.WithTracer(tracer), dmarket.WithAccountLimiter(accountLimiter{account})}
	if withKeys {
		signer, err := dmarket.NewSigner(cfg.PublicKey, cfg.SecretKey)
		if err != nil {
			return fmt.Errorf("dmarket keys: %w", err)
		}
		opts = append(opts, dmarket.WithSigner(signer))
	}
	client, err := dmarket.New(dmarket.Config{
		BaseURL: cfg.DMarketAPIURL, RequestTimeout: cfg.RequestTimeout, MaxAttempts: cfg.MaxRetries + 1,
	}, crawler.NewPoolEgress(pool), log, reg, clk, opts...)
	if err != nil {
		return fmt.Errorf("dmarket client: %w", err)
	}

	ccfg := crawler.DefaultConfig()
	ccfg.Games = cfg.GameIDs
	ccfg.Bounds = priceBounds(cfg.PriceBounds)
	ccfg.MaxChainPages = cfg.SplitPages
	ccfg.CycleInterval = cfg.CycleInterval
	ccfg.CycleDeadline = cfg.CycleTimeout
	ccfg.SalesRefresh = cfg.SalesInterval
	ccfg.FeesPeriod = cfg.FeesInterval
	ccfg.WithKeys = withKeys
	ccfg.IsRetryable = dmarket.IsRetryable
	// Enough chains to keep every egress busy while a page is in flight.
	_, egresses := pool.Usable()
	ccfg.Concurrency = max(4, 2*egresses)
	if withKeys {
		// The account's signed listings budget (10/s) next to the egresses' per-IP budget.
		ccfg.SignedWorkers = max(1, int(float64(ccfg.Concurrency)*10/(pool.Capacity()+10)))
		ccfg.Concurrency += ccfg.SignedWorkers
	}
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	if err != nil {
		return fmt.Errorf("sales schedule: %w", err)
	}
	crawl, err := crawler.New(ccfg, crawler.Deps{
		API: crawler.NewDMarketAPI(client), Publisher: publisher, Schedule: sched, Gate: fetchgate.New(rdb, ""),
		Clock: clk, Log: log, Tracer: tracer, Registry: reg,
	})
	if err != nil {
		return fmt.Errorf("crawler: %w", err)
	}

	checks := health.NewRegistry(clk)
	checks.Register("redis", redisdb.HealthCheck(rdb), health.Critical())
	checks.Register("rabbitmq", rabbitmq.HealthCheck(amqpConn), health.Critical())
	checks.Register("dmarket", dmarketHealth(client))
	checks.Register("proxies", proxiesHealth(pool))

	reg.MustRegister(checks)
	srv := ops.New(cfg.HTTPAddr, reg, checks, log, ops.WithShutdownTimeout(cfg.ShutdownTimeout))
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("ops server: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return lifecycle.IgnoreCanceled(amqpConn.Run(gctx)) })
	g.Go(func() error { return lifecycle.IgnoreCanceled(pool.Watch(gctx, reload)) })
	g.Go(func() error { return crawl.Run(gctx) })
	err = g.Wait()
	log.Info("parser stopped")
	return err
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
