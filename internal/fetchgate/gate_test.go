package fetchgate

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/fetchgate/fetchgatetest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func TestContract(t *testing.T) {
	redisdbtest.EachServer(t, func(t *testing.T, srv redisdbtest.Server) {
		fetchgatetest.Contract(t, func(t *testing.T) fetchgatetest.Gate { return New(srv.Client(t), "") })
	})
}

func TestKeyLivesOnePeriod(t *testing.T) {
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		g := New(rdb, "test:")
		due, err := g.Due(ctx, FeesKey("a8db"), time.Hour)
		require.NoError(t, err)
		require.True(t, due)
		ttl, err := rdb.TTL(ctx, "test:"+KeyPrefix+"fees:a8db").Result()
		require.NoError(t, err)
		require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, "the claim ends with the period")
	})
}

func TestErrorsNameTheKey(t *testing.T) {
	g := New(redisdbtest.Unreachable(t), "")
	_, err := g.Due(context.Background(), "fees:a8db", time.Hour)
	require.ErrorContains(t, err, "gate fees:a8db")
	require.ErrorContains(t, g.Release(context.Background(), "fees:a8db"), "release")
}
