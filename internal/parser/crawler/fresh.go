package crawler

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

// The fresh lane polls each game's newest listings (orderBy=updated, newest first) in turn and publishes
// every page at once as a plain listings page. It remembers the listings it has seen (at their price);
// while a page holds nothing but new listings and has a next page, it reads on, up to FreshMaxPages
// pages, and it stops at the first page with a listing already seen. A game's first poll after the start
// publishes its first page alone: the lane does not walk the market. With keys, each later page with new
// listings asks for the buy orders of their titles (orders.go).

// freshPage is one request of the fresh lane: a game's newest listings from cursor, depth pages deep.
type freshPage struct {
	game   string
	cursor string
	depth  int
}

type freshLane struct {
	c *Crawler

	mu       sync.Mutex
	seen     *seenSet
	pending  []freshPage // next pages to read, before any new poll
	turn     int         // the game polled next, round robin
	primed   map[string]bool
	lastPoll map[string]time.Time
}

func newFreshLane(c *Crawler) *freshLane {
	return &freshLane{c: c, seen: newSeenSet(c.cfg.FreshSeen), primed: map[string]bool{}, lastPoll: map[string]time.Time{}}
}

// next returns the request of the next page to read, or else of the next game's first page.
func (f *freshLane) next(context.Context, float64) job {
	f.mu.Lock()
	defer f.mu.Unlock()
	var p freshPage
	if len(f.pending) > 0 {
		p = f.pending[0]
		f.pending = f.pending[1:]
	} else {
		games := f.c.cfg.Games
		p = freshPage{game: games[f.turn%len(games)], depth: 1}
		f.turn++
		now := f.c.clock.Now()
		if last, ok := f.lastPoll[p.game]; ok {
			f.c.m.freshInterval.WithLabelValues(p.game).Set(now.Sub(last).Seconds())
		}
		f.lastPoll[p.game] = now
	}
	return func(ctx context.Context) { f.fetch(ctx, p) }
}

// fetch reads and publishes one page, then decides whether to read the next.
func (f *freshLane) fetch(ctx context.Context, p freshPage) {
	c := f.c
	q := ListingsQuery{GameID: p.game, Cursor: p.cursor, OrderBy: dmarket.OrderByUpdated, OrderDir: dmarket.OrderDesc, Limit: 100, WithKeys: true}
	page, ok := c.laneMarketItems(ctx, laneFresh, q, "fresh listings not fetched", "game", p.game, "depth", p.depth)
	if !ok {
		return
	}
	if err := c.publish(ctx, message.KindListings, p.game, page.Result, nil, nil); err != nil {
		return
	}
	c.m.lanePages.WithLabelValues(laneFresh).Inc()
	c.m.listings.WithLabelValues(p.game).Add(float64(page.Items))

	f.mu.Lock()
	defer f.mu.Unlock()
	fresh := 0
	var titles []string
	for i, k := range page.Keys {
		if f.seen.add(p.game + "\x00" + k) {
			fresh++
			if c.orders != nil && i < len(page.KeyTitles) {
				titles = append(titles, page.KeyTitles[i])
			}
		}
	}
	primed := f.primed[p.game]
	f.primed[p.game] = true
	if !primed {
		c.log.Debug("fresh lane started", "game", p.game, "listings", page.Items)
		return
	}
	c.m.freshNew.WithLabelValues(p.game).Add(float64(fresh))
	c.orders.request(laneFreshOrders, p.game, titles)
	readOn := fresh == len(page.Keys) && fresh > 0 && page.Cursor != "" && p.depth < c.cfg.FreshMaxPages
	if readOn {
		f.pending = append(f.pending, freshPage{game: p.game, cursor: page.Cursor, depth: p.depth + 1})
	}
	c.log.Debug("fresh listings published", "game", p.game, "depth", p.depth, "new", fresh, "listings", page.Items,
		"read_on", readOn)
}

// seenSet remembers up to size keys (as 64-bit hashes), forgetting the oldest first.
type seenSet struct {
	seed maphash.Seed
	set  map[uint64]struct{}
	ring []uint64
	next int
	full bool
}

func newSeenSet(size int) *seenSet {
	return &seenSet{seed: maphash.MakeSeed(), set: make(map[uint64]struct{}, size), ring: make([]uint64, max(1, size))}
}

// add remembers key and reports whether it was new.
func (s *seenSet) add(key string) bool {
	k := maphash.String(s.seed, key)
	if _, ok := s.set[k]; ok {
		return false
	}
	if s.full {
		delete(s.set, s.ring[s.next])
	}
	s.ring[s.next] = k
	s.set[k] = struct{}{}
	s.next++
	if s.next == len(s.ring) {
		s.next, s.full = 0, true
	}
	return true
}
