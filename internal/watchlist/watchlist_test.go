package watchlist

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

const game = "a8db"

// subject is a store on a fresh Redis with the fake clock it tells the time with. The clock starts at the
// wall clock's time because the key's expiry is judged by Redis on its own clock.
type subject struct {
	s   *Store
	rdb redis.UniversalClient
	clk *clocktest.Fake
}

// contract runs body on a fresh store over the single test server and over the test cluster.
func contract(t *testing.T, body func(t *testing.T, sub subject)) {
	t.Helper()
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		clk := clocktest.NewFake(time.Now().Truncate(time.Millisecond))
		body(t, subject{s: New(rdb, clk), rdb: rdb, clk: clk})
	})
}

func (sub subject) watch(t *testing.T, until time.Duration, titles ...string) {
	t.Helper()
	require.NoError(t, sub.s.Watch(context.Background(), game, titles, sub.clk.Now().Add(until)))
}

func (sub subject) claim(t *testing.T, n int, every time.Duration) []string {
	t.Helper()
	got, err := sub.s.Claim(context.Background(), game, n, every)
	require.NoError(t, err)
	return got
}

func TestNewTitlesAreDueAtOnceThenEveryPeriod(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		require.Empty(t, sub.claim(t, 10, 5*time.Second), "nothing watched")
		sub.watch(t, time.Minute, "A", "B")
		require.ElementsMatch(t, []string{"A", "B"}, sub.claim(t, 10, 5*time.Second))
		require.Empty(t, sub.claim(t, 10, 5*time.Second), "claimed titles are not due again at once")
		sub.clk.Advance(4999 * time.Millisecond)
		require.Empty(t, sub.claim(t, 10, 5*time.Second))
		sub.clk.Advance(time.Millisecond)
		require.ElementsMatch(t, []string{"A", "B"}, sub.claim(t, 10, 5*time.Second), "due again every later")
	})
}

func TestClaimTakesAtMostNEarliestDueFirst(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		for _, title := range []string{"C", "A", "B"} {
			sub.watch(t, time.Hour, title)
			sub.clk.Advance(time.Millisecond)
		}
		require.Equal(t, []string{"C", "A"}, sub.claim(t, 2, time.Second))
		sub.clk.Advance(time.Millisecond)
		require.Equal(t, []string{"B"}, sub.claim(t, 2, time.Second))
		sub.clk.Advance(time.Second)
		require.Equal(t, []string{"A", "C"}, sub.claim(t, 2, time.Second), "claimed together: due together")
		require.Equal(t, []string{"B"}, sub.claim(t, 2, time.Second))
	})
}

func TestWatchRenewsWithoutMakingDue(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		sub.watch(t, 10*time.Second, "A")
		require.Equal(t, []string{"A"}, sub.claim(t, 10, 5*time.Second))
		sub.watch(t, time.Minute, "A")
		require.Empty(t, sub.claim(t, 10, 5*time.Second), "a renewed title keeps its due time")
		sub.clk.Advance(30 * time.Second)
		sub.watch(t, time.Second, "A")
		require.Equal(t, []string{"A"}, sub.claim(t, 10, 5*time.Second), "still watched: renewed until the later end")
		sub.clk.Advance(30 * time.Second)
		require.Empty(t, sub.claim(t, 10, 5*time.Second), "watch ended")
	})
}

func TestEndedWatchesAreDropped(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		ctx := context.Background()
		sub.watch(t, 10*time.Second, "A")
		sub.watch(t, time.Hour, "B")
		require.ElementsMatch(t, []string{"A", "B"}, sub.claim(t, 10, 5*time.Second))
		sub.clk.Advance(10 * time.Second)
		require.Equal(t, []string{"B"}, sub.claim(t, 10, 5*time.Second))
		members, err := sub.rdb.ZRange(ctx, Key(game), 0, -1).Result()
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"d:B", "u:B"}, members, "the ended watch left the key")

		sub.watch(t, time.Minute, "A")
		require.Equal(t, []string{"A"}, sub.claim(t, 10, 5*time.Second), "watched again: due at once")
	})
}

