package pricestore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

var t0 = time.Now().UTC().Truncate(time.Second)

func newStore(t *testing.T) (*Store, *redis.Client, *clocktest.Fake) {
	t.Helper()
	rdb := redisdbtest.New(t)
	s, clk := newStoreOn(t, rdb)
	return s, rdb, clk
}

// newStoreOn returns a store on rdb with a fake clock at t0.
func newStoreOn(t *testing.T, rdb redis.UniversalClient) (*Store, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(t0)
	s, err := New(rdb, clk, Config{PriceTTL: time.Hour, HistoryTTL: 24 * time.Hour})
	require.NoError(t, err)
	return s, clk
}

// both runs body on a fresh store over a database of the single test server and over the test cluster
// (redisdbtest.Both).
func both(t *testing.T, body func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake)) {
	t.Helper()
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		s, clk := newStoreOn(t, rdb)
		body(t, s, rdb, clk)
	})
}

// newClient returns another client of what rdb connects to (the same database or the same cluster),
// closed when t ends.
func newClient(t *testing.T, rdb redis.UniversalClient) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	switch r := rdb.(type) {
	case *redis.Client:
		c = redis.NewClient(r.Options())
	case *redis.ClusterClient:
		c = redis.NewClusterClient(r.Options())
	default:
		t.Fatalf("unknown client %T", rdb)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func fixturePage(t testing.TB) []validate.Listing {
	t.Helper()
	b, err := os.ReadFile("testdata/market-items-page.json")
	require.NoError(t, err)
	page, err := validate.DecodeListings(b, "a8db")
	require.NoError(t, err)
	return page.Items
}

func listing(title string, price int64, locked bool, days int) validate.Listing {
	return validate.Listing{ItemID: fmt.Sprint(title, price), Title: title, GameID: "a8db", Image: "https://img/" + title,
		PriceCents: price, SuggestedCents: 1000, Locked: locked, LockDays: days}
}

// dump returns every key of the database with its content, for whole-state comparisons, without the
// prices hashes' expiry bounds, whose lower bound depends on the order of writes (readers ignore it).
func dump(t *testing.T, rdb redis.UniversalClient) map[string]any {
	t.Helper()
	out := redisdbtest.Dump(t, rdb)
	for _, v := range out {
		if h, ok := v.(map[string]string); ok {
			delete(h, FieldExpiry)
		}
	}
	return out
}

func TestNewConfig(t *testing.T) {
	rdb := redisdbtest.Unreachable(t)
	_, err := New(rdb, clock.Real{}, Config{PriceTTL: -1})
	require.ErrorIs(t, err, ErrConfig)
	_, err = New(nil, clock.Real{}, Config{})
	require.ErrorIs(t, err, ErrConfig)
	s, err := New(rdb, clock.Real{}, Config{})
	require.NoError(t, err)
	require.Equal(t, DefaultPriceTTL, s.cfg.PriceTTL)
	require.Equal(t, DefaultHistoryTTL, s.cfg.HistoryTTL)
}

func TestWriteListingsLayout(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		fetched := t0.Add(-time.Minute).Add(123 * time.Millisecond)
		n, err := s.WriteListings(ctx, "a8db", fetched, fixturePage(t))
		require.NoError(t, err)
		require.Equal(t, 5, n)

		raw := rdb.HGetAll(ctx, "prices:dmarket:AK-47 | Redline (Field-Tested)").Val()
		exp := fetched.Add(time.Hour).Unix()
		tms := fetched.UnixMilli()
		require.Len(t, raw, 4)
		require.JSONEq(t, fmt.Sprintf(`{"n":1,"exp":%d,"t":%d}`, exp, tms), raw["a:1289"])
		require.JSONEq(t, fmt.Sprintf(`[{"id":"34fffe00-54de-453c-a914-285c6d25972e","p":1289,"exp":%d,"t":%d,`+
			`"f":"0.2713904023170471","seed":613}]`, exp, tms), raw[FieldItemsAvailable])
		require.JSONEq(t, fmt.Sprintf(`{"first":%d,"last_ms":%d,"mt":%d}`, exp, fetched.Add(time.Hour).UnixMilli(), tms), raw[FieldExpiry])
		var meta map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw["meta"]), &meta))
		require.Equal(t, "AK-47 | Redline (Field-Tested)", meta["title"])
		require.Equal(t, "a8db", meta["game_id"])
		require.Contains(t, meta["image"], "https://")
		require.EqualValues(t, 1342, meta["suggested_price"])
		require.EqualValues(t, fetched.Unix(), meta["updated_at"])

		awp := rdb.HGetAll(ctx, "prices:dmarket:AWP | Asiimov (Field-Tested)").Val()
		require.JSONEq(t, fmt.Sprintf(`{"n":1,"exp":%d,"days":5,"t":%d}`, exp, tms), awp["l:10250"])

		ttl := rdb.TTL(ctx, "prices:dmarket:AK-47 | Redline (Field-Tested)").Val()
		require.InDelta(t, (59 * time.Minute).Seconds(), ttl.Seconds(), 5)

		p, ok, err := s.Title(ctx, "★ Sport Gloves | Vice (Battle-Scarred)")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []Level{{PriceCents: 62917, Count: 1, ExpiresAt: time.Unix(exp, 0).UTC()}}, p.Available)
		require.Empty(t, p.Locked)
		require.Equal(t, int64(70430), p.SuggestedCents)
		require.Equal(t, fetched.Unix(), p.UpdatedAt.Unix())

		_, ok, err = s.Title(ctx, "nothing")
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestWriteListingsCountsAndOrder(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = `Weird "title" \ ★`
		page1 := []validate.Listing{
			listing(title, 100, false, 0), listing(title, 100, false, 0), listing(title, 100, false, 0),
			listing(title, 150, true, 4), listing(title, 150, true, 2), listing(title, 150, false, 0),
		}
		_, err := s.WriteListings(ctx, "a8db", t0.Add(-2*time.Minute), page1)
		require.NoError(t, err)
		p, ok, err := s.Title(ctx, title)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, title, p.Title)
		require.Len(t, p.Available, 2)
		require.Equal(t, 3, p.Available[0].Count)
		require.Equal(t, 1, p.Available[1].Count)
		require.Len(t, p.Locked, 1)
		require.Equal(t, Level{PriceCents: 150, Count: 2, LockDays: 2, ExpiresAt: p.Locked[0].ExpiresAt}, p.Locked[0])

		// A newer page replaces the count of the fields it shows.
		_, err = s.WriteListings(ctx, "a8db", t0.Add(-time.Minute), []validate.Listing{listing(title, 100, false, 0)})
		require.NoError(t, err)
		p, _, _ = s.Title(ctx, title)
		require.Equal(t, 1, p.Available[0].Count)

		// A redelivered older page changes nothing.
		before := dump(t, rdb)
		_, err = s.WriteListings(ctx, "a8db", t0.Add(-2*time.Minute), page1)
		require.NoError(t, err)
		require.Equal(t, before, dump(t, rdb))

		// Meta keeps the newest page's values.
		var meta metaJSON
		require.NoError(t, json.Unmarshal([]byte(rdb.HGet(ctx, PricesKey(title), "meta").Val()), &meta))
		require.Equal(t, t0.Add(-time.Minute).Unix(), meta.UpdatedAt)
		require.Equal(t, title, meta.Title)
	})
}

