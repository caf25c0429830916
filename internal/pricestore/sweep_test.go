package pricestore

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
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

func apply(t *testing.T, s *Store, p ListingsPage) []string {
	t.Helper()
	p.Game = "a8db"
	a, err := s.ApplyListings(context.Background(), p)
	require.NoError(t, err)
	slices.Sort(a.Changed)
	return a.Changed
}

// fieldsOf returns the price fields of title's key, sorted.
func fieldsOf(t *testing.T, rdb redis.UniversalClient, title string) []string {
	t.Helper()
	var out []string
	for f := range rdb.HGetAll(context.Background(), PricesKey(title)).Val() {
		if f != FieldMeta && f != FieldExpiry {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func items(ls ...[]validate.Listing) []validate.Listing {
	var out []validate.Listing
	for _, l := range ls {
		out = append(out, l...)
	}
	return out
}

func TestCompletedCrawlRemovesWhatItDidNotSee(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
		c1, c2 := t0.Add(-20*time.Minute), t0.Add(-10*time.Minute)
		crawl := func(cycle time.Time, page int, last bool) *message.Crawl {
			return &message.Crawl{Range: "100-999", Cycle: cycle.UnixMilli(), Page: page, Last: last}
		}
		// The first crawl sees A at 300 and 500 (and 1500, outside the range: another range's crawl), B at 400.
		require.Equal(t, []string{"A", "B"}, apply(t, s, ListingsPage{FetchedAt: c1, Crawl: crawl(c1, 0, false),
			Items: items(spread("A", 300, false, 0, 2), spread("B", 400, false, 0, 1))}))
		require.Equal(t, []string{"A"}, apply(t, s, ListingsPage{FetchedAt: c1.Add(time.Second), Crawl: crawl(c1, 1, true),
			Items: items(spread("A", 500, true, 3, 1))}))
		apply(t, s, ListingsPage{FetchedAt: c1, Items: spread("A", 1500, false, 0, 1)})
		// Fresh pages: D before the second crawl starts, E after.
		apply(t, s, ListingsPage{FetchedAt: c2.Add(-time.Second), Items: spread("D", 600, false, 0, 1)})
		apply(t, s, ListingsPage{FetchedAt: c2.Add(time.Second), Items: spread("E", 700, false, 0, 1)})

		// The second crawl's last page comes first: nothing is removed until every page is written.
		require.Empty(t, apply(t, s, ListingsPage{FetchedAt: c2.Add(2 * time.Second), Crawl: crawl(c2, 1, true),
			Items: spread("A", 300, false, 0, 2)}))
		require.Equal(t, []string{"a:1500", "a:300", "l:500"}, fieldsOf(t, rdb, "A"))
		require.Equal(t, []string{"a:400"}, fieldsOf(t, rdb, "B"))

		// Page 0 (empty: the range thinned out) completes the crawl: the sweep removes the unseen levels.
		require.Equal(t, []string{"A", "B", "D"}, apply(t, s, ListingsPage{FetchedAt: c2, Crawl: crawl(c2, 0, false)}))
		require.Equal(t, []string{"a:1500", "a:300"}, fieldsOf(t, rdb, "A"), "outside the range: kept")
		require.Zero(t, rdb.Exists(ctx, PricesKey("B"), PricesKey("D")).Val(), "keys without levels go")
		require.Equal(t, []string{"a:700"}, fieldsOf(t, rdb, "E"), "seen after the crawl started: kept")
		require.False(t, rdb.SIsMember(ctx, BucketKey("a8db", BucketOf(400)), "B").Val(), "B left its bucket")
		require.True(t, rdb.SIsMember(ctx, BucketKey("a8db", BucketOf(300)), "A").Val())

		// Redelivered pages sweep nothing again.
		require.Empty(t, apply(t, s, ListingsPage{FetchedAt: c2.Add(2 * time.Second), Crawl: crawl(c2, 1, true),
			Items: spread("A", 300, false, 0, 2)}))
		require.Empty(t, apply(t, s, ListingsPage{FetchedAt: c2, Crawl: crawl(c2, 0, false)}))
	})
}

func TestInterruptedCrawlRemovesNothing(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
		c1, c2 := t0.Add(-20*time.Minute), t0.Add(-10*time.Minute)
		apply(t, s, ListingsPage{FetchedAt: c1, Crawl: &message.Crawl{Range: "100-", Cycle: c1.UnixMilli(), Page: 0, Last: true},
			Items: items(spread("A", 300, false, 0, 1), spread("A", 90_000, false, 0, 1))})
		for _, page := range []int{0, 2} { // page 1 never arrives, no page is marked last
			apply(t, s, ListingsPage{FetchedAt: c2, Crawl: &message.Crawl{Range: "100-", Cycle: c2.UnixMilli(), Page: page},
				Items: spread("Z", 200, false, 0, 1)})
		}
		require.Equal(t, []string{"a:300", "a:90000"}, fieldsOf(t, rdb, "A"))
		// The last page arrives, but page 1 is still missing.
		apply(t, s, ListingsPage{FetchedAt: c2, Crawl: &message.Crawl{Range: "100-", Cycle: c2.UnixMilli(), Page: 3, Last: true}})
		require.Equal(t, []string{"a:300", "a:90000"}, fieldsOf(t, rdb, "A"))
		// Page 1 completes it; the open range reaches the top bucket.
		require.Equal(t, []string{"A"}, apply(t, s, ListingsPage{FetchedAt: c2,
			Crawl: &message.Crawl{Range: "100-", Cycle: c2.UnixMilli(), Page: 1}}))
		require.Zero(t, rdb.Exists(context.Background(), PricesKey("A")).Val())
	})
}

