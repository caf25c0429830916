package pricestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// crawlPage is one listings page of a range crawl.
type crawlPage struct {
	crawl   message.Crawl
	fetched time.Time
	items   []validate.Listing
}

// spread returns n listings of title at price (locked ones with the given lock days).
func spread(title string, price int64, locked bool, days, n int) []validate.Listing {
	out := make([]validate.Listing, n)
	for i := range out {
		out[i] = listing(title, price, locked, days)
	}
	return out
}

// threePages is one crawl of a range where price 500 of "A" is shared by 40 + 100 + 12 tradable listings
// across three price-sorted pages, and price 700 locked by 3 + 2 listings across the last two.
func threePages(cycle int64, fetched time.Time) []crawlPage {
	page := func(i int, items ...[]validate.Listing) crawlPage {
		var all []validate.Listing
		for _, it := range items {
			all = append(all, it...)
		}
		return crawlPage{crawl: message.Crawl{Range: "100-999", Cycle: cycle, Page: i},
			fetched: fetched.Add(time.Duration(i) * time.Second), items: all}
	}
	return []crawlPage{
		page(0, spread("A", 300, false, 0, 60), spread("A", 500, false, 0, 40)),
		page(1, spread("A", 500, false, 0, 100)),
		page(2, spread("A", 500, false, 0, 12), spread("A", 700, true, 6, 3), spread("B", 650, false, 0, 83)),
		page(3, spread("A", 700, true, 2, 2), spread("C", 900, false, 0, 98)),
	}
}

func applyPages(t *testing.T, s *Store, pages []crawlPage, order ...int) {
	t.Helper()
	if order == nil {
		for i := range pages {
			order = append(order, i)
		}
	}
	for _, i := range order {
		p := pages[i]
		_, err := s.WriteListingsPage(context.Background(), "a8db", p.fetched, &p.crawl, p.items)
		require.NoError(t, err)
	}
}

type level struct {
	price int64
	n     int
	days  int
}

func levels(t *testing.T, s *Store, title string) (avail, locked []level) {
	t.Helper()
	p, ok, err := s.Title(context.Background(), title)
	require.NoError(t, err)
	require.True(t, ok)
	for _, l := range p.Available {
		avail = append(avail, level{l.PriceCents, l.Count, l.LockDays})
	}
	for _, l := range p.Locked {
		locked = append(locked, level{l.PriceCents, l.Count, l.LockDays})
	}
	return avail, locked
}

// TestCountAtAPriceSpanningPages: n is the number of listings at that price in the latest crawl of its
// range, whatever the page boundaries, the order pages are applied in, or how often they are delivered.
func TestCountAtAPriceSpanningPages(t *testing.T) {
	wantA := []level{{300, 60, 0}, {500, 152, 0}}
	wantLocked := []level{{700, 5, 2}}
	tests := []struct {
		name  string
		order []int
	}{
		{name: "in order", order: []int{0, 1, 2, 3}},
		{name: "out of order", order: []int{2, 0, 3, 1}},
		{name: "last page first", order: []int{3, 2, 1, 0}},
		{name: "every page redelivered", order: []int{0, 1, 1, 2, 0, 3, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
				pages := threePages(1_000, t0.Add(-time.Minute))
				applyPages(t, s, pages, tc.order...)
				avail, locked := levels(t, s, "A")
				require.Equal(t, wantA, avail)
				require.Equal(t, wantLocked, locked)
				b, _ := levels(t, s, "B")
				require.Equal(t, []level{{650, 83, 0}}, b)

				// Redelivering any page changes nothing.
				before := dump(t, rdb)
				applyPages(t, s, pages, 1, 3, 0, 2)
				require.Equal(t, before, dump(t, rdb))
			})
		})
	}
}

// TestCrawlCountWinsOverANewerPartialPage: a fresh-lane page fetched after the crawl's pages but written
// before them saw only one of the listings at a shared price; the crawl's pages, written later, still
// count them all, while the level keeps the fresh page's later time.
func TestCrawlCountWinsOverANewerPartialPage(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		pages := threePages(1_000, t0.Add(-time.Minute))
		fresh := t0.Add(-10 * time.Second)
		_, err := s.WriteListingsPage(ctx, "a8db", fresh, nil, append(spread("A", 500, false, 0, 1), spread("A", 700, true, 1, 1)...))
		require.NoError(t, err)
		applyPages(t, s, pages, 2, 0, 3, 1)
		avail, locked := levels(t, s, "A")
		require.Equal(t, []level{{300, 60, 0}, {500, 152, 0}}, avail)
		require.Equal(t, []level{{700, 5, 1}}, locked, "the crawl's count, the fresher page's lower lock")
		p, ok, err := s.Title(ctx, "A")
		require.NoError(t, err)
		require.True(t, ok)
		// Level 300 was seen only on page 0: 500 expires as much later as the fresh page came after it.
		require.Equal(t, fresh.Sub(pages[0].fetched), p.Available[1].ExpiresAt.Sub(p.Available[0].ExpiresAt),
			"the level keeps the later expiry")
	})
}

