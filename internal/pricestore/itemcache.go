package pricestore

import (
	"container/list"
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// DefaultItemCacheTitles is Config.ItemCacheTitles when zero: the titles whose written items a Store
// remembers (each holds the items its pages showed, at most market.ItemsPerStatus per status and phase).
const DefaultItemCacheTitles = 65536

// cachedItem is what the store last wrote of one item of a title.
type cachedItem struct {
	digest uint64 // of what the item's stored form holds besides its times (see itemCache.digest)
	exp    int64  // the exp written (unix s)
	t      int64  // the fetch time written (unix ms)
}

// titleItems is the written items of one title, by the hash of the item id (see itemCache.key).
type titleItems struct {
	key   uint64 // the hash of the title
	items map[uint64]cachedItem
	// minExp is at most the smallest exp of items (0 when empty), so that record looks for expired
	// items only once one may have expired.
	minExp int64
}

// itemCache remembers, per title, the kept items the listings script was sent and stored, so that a
// page showing them again unchanged soon after does not send them again (see Store.writeListings). It
// holds at most max titles, evicting the least recently used, and is safe for concurrent use.
//
// Titles and items are keyed by a 64-bit hash of their names, so that the maps hold no pointers (the
// garbage collector does not scan them, and the page's strings are not kept alive) and a lookup compares
// integers. A collision is harmless: two titles sharing a key share one set of items (a lookup finds
// only ids of its own page, and a forget drops both), and an item's digest includes its id, so another
// item under the same key does not match and is sent.
type itemCache struct {
	mu     sync.Mutex
	max    int
	seed   maphash.Seed
	lru    *list.List // of *titleItems, most recent first
	titles map[uint64]*list.Element
}

func newItemCache(maxTitles int) *itemCache {
	return &itemCache{max: maxTitles, seed: maphash.MakeSeed(), lru: list.New(), titles: make(map[uint64]*list.Element)}
}

// key returns the hash a title or an item id is kept under.
func (c *itemCache) key(name string) uint64 { return maphash.String(c.seed, name) }

// digest returns a digest of what an item's stored form holds besides its times (see appendItem): its
// id, price, status, attributes and lock days, hashed from the values without formatting them.
func (c *itemCache) digest(it *validate.Listing) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var b [binary.MaxVarintLen64]byte
	num := func(v int64) { _, _ = h.Write(binary.AppendVarint(b[:0], v)) }
	str := func(v string) {
		num(int64(len(v)))
		_, _ = h.WriteString(v)
	}
	a := &it.Attrs
	str(it.ItemID)
	num(it.PriceCents)
	var flags int64
	if it.Locked {
		flags |= 1
	}
	if a.HasFloat {
		flags |= 2
		_, _ = h.Write(binary.AppendUvarint(b[:0], math.Float64bits(a.Float)))
	}
	if a.HasSeed {
		flags |= 4
		num(int64(a.PaintSeed))
	}
	if it.Locked && it.LockDays > 0 {
		num(int64(it.LockDays))
	}
	num(flags)
	str(string(a.Phase))
	num(int64(len(a.Stickers)))
	for _, st := range a.Stickers {
		str(st)
	}
	return h.Sum64()
}

// stale appends to out the positions k in kept of the items items[kept[k]] that are not remembered for
// title with digest digests[k] and an exp of at least minExp (all of them when the title is not
// remembered), and returns out.
func (c *itemCache) stale(title string, items []validate.Listing, kept []int32, digests []uint64, minExp int64, out []int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.titles[c.key(title)]
	if !ok {
		for k := range kept {
			out = append(out, k)
		}
		return out
	}
	ti, _ := e.Value.(*titleItems)
	for k, j := range kept {
		it, ok := ti.items[c.key(items[j].ItemID)]
		if !ok || it.digest != digests[k] || it.exp < minExp {
			out = append(out, k)
		}
	}
	c.lru.MoveToFront(e)
	return out
}

// record remembers that the items items[kept[i]] of title were written with digests[i], exp and fetch
// time t, unless a newer write of the item is remembered; it forgets the title's items whose exp is
// before now.
func (c *itemCache) record(title string, items []validate.Listing, kept []int32, digests []uint64, exp, t, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ti *titleItems
	tk := c.key(title)
	if e, ok := c.titles[tk]; ok {
		c.lru.MoveToFront(e)
		ti, _ = e.Value.(*titleItems)
	} else {
		ti = &titleItems{key: tk, items: make(map[uint64]cachedItem, len(kept))}
		c.titles[tk] = c.lru.PushFront(ti)
		for c.lru.Len() > c.max {
			old, _ := c.lru.Remove(c.lru.Back()).(*titleItems)
			delete(c.titles, old.key)
		}
	}
	if ti.minExp < now {
		ti.minExp = 0
		for id, it := range ti.items {
			if it.exp < now {
				delete(ti.items, id)
			} else if ti.minExp == 0 || it.exp < ti.minExp {
				ti.minExp = it.exp
			}
		}
	}
	for i, j := range kept {
		id := c.key(items[j].ItemID)
		if old, ok := ti.items[id]; ok && old.t > t {
			continue
		}
		ti.items[id] = cachedItem{digest: digests[i], exp: exp, t: t}
		if ti.minExp == 0 || exp < ti.minExp {
			ti.minExp = exp
		}
	}
}

