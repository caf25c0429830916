package salesschedule

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func TestMakeDue(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		setup       func(t *testing.T, s *Schedule, clk *clocktest.Fake)
		wantChanged bool
		wantDue     time.Time // zero: not scheduled
	}{
		{
			name: "postponed title becomes due now",
			setup: func(t *testing.T, s *Schedule, clk *clocktest.Fake) {
				_, err := s.Enqueue(ctx, "a8db", []string{"AK"})
				require.NoError(t, err)
				require.NoError(t, s.Done(ctx, "a8db", "AK", 6*time.Hour))
				clk.Advance(time.Minute)
			},
			wantChanged: true, wantDue: start.Add(time.Minute),
		},
		{
			name: "title already due keeps its earlier due time",
			setup: func(t *testing.T, s *Schedule, clk *clocktest.Fake) {
				_, err := s.Enqueue(ctx, "a8db", []string{"AK"})
				require.NoError(t, err)
				clk.Advance(time.Minute)
			},
			wantChanged: false, wantDue: start,
		},
		{
			name:        "title not on the schedule is not added",
			setup:       func(*testing.T, *Schedule, *clocktest.Fake) {},
			wantChanged: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
				clk := clocktest.NewFake(start)
				s, err := New(rdb, clk, Config{})
				require.NoError(t, err)
				tc.setup(t, s, clk)

				changed, err := s.MakeDue(ctx, "a8db", "AK")
				require.NoError(t, err)
				require.Equal(t, tc.wantChanged, changed)
				due, ok, err := s.Due(ctx, "a8db", "AK")
				require.NoError(t, err)
				require.Equal(t, !tc.wantDue.IsZero(), ok)
				if ok {
					require.Equal(t, tc.wantDue, due)
				}
			})
		})
	}
}

func TestMakeDueRedisDown(t *testing.T) {
	rdb := redisdbtest.New(t)
	s, err := New(rdb, clocktest.NewFake(time.Now()), Config{})
	require.NoError(t, err)
	require.NoError(t, rdb.Close())
	_, err = s.MakeDue(context.Background(), "a8db", "AK")
	require.ErrorContains(t, err, "make sales title due")
}
