package salesschedule

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule/scheduletest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newSchedule returns a schedule on rdb with a fake clock at t0.
func newSchedule(t *testing.T, rdb redis.UniversalClient) (*Schedule, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(t0)
	s, err := New(rdb, clk, Config{BaseBackoff: time.Minute, MaxBackoff: time.Hour})
	require.NoError(t, err)
	return s, clk
}

// both runs body on a fresh schedule over a database of the single test server and over the test
// cluster (redisdbtest.Both).
func both(t *testing.T, body func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake)) {
	t.Helper()
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		s, clk := newSchedule(t, rdb)
		body(t, s, rdb, clk)
	})
}

func TestContract(t *testing.T) {
	redisdbtest.EachServer(t, func(t *testing.T, srv redisdbtest.Server) {
		scheduletest.Contract(t, func(t *testing.T) scheduletest.Subject {
			s, clk := newSchedule(t, srv.Client(t))
			add := func(t *testing.T, game string, titles ...string) {
				for _, title := range titles {
					_, err := s.Enqueue(context.Background(), game, []string{title})
					require.NoError(t, err)
					clk.Advance(time.Millisecond)
				}
			}
			return scheduletest.Subject{Schedule: s, Add: add, Advance: clk.Advance}
		})
		scheduletest.EnqueuerContract(t, func(t *testing.T) scheduletest.Enqueuer {
			s, _ := newSchedule(t, srv.Client(t))
			return s
		})
	})
}

func TestNewConfig(t *testing.T) {
	rdb := redisdbtest.Unreachable(t)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{}, ok: true},
		{name: "negative", cfg: Config{BaseBackoff: -1}},
		{name: "negative retention", cfg: Config{Retention: -time.Second}},
		{name: "max below base", cfg: Config{BaseBackoff: time.Hour, MaxBackoff: time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(rdb, clock.Real{}, tc.cfg)
			if !tc.ok {
				require.ErrorIs(t, err, ErrConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, DefaultBaseBackoff, s.cfg.BaseBackoff)
			require.Equal(t, DefaultMaxBackoff, s.cfg.MaxBackoff)
			require.Equal(t, DefaultRetention, s.cfg.Retention)
		})
	}
	_, err := New(nil, clock.Real{}, Config{})
	require.ErrorIs(t, err, ErrConfig)
}

func TestEnqueueClaimDone(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {

		n, err := s.Enqueue(ctx, "a8db", []string{"A", "B"})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = s.Enqueue(ctx, "a8db", nil)
		require.NoError(t, err)
		require.Zero(t, n)

		// Already scheduled titles keep their due time.
		clk.Advance(time.Minute)
		n, err = s.Enqueue(ctx, "a8db", []string{"A", "C"})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		due, ok, err := s.Due(ctx, "a8db", "A")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, t0, due)
		require.Equal(t, float64(t0.UnixMilli()), rdb.ZScore(ctx, "sales:schedule:dmarket:a8db", "A").Val())

		// Earliest due first, at most n.
		got, err := s.Claim(ctx, "a8db", 2, 10*time.Minute)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"A", "B"}, got)
		got, err = s.Claim(ctx, "a8db", 10, 10*time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{"C"}, got)
		got, err = s.Claim(ctx, "a8db", 10, 10*time.Minute)
		require.NoError(t, err)
		require.Empty(t, got, "leased titles are not due")

		// Another game is independent.
		got, err = s.Claim(ctx, "tf2", 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, got)

		// A lease that ends without Done makes the title due again.
		require.NoError(t, s.Done(ctx, "a8db", "A", 2*time.Hour))
		clk.Advance(11 * time.Minute)
		got, err = s.Claim(ctx, "a8db", 10, 10*time.Minute)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"B", "C"}, got)

		due, _, err = s.Due(ctx, "a8db", "A")
		require.NoError(t, err)
		require.Equal(t, t0.Add(time.Minute+2*time.Hour), due)
		clk.Set(due)
		got, err = s.Claim(ctx, "a8db", 10, time.Minute)
		require.NoError(t, err)
		require.Contains(t, got, "A")

		_, ok, err = s.Due(ctx, "a8db", "missing")
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestFailedBacksOff(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
		_, err := s.Enqueue(ctx, "a8db", []string{"A"})
		require.NoError(t, err)
		tests := []struct {
			attempt int
			want    time.Duration
		}{
			{0, time.Minute}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 32 * time.Minute},
			{7, time.Hour}, {1000, time.Hour},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
				require.Equal(t, tc.want, s.Backoff(tc.attempt))
				require.NoError(t, s.Failed(ctx, "a8db", "A", tc.attempt))
				due, ok, err := s.Due(ctx, "a8db", "A")
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, clk.Now().Add(tc.want), due)
			})
		}
	})
}

