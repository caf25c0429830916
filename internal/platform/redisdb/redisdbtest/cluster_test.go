package redisdbtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// masterKeys returns the number of keys on each master of c.
func masterKeys(t *testing.T, c *redis.ClusterClient) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int64{}
	require.NoError(t, c.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		n, err := node.DBSize(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		out[node.Options().Addr] = n
		return err
	}))
	return out
}

func TestNewClusterGivesEmptyClusterOnEveryMaster(t *testing.T) {
	ctx := context.Background()
	c := NewCluster(t)
	sizes := masterKeys(t, c)
	require.GreaterOrEqual(t, len(sizes), 2, "the test cluster has several masters")
	for addr, n := range sizes {
		require.Zero(t, n, "master %s holds keys at the start", addr)
	}

	for i := range 50 {
		require.NoError(t, c.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err())
	}
	total := int64(0)
	for addr, n := range masterKeys(t, c) {
		require.Positive(t, n, "50 keys spread over every master; %s has none", addr)
		total += n
	}
	require.EqualValues(t, 50, total)

	// The cluster is held by this test: the lock holds a token of this process.
	ctl, _ := lockServer(t)
	defer ctl.Close()
	token, err := ctl.Get(ctx, ClusterLockKey).Result()
	require.NoError(t, err)
	require.Contains(t, token, "/")
	require.Positive(t, ctl.PTTL(ctx, ClusterLockKey).Val())
}

func TestClusterCleanupFlushesAndReleases(t *testing.T) {
	ctx := context.Background()
	var token string
	// Registered before NewCluster, so it runs after NewCluster's cleanup.
	var check *redis.ClusterClient
	t.Run("user", func(t *testing.T) {
		t.Cleanup(func() {
			if check == nil {
				return // NewCluster failed or skipped the test
			}
			// Another test process may take the cluster at once and flush it again; our keys are gone
			// either way, and the lock no longer holds our token.
			for i := range 20 {
				require.Equal(t, redis.Nil, check.Get(ctx, fmt.Sprintf("left-over-%d", i)).Err())
			}
			ctl, _ := lockServer(t)
			defer ctl.Close()
			got, err := ctl.Get(ctx, ClusterLockKey).Result()
			if err == nil {
				require.NotEqual(t, token, got)
			} else {
				require.ErrorIs(t, err, redis.Nil)
			}
		})
		c := NewCluster(t)
		check = redis.NewClusterClient(c.Options())
		for i := range 20 {
			require.NoError(t, c.Set(ctx, fmt.Sprintf("left-over-%d", i), "x", 0).Err())
		}
		ctl, _ := lockServer(t)
		defer ctl.Close()
		var err error
		token, err = ctl.Get(ctx, ClusterLockKey).Result()
		require.NoError(t, err)
	})
	if check != nil {
		require.NoError(t, check.Close())
	}
}

func TestClusterURLNamesTheReservedCluster(t *testing.T) {
	ctx := context.Background()
	u := ClusterURL(t)
	require.Equal(t, clusterURL(), u)
	opts, err := redis.ParseClusterURL(u)
	require.NoError(t, err)
	c := redis.NewClusterClient(opts)
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, "v", c.Get(ctx, "k").Val())
}

func TestBothRunsSingleAndCluster(t *testing.T) {
	var kinds []string
	Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		switch c := rdb.(type) {
		case *redis.Client:
			require.GreaterOrEqual(t, DB(c), FirstDB)
			kinds = append(kinds, "single")
		case *redis.ClusterClient:
			kinds = append(kinds, "cluster")
		}
		require.NoError(t, rdb.Ping(context.Background()).Err())
	})
	if len(kinds) == 1 && os.Getenv(EnvClusterRequired) != "1" {
		t.Skip("the cluster subtest was skipped: the cluster is not reachable")
	}
	require.Equal(t, []string{"single", "cluster"}, kinds)

	var urls []string
	BothURL(t, func(t *testing.T, u string) { urls = append(urls, u) })
	require.Len(t, urls, 2)
	require.True(t, strings.HasPrefix(urls[0], serverURL()), urls[0])
	require.Equal(t, clusterURL(), urls[1])

	var names []string
	EachServer(t, func(t *testing.T, srv Server) {
		names = append(names, srv.Name)
		require.NoError(t, srv.Client(t).Ping(context.Background()).Err())
	})
	require.Equal(t, []string{"single", "cluster"}, names)
}

// testLock returns a client of the lock server and a lock and next-waiter key of t's own, so that the test
// never disturbs the real cluster lock; both are deleted when t ends.
func testLock(t *testing.T) (ctl *redis.Client, lock, next string) {
	ctl = control(t)
	suffix := fmt.Sprint(100000 + rand.IntN(100000))
	lock, next = "redisdbtest:test:lock:"+suffix, "redisdbtest:test:next:"+suffix
	t.Cleanup(func() { _ = ctl.Del(context.Background(), lock, next).Err() })
	return ctl, lock, next
}

