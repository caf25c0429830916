package ops_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
)

// Example shows how a binary wires the foundation packages: configuration, the redacting logger, the
// tracer, Redis with its health check, and the ops server.
func Example() {
	cfg, err := config.LoadWorker(os.Args[1:], os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(config.Usage("worker"))
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // the message lists every bad variable, secrets masked
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, logging.WithSecrets(cfg.Secrets()...))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log.Info("starting worker", "config", cfg)

	tracer, stopTracing, err := tracing.New("worker", cfg.ZipkinURL, cfg.ZipkinSampleRate, log)
	if err != nil {
		log.Error("start tracing", "err", err)
		os.Exit(1)
	}
	_ = tracer // handed to the components that start spans

	rdb, err := redisdb.New(cfg.RedisURL)
	if err != nil {
		log.Error("redis", "err", err)
		os.Exit(1)
	}
	defer rdb.Close()

	metrics := ops.NewRegistry()
	checks := health.NewRegistry(clock.Real{})
	checks.Register("redis", redisdb.HealthCheck(rdb), health.Critical())
	metrics.MustRegister(checks)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	srv := ops.New(cfg.HTTPAddr, metrics, checks, log, ops.WithShutdownTimeout(cfg.ShutdownTimeout))
	if err := srv.Run(ctx); err != nil {
		log.Error("ops server", "err", err)
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer done()
	if err := stopTracing(shutdownCtx); err != nil {
		log.Warn("stop tracing", "err", err)
	}
}