func TestWriteListingsIdempotent(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		items := fixturePage(t)
		fetched := t0.Add(-time.Second)
		_, err := s.WriteListings(ctx, "a8db", fetched, items)
		require.NoError(t, err)
		before := dump(t, rdb)
		clk.Advance(10 * time.Minute)
		_, err = s.WriteListings(ctx, "a8db", fetched, items)
		require.NoError(t, err)
		require.Equal(t, before, dump(t, rdb))
		// The key's expiry stays tied to the fetch time, not the redelivery time.
		ttl := rdb.TTL(ctx, PricesKey(items[0].Title)).Val()
		require.InDelta(t, (time.Hour - 10*time.Minute).Seconds(), ttl.Seconds(), 5)
	})
}

func TestWriteListingsExpiredPageIgnored(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		n, err := s.WriteListings(ctx, "a8db", t0.Add(-2*time.Hour), fixturePage(t))
		require.NoError(t, err)
		require.Zero(t, n)
		require.Empty(t, dump(t, rdb))
		n, err = s.WriteListings(ctx, "a8db", t0, nil)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestSoldCheapListingStopsBeingMinimum(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "AK-47 | Redline (Field-Tested)"
		_, err := s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 100, false, 0), listing(title, 200, false, 0)})
		require.NoError(t, err)

		// Thirty minutes later the cheap listing was sold: the next crawl sees only the dearer one.
		clk.Advance(30 * time.Minute)
		_, err = s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 200, false, 0)})
		require.NoError(t, err)
		p, _, err := s.Title(ctx, title)
		require.NoError(t, err)
		cheapest, ok := p.Cheapest(false)
		require.True(t, ok)
		require.Equal(t, int64(100), cheapest.PriceCents, "not yet expired")

		// After PRICE_TTL since it was last seen, readers ignore it.
		clk.Advance(31 * time.Minute)
		p, _, err = s.Title(ctx, title)
		require.NoError(t, err)
		cheapest, ok = p.Cheapest(false)
		require.True(t, ok)
		require.Equal(t, int64(200), cheapest.PriceCents)
		_, ok = p.Cheapest(true)
		require.False(t, ok)
		require.True(t, rdb.HExists(ctx, PricesKey(title), "a:100").Val(), "still stored until a writer prunes it")

		// The next write prunes it.
		_, err = s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 200, false, 0)})
		require.NoError(t, err)
		require.False(t, rdb.HExists(ctx, PricesKey(title), "a:100").Val())

		// Once every field expired, readers see no prices at all.
		clk.Advance(2 * time.Hour)
		p, ok, err = s.Title(ctx, title)
		require.NoError(t, err)
		require.False(t, ok)
		require.Empty(t, p.Available)
	})
}

