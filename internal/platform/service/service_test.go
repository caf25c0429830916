package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
)

type testConfig struct{ level, secret string }

func (c testConfig) Logging() (level, format string) { return c.level, "text" }
func (c testConfig) Secrets() []string               { return []string{c.secret} }

func TestStartExitCodes(t *testing.T) {
	errRun := errors.New("run failed with s3cr3t")
	tests := []struct {
		name       string
		loadErr    error
		level      string
		runErr     error
		want       int
		wantStdout string
		wantStderr string
		ran        bool
	}{
		{name: "clean stop", level: "info", want: 0, ran: true},
		{name: "run fails", level: "info", runErr: errRun, want: 1, ran: true,
			wantStderr: `msg="prog stopped" err="run failed with ***`},
		{name: "help", loadErr: flag.ErrHelp, want: 0, wantStdout: "prog"},
		{name: "version", loadErr: config.ErrVersion, want: 0, wantStdout: "prog"},
		{name: "bad configuration", loadErr: errors.New("REDIS_URL: bad"), want: 2, wantStderr: "REDIS_URL: bad"},
		{name: "bad log level", level: "loud", want: 2, wantStderr: "loud"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ran := false
			load := func(args, environ []string) (testConfig, error) {
				require.Equal(t, []string{"-x"}, args)
				require.Equal(t, []string{"A=1"}, environ)
				return testConfig{level: tc.level, secret: "s3cr3t"}, tc.loadErr
			}
			run := func(_ context.Context, _ testConfig, log *slog.Logger) error {
				ran = true
				require.NotNil(t, log)
				return tc.runErr
			}
			code := Start(context.Background(), "prog", []string{"-x"}, []string{"A=1"}, &stdout, &stderr, load, run)
			require.Equal(t, tc.want, code)
			require.Equal(t, tc.ran, ran)
			require.Contains(t, stdout.String(), tc.wantStdout)
			require.Contains(t, stderr.String(), tc.wantStderr)
			require.NotContains(t, stderr.String(), "s3cr3t")
		})
	}
}

func TestSignalContextStops(t *testing.T) {
	ctx, stop := SignalContext(context.Background())
	require.NoError(t, ctx.Err())
	stop()
	require.ErrorIs(t, ctx.Err(), context.Canceled)
}

func TestOpen(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	common := config.Common{RedisURL: "redis://127.0.0.1:6379/0", ShutdownTimeout: time.Second, ZipkinSampleRate: 1}

	tracer, rdb, closeAll, err := Open("prog", common, log)
	require.NoError(t, err)
	require.NotNil(t, tracer)
	require.NotNil(t, rdb)
	closeAll()
	require.ErrorIs(t, rdb.Ping(context.Background()).Err(), redis.ErrClosed)

	badTracing := common
	badTracing.ZipkinURL = "zipkin:9411"
	_, _, _, err = Open("prog", badTracing, log)
	require.ErrorContains(t, err, "tracing: ")

	badRedis := common
	badRedis.RedisURL = "mysql://localhost"
	_, _, _, err = Open("prog", badRedis, log)
	require.ErrorContains(t, err, "redis: ")
}

func TestListen(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	reg := ops.NewRegistry()
	srv, err := Listen(config.Common{HTTPAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}, reg,
		health.NewRegistry(clock.Real{}), log)
	require.NoError(t, err)
	lifecycletest.Run(t, 10*time.Second, srv.Run)

	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, string(body), "dmarket_health_ready", "the checks are registered on reg")

	_, err = Listen(config.Common{HTTPAddr: "127.0.0.1:-1"}, ops.NewRegistry(), health.NewRegistry(clock.Real{}), log)
	require.ErrorContains(t, err, "ops server: ")
}

func TestServe(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	common := config.Common{HTTPAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}
	errTask := errors.New("task failed")
	tests := []struct {
		name   string
		common config.Common
		tasks  []func(context.Context) error
		want   string
	}{
		{name: "a failing task stops the rest", common: common, want: errTask.Error(), tasks: []func(context.Context) error{
			func(ctx context.Context) error { <-ctx.Done(); return nil },
			func(context.Context) error { return nil },
			func(context.Context) error { return errTask },
		}},
		{name: "the ops server cannot listen", common: config.Common{HTTPAddr: "127.0.0.1:-1"}, want: "ops server: ",
			tasks: []func(context.Context) error{func(context.Context) error { panic("a task started") }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Serve(context.Background(), tc.common, ops.NewRegistry(), health.NewRegistry(clock.Real{}), log, tc.tasks...)
			require.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("serves until the context ends", func(t *testing.T) {
		ran := make(chan struct{})
		stop := lifecycletest.Start(t, 10*time.Second, func(ctx context.Context) error {
			return Serve(ctx, common, ops.NewRegistry(), health.NewRegistry(clock.Real{}), log,
				func(ctx context.Context) error { close(ran); <-ctx.Done(); return nil })
		})
		<-ran
		require.NoError(t, stop())
	})
}
