package pricestore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

const cacheTitle = "AK-47 | Redline (Field-Tested)"

// storedT returns the fetch time (unix ms) stored with item id of title's x:a field, 0 when not stored.
func storedT(t *testing.T, rdb redis.UniversalClient, id string) int64 {
	t.Helper()
	for _, v := range storedItems(t, rdb, cacheTitle, FieldItemsAvailable) {
		if v.ID == id {
			return v.T
		}
	}
	return 0
}

// TestItemCacheSkipsUnchangedItems: an item written unchanged less than PriceTTL/4 ago is not sent
// again (its stored times stay), while its level is renewed; a changed item, or one written PriceTTL/4
// ago or more, is sent again.
func TestItemCacheSkipsUnchangedItems(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		item := attrListing("a1", cacheTitle, 500, false, withFloat(0.25))
		applyAt(t, s, clk.Now(), item)
		first := clk.Now().UnixMilli()
		require.Equal(t, first, storedT(t, rdb, "a1"))

		clk.Advance(14 * time.Minute)
		applyAt(t, s, clk.Now(), item)
		require.Equal(t, first, storedT(t, rdb, "a1"), "unchanged within PriceTTL/4: not sent")
		level, err := rdb.HGet(context.Background(), PricesKey(cacheTitle), "a:500").Result()
		require.NoError(t, err)
		require.Contains(t, level, fmt.Sprintf(`"t":%d`, clk.Now().UnixMilli()), "the level is renewed")

		changed := attrListing("a1", cacheTitle, 500, false, withFloat(0.26))
		applyAt(t, s, clk.Now(), changed)
		require.Equal(t, clk.Now().UnixMilli(), storedT(t, rdb, "a1"), "changed attributes are sent")
		second := clk.Now().UnixMilli()

		clk.Advance(14 * time.Minute)
		applyAt(t, s, clk.Now(), changed)
		require.Equal(t, second, storedT(t, rdb, "a1"))
		clk.Advance(time.Minute + time.Second)
		applyAt(t, s, clk.Now(), changed)
		require.Equal(t, clk.Now().UnixMilli(), storedT(t, rdb, "a1"), "renewed once PriceTTL/4 passed")
		require.Len(t, readItems(t, rdb, clk, cacheTitle), 1)
	})
}

// TestItemCacheSendsOnlyChangedItems: of a title's items, only the new and changed ones are sent again
// (stored with the new page's time); the unchanged ones keep their stored times, and all stay stored.
func TestItemCacheSendsOnlyChangedItems(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		same := attrListing("a1", cacheTitle, 500, false, withFloat(0.25))
		moved := attrListing("a2", cacheTitle, 600, false, withFloat(0.3))
		applyAt(t, s, clk.Now(), same, moved)
		first := clk.Now().UnixMilli()

		clk.Advance(time.Minute)
		moved = attrListing("a2", cacheTitle, 600, false, withFloat(0.31))
		added := attrListing("a0", cacheTitle, 400, false, withFloat(0.2))
		a := applyAt(t, s, clk.Now(), same, moved, added)
		require.Equal(t, []string{cacheTitle}, a.Changed)
		now := clk.Now().UnixMilli()
		require.Equal(t, first, storedT(t, rdb, "a1"), "unchanged: not sent")
		require.Equal(t, now, storedT(t, rdb, "a2"), "changed: sent")
		require.Equal(t, now, storedT(t, rdb, "a0"), "new: sent")
		got := readItems(t, rdb, clk, cacheTitle)
		require.Len(t, got, 3)
		require.Equal(t, []string{"a0", "a1", "a2"}, []string{got[0].ItemID, got[1].ItemID, got[2].ItemID})

		// The key deleted: the call that leaves a1 out is sent again with every item.
		require.NoError(t, rdb.Del(context.Background(), PricesKey(cacheTitle)).Err())
		clk.Advance(time.Minute)
		changed := attrListing("a2", cacheTitle, 600, false, withFloat(0.32))
		applyAt(t, s, clk.Now(), same, changed, added)
		require.Len(t, readItems(t, rdb, clk, cacheTitle), 3)
		require.Equal(t, clk.Now().UnixMilli(), storedT(t, rdb, "a1"), "sent again with the others")
	})
}

