package bot

import (
	"context"
	"fmt"
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
		{name: "kind switches: on by default, also for settings stored before them, and persisted", run: func(t *testing.T, ctx context.Context, s *store) {
			require.NoError(t, s.rdb.Set(ctx, "telegram:settings:7", `{"min_price":500,"notifications":true}`, 0).Err())
			got, err := s.settings(ctx, 7)
			require.NoError(t, err)
			require.True(t, got.FloatOffers)
			require.True(t, got.StickerOffers)
			require.Equal(t, int64(500), got.MinPriceCents)
			got, err = s.update(ctx, 7, func(st *storedSettings, _ UserSettings) {
				off := false
				st.FloatOffers = &off
			})
			require.NoError(t, err)
			require.False(t, got.FloatOffers)
			require.True(t, got.StickerOffers)
			require.JSONEq(t, `{"min_price":500,"notifications":true,"float_offers":false}`, s.rdb.Get(ctx, "telegram:settings:7").Val())
			fs, _ := settingsFor(got)
			require.True(t, fs.HideFloat)
			require.False(t, fs.HideStickers)
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
		{name: "sent profits and the renotify margin", run: func(t *testing.T, ctx context.Context, s *store) {
			a := offers.Offer{Title: "A", Buy: 100, ProfitBasisPoints: 1000}
			require.NoError(t, s.markSent(ctx, 7, a, now, time.Hour))
			better := a
			better.ProfitBasisPoints = 1200
			got, again, err := s.unsentOrBetter(ctx, 7, []offers.Offer{better}, now.Add(time.Minute), time.Hour, 200)
			require.NoError(t, err)
			require.Equal(t, []offers.Offer{better}, got)
			require.Equal(t, map[string]bool{fingerprint(a): true}, again)
			got, _, err = s.unsentOrBetter(ctx, 7, []offers.Offer{better}, now.Add(time.Minute), time.Hour, 201)
			require.NoError(t, err)
			require.Empty(t, got)
			_, _, err = s.unsentOrBetter(ctx, 7, nil, now.Add(2*time.Hour), time.Hour, 200)
			require.NoError(t, err)
			require.Zero(t, s.rdb.Exists(ctx, "telegram:sentprofit:7").Val(), "pruned with the sent offers")
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

func TestTitleIDsAreForgottenByAgeAndCount(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// run remembers titles over time and returns the titles expected to resolve and those not.
		run func(t *testing.T, s *store) (known, forgotten []string)
	}{
		{name: "issued longer ago than the retention", run: func(t *testing.T, s *store) ([]string, []string) {
			ctx := context.Background()
			require.NoError(t, s.rememberTitles(ctx, t0, "A", "B"))
			require.NoError(t, s.rememberTitles(ctx, t0.Add(time.Hour), "B"))
			require.NoError(t, s.rememberTitles(ctx, t0.Add(time.Hour+s.titleRetention), "C"))
			return []string{"B", "C"}, []string{"A"}
		}},
		{name: "beyond the most recent ones", run: func(t *testing.T, s *store) ([]string, []string) {
			ctx := context.Background()
			for i := 0; i < 8; i++ {
				require.NoError(t, s.rememberTitles(ctx, t0.Add(time.Duration(i)*time.Second), fmt.Sprint("T", i)))
			}
			return []string{"T3", "T4", "T5", "T6", "T7"}, []string{"T0", "T1", "T2"}
		}},
		{name: "ids stored before their issue times were kept", run: func(t *testing.T, s *store) ([]string, []string) {
			ctx := context.Background()
			require.NoError(t, s.rdb.HSet(ctx, s.key("titles"), titleHash("old"), "old").Err())
			require.NoError(t, s.rememberTitles(ctx, t0, "A"))
			_, err := s.title(ctx, titleHash("old"))
			require.NoError(t, err, "adopted as issued now")
			require.NoError(t, s.rememberTitles(ctx, t0.Add(s.titleRetention+time.Millisecond), "B"))
			return []string{"B"}, []string{"A", "old"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
				ctx := context.Background()
				s := &store{rdb: rdb, prefix: "telegram:", titleRetention: 24 * time.Hour, maxTitles: 5}
				known, forgotten := tc.run(t, s)
				for _, title := range known {
					got, err := s.title(ctx, titleHash(title))
					require.NoError(t, err, title)
					require.Equal(t, title, got)
				}
				for _, title := range forgotten {
					_, err := s.title(ctx, titleHash(title))
					require.ErrorIs(t, err, errUnknownTitle, title)
				}
				n, err := s.rdb.HLen(ctx, s.key("titles")).Result()
				require.NoError(t, err)
				require.Equal(t, int64(len(known)), n)
				ids, err := s.rdb.ZRange(ctx, s.key("titles", "issued"), 0, -1).Result()
				require.NoError(t, err)
				fields, err := s.rdb.HKeys(ctx, s.key("titles")).Result()
				require.NoError(t, err)
				require.ElementsMatch(t, fields, ids, "the hash and its issue times hold the same ids")
			})
		})
	}
}

// unsent returns the offers whose fingerprint was not sent to user since now-window, in order (no
// renotify margin).
func (s *store) unsent(ctx context.Context, user int64, list []offers.Offer, now time.Time, window time.Duration) ([]offers.Offer, error) {
	out, _, err := s.unsentOrBetter(ctx, user, list, now, window, 0)
	return out, err
}
