package fetchgate

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func newGate(t *testing.T) (*Gate, *redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	require.NoError(t, rdb.Ping(context.Background()).Err(), "redis must run on 127.0.0.1:6379")
	prefix := "test:" + t.Name() + ":" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	t.Cleanup(func() {
		it := rdb.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
		for it.Next(context.Background()) {
			rdb.Del(context.Background(), it.Val())
		}
		_ = rdb.Close()
	})
	return New(rdb, prefix), rdb, prefix
}

func TestDueOncePerPeriodAcrossCallers(t *testing.T) {
	g, rdb, prefix := newGate(t)
	ctx := context.Background()
	var yes atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			ok, err := g.Due(ctx, "fees:a8db", time.Hour)
			require.NoError(t, err)
			if ok {
				yes.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), yes.Load(), "exactly one caller is told the job is due")
	ttl, err := rdb.TTL(ctx, prefix+KeyPrefix+"fees:a8db").Result()
	require.NoError(t, err)
	require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5)

	ok, err := g.Due(ctx, "fees:9a92", time.Hour)
	require.NoError(t, err)
	require.True(t, ok, "keys are independent")

	require.NoError(t, g.Release(ctx, "fees:a8db"))
	ok, err = g.Due(ctx, "fees:a8db", time.Hour)
	require.NoError(t, err)
	require.True(t, ok, "a released job is due again")
}

func TestErrorsNameTheKey(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	g := New(rdb, "")
	_, err := g.Due(context.Background(), "fees:a8db", time.Hour)
	require.ErrorContains(t, err, "gate fees:a8db")
	require.ErrorContains(t, g.Release(context.Background(), "fees:a8db"), "release")
}