// TestItemCacheKeyRecreated: a title whose prices key was deleted gets its items again on the next page,
// although the store wrote them unchanged a moment before.
func TestItemCacheKeyRecreated(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		item := attrListing("a1", cacheTitle, 500, false, withFloat(0.25))
		applyAt(t, s, clk.Now(), item)
		require.NoError(t, rdb.Del(context.Background(), PricesKey(cacheTitle)).Err())
		clk.Advance(time.Minute)
		a := applyAt(t, s, clk.Now(), item)
		require.Equal(t, 1, a.Titles)
		require.Equal(t, []string{cacheTitle}, a.Changed)
		require.Equal(t, clk.Now().UnixMilli(), storedT(t, rdb, "a1"))
		require.Len(t, readItems(t, rdb, clk, cacheTitle), 1)
	})
}

// TestItemCacheForgetsTrimmedTitle: an item trimmed by 20 cheaper ones is sent again on its next page
// once those expired, instead of being taken for stored.
func TestItemCacheForgetsTrimmedTitle(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		item := attrListing("z9", cacheTitle, 900, false, withFloat(0.25))
		applyAt(t, s, clk.Now(), item)
		cheap := make([]validate.Listing, market.ItemsPerStatus)
		for i := range cheap {
			cheap[i] = attrListing(fmt.Sprintf("c%02d", i), cacheTitle, int64(100+i), false, withFloat(0.5))
		}
		// Fetched 59 minutes ago: they expire a minute from now.
		applyAt(t, s, clk.Now().Add(-59*time.Minute), cheap...)
		require.Zero(t, storedT(t, rdb, "z9"), "trimmed")

		clk.Advance(2 * time.Minute)
		applyAt(t, s, clk.Now(), item)
		require.Equal(t, clk.Now().UnixMilli(), storedT(t, rdb, "z9"), "sent again after the trim")
		got := readItems(t, rdb, clk, cacheTitle)
		require.Len(t, got, 1)
		require.Equal(t, "z9", got[0].ItemID)
	})
}

// TestItemCacheOlderStoredWins: a page whose item is older than the stored one of the same id (another
// process wrote it) leaves it, and the store forgets the title, so that what it wrote before is not
// taken for stored.
func TestItemCacheOlderStoredWins(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		other, _ := newStoreOn(t, rdb) // another worker process
		older := attrListing("a1", cacheTitle, 500, false, withFloat(0.25))
		applyAt(t, s, clk.Now().Add(-2*time.Second), older)
		newer := attrListing("a1", cacheTitle, 500, false, withFloat(0.3))
		applyAt(t, other, clk.Now(), newer)
		between := attrListing("a1", cacheTitle, 500, false, withFloat(0.27))
		applyAt(t, s, clk.Now().Add(-time.Second), between)
		require.Zero(t, s.items.len(), "forgotten")
		applyAt(t, s, clk.Now().Add(time.Second), older)
		got := storedItems(t, rdb, cacheTitle, FieldItemsAvailable)
		require.Len(t, got, 1)
		require.Equal(t, "0.25", got[0].Float, "the newest page's form")
	})
}

// TestItemCacheBounded: the cache keeps at most its size of titles, the least recently used leaving.
func TestItemCacheBounded(t *testing.T) {
	c := newItemCache(2)
	items := []validate.Listing{{ItemID: "1"}}
	kept, digests := []int32{0}, []uint64{7}
	fresh := func(title string, items []validate.Listing, kept []int32, digests []uint64, minExp int64) bool {
		return len(c.stale(title, items, kept, digests, minExp, nil)) == 0
	}
	for _, title := range []string{"a", "b", "c"} {
		c.record(title, items, kept, digests, 100, 1, 0)
		if title == "b" {
			require.True(t, fresh("a", items, kept, digests, 100), "a used last")
		}
	}
	require.Equal(t, 2, c.len())
	require.True(t, fresh("a", items, kept, digests, 100))
	require.False(t, fresh("b", items, kept, digests, 100), "evicted")
	require.True(t, fresh("c", items, kept, digests, 100))
	require.False(t, fresh("c", items, kept, []uint64{8}, 100), "other digest")
	require.False(t, fresh("c", items, kept, digests, 101), "exp too early")
	c.record("c", items, kept, []uint64{9}, 200, 0, 0)
	require.True(t, fresh("c", items, kept, digests, 100), "an older write is not recorded")
	c.record("c", []validate.Listing{{ItemID: "2"}}, kept, digests, 300, 5, 150)
	require.False(t, fresh("c", items, kept, digests, 0), "expired entries leave")
	c.forget("c")
	require.Equal(t, 1, c.len())

	s, err := New(redisdbtest.New(t), clocktest.NewFake(t0), Config{ItemCacheTitles: -1})
	require.NoError(t, err)
	require.Nil(t, s.items, "disabled")
}