func TestWriteListingsPrunesToEmpty(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		_, err := s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing("A", 1, false, 0)})
		require.NoError(t, err)
		// Make the stored field stale by hand (the key outlives it only in this artificial state), then call
		// the script directly with a page that brings no field.
		clk.Advance(61 * time.Minute)
		gone := clk.Now().Add(-time.Second)
		n, err := listingsScript.Run(ctx, rdb, []string{PricesKey("A")}, clk.Now().UnixMilli(),
			clk.Now().UnixMilli(), gone.Unix(), gone.UnixMilli(), 1, 0, 0, `{"t":1}`, "", "", "0").Int()
		require.NoError(t, err)
		require.Equal(t, 2, n, "no prices left (bit 0 clear), a level went (2)")
		require.Zero(t, rdb.Exists(ctx, PricesKey("A")).Val())
	})
}

// randomPages builds pages over a small set of titles so that they overlap heavily.
func randomPages(n int) ([][]validate.Listing, []time.Time) {
	r := rand.New(rand.NewPCG(1, 2))
	titles := []string{"A", "B", "C", "D", "E", "F", "G", "H"}
	pages := make([][]validate.Listing, n)
	times := make([]time.Time, n)
	for i := range pages {
		times[i] = t0.Add(-time.Duration(n-i) * time.Second)
		for j := 0; j < 20; j++ {
			pages[i] = append(pages[i], listing(titles[r.IntN(len(titles))], int64(100+r.IntN(6)), r.IntN(3) == 0, r.IntN(8)))
		}
	}
	return pages, times
}

