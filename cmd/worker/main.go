// Command worker consumes the raw DMarket pages the parser publishes, validates them, analyses sell
// history and writes the results to Redis. Any number of workers run side by side.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/worker"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "dlq" {
		ctx, stop := service.SignalContext(context.Background())
		code := runDLQ(ctx, os.Args[2:], os.Environ(), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(service.Main("worker", config.LoadWorker, run))
}

// run wires the worker in dependency order and consumes every queue until ctx ends.
func run(ctx context.Context, cfg config.Worker, log *slog.Logger) error {
	return runWith(ctx, cfg, log, nil)
}

// runWith is run with wrap, when not nil, put around the message handler: tests use it to make a
// message kill the process, as a fatal runtime error would.
func runWith(ctx context.Context, cfg config.Worker, log *slog.Logger, wrap func(message.Handler) message.Handler) error {
	log.Info("worker starting", "config", cfg)
	reg := ops.NewRegistry()
	clk := clock.Real{}

	tracer, rdb, closeAll, err := service.Open("worker", cfg.Common, log, redisdb.WithPoolSize(4*cfg.Concurrency))
	if err != nil {
		return err
	}
	defer closeAll()

	queues := rabbitmq.Queues()
	amqpConn, err := rabbitmq.NewConn(cfg.RabbitMQURL, log, reg, rabbitmq.ConnOptions{Queues: queues,
		Exchanges: []string{message.ChangesExchange}, DeliveryLimit: cfg.DeliveryLimit})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer amqpConn.Close()
	reg.MustRegister(newQueueDepth(amqpConn, queues))
	// Change events go out on the same connection, with confirms (best effort: see worker.Deps.Changes).
	changes := rabbitmq.NewPublisher(amqpConn, rabbitmq.PublisherOptions{Channels: 2})
	defer changes.Close()

	hd, err := newHandling(cfg, rdb, changes, tracing.MessageSpans(tracer), log, reg, clk)
	if err != nil {
		return err
	}
	if wrap != nil {
		hd.handler = wrap(hd.handler)
	}

	checks := health.NewRegistry(clk)
	checks.Register("redis", hd.guard.HealthCheck(redisdb.HealthCheck(rdb)), health.Critical())
	checks.Register("rabbitmq", rabbitmq.HealthCheck(amqpConn), health.Critical())
	srv, err := service.Listen(cfg.Common, reg, checks, log)
	if err != nil {
		return err
	}
	err = consume(ctx, cfg, amqpConn, queues, hd, srv)
	log.Info("worker stopped")
	return err
}

// handling is what the consumers need to handle deliveries.
type handling struct {
	handler  message.Handler
	guard    *worker.Guard
	dueAgain *worker.DueAgain
}

// newHandling builds the stores on rdb and the handler that writes to them and publishes the change
// events through changes, with the guard that pauses the consumers while Redis is unreachable and the
// observer of dead letters.
func newHandling(cfg config.Worker, rdb redis.UniversalClient, changes worker.ChangePublisher, spans worker.StartSpan, log *slog.Logger,
	reg prometheus.Registerer, clk clock.Clock) (handling, error) {
	store, err := pricestore.New(rdb, clk, pricestore.Config{PriceTTL: cfg.PriceTTL, HistoryTTL: cfg.HistoryTTL,
		ItemCacheTitles: itemCacheTitles(cfg.ItemCacheTitles)})
	if err != nil {
		return handling{}, fmt.Errorf("price store: %w", err)
	}
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	if err != nil {
		return handling{}, fmt.Errorf("sales schedule: %w", err)
	}
	// The guard pauses the consumers while Redis is unreachable (no attempt spent, nothing
	// dead-lettered) and keeps /readyz at 503 meanwhile.
	guard, err := worker.NewGuard(func(ctx context.Context) error { return redisdb.Check(ctx, rdb) },
		worker.GuardOptions{Logger: log, Registerer: reg})
	if err != nil {
		return handling{}, fmt.Errorf("redis guard: %w", err)
	}
	// Dead-lettered sales and fees make their title or game due again for the parser.
	dueAgain, err := worker.NewDueAgain(sched, fetchgate.New(rdb, ""), worker.DueAgainConfig{}, log, reg)
	if err != nil {
		return handling{}, fmt.Errorf("dead letters: %w", err)
	}
	handler, err := worker.New(worker.Config{}, worker.Deps{
		Store: store, Schedule: sched, Changes: changes, Orders: store, Analyse: worker.SellHistory, Logger: log,
		Registerer: reg, StartSpan: spans, Clock: clk,
	})
	if err != nil {
		return handling{}, fmt.Errorf("handler: %w", err)
	}
	return handling{handler: handler, guard: guard, dueAgain: dueAgain}, nil
}

// consume runs the ops server, the guard and one consumer per queue until ctx ends or one of them
// fails, and returns the first error.
func consume(ctx context.Context, cfg config.Worker, amqpConn *rabbitmq.Conn, queues []string, hd handling, srv *ops.Server) error {
	// The connection outlives the consumers: a consumer that is stopping still settles its in-flight
	// deliveries (retries are republished, dead letters published) through it.
	connCtx, stopConn := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConn()
	connDone := make(chan error, 1)
	go func() { connDone <- lifecycle.IgnoreCanceled(amqpConn.Run(connCtx)) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return hd.guard.Run(gctx) })
	for _, q := range queues {
		c := rabbitmq.NewConsumer(amqpConn, q, hd.handler, rabbitmq.ConsumerOptions{
			Prefetch: cfg.Prefetch, Concurrency: cfg.Concurrency, MaxAttempts: cfg.MaxAttempts,
			ShutdownTimeout: cfg.ShutdownTimeout, Pauser: hd.guard, DeadLetters: hd.dueAgain,
		})
		g.Go(func() error { return lifecycle.IgnoreCanceled(c.Run(gctx)) })
	}
	err := g.Wait()
	stopConn()
	if cerr := <-connDone; err == nil {
		err = cerr
	}
	return err
}

// itemCacheTitles maps WORKER_ITEM_CACHE_TITLES to pricestore.Config.ItemCacheTitles: the variable's 0
// (no cache, every item sent every time) is the store's negative value, whose 0 means its default.
func itemCacheTitles(titles int) int {
	if titles == 0 {
		return -1
	}
	return titles
}
