package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// tickClock is a clock whose waits last until the test ticks it (or their context ends), so that each
// background renewal happens exactly when the test says.
type tickClock struct{ tick chan struct{} }

func newTickClock() tickClock { return tickClock{tick: make(chan struct{})} }

func (c tickClock) Sleep(ctx context.Context, _ time.Duration) error {
	select {
	case <-c.tick:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// renew lets the holder's background loop run one renewal.
func (c tickClock) renew(t *testing.T) {
	t.Helper()
	select {
	case c.tick <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal loop is waiting")
	}
}

// newStore makes a lease store; it fails t when lease.New refuses.
func newStore(t *testing.T, rdb lease.Client, ttl time.Duration, clk lease.Clock) *lease.Store {
	t.Helper()
	s, err := lease.New(rdb, ttl, clk)
	require.NoError(t, err)
	return s
}

// acquire takes the lease of key; it fails t when the lease cannot be had.
func acquire(t *testing.T, s *lease.Store, key string) *lease.Lease {
	t.Helper()
	l, err := s.Acquire(context.Background(), key)
	require.NoError(t, err)
	return l
}

func TestNewRejectsTooShortTTL(t *testing.T) {
	_, err := lease.New(redisdbtest.Unreachable(t), time.Millisecond, newTickClock())
	require.Error(t, err)
}

func TestAcquireRenewRelease(t *testing.T) { redisdbtest.Both(t, testAcquireRenewRelease) }

func testAcquireRenewRelease(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	s := newStore(t, rdb, time.Minute, newTickClock())

	a := acquire(t, s, "parser:lease:x")
	require.Equal(t, "parser:lease:x", a.Key())
	require.Equal(t, a.Token(), rdb.Get(ctx, "parser:lease:x").Val())
	ttl := rdb.PTTL(ctx, "parser:lease:x").Val()
	require.Greater(t, ttl, 50*time.Second)

	_, err := s.Acquire(ctx, "parser:lease:x")
	require.ErrorIs(t, err, lease.ErrHeld)

	require.NoError(t, rdb.PExpire(ctx, "parser:lease:x", time.Second).Err())
	require.NoError(t, a.Renew(ctx))
	require.Greater(t, rdb.PTTL(ctx, "parser:lease:x").Val(), 50*time.Second)

	require.NoError(t, a.Release(ctx))
	require.Zero(t, rdb.Exists(ctx, "parser:lease:x").Val())
	require.ErrorIs(t, a.Release(ctx), lease.ErrLost)
	require.ErrorIs(t, a.Renew(ctx), lease.ErrLost)

	b := acquire(t, s, "parser:lease:x")
	require.NotEqual(t, a.Token(), b.Token())
}

func TestExpiredLeaseIsTakenOverAndTheOldHolderCannotTouchIt(t *testing.T) {
	redisdbtest.Both(t, testExpiredLeaseIsTakenOverAndTheOldHolderCannotTouchIt)
}

func testExpiredLeaseIsTakenOverAndTheOldHolderCannotTouchIt(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	short := newStore(t, rdb, 50*time.Millisecond, newTickClock())
	long := newStore(t, rdb, time.Minute, newTickClock())

	dead := acquire(t, short, "k")
	var next *lease.Lease
	require.Eventually(t, func() bool {
		var err error
		next, err = long.Acquire(ctx, "k")
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "the expired lease was never free again")

	require.ErrorIs(t, dead.Renew(ctx), lease.ErrLost)
	require.ErrorIs(t, dead.Release(ctx), lease.ErrLost)
	require.Equal(t, next.Token(), rdb.Get(ctx, "k").Val(), "the old holder removed the new holder's lease")
}

func TestHoldRenewsUntilReleased(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	clk := newTickClock()
	s := newStore(t, rdb, time.Minute, clk)
	require.Equal(t, 20*time.Second, s.RenewEvery())

	l := acquire(t, s, "k")
	hctx := l.Hold(ctx)
	for range 3 {
		require.NoError(t, rdb.PExpire(ctx, "k", time.Second).Err())
		clk.renew(t)
		require.Eventually(t, func() bool { return rdb.PTTL(ctx, "k").Val() > 50*time.Second }, 5*time.Second, time.Millisecond)
	}
	require.NoError(t, hctx.Err())

	require.NoError(t, l.Release(ctx))
	<-hctx.Done()
	require.NotErrorIs(t, context.Cause(hctx), lease.ErrLost)
	require.Zero(t, rdb.Exists(ctx, "k").Val())
}

// TestHoldReportsALostLease: a renewal that finds the lease taken over, or that cannot reach Redis, ends
// the holder's context with ErrLost.
func TestHoldReportsALostLease(t *testing.T) {
	tests := []struct {
		name string
		lose func(t *testing.T, rdb *redis.Client)
	}{
		{name: "expired and taken over", lose: func(t *testing.T, rdb *redis.Client) {
			require.NoError(t, rdb.Set(context.Background(), "k", "someone else", time.Minute).Err())
		}},
		{name: "redis unreachable", lose: func(t *testing.T, rdb *redis.Client) { require.NoError(t, rdb.Close()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := redisdbtest.New(t)
			clk := newTickClock()
			s := newStore(t, rdb, time.Minute, clk)
			l := acquire(t, s, "k")
			hctx := l.Hold(ctx)
			tc.lose(t, rdb)
			clk.renew(t)
			<-hctx.Done()
			require.ErrorIs(t, context.Cause(hctx), lease.ErrLost)
		})
	}
}

func TestUnreachableRedisIsNotAHeldLease(t *testing.T) {
	down := newStore(t, redisdbtest.Unreachable(t), time.Minute, newTickClock())
	_, err := down.Acquire(context.Background(), "k")
	require.Error(t, err)
	require.NotErrorIs(t, err, lease.ErrHeld)
}

func TestHoldEndsWithItsContext(t *testing.T) {
	rdb := redisdbtest.New(t)
	s := newStore(t, rdb, time.Minute, newTickClock())
	l := acquire(t, s, "k")
	ctx, cancel := context.WithCancel(context.Background())
	hctx := l.Hold(ctx)
	cancel()
	<-hctx.Done()
	require.NotErrorIs(t, context.Cause(hctx), lease.ErrLost)
}

func TestRecordsFollowTheirOwner(t *testing.T) { redisdbtest.Both(t, testRecordsFollowTheirOwner) }

func testRecordsFollowTheirOwner(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	s := newStore(t, rdb, time.Minute, newTickClock())

	a := acquire(t, s, "lease:a")
	before, err := a.Claim(ctx, "rec", time.Hour)
	require.NoError(t, err)
	require.Empty(t, before)
	require.NoError(t, a.Save(ctx, "rec", map[string]string{"cursor": "c1", "pages": "1"}, time.Hour))
	require.NoError(t, a.Save(ctx, "rec", map[string]string{"cursor": "c2", "pages": "2"}, time.Hour))

	// Another holder takes the work over and continues from the record.
	b := acquire(t, s, "lease:b")
	got, err := b.Claim(ctx, "rec", 2*time.Hour)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"cursor": "c2", "pages": "2"}, got)
	require.Greater(t, rdb.PTTL(ctx, "rec").Val(), time.Hour)

	require.ErrorIs(t, a.Save(ctx, "rec", map[string]string{"cursor": "stale"}, time.Hour), lease.ErrLost)
	require.NoError(t, b.Save(ctx, "rec", map[string]string{"cursor": "c3", lease.OwnerField: "forged"}, time.Hour))

	recs, err := s.Records(ctx, []string{"rec", "missing"})
	require.NoError(t, err)
	require.Equal(t, []map[string]string{{"cursor": "c3", "pages": "2", lease.OwnerField: b.Token()}, {}}, recs)
}

func TestSwapReplacesOnlyTheExpectedValue(t *testing.T) {
	redisdbtest.Both(t, testSwapReplacesOnlyTheExpectedValue)
}

func testSwapReplacesOnlyTheExpectedValue(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	s := newStore(t, rdb, time.Minute, newTickClock())

	v, err := s.Get(ctx, "cycle")
	require.NoError(t, err)
	require.Empty(t, v)

	for _, tc := range []struct {
		old, value string
		ok         bool
		want       string
	}{
		{"", "one", true, "one"},
		{"", "two", false, "one"},
		{"zero", "two", false, "one"},
		{"one", "two", true, "two"},
	} {
		ok, err := s.Swap(ctx, "cycle", tc.old, tc.value, time.Hour)
		require.NoError(t, err)
		require.Equal(t, tc.ok, ok, "swap %q -> %q", tc.old, tc.value)
		v, err := s.Get(ctx, "cycle")
		require.NoError(t, err)
		require.Equal(t, tc.want, v)
	}
	require.Greater(t, rdb.PTTL(ctx, "cycle").Val(), 50*time.Minute)

	_, err = s.Get(ctx, "")
	require.NoError(t, err)
	down := newStore(t, redisdbtest.Unreachable(t), time.Minute, newTickClock())
	_, err = down.Get(ctx, "cycle")
	require.Error(t, err)
	_, err = down.Swap(ctx, "cycle", "", "x", time.Hour)
	require.Error(t, err)
	_, err = down.Records(ctx, []string{"rec"})
	require.Error(t, err)
}
