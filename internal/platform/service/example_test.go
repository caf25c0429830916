package service_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
)

// Example shows how a binary wires the foundation packages: Main loads the configuration (-h and
// -version included), builds the redacting logger and runs run until SIGINT or SIGTERM; run opens the
// tracer and Redis, registers Redis's health check and serves the ops server until ctx ends.
func Example() {
	run := func(ctx context.Context, cfg config.Worker, log *slog.Logger) error {
		log.Info("worker starting", "config", cfg)
		tracer, rdb, closeAll, err := service.Open("worker", cfg.Common, log)
		if err != nil {
			return err
		}
		defer closeAll()
		_ = tracer // handed to the components that start spans

		metrics := ops.NewRegistry()
		checks := health.NewRegistry(clock.Real{})
		checks.Register("redis", redisdb.HealthCheck(rdb), health.Critical())
		srv, err := service.Listen(cfg.Common, metrics, checks, log)
		if err != nil {
			return err
		}
		return srv.Run(ctx)
	}
	os.Exit(service.Main("worker", config.LoadWorker, run))
}