func TestArguments(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
		_, err := s.Claim(ctx, "a8db", 0, time.Minute)
		require.ErrorIs(t, err, ErrArgument)
		_, err = s.Claim(ctx, "a8db", 1, 0)
		require.ErrorIs(t, err, ErrArgument)
		require.ErrorIs(t, s.Done(ctx, "a8db", "A", -time.Second), ErrArgument)
	})
}

func TestConcurrentClaimersNeverShareATitle(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
		titles := make([]string, 500)
		for i := range titles {
			titles[i] = fmt.Sprintf("title %03d", i)
		}
		_, err := s.Enqueue(ctx, "a8db", titles)
		require.NoError(t, err)

		const claimers = 6
		results := make([][]string, claimers)
		errs := make([]error, claimers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := 0; c < claimers; c++ {
			mine, err := New(newClient(t, rdb), clk, Config{})
			require.NoError(t, err)
			wg.Go(func() {
				<-start
				for {
					got, err := mine.Claim(ctx, "a8db", 7, time.Hour)
					if err != nil {
						errs[c] = err
						return
					}
					if len(got) == 0 {
						return
					}
					results[c] = append(results[c], got...)
				}
			})
		}
		close(start)
		wg.Wait()
		var all []string
		for c := range results {
			require.NoError(t, errs[c])
			all = append(all, results[c]...)
		}
		sort.Strings(all)
		require.Equal(t, titles, all, "every title claimed exactly once")
	})
}

func TestRedisErrors(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.Unreachable(t)
	s, err := New(rdb, clocktest.NewFake(t0), Config{})
	require.NoError(t, err)
	_, err = s.Enqueue(ctx, "a8db", []string{"A"})
	require.Error(t, err)
	_, err = s.Claim(ctx, "a8db", 1, time.Minute)
	require.Error(t, err)
	require.Error(t, s.Done(ctx, "a8db", "A", time.Minute))
	_, _, err = s.Due(ctx, "a8db", "A")
	require.Error(t, err)
}

// newClient returns another client of what rdb connects to, closed when t ends.
func newClient(t *testing.T, rdb redis.UniversalClient) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		c = redis.NewClusterClient(cc.Options())
	} else {
		c = redis.NewClient(rdb.(*redis.Client).Options())
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exists returns how many of keys exist, one EXISTS per key (keys of several slots cannot share one on
// a cluster).
func exists(t *testing.T, rdb redis.UniversalClient, keys ...string) int64 {
	t.Helper()
	var n int64
	for _, k := range keys {
		c, err := rdb.Exists(context.Background(), k).Result()
		require.NoError(t, err)
		n += c
	}
	return n
}

// members returns the sorted members of a sorted set.
func members(t *testing.T, rdb redis.UniversalClient, key string) []string {
	t.Helper()
	m, err := rdb.ZRange(context.Background(), key, 0, -1).Result()
	require.NoError(t, err)
	sort.Strings(m)
	return m
}

func TestTitlesGoneFromTheMarketAreDropped(t *testing.T) {
	const game = "a8db"
	tests := []struct {
		name string
		// prune runs the step that should drop the stale titles.
		prune func(t *testing.T, s *Schedule)
	}{
		{name: "by the next enqueue", prune: func(t *testing.T, s *Schedule) {
			_, err := s.Enqueue(context.Background(), game, []string{"D"})
			require.NoError(t, err)
		}},
		{name: "by the next claim", prune: func(t *testing.T, s *Schedule) {
			_, err := s.Claim(context.Background(), game, 1, time.Minute)
			require.NoError(t, err)
		}},
		{name: "by Prune", prune: func(t *testing.T, s *Schedule) {
			n, err := s.Prune(context.Background(), game)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
				_, err := s.Enqueue(ctx, game, []string{"A", "B"})
				require.NoError(t, err)
				clk.Advance(DefaultRetention / 2)
				_, err = s.Enqueue(ctx, game, []string{"B", "C"})
				require.NoError(t, err)

				// A was last seen exactly the retention ago: still kept.
				clk.Advance(DefaultRetention / 2)
				n, err := s.Prune(ctx, game)
				require.NoError(t, err)
				require.Zero(t, n)
				require.Equal(t, []string{"A", "B", "C"}, members(t, rdb, Key(game)))
				// B kept its due time: seeing a title again does not make it due again.
				due, ok, err := s.Due(ctx, game, "B")
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, t0, due)

				clk.Advance(time.Millisecond)
				tc.prune(t, s)
				require.NotContains(t, members(t, rdb, Key(game)), "A")
				require.NotContains(t, members(t, rdb, SeenKey(game)), "A")
				require.Subset(t, members(t, rdb, Key(game)), []string{"B", "C"})
				require.Equal(t, members(t, rdb, Key(game)), members(t, rdb, SeenKey(game)), "both sets hold the same titles")

			})
		})
	}
}