// forget drops every remembered item of title.
func (c *itemCache) forget(title string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tk := c.key(title)
	if e, ok := c.titles[tk]; ok {
		c.lru.Remove(e)
		delete(c.titles, tk)
	}
}

// itemsPlan is what a listings write sends of each title's items: titles[i] keeps the page's items
// items[kept[from[i]:from[i+1]]] (see keepItems), whose digests are digests[from[i]:from[i+1]] (nil
// without a cache). When skipped[i] some or all of them are left out: only items[send[sendFrom[i]:
// sendFrom[i+1]]] (digests sendDigests) go to the script.
type itemsPlan struct {
	kept        []int32
	from        []int
	digests     []uint64
	skipped     []bool
	send        []int32
	sendFrom    []int
	sendDigests []uint64
}

// of returns the kept items of titles[i].
func (p *itemsPlan) of(i int) []int32 { return p.kept[p.from[i]:p.from[i+1]] }

// sent returns the items of titles[i] the script is sent, and their digests (nil without a cache).
func (p *itemsPlan) sent(i int) ([]int32, []uint64) {
	if !p.skipped[i] {
		if p.digests == nil {
			return p.of(i), nil
		}
		return p.of(i), p.digests[p.from[i]:p.from[i+1]]
	}
	return p.send[p.sendFrom[i]:p.sendFrom[i+1]], p.sendDigests[p.sendFrom[i]:p.sendFrom[i+1]]
}

// planItems picks each title's kept items of the page and leaves out of a title's items those the store
// wrote unchanged (same price, status and attributes) less than PriceTTL/4 before now: their stored exp
// is still at least 3/4 PriceTTL ahead, so sending them again would only move their times.
func (s *Store) planItems(titles []titleAgg, items []validate.Listing, itemNext []int32, now time.Time) *itemsPlan {
	p := &itemsPlan{from: make([]int, len(titles)+1), skipped: make([]bool, len(titles))}
	if itemNext == nil {
		return p
	}
	for i := range titles {
		start := len(p.kept)
		for j := titles[i].itemHead; j >= 0; j = itemNext[j] {
			p.kept = append(p.kept, j)
		}
		p.kept = p.kept[:start+len(keepItems(items, p.kept[start:]))]
		p.from[i+1] = len(p.kept)
	}
	if s.items == nil {
		return p
	}
	p.digests = make([]uint64, len(p.kept))
	for k, j := range p.kept {
		p.digests[k] = s.items.digest(&items[j])
	}
	minExp := now.Add(s.cfg.PriceTTL - s.cfg.PriceTTL/4).Unix()
	p.sendFrom = make([]int, len(titles)+1)
	var stale []int
	for i := range titles {
		p.sendFrom[i+1] = len(p.send)
		kept, digests := p.of(i), p.digests[p.from[i]:p.from[i+1]]
		if len(kept) == 0 {
			continue
		}
		stale = s.items.stale(titles[i].title, items, kept, digests, minExp, stale[:0])
		if len(stale) == len(kept) {
			continue
		}
		p.skipped[i] = true
		for _, k := range stale {
			p.send = append(p.send, kept[k])
			p.sendDigests = append(p.sendDigests, digests[k])
		}
		p.sendFrom[i+1] = len(p.send)
	}
	return p
}

// resendItems sends again, with their items, the calls that left their items out and found the key
// without meta (code 8, nothing written), and puts their codes into codes.
func (s *Store) resendItems(ctx context.Context, codes []int, keys []string, args [][]any, plan *itemsPlan,
	items []validate.Listing, exp, t int64) error {
	var again []int
	for i, code := range codes {
		if code&8 != 0 {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return nil
	}
	k, a := make([]string, len(again)), make([][]any, len(again))
	for n, i := range again {
		plan.skipped[i] = false
		avail, locked, _ := pageItems(nil, items, plan.of(i), exp, t)
		k[n] = keys[i]
		a[n] = slices.Clone(args[i])
		a[n][listingsItemsArg], a[n][listingsItemsArg+1], a[n][listingsItemsArg+2] = avail, locked, "0"
	}
	cmds, err := s.evalPerKey(ctx, listingsScript, k, a, nil)
	if err != nil {
		return err
	}
	for n, i := range again {
		codes[i], _ = cmds[n].Int() // evalPerKey checked every result
	}
	return nil
}

// rememberItems records the items each title sent and the script kept (codes are the script's results),
// and forgets the titles whose stored items may differ from what the store remembers.
func (s *Store) rememberItems(titles []titleAgg, codes []int, plan *itemsPlan, items []validate.Listing, exp, t, now int64) {
	if s.items == nil {
		return
	}
	for i, code := range codes {
		if code&4 != 0 {
			s.items.forget(titles[i].title)
			continue
		}
		if sent, digests := plan.sent(i); len(sent) > 0 {
			s.items.record(titles[i].title, items, sent, digests, exp, t, now)
		}
	}
}
