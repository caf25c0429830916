package pricestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// populateTitles writes n random titles: live and expired levels of both statuses, buy orders, histories,
// and a few malformed keys, and returns their names.
func populateTitles(t *testing.T, rdb redis.UniversalClient, r *rand.Rand, n int) []string {
	t.Helper()
	ctx := context.Background()
	nowS := now0.Unix()
	names := make([]string, n)
	pipe := rdb.Pipeline()
	for i := range n {
		title := fmt.Sprintf("T%04d ★ <%d>", i, r.IntN(10))
		names[i] = title
		fields := []any{"meta", meta([]string{"a8db", "9a92"}[r.IntN(2)], nowS-int64(r.IntN(100)))}
		for range 1 + r.IntN(4) {
			status := []string{"a:", "l:"}[r.IntN(2)]
			exp := nowS - 5 + int64(r.IntN(600))
			fields = append(fields, status+strconv.Itoa(1+r.IntN(5000)),
				fmt.Sprintf(`{"n":%d,"exp":%d,"days":%d}`, r.IntN(3), exp, r.IntN(8)))
		}
		if r.IntN(20) == 0 {
			fields = append(fields, "a:x", "{}") // malformed
		}
		pipe.HSet(ctx, PricesKey(title), fields...)
		if r.IntN(3) > 0 {
			pipe.Set(ctx, OrdersKey(title), fmt.Sprintf(`{"price":%d,"count":%d,"updated_at":%d}`, 1+r.IntN(5000), 1+r.IntN(9), nowS), 0)
		}
		if r.IntN(2) == 0 {
			pipe.Set(ctx, HistoryKey(title), fmt.Sprintf(`{"stable":%t,"sold_per_week":%d,"probability":{"%d":100,"%d":50,"%d":20},"updated_at":%d}`,
				r.IntN(4) > 0, r.IntN(50), 1+r.IntN(1000), 1000+r.IntN(1000), 2000+r.IntN(1000), nowS), 0)
		}
	}
	pipe.Set(ctx, FeesKey("a8db"), `{"fraction":"0.05","min":1}`, 0)
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	return names
}

// Titles reads exactly what Market reads for the titles asked (duplicates and unknown titles included),
// on a single server and on a cluster, whatever the batch size.
func TestMarketReaderTitlesEqualsMarket(t *testing.T) {
	for _, srv := range redisdbtest.Servers() {
		t.Run(srv.Name, func(t *testing.T) {
			rdb := srv.Client(t)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(3, 13))
			names := populateTitles(t, rdb, r, 300)
			full, err := newMarketReader(rdb, MarketReaderConfig{}).Market(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, full.Titles)
			require.Less(t, len(full.Titles), len(names), "some titles have no live level or are malformed")
			byTitle := make(map[string]market.TitleState, len(full.Titles))
			for _, ti := range full.Titles {
				byTitle[ti.Title] = ti
			}
			for _, cfg := range []MarketReaderConfig{{}, {BatchSize: 7, Parallel: 2}} {
				for k, size := range []int{0, 1, 10, 120, len(names)} {
					ask := make([]string, 0, size+2)
					for range size {
						ask = append(ask, names[r.IntN(len(names))])
					}
					ask = append(ask, "Unknown title")
					if size > 0 {
						ask = append(ask, ask[0]) // a duplicate
					}
					got, err := newMarketReader(rdb, cfg).Titles(ctx, ask)
					require.NoError(t, err)
					want := []market.TitleState{}
					seen := map[string]bool{}
					for _, name := range ask {
						if ti, ok := byTitle[name]; ok && !seen[name] {
							want = append(want, ti)
						}
						seen[name] = true
					}
					sortTitles(market.Snapshot{Titles: want})
					if got == nil {
						got = []market.TitleState{}
					}
					require.Equal(t, want, got, "batch %d, case %d", cfg.BatchSize, k)
				}
			}
		})
	}
}

func TestMarketReaderTitlesErrors(t *testing.T) {
	rdb := redisdbtest.New(t)
	require.NoError(t, rdb.HSet(context.Background(), PricesKey("A"), "meta", meta("g", 1)).Err())
	c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
	t.Cleanup(func() { _ = c.Close() })
	c.AddHook(failHook{cmd: "hgetall"})
	_, err := newMarketReader(c, MarketReaderConfig{}).Titles(context.Background(), []string{"A"})
	require.ErrorContains(t, err, "read titles")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = newMarketReader(rdb, MarketReaderConfig{}).Titles(ctx, []string{"A"})
	require.ErrorIs(t, err, context.Canceled)
}