func TestDoneAndFailedDoNotRevivePrunedTitles(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
		_, err := s.Enqueue(ctx, "a8db", []string{"A", "B"})
		require.NoError(t, err)
		got, err := s.Claim(ctx, "a8db", 2, time.Minute)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"A", "B"}, got)

		clk.Advance(DefaultRetention + time.Second)
		n, err := s.Prune(ctx, "a8db")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.NoError(t, s.Done(ctx, "a8db", "A", time.Hour))
		require.NoError(t, s.Failed(ctx, "a8db", "B", 1))
		require.Zero(t, exists(t, rdb, Key("a8db"), SeenKey("a8db")), "both keys are gone with their last title")
	})
}

func TestTitlesWithoutLastSeenTimeAgeOut(t *testing.T) {
	tests := []struct {
		name string
		// write schedules titles the way an older version or another writer did.
		write func(ctx context.Context, s *Schedule, rdb redis.UniversalClient)
		// touch is the call that gives them a last-seen time.
		touch func(ctx context.Context, s *Schedule) error
	}{
		{
			name: "schedule written before the last-seen set existed",
			write: func(ctx context.Context, _ *Schedule, rdb redis.UniversalClient) {
				for i := 0; i < 1200; i++ {
					rdb.ZAdd(ctx, Key("a8db"), redis.Z{Score: float64(t0.UnixMilli()), Member: fmt.Sprint("old ", i)})
				}
			},
			touch: func(ctx context.Context, s *Schedule) error {
				_, err := s.Enqueue(ctx, "a8db", []string{"new"})
				return err
			},
		},
		{
			name: "title scheduled beside the last-seen set",
			write: func(ctx context.Context, s *Schedule, rdb redis.UniversalClient) {
				_, _ = s.Enqueue(ctx, "a8db", []string{"new"})
				rdb.ZAdd(ctx, Key("a8db"), redis.Z{Score: float64(t0.UnixMilli()), Member: "old 0"})
			},
			touch: func(ctx context.Context, s *Schedule) error {
				_, err := s.Claim(ctx, "a8db", 10, time.Minute)
				return err
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
				tc.write(ctx, s, rdb)
				require.NoError(t, tc.touch(ctx, s))
				require.Equal(t, members(t, rdb, Key("a8db")), members(t, rdb, SeenKey("a8db")))

				clk.Advance(DefaultRetention + time.Millisecond)
				_, err := s.Prune(ctx, "a8db")
				require.NoError(t, err)
				require.Zero(t, exists(t, rdb, Key("a8db"), SeenKey("a8db")))
			})
		})
	}
}

func TestPruneDropsMoreThanOneBatch(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, rdb redis.UniversalClient, clk *clocktest.Fake) {
		titles := make([]string, 2*pruneBatch+7)
		for i := range titles {
			titles[i] = fmt.Sprint("title ", i)
		}
		n, err := s.Enqueue(ctx, "a8db", titles)
		require.NoError(t, err)
		require.Equal(t, len(titles), n)
		require.Equal(t, int64(len(titles)), rdb.ZCard(ctx, SeenKey("a8db")).Val())

		clk.Advance(DefaultRetention + time.Millisecond)
		n, err = s.Prune(ctx, "a8db")
		require.NoError(t, err)
		require.Equal(t, len(titles), n)
		require.Zero(t, exists(t, rdb, Key("a8db"), SeenKey("a8db")))
	})
}

func TestEnqueueFirstIsClaimedFirst(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Schedule, _ redis.UniversalClient, clk *clocktest.Fake) {
		_, err := s.Enqueue(ctx, "a8db", []string{"A", "B", "C"})
		require.NoError(t, err)
		clk.Advance(time.Hour)
		_, err = s.Enqueue(ctx, "a8db", []string{"D"})
		require.NoError(t, err)
		n, err := s.EnqueueFirst(ctx, "a8db", []string{"E", "A"})
		require.NoError(t, err)
		require.Equal(t, 1, n, "A was scheduled already and keeps its due time")
		due, ok, err := s.Due(ctx, "a8db", "E")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, clk.Now().Add(-PriorityLead), due)

		got, err := s.Claim(ctx, "a8db", 2, time.Minute)
		require.NoError(t, err)
		require.Equal(t, "E", got[0], "the priority title comes before the backlog")
		require.Len(t, got, 2)
	})
}
