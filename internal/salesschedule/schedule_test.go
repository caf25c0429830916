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

	"github.com/skinflip/dmarket-monitor/internal/clock"
	"github.com/skinflip/dmarket-monitor/internal/redisdb/redisdbtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSchedule(t *testing.T) (*Schedule, *redis.Client, *clock.Fake) {
	t.Helper()
	rdb := redisdbtest.New(t)
	clk := clock.NewFake(t0)
	s, err := New(rdb, clk, Config{BaseBackoff: time.Minute, MaxBackoff: time.Hour})
	require.NoError(t, err)
	return s, rdb, clk
}

func TestNewConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{}, ok: true},
		{name: "negative", cfg: Config{BaseBackoff: -1}},
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
		})
	}
	_, err := New(nil, clock.Real{}, Config{})
	require.ErrorIs(t, err, ErrConfig)
}

func TestEnqueueClaimDone(t *testing.T) {
	ctx := context.Background()
	s, rdb, clk := newSchedule(t)

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
}

func TestFailedBacksOff(t *testing.T) {
	ctx := context.Background()
	s, _, clk := newSchedule(t)
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
}

func TestArguments(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newSchedule(t)
	_, err := s.Claim(ctx, "a8db", 0, time.Minute)
	require.ErrorIs(t, err, ErrArgument)
	_, err = s.Claim(ctx, "a8db", 1, 0)
	require.ErrorIs(t, err, ErrArgument)
	require.ErrorIs(t, s.Done(ctx, "a8db", "A", -time.Second), ErrArgument)
}

func TestConcurrentClaimersNeverShareATitle(t *testing.T) {
	ctx := context.Background()
	s, rdb, clk := newSchedule(t)
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
		opts := *rdb.Options()
		client := redis.NewClient(&opts)
		t.Cleanup(func() { _ = client.Close() })
		mine, err := New(client, clk, Config{})
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
}

func TestRedisErrors(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	s, err := New(rdb, clock.NewFake(t0), Config{})
	require.NoError(t, err)
	_, err = s.Enqueue(ctx, "a8db", []string{"A"})
	require.Error(t, err)
	_, err = s.Claim(ctx, "a8db", 1, time.Minute)
	require.Error(t, err)
	require.Error(t, s.Done(ctx, "a8db", "A", time.Minute))
	_, _, err = s.Due(ctx, "a8db", "A")
	require.Error(t, err)
}
