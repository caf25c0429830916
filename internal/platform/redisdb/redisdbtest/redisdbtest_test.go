package redisdbtest

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestNewGivesIsolatedEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	a := New(t)
	b := New(t)
	require.NotEqual(t, DB(a), DB(b))
	require.GreaterOrEqual(t, DB(a), FirstDB)
	require.LessOrEqual(t, DB(a), LastDB)

	n, err := a.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Zero(t, n)

	require.NoError(t, a.Set(ctx, "k", "a", 0).Err())
	require.NoError(t, b.Set(ctx, "k", "b", 0).Err())
	require.Equal(t, "a", a.Get(ctx, "k").Val())
	require.Equal(t, "b", b.Get(ctx, "k").Val())
}

func TestCleanupFlushesAndReleases(t *testing.T) {
	ctx := context.Background()
	var db int
	var token string
	t.Run("user", func(t *testing.T) {
		c := New(t)
		db = DB(c)
		require.NoError(t, c.Set(ctx, "left-over", "x", 0).Err())
		ctl := control(t)
		var err error
		token, err = ctl.Get(ctx, LockKey(db)).Result()
		require.NoError(t, err)
		require.True(t, strings.Contains(token, "/"))
		ttl := ctl.PTTL(ctx, LockKey(db)).Val()
		require.Greater(t, ttl, time.Duration(0))
	})
	ctl := control(t)
	// The lock is gone (or already taken by another test process with a different token).
	got, err := ctl.Get(ctx, LockKey(db)).Result()
	if err == nil {
		require.NotEqual(t, token, got)
	} else {
		require.ErrorIs(t, err, redis.Nil)
	}
}

func TestURL(t *testing.T) {
	ctx := context.Background()
	u := URL(t)
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	require.GreaterOrEqual(t, opts.DB, FirstDB)
	c := redis.NewClient(opts)
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	// Another test's database is a different one.
	other := New(t)
	require.NotEqual(t, opts.DB, DB(other))
	require.Equal(t, redis.Nil, other.Get(ctx, "k").Err())
}

func TestConcurrentReservationsAreDistinct(t *testing.T) {
	ctx := context.Background()
	ctl := control(t)
	const n = 5
	dbs := make([]int, n)
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		tokens[i] = newToken()
		wg.Go(func() { dbs[i], errs[i] = acquire(ctx, ctl, tokens[i], time.Minute) })
	}
	wg.Wait()
	seen := map[int]bool{}
	for i := range n {
		require.NoError(t, errs[i])
		require.False(t, seen[dbs[i]], "db %d handed out twice", dbs[i])
		seen[dbs[i]] = true
		require.NoError(t, release.Run(ctx, ctl, []string{LockKey(dbs[i])}, tokens[i]).Err())
	}
}

func TestAcquireWaitsAndTimesOut(t *testing.T) {
	ctx := context.Background()
	ctl := control(t)
	// Pretend to be another process holding every free database for the duration of this test.
	token := newToken()
	var held []int
	for {
		db, err := acquire(ctx, ctl, token, 0)
		if err != nil {
			require.ErrorContains(t, err, "no free database")
			break
		}
		held = append(held, db)
	}
	t.Cleanup(func() {
		for _, db := range held {
			require.NoError(t, release.Run(ctx, ctl, []string{LockKey(db)}, token).Err())
		}
	})
	if len(held) == 0 {
		t.Skip("every database is held by other test processes")
	}

	// Free one database shortly; a waiting acquire gets it.
	last := held[len(held)-1]
	held = held[:len(held)-1]
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = release.Run(ctx, ctl, []string{LockKey(last)}, token).Err()
	}()
	other := newToken()
	db, err := acquire(ctx, ctl, other, time.Minute)
	require.NoError(t, err)
	require.NoError(t, release.Run(ctx, ctl, []string{LockKey(db)}, other).Err())
}

func TestKeepAliveRefreshesOwnLockOnly(t *testing.T) {
	ctx := context.Background()
	ctl := control(t)
	// A number outside FirstDB..LastDB: the test never disturbs real reservations.
	fake := 100000 + rand.IntN(100000)
	key := LockKey(fake)
	token := newToken()
	// Use the refresh script directly: a foreign token never extends the lock.
	set, err := ctl.SetNX(ctx, key, token, time.Second).Result()
	require.NoError(t, err)
	require.True(t, set)
	t.Cleanup(func() { _ = release.Run(ctx, ctl, []string{key}, token).Err() })
	n, err := refresh.Run(ctx, ctl, []string{key}, "someone-else", LockTTL.Milliseconds()).Int()
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = refresh.Run(ctx, ctl, []string{key}, token, LockTTL.Milliseconds()).Int()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Greater(t, ctl.PTTL(ctx, key).Val(), 30*time.Second)

	// The keep-alive loop extends a lock about to expire.
	require.NoError(t, ctl.PExpire(ctx, key, 5*time.Second).Err())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepAlive(ctl, key, token, 5*time.Millisecond, stop)
	}()
	require.Eventually(t, func() bool { return ctl.PTTL(ctx, key).Val() > 30*time.Second },
		10*time.Second, 5*time.Millisecond)
	close(stop)
	<-done
}

func TestUnreachableServerFails(t *testing.T) {
	t.Setenv(EnvURL, "redis://127.0.0.1:1")
	require.Contains(t, ends(t, func(tb testing.TB) { New(tb) }).msg, "not reachable")
}

func TestBadURLFails(t *testing.T) {
	t.Setenv(EnvURL, "http://nope")
	require.Contains(t, ends(t, func(tb testing.TB) { URL(tb) }).msg, "parse")
}

func control(t *testing.T) *redis.Client {
	c, _ := lockServer(t)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