// TestItemCacheConcurrent: handlers writing pages of the same titles at once leave every title with its
// items (run with -race).
func TestItemCacheConcurrent(t *testing.T) {
	s, rdb, clk := newStore(t)
	const titles, rounds, workers = 20, 5, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				var page []validate.Listing
				for i := range titles {
					title := fmt.Sprintf("title %d", i)
					page = append(page, attrListing(fmt.Sprintf("%d-%d", i, w%2), title, int64(100+i), false, withFloat(0.1)))
				}
				_, err := s.ApplyListings(context.Background(), ListingsPage{Game: "a8db",
					FetchedAt: clk.Now().Add(time.Duration(r) * time.Millisecond), Items: page})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range titles {
		got := readItems(t, rdb, clk, fmt.Sprintf("title %d", i))
		require.Len(t, got, 2, "title %d", i)
	}
	require.Equal(t, titles, s.items.len())
}

// len returns the number of titles c remembers.
func (c *itemCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// TestItemDigestCoversTheStoredForm: every part of an item's stored form but its times changes the
// digest, so that a changed item is never left out as unchanged.
func TestItemDigestCoversTheStoredForm(t *testing.T) {
	c := newItemCache(1)
	base := func() validate.Listing {
		l := attrListing("id-1", "T", 500, true, market.Attributes{Float: 0.25, HasFloat: true, PaintSeed: 7, HasSeed: true,
			Phase: market.PhaseRuby, Stickers: []string{"ab", "c"}})
		l.LockDays = 3
		return l
	}
	b := base()
	want := c.digest(&b)
	same := base()
	require.Equal(t, want, c.digest(&same), "the same item")
	for _, tc := range []struct {
		name   string
		change func(l *validate.Listing)
	}{
		{"id", func(l *validate.Listing) { l.ItemID = "id-2" }},
		{"price", func(l *validate.Listing) { l.PriceCents++ }},
		{"status", func(l *validate.Listing) { l.Locked = false }},
		{"lock days", func(l *validate.Listing) { l.LockDays = 4 }},
		{"float", func(l *validate.Listing) { l.Attrs.Float = 0.2500001 }},
		{"no float", func(l *validate.Listing) { l.Attrs.HasFloat = false }},
		{"seed", func(l *validate.Listing) { l.Attrs.PaintSeed = 8 }},
		{"no seed", func(l *validate.Listing) { l.Attrs.HasSeed = false }},
		{"phase", func(l *validate.Listing) { l.Attrs.Phase = market.Phase1 }},
		{"sticker split", func(l *validate.Listing) { l.Attrs.Stickers = []string{"a", "bc"} }},
		{"sticker order", func(l *validate.Listing) { l.Attrs.Stickers = []string{"c", "ab"} }},
		{"no stickers", func(l *validate.Listing) { l.Attrs.Stickers = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := base()
			tc.change(&l)
			require.NotEqual(t, want, c.digest(&l))
		})
	}
}

// BenchmarkItemCacheStale measures what planItems asks of the item cache for one page of a running crawl:
// 90 titles of 5,000 remembered (four items each), one item of each looked up. It runs without Redis.
func BenchmarkItemCacheStale(b *testing.B) {
	const titles, perTitle, pageTitles = 5000, 4, 90
	c := newItemCache(DefaultItemCacheTitles)
	items := make([]validate.Listing, titles*perTitle)
	digests := make([]uint64, len(items))
	for i := range items {
		items[i] = validate.Listing{ItemID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i/perTitle, i),
			Title: fmt.Sprintf("AK-47 | Redline (Field-Tested) #%d", i/perTitle), PriceCents: int64(100 + i%40)}
		digests[i] = c.digest(&items[i])
	}
	for k := range titles {
		kept := []int32{int32(k * perTitle), int32(k*perTitle + 1), int32(k*perTitle + 2), int32(k*perTitle + 3)}
		c.record(items[k*perTitle].Title, items, kept, digests[k*perTitle:(k+1)*perTitle], 2000, 1000, 0)
	}
	var out []int
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		for p := range pageTitles {
			k := (n*61 + p*7) % titles
			j := int32(k*perTitle + p%perTitle)
			out = c.stale(items[j].Title, items, []int32{j}, digests[j:j+1], 1500, out[:0])
			if len(out) != 0 {
				b.Fatal("a remembered item was called stale")
			}
		}
	}
}