func TestLockClusterTakesTurns(t *testing.T) {
	ctx := context.Background()
	ctl, lock, next := testLock(t)
	holder, waiter, late := newToken(), newToken(), newToken()

	require.NoError(t, lockCluster(ctx, ctl, lock, next, holder, 0))
	// Held: a second taker fails after its wait and becomes the next waiter.
	err := lockCluster(ctx, ctl, lock, next, waiter, 0)
	require.ErrorContains(t, err, "still held")
	require.Equal(t, waiter, ctl.Get(ctx, next).Val())

	// Released: the holder cannot take it again ahead of the waiter, nor can a late comer.
	require.NoError(t, release.Run(ctx, ctl, []string{lock}, holder).Err())
	require.ErrorContains(t, lockCluster(ctx, ctl, lock, next, holder, 0), "still held")
	require.ErrorContains(t, lockCluster(ctx, ctl, lock, next, late, 0), "still held")
	require.NoError(t, lockCluster(ctx, ctl, lock, next, waiter, 0))
	require.Equal(t, waiter, ctl.Get(ctx, lock).Val())
	require.Equal(t, redis.Nil, ctl.Get(ctx, next).Err(), "the waiter that took the lock is no longer next")

	// A waiter that stopped polling is forgotten after nextTTL.
	require.Positive(t, ctl.PTTL(ctx, lock).Val())
	require.NoError(t, release.Run(ctx, ctl, []string{lock}, waiter).Err())
	require.NoError(t, ctl.Set(ctx, next, "gone", 50*time.Millisecond).Err())
	require.NoError(t, lockCluster(ctx, ctl, lock, next, late, time.Minute))
	require.Equal(t, late, ctl.Get(ctx, lock).Val())
}

func TestLockClusterWaitsForRelease(t *testing.T) {
	ctx := context.Background()
	ctl, lock, next := testLock(t)
	holder, waiter := newToken(), newToken()
	require.NoError(t, lockCluster(ctx, ctl, lock, next, holder, 0))

	done := make(chan error, 1)
	go func() { done <- lockCluster(ctx, ctl, lock, next, waiter, time.Minute) }()
	// Release once the waiter is registered as next.
	require.Eventually(t, func() bool { return ctl.Get(ctx, next).Val() == waiter }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, release.Run(ctx, ctl, []string{lock}, holder).Err())
	require.NoError(t, <-done)
	require.Equal(t, waiter, ctl.Get(ctx, lock).Val())
}

func TestUnreachableClusterSkipsOrFails(t *testing.T) {
	tests := []struct {
		name     string
		required string
		want     string
		skipped  bool
	}{
		{name: "not required", required: "", want: "bash scripts/redis-cluster.sh start", skipped: true},
		{name: "required", required: "1", want: EnvClusterRequired + "=1", skipped: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvClusterURL, "redis://:s3cr3t@127.0.0.1:1?addr=127.0.0.1:2")
			t.Setenv(EnvClusterRequired, tt.required)
			rec := ends(t, func(tb testing.TB) { NewCluster(tb) })
			require.Equal(t, tt.skipped, rec.skipped)
			require.Contains(t, rec.msg, "not reachable")
			require.Contains(t, rec.msg, tt.want)
			require.NotContains(t, rec.msg, "s3cr3t")
		})
	}
}

func TestBadClusterURLFails(t *testing.T) {
	t.Setenv(EnvClusterURL, "unix:///tmp/redis.sock?addr=127.0.0.1:2")
	rec := ends(t, func(tb testing.TB) { ClusterURL(tb) })
	require.False(t, rec.skipped)
	require.Contains(t, rec.msg, "parse "+EnvClusterURL)
}

// ends runs f in a goroutine of its own, as testing runs a test, with an endRecorder, and returns the
// recorder once f has ended.
func ends(t *testing.T, f func(tb testing.TB)) *endRecorder {
	rec := &endRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(rec)
	}()
	<-done
	return rec
}

// endRecorder records a Fatalf or Skipf and ends the goroutine as testing.T does.
type endRecorder struct {
	testing.TB
	msg     string
	skipped bool
}

func (r *endRecorder) Helper() {}

func (r *endRecorder) Fatalf(format string, args ...any) {
	r.msg = strings.TrimSpace(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (r *endRecorder) Skipf(format string, args ...any) {
	r.msg = strings.TrimSpace(fmt.Sprintf(format, args...))
	r.skipped = true
	runtime.Goexit()
}
