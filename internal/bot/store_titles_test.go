package bot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

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
