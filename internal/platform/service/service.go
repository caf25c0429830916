// Package service runs a long-lived command the way every binary of the project starts and stops: load
// the configuration from the command line and the environment, build the logger that hides the
// configuration's secrets, run until SIGINT or SIGTERM, and turn the outcome into the exit code. Open
// opens the tracer and the Redis client every command starts with, Listen its ops server, Serve runs that
// server beside the command's own tasks.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
)

// Config is what Main reads of a command's configuration; config.Parser, config.Worker and config.Bot
// satisfy it.
type Config interface {
	// Logging returns LOG_LEVEL and LOG_FORMAT.
	Logging() (level, format string)
	// Secrets returns the values the logger never prints.
	Secrets() []string
}

// Loader loads a command's configuration from its arguments (without the program name) and environ.
type Loader[C Config] func(args, environ []string) (C, error)

// Runner runs a command until ctx ends; a nil error is a clean stop.
type Runner[C Config] func(ctx context.Context, cfg C, log *slog.Logger) error

// Main runs program with the process's arguments, environment and standard streams until SIGINT or
// SIGTERM and returns its exit code, for os.Exit.
func Main[C Config](program string, load Loader[C], run Runner[C]) int {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	return Start(ctx, program, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, load, run)
}

// Start is Main with the context, arguments, environment and streams given. It returns config.Exit's
// code when the configuration does not load (0 for -h and -version, 2 otherwise), 2 when the logger
// cannot be built, 1 when run fails (logged as "<program> stopped") and 0 after a clean stop.
func Start[C Config](ctx context.Context, program string, args, environ []string, stdout, stderr io.Writer,
	load Loader[C], run Runner[C]) int {
	cfg, err := load(args, environ)
	if err != nil {
		return config.Exit(stdout, stderr, program, err)
	}
	level, format := cfg.Logging()
	log, err := logging.New(stderr, level, format, logging.WithSecrets(cfg.Secrets()...))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error(program+" stopped", "err", err)
		return 1
	}
	return 0
}

// SignalContext returns a context derived from parent that also ends on SIGINT or SIGTERM, the signals
// every command stops on, and the function that stops watching for them.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// Open opens what every command opens first, in this order: the tracer of program (ZIPKIN_URL) and the
// Redis client of REDIS_URL, named program and set up further by redisOpts. closeAll closes the Redis
// client, then flushes and stops the tracer within the shutdown timeout; after an error nothing is left
// open.
func Open(program string, cfg config.Common, log *slog.Logger, redisOpts ...redisdb.Option) (
	tracer *zipkin.Tracer, rdb redis.UniversalClient, closeAll func(), err error,
) {
	tracer, stopTracing, err := tracing.New(program, cfg.ZipkinURL, cfg.ZipkinSampleRate, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("tracing: %w", err)
	}
	stop := func() { lifecycle.Shutdown(log, "tracing", cfg.ShutdownTimeout, stopTracing) }
	rdb, err = redisdb.New(cfg.RedisURL, append([]redisdb.Option{redisdb.WithClientName(program)}, redisOpts...)...)
	if err != nil {
		stop()
		return nil, nil, nil, fmt.Errorf("redis: %w", err)
	}
	return tracer, rdb, func() {
		_ = rdb.Close()
		stop()
	}, nil
}

// Listen registers checks on reg and returns the command's ops server (HTTP_ADDR, stopping within
// SHUTDOWN_TIMEOUT) serving reg's metrics and checks, listening and ready to Run.
func Listen(cfg config.Common, reg *prometheus.Registry, checks *health.Registry, log *slog.Logger) (*ops.Server, error) {
	reg.MustRegister(checks)
	srv := ops.New(cfg.HTTPAddr, reg, checks, log, ops.WithShutdownTimeout(cfg.ShutdownTimeout))
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("ops server: %w", err)
	}
	return srv, nil
}

// Serve starts the command's ops server as Listen does and runs it beside every task until ctx ends or
// one of them fails; it returns the first error (a task that ends with nil does not stop the others).
func Serve(ctx context.Context, cfg config.Common, reg *prometheus.Registry, checks *health.Registry, log *slog.Logger,
	tasks ...func(context.Context) error) error {
	srv, err := Listen(cfg, reg, checks, log)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	for _, task := range tasks {
		g.Go(func() error { return task(gctx) })
	}
	return g.Wait()
}
