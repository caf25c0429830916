package pricestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// TestListingsScriptTouchesOneKeyPerCall: a page of many titles is written with one script call per
// title key (cluster-safe, SPEC §9.3), pipelined, and every title is counted once.
func TestListingsScriptTouchesOneKeyPerCall(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		rec := &cmdRecorder{}
		rdb.AddHook(rec)
		items := fixturePage(t)
		titles := map[string]bool{}
		for _, it := range items {
			titles[PricesKey(it.Title)] = true
		}
		n, err := s.WriteListings(ctx, "a8db", clk.Now(), items)
		require.NoError(t, err)
		require.Equal(t, len(titles), n)
		seen := map[string]bool{}
		for _, keys := range rec.scriptKeys() {
			require.Len(t, keys, 1, "one key per script call")
			seen[keys[0]] = true
		}
		require.Equal(t, titles, seen)
	})
}

// TestWriteTouchesOnlyItsFieldsUntilOneMayHaveExpired: while no stored field can have expired (the
// expiry bounds say so), a write reads and writes only the fields of its page; once one may have expired,
// the next write reads the whole hash and deletes every expired field.
func TestWriteTouchesOnlyItsFieldsUntilOneMayHaveExpired(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "Case"
		key := PricesKey(title)
		_, err := s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 100, false, 0)})
		require.NoError(t, err)
		// A field planted against the bounds (already expired while the bounds say nothing can be) is left
		// alone by a write that is not due to prune: only the page's own fields are touched.
		require.NoError(t, rdb.HSet(ctx, key, "a:1", `{"n":1,"exp":1,"t":1}`).Err())
		clk.Advance(10 * time.Minute)
		_, err = s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 200, false, 0)})
		require.NoError(t, err)
		require.True(t, rdb.HExists(ctx, key, "a:1").Val(), "a write not due to prune reads only its fields")
		p, ok, err := s.Title(ctx, title)
		require.NoError(t, err)
		require.True(t, ok)
		require.Len(t, p.Available, 2, "readers ignore the expired field")

		// Past the first field's expiry, the next write prunes the whole hash.
		clk.Advance(51 * time.Minute)
		_, err = s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 300, false, 0)})
		require.NoError(t, err)
		got := rdb.HGetAll(ctx, key).Val()
		require.NotContains(t, got, "a:1")
		require.NotContains(t, got, "a:100", "expired an hour after its fetch")
		require.Contains(t, got, "a:200")
		require.Contains(t, got, "a:300")
		require.JSONEq(t, fmt.Sprintf(`{"first":%d,"last_ms":%d,"mt":%d}`, t0.Add(70*time.Minute).Unix(),
			clk.Now().Add(time.Hour).UnixMilli(), clk.Now().UnixMilli()), got[FieldExpiry])
	})
}

// TestWriteOnKeyOfThePreviousLayout: a key written before the expiry bounds existed (as a worker of the
// previous version still writes during a rolling upgrade) is pruned by the next write, which adds them.
func TestWriteOnKeyOfThePreviousLayout(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		key := PricesKey("A")
		exp := clk.Now().Add(30 * time.Minute).Unix()
		require.NoError(t, rdb.HSet(ctx, key, "meta", `{"t":1,"title":"A","game_id":"a8db"}`,
			"a:1", `{"n":1,"exp":1,"t":1}`, "a:2", fmt.Sprintf(`{"n":4,"exp":%d,"t":2}`, exp)).Err())
		_, err := s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing("A", 3, false, 0)})
		require.NoError(t, err)
		got := rdb.HGetAll(ctx, key).Val()
		require.NotContains(t, got, "a:1")
		require.Contains(t, got, "a:2")
		require.Contains(t, got, "a:3")
		require.JSONEq(t, fmt.Sprintf(`{"first":%d,"last_ms":%d,"mt":%d}`, exp, clk.Now().Add(time.Hour).UnixMilli(),
			clk.Now().UnixMilli()), got[FieldExpiry])
	})
}