func TestScanPageRemovesLevelsItProvesGone(t *testing.T) {
	tests := []struct {
		name     string
		complete bool
		scanAt   time.Duration // after the levels were written
		want     []string
		changed  []string
	}{
		{name: "below the last price", scanAt: time.Second, want: []string{"a:100", "a:300", "a:400"}, changed: []string{"A"}},
		{name: "complete", complete: true, scanAt: time.Second, want: []string{"a:100"}, changed: []string{"A"}},
		{name: "older scan removes nothing", scanAt: -time.Second, want: []string{"a:100", "a:200", "a:300", "a:400", "l:250"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
				at := t0.Add(-time.Minute)
				apply(t, s, ListingsPage{FetchedAt: at, Items: items(spread("A", 100, false, 0, 1), spread("A", 200, false, 0, 1),
					spread("A", 300, false, 0, 1), spread("A", 400, false, 0, 1), spread("A", 250, true, 2, 1),
					spread("A Foo", 150, false, 0, 1))})
				// A title search for "A": the page shows A at 100 and "A Foo" (a prefix match) at 150 and 300.
				got := apply(t, s, ListingsPage{FetchedAt: at.Add(tc.scanAt), Scan: &message.Scan{Title: "A", Complete: tc.complete},
					Items: items(spread("A", 100, false, 0, 1), spread("A Foo", 300, false, 0, 1))})
				require.Equal(t, tc.want, fieldsOf(t, rdb, "A"))
				require.Equal(t, []string{"a:150", "a:300"}, fieldsOf(t, rdb, "A Foo"), "other titles are never swept")
				require.ElementsMatch(t, append([]string{"A Foo"}, tc.changed...), got, "A Foo: its new level at 300")
			})
		})
	}
}

func TestChangesOfListings(t *testing.T) {
	both(t, func(t *testing.T, s *Store, _ redis.UniversalClient, clk *clocktest.Fake) {
		at := t0.Add(-time.Minute)
		require.Equal(t, []string{"A", "B"}, apply(t, s, ListingsPage{FetchedAt: at,
			Items: items(spread("A", 100, false, 0, 2), spread("B", 100, false, 0, 1))}))
		require.Empty(t, apply(t, s, ListingsPage{FetchedAt: at.Add(time.Second),
			Items: items(spread("A", 100, false, 0, 2), spread("B", 100, false, 0, 1))}), "same counts: no change")
		require.Equal(t, []string{"B"}, apply(t, s, ListingsPage{FetchedAt: at.Add(2 * time.Second),
			Items: items(spread("A", 100, false, 0, 2), spread("B", 100, false, 0, 3))}), "a count changed")
		clk.Advance(2 * time.Hour)
		require.Equal(t, []string{"A"}, apply(t, s, ListingsPage{FetchedAt: clk.Now(),
			Items: spread("A", 120, false, 0, 1)}), "a new level, the old one expired")
	})
}

func TestChangesOfOrdersAndHistory(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, _ redis.UniversalClient, _ *clocktest.Fake) {
		at := t0.Add(-time.Minute)
		order := func(title string, price int64, count int) validate.Order {
			return validate.Order{Title: title, HasOrder: price > 0, PriceCents: price, Count: count}
		}
		steps := []struct {
			orders []validate.Order
			want   []string
		}{
			{orders: []validate.Order{order("A", 100, 2), order("B", 0, 0)}, want: []string{"A"}},
			{orders: []validate.Order{order("A", 100, 2), order("B", 0, 0)}, want: []string{}},
			{orders: []validate.Order{order("A", 100, 3), order("B", 50, 1)}, want: []string{"A", "B"}},
			{orders: []validate.Order{order("A", 0, 0), order("B", 50, 1)}, want: []string{"A"}},
		}
		for i, st := range steps {
			_, changed, err := s.WriteOrdersChanged(ctx, at.Add(time.Duration(i)*time.Second), st.orders)
			require.NoError(t, err)
			require.Equal(t, st.want, changed, "step %d", i)
		}

		hist := func(spw int) *market.History {
			return &market.History{SoldPerWeek: spw, Probability: map[market.Cents]int{100: 50},
				Points: []market.HourPoint{{Hour: at.Truncate(time.Hour), Mean: 100, Units: spw}}}
		}
		for i, st := range []struct {
			h    *market.History
			want bool
		}{{hist(3), true}, {hist(3), false}, {hist(4), true}, {nil, true}, {nil, false}} {
			_, changed, err := s.WriteHistoryChanged(ctx, "A", at.Add(time.Duration(i)*time.Second), st.h)
			require.NoError(t, err)
			require.Equal(t, st.want, changed, "step %d", i)
		}
	})
}

