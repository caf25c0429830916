package ops_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// TestWiring runs the foundation packages together the way a binary does, against the local Redis.
func TestWiring(t *testing.T) {
	const rabbitPassword = "rabbit-s3cret"
	cfg, err := config.LoadWorker(nil, []string{
		"REDIS_URL=" + redisdbtest.URL(t),
		"RABBITMQ_URL=amqp://user:" + rabbitPassword + "@rabbit:5672/",
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_FORMAT=json",
	})
	require.NoError(t, err)

	var logs loggingtest.Buffer
	log, err := logging.New(&logs, cfg.LogLevel, cfg.LogFormat, logging.WithSecrets(cfg.Secrets()...))
	require.NoError(t, err)
	log.Info("starting worker", "config", cfg)
	log.Warn("dial failed: password " + rabbitPassword + " rejected")

	rdb, err := redisdb.New(cfg.RedisURL)
	require.NoError(t, err)
	defer rdb.Close()
	metrics := ops.NewRegistry()
	checks := health.NewRegistry(clock.Real{})
	checks.Register("redis", redisdb.HealthCheck(rdb), health.Critical())
	checks.Register("rabbitmq", func(context.Context) (health.Status, error) { return health.StatusHealthy, nil }, health.Critical())
	metrics.MustRegister(checks)

	srv := ops.New(cfg.HTTPAddr, metrics, checks, log, ops.WithShutdownTimeout(cfg.ShutdownTimeout))
	require.NoError(t, srv.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	resp, err := http.Get("http://" + srv.Addr() + "/health")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var rep struct {
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Equal(t, "healthy", rep.Status)

	resp, err = http.Get("http://" + srv.Addr() + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `dmarket_health_component_status{component="redis",status="healthy"} 1`)
	require.Contains(t, string(body), "dmarket_health_ready 1")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("ops server did not stop")
	}
	out := logs.String()
	require.Contains(t, out, `"WORKER_PREFETCH":64`)
	require.NotContains(t, out, rabbitPassword)
	require.Contains(t, out, "password **** rejected")
}