// writeConcurrently applies pages 0..n-1, each one copies times in the order r shuffles them, with four
// stores on connections of their own to what shared connects to (empty at the start).
func writeConcurrently(t *testing.T, shared redis.UniversalClient, n, copies int, r *rand.Rand, write func(st *Store, page int) error) {
	t.Helper()
	clk := clocktest.NewFake(t0)
	work := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		st, err := New(newClient(t, shared), clk, Config{PriceTTL: time.Hour})
		require.NoError(t, err)
		wg.Go(func() {
			for i := range work {
				if err := write(st, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, i := range r.Perm(copies * n) {
		work <- i % n
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestConcurrentWritersMatchSingleWriter(t *testing.T) {
	ctx := context.Background()
	pages, times := randomPages(80)

	single, singleDB, _ := newStore(t)
	for i := range pages {
		_, err := single.WriteListings(ctx, "a8db", times[i], pages[i])
		require.NoError(t, err)
	}

	// Deliver in a shuffled order, every page twice (redelivery).
	redisdbtest.Both(t, func(t *testing.T, shared redis.UniversalClient) {
		writeConcurrently(t, shared, len(pages), 2, rand.New(rand.NewPCG(3, 4)), func(st *Store, i int) error {
			_, err := st.WriteListings(ctx, "a8db", times[i], pages[i])
			return err
		})
		require.Equal(t, dump(t, singleDB), dump(t, shared))
	})
}

func TestRedisErrorsAreReturned(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.Unreachable(t)
	s, err := New(rdb, clocktest.NewFake(t0), Config{})
	require.NoError(t, err)
	_, err = s.WriteListings(ctx, "a8db", t0, fixturePage(t))
	require.Error(t, err)
	_, err = s.WriteOrders(ctx, t0, []validate.Order{{Title: "A"}})
	require.Error(t, err)
	_, _, err = s.Title(ctx, "A")
	require.Error(t, err)
	_, _, err = s.Order(ctx, "A")
	require.Error(t, err)
}

func TestPruneManyExpiredFields(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "Case"
		var items []validate.Listing
		for p := int64(1); p <= 2500; p++ {
			items = append(items, listing(title, p, p%2 == 0, 0))
		}
		for i := 0; i < len(items); i += 100 {
			_, err := s.WriteListings(ctx, "a8db", clk.Now(), items[i:i+100])
			require.NoError(t, err)
		}
		require.Equal(t, int64(2502), rdb.HLen(ctx, PricesKey(title)).Val(), "meta, expiry and 2500 fields")
		clk.Advance(61 * time.Minute)
		_, err := s.WriteListings(ctx, "a8db", clk.Now(), []validate.Listing{listing(title, 9999, false, 0)})
		require.NoError(t, err)
		require.Equal(t, int64(3), rdb.HLen(ctx, PricesKey(title)).Val(), "meta, expiry and the new field")
	})
}

func TestPricesKeyTTLNeverExceedsPriceTTL(t *testing.T) {
	cases := []struct {
		name string
		age  time.Duration // how long before now the page was fetched
	}{
		{"fetched now", 0},
		{"fetched 1ms ago", time.Millisecond},
		{"fetched 200ms ago", 200 * time.Millisecond},
		{"fetched 999ms ago", 999 * time.Millisecond},
		{"fetched 30 minutes ago", 30 * time.Minute},
		{"fetched 30s ahead of the clock (tolerated skew)", -30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
				clk.Set(t0.Add(400 * time.Millisecond))
				fetched := clk.Now().Add(-tc.age)
				_, err := s.WriteListings(ctx, "a8db", fetched, []validate.Listing{listing("A", 100, false, 0)})
				require.NoError(t, err)
				base := fetched
				if base.After(clk.Now()) {
					base = clk.Now()
				}
				left := base.Add(time.Hour).Sub(clk.Now())
				pttl := rdb.PTTL(ctx, PricesKey("A")).Val()
				require.LessOrEqual(t, pttl, left, "the key outlives PRICE_TTL after the fetch")
				require.LessOrEqual(t, pttl, time.Hour)
				require.Greater(t, pttl, left-5*time.Second, "the key expires far too early")

				// A second write of an older page keeps the bound.
				_, err = s.WriteListings(ctx, "a8db", fetched.Add(-time.Second), []validate.Listing{listing("A", 200, false, 0)})
				require.NoError(t, err)
				require.LessOrEqual(t, rdb.PTTL(ctx, PricesKey("A")).Val(), left)

				_, err = s.WriteOrders(ctx, fetched, []validate.Order{{Title: "A", HasOrder: true, PriceCents: 90, Count: 1}})
				require.NoError(t, err)
				require.LessOrEqual(t, rdb.PTTL(ctx, OrdersKey("A")).Val(), left)
				_, err = s.WriteHistory(ctx, "A", fetched, &market.History{SoldPerWeek: 1})
				require.NoError(t, err)
				require.LessOrEqual(t, rdb.PTTL(ctx, HistoryKey("A")).Val(), base.Add(24*time.Hour).Sub(clk.Now()))
			})
		})
	}
}