func TestParseRangeAndBuckets(t *testing.T) {
	tests := []struct {
		in       string
		from, to int64
		ok       bool
	}{
		{"100-999", 100, 999, true}, {"0-", 0, -1, true}, {"5-5", 5, 5, true},
		{"9-5", 0, 0, false}, {"x-5", 0, 0, false}, {"100", 0, 0, false}, {"-5", 0, 0, false}, {"1-x", 0, 0, false},
	}
	for _, tc := range tests {
		from, to, ok := ParseRange(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, [2]int64{tc.from, tc.to}, [2]int64{from, to}, tc.in)
	}
	prev := 0
	for p := int64(0); p < 200_000; p++ {
		b := BucketOf(p)
		require.GreaterOrEqual(t, b, prev, "monotonic at %d", p)
		prev = b
	}
	require.Equal(t, []int{0, 0, 8, 16, 80}, []int{BucketOf(0), BucketOf(1), BucketOf(2), BucketOf(4), BucketOf(1024)})
}

// TestConcurrentWorkersSweepOnce: four workers apply two crawls' pages, shuffled and each delivered
// three times; the title only the second crawl's sweep removes is reported once, and the
// end state is that of one writer applying the pages in order.
func TestConcurrentWorkersSweepOnce(t *testing.T) {
	c1, c2 := t0.Add(-20*time.Minute), t0.Add(-10*time.Minute)
	page := func(cycle time.Time, idx int, last bool, ls ...[]validate.Listing) ListingsPage {
		return ListingsPage{Game: "a8db", FetchedAt: cycle.Add(time.Duration(idx) * time.Second), Items: items(ls...),
			Crawl: &message.Crawl{Range: "100-999", Cycle: cycle.UnixMilli(), Page: idx, Last: last}}
	}
	first := []ListingsPage{
		page(c1, 0, false, spread("A", 300, false, 0, 2), spread("Gone", 350, false, 0, 1)),
		page(c1, 1, true, spread("A", 500, false, 0, 1)),
	}
	second := []ListingsPage{
		page(c2, 0, false, spread("A", 300, false, 0, 2)),
		page(c2, 1, false, spread("B", 400, false, 0, 1)),
		page(c2, 2, true, spread("A", 600, false, 0, 1)),
	}
	single, singleDB, _ := newStore(t)
	for _, p := range append(append([]ListingsPage(nil), first...), second...) {
		_, err := single.ApplyListings(context.Background(), p)
		require.NoError(t, err)
	}
	require.Zero(t, singleDB.Exists(context.Background(), PricesKey("Gone")).Val())

	redisdbtest.Both(t, func(t *testing.T, shared redis.UniversalClient) {
		s, _ := newStoreOn(t, shared)
		for _, p := range first {
			_, err := s.ApplyListings(context.Background(), p)
			require.NoError(t, err)
		}
		var mu sync.Mutex
		reported := 0
		writeConcurrently(t, shared, len(second), 3, rand.New(rand.NewPCG(7, 8)), func(st *Store, i int) error {
			a, err := st.ApplyListings(context.Background(), second[i])
			mu.Lock()
			if slices.Contains(a.Changed, "Gone") {
				reported++
			}
			mu.Unlock()
			return err
		})
		require.Equal(t, 1, reported, "the removal is reported once")
		require.Equal(t, dump(t, singleDB), dump(t, shared))
	})
}

// TestCrawlPageIsOneRoundTrip: a crawl page that does not complete its crawl writes its levels, its
// price buckets and its progress in one pipeline (issue 14: the worker's per-page cost); an empty one
// records its progress alone. The page is recorded either way.
func TestCrawlPageIsOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		items []validate.Listing
	}{
		{"levels", items(spread("A", 300, false, 0, 2), spread("B", 400, true, 3, 1))},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rdb, clk := newStore(t)
			// The script is cached before counting.
			require.NoError(t, trackScript.Load(ctx, rdb).Err())
			rec := &cmdRecorder{}
			rdb.AddHook(rec)
			crawl := &message.Crawl{Range: "100-999", Cycle: t0.UnixMilli(), Page: 1}
			_, err := s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: clk.Now(), Crawl: crawl, Items: tc.items})
			require.NoError(t, err)
			require.Equal(t, 1, rec.roundTrips())
			require.Equal(t, "1", rdb.HGet(ctx, CrawlKey("a8db", crawl.Range, crawl.Cycle), "1").Val())
		})
	}
}