func TestEndedWatchNotYetClaimedIsNewAgain(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		sub.watch(t, 10*time.Second, "A")
		require.Equal(t, []string{"A"}, sub.claim(t, 10, time.Hour))
		sub.clk.Advance(20 * time.Second)
		sub.watch(t, time.Minute, "A")
		require.Equal(t, []string{"A"}, sub.claim(t, 10, time.Hour), "a watch that had ended starts afresh")
	})
}

func TestPastUntilAndEmptyTitlesChangeNothing(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		sub.watch(t, 0, "A")
		sub.watch(t, -time.Minute, "B")
		sub.watch(t, time.Minute)
		n, err := sub.rdb.Exists(context.Background(), Key(game)).Result()
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestKeyExpiresWithTheLastWatch(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		ctx := context.Background()
		sub.watch(t, time.Hour, "A")
		sub.watch(t, time.Minute, "B")
		ttl, err := sub.rdb.PTTL(ctx, Key(game)).Result()
		require.NoError(t, err)
		require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, "a shorter watch does not shorten the key's life")
		sub.watch(t, 2*time.Hour, "B")
		ttl, err = sub.rdb.PTTL(ctx, Key(game)).Result()
		require.NoError(t, err)
		require.InDelta(t, (2 * time.Hour).Seconds(), ttl.Seconds(), 5)
	})
}

func TestGamesAreSeparate(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		ctx := context.Background()
		require.NoError(t, sub.s.Watch(ctx, "9a92", []string{"X"}, sub.clk.Now().Add(time.Minute)))
		sub.watch(t, time.Minute, "A")
		got, err := sub.s.Claim(ctx, "9a92", 10, time.Second)
		require.NoError(t, err)
		require.Equal(t, []string{"X"}, got)
		require.Equal(t, []string{"A"}, sub.claim(t, 10, time.Second))
	})
}

func TestManyTitlesInBatches(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		titles := make([]string, 2*watchBatch+7)
		for i := range titles {
			titles[i] = fmt.Sprintf("title %04d", i)
		}
		sub.watch(t, time.Minute, titles...)
		var got []string
		for {
			part := sub.claim(t, 300, time.Minute)
			if len(part) == 0 {
				break
			}
			got = append(got, part...)
		}
		require.ElementsMatch(t, titles, got)
	})
}

func TestConcurrentClaimsShareTheDueTitles(t *testing.T) {
	contract(t, func(t *testing.T, sub subject) {
		titles := make([]string, 200)
		for i := range titles {
			titles[i] = fmt.Sprintf("t%03d", i)
		}
		sub.watch(t, time.Minute, titles...)
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					part, err := sub.s.Claim(context.Background(), game, 7, time.Minute)
					if err != nil || len(part) == 0 {
						return
					}
					mu.Lock()
					got = append(got, part...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		require.Equal(t, titles, got, "every due title claimed exactly once")
	})
}

func TestClaimRefusesBadArguments(t *testing.T) {
	s := New(redisdbtest.Unreachable(t), clocktest.NewFake(time.Now()))
	for _, tc := range []struct {
		n     int
		every time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}, {1, -time.Second}} {
		_, err := s.Claim(context.Background(), game, tc.n, tc.every)
		require.ErrorIs(t, err, ErrArgument, "n=%d every=%s", tc.n, tc.every)
	}
}

func TestErrorsNameTheGame(t *testing.T) {
	s := New(redisdbtest.Unreachable(t), clocktest.NewFake(time.Now()))
	ctx := context.Background()
	require.ErrorContains(t, s.Watch(ctx, game, []string{"A"}, time.Now().Add(time.Minute)), "watch 1 titles of a8db")
	_, err := s.Claim(ctx, game, 1, time.Second)
	require.ErrorContains(t, err, "claim watched titles of a8db")
}
