package bot

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// TestStoreOnSingleRedisAndCluster runs every store operation on a database of the single test server and
// on the test cluster: each touches one key per call, so it works on both alike.
func TestStoreOnSingleRedisAndCluster(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s *store)
	}{
		{name: "whitelist is replaced", run: func(t *testing.T, ctx context.Context, s *store) {
			require.NoError(t, s.syncWhitelist(ctx, []int64{1, 2}))
			require.NoError(t, s.syncWhitelist(ctx, []int64{2, 3}))
			require.ElementsMatch(t, []string{"2", "3"}, s.rdb.SMembers(ctx, "telegram:whitelist").Val())
			require.NoError(t, s.syncWhitelist(ctx, nil))
			require.Zero(t, s.rdb.Exists(ctx, "telegram:whitelist").Val())
		}},
		{name: "started users", run: func(t *testing.T, ctx context.Context, s *store) {
			require.NoError(t, s.markStarted(ctx, 7, 70))
			require.NoError(t, s.markStarted(ctx, 8, 80))
			require.NoError(t, s.forget(ctx, 7))
			got, err := s.started(ctx)
			require.NoError(t, err)
			require.Equal(t, map[int64]int64{8: 80}, got)
		}},
		{name: "settings", run: func(t *testing.T, ctx context.Context, s *store) {
			got, err := s.update(ctx, 7, func(st *storedSettings, _ UserSettings) {
				v := int64(0)
				st.MinPrice = &v
				st.Muted = []string{"A"}
			})
			require.NoError(t, err)
			require.Zero(t, got.MinPriceCents)
			require.Equal(t, []string{"A"}, got.Muted)
			again, err := s.settings(ctx, 7)
			require.NoError(t, err)
			require.Equal(t, got, again)
		}},
		{name: "sent offers", run: func(t *testing.T, ctx context.Context, s *store) {
			a, b := offers.Offer{Title: "A", Buy: 100}, offers.Offer{Title: "B", Buy: 200}
			require.NoError(t, s.markSent(ctx, 7, a, now, time.Hour))
			got, err := s.unsent(ctx, 7, []offers.Offer{a, b}, now.Add(time.Minute), time.Hour)
			require.NoError(t, err)
			require.Equal(t, []offers.Offer{b}, got)
			got, err = s.unsent(ctx, 7, []offers.Offer{a, b}, now.Add(2*time.Hour), time.Hour)
			require.NoError(t, err)
			require.Equal(t, []offers.Offer{a, b}, got, "sent longer ago than the window")
		}},
		{name: "send log and digest", run: func(t *testing.T, ctx context.Context, s *store) {
			require.NoError(t, s.logSend(ctx, 7, now, "x"))
			room, err := s.hourlyRoom(ctx, 7, now, 3)
			require.NoError(t, err)
			require.Equal(t, 2, room)
			first, err := s.claimDigest(ctx, 7, "2026-03-01")
			require.NoError(t, err)
			require.True(t, first)
			first, err = s.claimDigest(ctx, 7, "2026-03-01")
			require.NoError(t, err)
			require.False(t, first)
			require.NoError(t, s.unclaimDigest(ctx, 7))
			first, err = s.claimDigest(ctx, 7, "2026-03-01")
			require.NoError(t, err)
			require.True(t, first)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
				tc.run(t, context.Background(), &store{rdb: rdb, prefix: "telegram:"})
			})
		})
	}
}