// TestWriteReadsMetaTimeOfPreviousBounds: bounds without meta's time ("mt"), as a worker of the previous
// version writes them, make the script read meta's t: a page older than the stored meta leaves meta as
// it is, and the bounds it writes carry that meta's time; the next, newer page writes meta and its time.
func TestWriteReadsMetaTimeOfPreviousBounds(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		key := PricesKey("A")
		newer := clk.Now().Add(-time.Second)
		exp := newer.Add(time.Hour)
		meta := fmt.Sprintf(`{"t":%d,"title":"A","game_id":"a8db"}`, newer.UnixMilli())
		require.NoError(t, rdb.HSet(ctx, key, "meta", meta,
			"a:2", fmt.Sprintf(`{"n":4,"exp":%d,"t":%d}`, exp.Unix(), newer.UnixMilli()),
			FieldExpiry, fmt.Sprintf(`{"first":%d,"last_ms":%d}`, exp.Unix(), exp.UnixMilli())).Err())

		older := newer.Add(-time.Minute)
		_, err := s.WriteListings(ctx, "a8db", older, []validate.Listing{listing("A", 3, false, 0)})
		require.NoError(t, err)
		got := rdb.HGetAll(ctx, key).Val()
		require.Equal(t, meta, got["meta"], "an older page leaves the newer meta")
		require.Contains(t, got, "a:3")
		require.JSONEq(t, fmt.Sprintf(`{"first":%d,"last_ms":%d,"mt":%d}`, older.Add(time.Hour).Unix(), exp.UnixMilli(),
			newer.UnixMilli()), got[FieldExpiry])
		require.InDelta(t, exp.Sub(clk.Now()).Seconds(), rdb.PTTL(ctx, key).Val().Seconds(), 5,
			"the key expires with its newest field, the stored one")

		_, err = s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing("A", 3, false, 0)})
		require.NoError(t, err)
		got = rdb.HGetAll(ctx, key).Val()
		require.Contains(t, got["meta"], fmt.Sprintf(`"t":%d`, clk.Now().UnixMilli()))
		require.JSONEq(t, fmt.Sprintf(`{"first":%d,"last_ms":%d,"mt":%d}`, older.Add(time.Hour).Unix(),
			clk.Now().Add(time.Hour).UnixMilli(), clk.Now().UnixMilli()), got[FieldExpiry])
	})
}

// BenchmarkWriteListingsPage writes the pages of crawls of one title with many price levels (a case
// listed at 2,500 prices over 25 pages of 100): the cost of a page must not grow with the levels
// already stored. It also writes fixture-shaped pages of 100 distinct titles ("titles=100").
func BenchmarkWriteListingsPage(b *testing.B) {
	ctx := context.Background()
	rdb := redisdbtest.New(b)
	clk := clocktest.NewFake(t0)
	s, err := New(rdb, clk, Config{PriceTTL: time.Hour})
	require.NoError(b, err)
	manyLevels := make([][]validate.Listing, 25)
	for p := range manyLevels {
		for i := 0; i < 100; i++ {
			manyLevels[p] = append(manyLevels[p], listing("Case", int64(p*100+i+1), i%3 == 0, 2))
		}
	}
	manyTitles := make([][]validate.Listing, 25)
	for p := range manyTitles {
		for i := 0; i < 100; i++ {
			manyTitles[p] = append(manyTitles[p], listing(fmt.Sprintf("title %d", (p*100+i)%2000), int64(100+i%7), i%3 == 0, 2))
		}
	}
	// The same pages with every item carrying a float and a paint seed, every third stickers (SPEC §9.2).
	withAttrs := make([][]validate.Listing, len(manyTitles))
	for p, page := range manyTitles {
		for i, l := range page {
			l.ItemID = fmt.Sprintf("%d-%d", p, i)
			l.Attrs = market.Attributes{Float: 0.15 + float64((p*31+i*17)%2300)/10000, HasFloat: true, PaintSeed: i, HasSeed: true}
			if i%3 == 0 {
				l.Attrs.Stickers = []string{"Crown (Foil)", "Titan (Holo) | Katowice 2014"}
			}
			withAttrs[p] = append(withAttrs[p], l)
		}
	}
	for _, tc := range []struct {
		name string
		// moving pages carry no crawl identity and each has its own fetch time, as a crawl's next cycle
		// over the same listings (the pipeline benchmark's moving market); one cycle is written before the
		// clock starts, so the item cache leaves the unchanged items out as in a running crawl.
		moving bool
		pages  [][]validate.Listing
	}{{"levels=2500", false, manyLevels}, {"titles=100", false, manyTitles}, {"titles=100/attrs", false, withAttrs},
		{"titles=100/attrs/moving", true, withAttrs}} {
		b.Run(tc.name, func(b *testing.B) {
			write := func(i int) {
				p := i % len(tc.pages)
				var crawl *message.Crawl
				if tc.moving {
					clk.Advance(100 * time.Millisecond)
				} else {
					crawl = &message.Crawl{Range: "1-", Cycle: int64(1 + i/len(tc.pages)), Page: p}
				}
				if _, err := s.WriteListingsPage(ctx, "a8db", clk.Now(), crawl, tc.pages[p]); err != nil {
					b.Fatal(err)
				}
			}
			if tc.moving {
				for i := range tc.pages {
					write(i)
				}
			}
			b.ReportAllocs()
			serverBefore := redisdbtest.ServerCPU(b, rdb)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				write(i)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "items/s")
			// Every page holds 100 listings of 100 titles, or of one title: the server's CPU per listing.
			b.ReportMetric(float64((redisdbtest.ServerCPU(b, rdb)-serverBefore).Microseconds())/float64(b.N*100), "redis-cpu-µs/item")
		})
	}
}