func TestCountFollowsTheLatestCrawl(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		first := threePages(1_000, t0.Add(-10*time.Minute))
		applyPages(t, s, first)
		raw := rdb.HGetAll(ctx, PricesKey("A")).Val()
		exp := first[3].fetched.Add(time.Hour).Unix()
		require.JSONEq(t, fmt.Sprintf(`{"n":152,"exp":%d,"t":%d,"c":1000,"pg":{"0":40,"1":100,"2":12}}`,
			first[2].fetched.Add(time.Hour).Unix(), first[2].fetched.UnixMilli()), raw["a:500"])
		require.JSONEq(t, fmt.Sprintf(`{"n":5,"exp":%d,"days":2,"t":%d,"c":1000,"pg":{"2":3,"3":2}}`,
			exp, first[3].fetched.UnixMilli()), raw["l:700"])

		// The next crawl of the range: price 500 now has 30 listings on page 4 and 5 on page 5 (cheaper
		// listings were added in front of it).
		clk.Advance(time.Minute)
		next := []crawlPage{
			{crawl: message.Crawl{Range: "100-999", Cycle: 2_000, Page: 5}, fetched: t0.Add(5 * time.Second),
				items: spread("A", 500, false, 0, 5)},
			{crawl: message.Crawl{Range: "100-999", Cycle: 2_000, Page: 4}, fetched: t0.Add(4 * time.Second),
				items: append(spread("A", 400, false, 0, 70), spread("A", 500, false, 0, 30)...)},
		}
		_, err := s.WriteListingsPage(ctx, "a8db", next[0].fetched, &next[0].crawl, next[0].items)
		require.NoError(t, err)
		avail, _ := levels(t, s, "A")
		require.Equal(t, []level{{300, 60, 0}, {500, 5, 0}}, avail, "a newer crawl replaces the count")
		_, err = s.WriteListingsPage(ctx, "a8db", next[1].fetched, &next[1].crawl, next[1].items)
		require.NoError(t, err)
		avail, _ = levels(t, s, "A")
		require.Equal(t, []level{{300, 60, 0}, {400, 70, 0}, {500, 35, 0}}, avail)

		// A late redelivery of the older crawl changes no count.
		before := dump(t, rdb)
		applyPages(t, s, first, 1, 2)
		require.Equal(t, before, dump(t, rdb))

		// A page without crawl identity (fresh lane) never lowers a count a crawl computed over all its
		// pages; it raises it when it shows more.
		_, err = s.WriteListings(ctx, "a8db", t0.Add(10*time.Second), spread("A", 500, false, 0, 9))
		require.NoError(t, err)
		avail, _ = levels(t, s, "A")
		require.Equal(t, []level{{300, 60, 0}, {400, 70, 0}, {500, 35, 0}}, avail)
		_, err = s.WriteListings(ctx, "a8db", t0.Add(11*time.Second), spread("A", 500, false, 0, 40))
		require.NoError(t, err)
		avail, _ = levels(t, s, "A")
		require.Equal(t, []level{{300, 60, 0}, {400, 70, 0}, {500, 40, 0}}, avail)
		require.JSONEq(t, fmt.Sprintf(`{"n":40,"exp":%d,"t":%d,"c":2000,"pg":{"4":30,"5":5}}`,
			t0.Add(11*time.Second).Add(time.Hour).Unix(), t0.Add(11*time.Second).UnixMilli()),
			rdb.HGet(ctx, PricesKey("A"), "a:500").Val(), "the crawl's identity stays")
	})
}

// TestCrawlPagesConcurrentWritersMatchSingleWriter: several workers applying two crawls' pages, shuffled
// and redelivered, end in exactly the state of one writer applying them in order.
func TestCrawlPagesConcurrentWritersMatchSingleWriter(t *testing.T) {
	ctx := context.Background()
	pages := append(threePages(1_000, t0.Add(-3*time.Minute)), threePages(2_000, t0.Add(-2*time.Minute))...)
	// The second crawl sees fewer listings at 500 on its middle page.
	pages[5].items = spread("A", 500, false, 0, 77)

	single, singleDB, _ := newStore(t)
	applyPages(t, single, pages)
	avail, _ := levels(t, single, "A")
	require.Equal(t, []level{{300, 60, 0}, {500, 129, 0}}, avail)

	redisdbtest.Both(t, func(t *testing.T, shared redis.UniversalClient) {
		writeConcurrently(t, shared, len(pages), 3, rand.New(rand.NewPCG(5, 6)), func(st *Store, i int) error {
			p := pages[i]
			_, err := st.WriteListingsPage(ctx, "a8db", p.fetched, &p.crawl, p.items)
			return err
		})
		require.Equal(t, dump(t, singleDB), dump(t, shared))
	})
}
