package redisdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		addr    string
		db      int
		pass    string
		tls     bool
		wantErr string
	}{
		{name: "default", url: "redis://localhost:6379/0", addr: "localhost:6379"},
		{name: "password and db", url: "redis://:s3cr3t@redis:6380/3", addr: "redis:6380", db: 3, pass: "s3cr3t"},
		{name: "tls", url: "rediss://u:pw@h/1", addr: "h:6379", db: 1, pass: "pw", tls: true},
		{name: "unix", url: "unix:///tmp/redis.sock?db=2", addr: "/tmp/redis.sock", db: 2},
		{name: "bad scheme", url: "http://:s3cr3t@h/0", wantErr: "scheme must be redis, rediss or unix"},
		{name: "bad db", url: "redis://:s3cr3t@h/abc", wantErr: "invalid database number"},
		{name: "bad db leaking password", url: "redis://:s3cr3t@h/s3cr3t", wantErr: "invalid database number"},
		{name: "unparsable", url: "redis://:s3cr3t@h:port/0", wantErr: "invalid port"},
		{name: "unparsable, slash in password", url: "redis://:s3cr3t/x@h/0", wantErr: "invalid"},
		{name: "password as user", url: "http://s3cr3t@h/0", wantErr: "scheme must be"},
		{name: "bad option", url: "redis://:s3cr3t@h/0?dial_timeout=s3cr3t", wantErr: "invalid dial_timeout duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := redisdb.ParseURL(tt.url)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, redisdb.ErrInvalidURL)
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "s3cr3t")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.addr, o.Addr)
			require.Equal(t, tt.db, o.DB)
			require.Equal(t, tt.pass, o.Password)
			require.Equal(t, tt.tls, o.TLSConfig != nil)
		})
	}
}

func TestNewOptions(t *testing.T) {
	c, err := redisdb.New("redis://localhost:6379/0",
		redisdb.WithPoolSize(7),
		redisdb.WithClientName("worker"))
	require.NoError(t, err)
	defer c.Close()
	single, ok := c.(*redis.Client)
	require.True(t, ok, "a URL without addr parameters gives a single-node client, got %T", c)
	o := single.Options()
	require.Equal(t, 7, o.PoolSize)
	require.Equal(t, "worker", o.ClientName)

	_, err = redisdb.New("redis://:pw@h/x")
	require.ErrorIs(t, err, redisdb.ErrInvalidURL)
}

func TestCheckHealthy(t *testing.T) {
	c, err := redisdb.New(redisdbtest.URL(t))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, redisdb.Check(context.Background(), c))
	status, err := redisdb.HealthCheck(c)(context.Background())
	require.NoError(t, err)
	require.Equal(t, health.StatusHealthy, status)
}

func TestCheckUnreachableHidesPassword(t *testing.T) {
	c, err := redisdb.New("redis://:s3cr3t@127.0.0.1:1/0?dial_timeout=200ms")
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = redisdb.Check(ctx, c)
	require.ErrorContains(t, err, "ping redis")
	require.NotContains(t, err.Error(), "s3cr3t")
	status, err := redisdb.HealthCheck(c)(ctx)
	require.Error(t, err)
	require.Equal(t, health.StatusUnhealthy, status)
}
