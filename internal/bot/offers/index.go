package offers

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Index holds every offer of one market snapshot (each title × kind × status, whatever its profit),
// computed once with its fee and profit and kept in lists sorted by the SPEC §6.1 order (profit
// descending, then title, then TARGET before HISTORY, then available before locked), one list per game
// and status. A user's offers are a merge of the lists of the user's games that filters (min price,
// limit, muted titles) while it walks and stops as soon as it has what was asked for, so one page costs
// what it shows, not the market.
//
// Offers are the same as Compute's over the same market at the same now: a listing level that has
// expired by now is skipped, and an offer whose fee was a reduced fee that has ended by now is computed
// again with the fee that applies then. Both only happen between an expiry and the next build, which
// NeedsRebuild reports. An Index is immutable and safe for concurrent use.
type Index struct {
	market  *market.Snapshot
	builtAt time.Time
	// lists maps a game to its offers by status (0 available, 1 locked), each sorted.
	lists map[string]*[2][]entry
	// games are the keys of lists, sorted, for queries over every game.
	games []string
	// feeEnds holds the offers whose fee is a reduced fee that ends, by the end ascending.
	feeEnds []*entry
	// firstLevelExpiry and firstFeeEnd are the earliest level expiry and reduced-fee end at or after the
	// build (unix ns; 0: none): from then on a query skips or recomputes offers.
	firstLevelExpiry int64
	firstFeeEnd      int64
	size             int
	// sortedTitles says the market's titles are strictly ascending, as pricestore.MarketReader returns them.
	sortedTitles bool
	// exp holds the market's level expiries, for re-reading titles as they expire.
	exp *expiries
}

// entry is one precomputed offer, small enough that walking a list touches little memory.
type entry struct {
	bp    int64
	order int64 // title rank << 2 | kind << 1 | status, as in Compute
	buy   int64
	sell  int64
	fee   int64
	// expires is the level's expiry (unix ns, 0: never); the offer is skipped once now is after it.
	expires int64
	// feeEnds is when the reduced fee used ends (unix ns, 0: the fee never changes); from then on the
	// offer is computed again.
	feeEnds int64
	title   int32
}

// before reports whether a sorts before b: profit descending, then title, kind and status (order),
// then the title's position for titles stored twice.
func (a *entry) before(b *entry) bool {
	if a.bp != b.bp {
		return a.bp > b.bp
	}
	if a.order != b.order {
		return a.order < b.order
	}
	return a.title < b.title
}

func compareEntries(a, b entry) int {
	if c := cmp.Compare(b.bp, a.bp); c != 0 {
		return c
	}
	if c := cmp.Compare(a.order, b.order); c != 0 {
		return c
	}
	return cmp.Compare(a.title, b.title)
}

// unixNanos returns t in unix nanoseconds for comparisons: 0 for the zero time, 1 for anything at or
// before the epoch and math.MaxInt64 beyond what int64 nanoseconds hold.
func unixNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case !t.After(time.Unix(0, 0)):
		return 1
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// BuildIndex computes every offer of m with the fees that apply at now. m must not be modified
// afterwards; the Index keeps it.
func BuildIndex(m *market.Snapshot, now time.Time) *Index {
	ix := &Index{market: m, builtAt: now, lists: map[string]*[2][]entry{}, exp: &expiries{}}
	nowNS := unixNanos(now)
	rank, sorted := titleRanks(m.Titles)
	ix.sortedTitles = sorted
	fees := gameFees{m: m}
	for i := range m.Titles {
		t := &m.Titles[i]
		var sched feeSchedule
		scheduled := false
		var lists *[2][]entry
		for kind := range int64(2) {
			for st, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
				if l == nil || l.Price <= 0 {
					continue
				}
				buy := int64(l.Price)
				sell, ok := sellPrice(t, kind, buy)
				if !ok {
					continue
				}
				if !scheduled {
					sched, scheduled = fees.schedule(t), true
					if lists = ix.lists[t.GameID]; lists == nil {
						lists = &[2][]entry{}
						ix.lists[t.GameID] = lists
					}
				}
				fee, ends := sched.feeUntil(sell, now)
				e := entry{
					bp: ProfitBasisPoints(sell-fee, buy), order: rank(i)<<2 | kind<<1 | int64(st),
					buy: buy, sell: sell, fee: fee, expires: unixNanos(l.ExpiresAt), feeEnds: unixNanos(ends),
					title: int32(i), //nolint:gosec // a market holds far fewer than 2^31 titles
				}
				lists[st] = append(lists[st], e)
				if e.expires >= nowNS && (ix.firstLevelExpiry == 0 || e.expires < ix.firstLevelExpiry) {
					ix.firstLevelExpiry = e.expires
				}
			}
		}
	}
	for game, lists := range ix.lists {
		ix.games = append(ix.games, game)
		for st := range lists {
			slices.SortFunc(lists[st], compareEntries)
			ix.size += len(lists[st])
			for k := range lists[st] {
				if e := &lists[st][k]; e.feeEnds != 0 {
					ix.feeEnds = append(ix.feeEnds, e)
				}
			}
		}
	}
	slices.Sort(ix.games)
	slices.SortFunc(ix.feeEnds, func(a, b *entry) int { return cmp.Compare(a.feeEnds, b.feeEnds) })
	for _, e := range ix.feeEnds {
		if e.feeEnds >= nowNS {
			ix.firstFeeEnd = e.feeEnds
			break
		}
	}
	return ix
}

// Market returns the snapshot the index was built from; it must not be modified.
func (ix *Index) Market() *market.Snapshot { return ix.market }

// BuiltAt returns the time the index's fees were computed for.
func (ix *Index) BuiltAt() time.Time { return ix.builtAt }

// Len returns the number of offers the index holds, before any user's filters.
func (ix *Index) Len() int { return ix.size }

// NextChange returns the first time after the build at which a query no longer sees the market as
// built (a listing level expires or a reduced fee ends), or the zero time when nothing ever changes.
func (ix *Index) NextChange() time.Time {
	first := ix.firstLevelExpiry
	if first != 0 && first < math.MaxInt64 {
		first++ // a level still counts at its expiry and is gone right after
	}
	if ix.firstFeeEnd != 0 && (first == 0 || ix.firstFeeEnd < first) {
		first = ix.firstFeeEnd
	}
	if first == 0 {
		return time.Time{}
	}
	return time.Unix(0, first)
}

// NeedsRebuild reports whether a query at now has to skip expired levels or recompute ended fees,
// so a fresh build would serve it better.
func (ix *Index) NeedsRebuild(now time.Time) bool {
	next := ix.NextChange()
	return !next.IsZero() && !now.Before(next)
}

// Offers returns the offers passing s at now, sorted as Compute sorts them: the same offers Compute
// returns for the index's market.
func (ix *Index) Offers(s Settings, now time.Time) []Offer {
	return ix.First(s, now, -1)
}

// First returns the first n offers passing s at now (all of them when n is negative), in order. It
// stops walking the index as soon as it has n.
func (ix *Index) First(s Settings, now time.Time, n int) []Offer {
	if n == 0 {
		return nil
	}
	// The walk collects small entries; offers, which are large, are built once into a slice of the
	// right size.
	var found []*entry
	if n > 0 {
		found = make([]*entry, 0, min(n, ix.size))
	}
	ix.walk(s, now, func(e *entry) bool {
		found = append(found, e)
		return n < 0 || len(found) < n
	})
	if len(found) == 0 {
		return nil
	}
	out := make([]Offer, len(found))
	for k, e := range found {
		out[k] = ix.offer(e)
	}
	return out
}

// Count returns how many offers pass s at now without building them.
func (ix *Index) Count(s Settings, now time.Time) int {
	n := 0
	ix.walk(s, now, func(*entry) bool {
		n++
		return true
	})
	return n
}

// cursor walks one sorted list, positioned on its next offer that passes the filters (head nil: done).
type cursor struct {
	list []entry
	next int
	head *entry
}

// walk calls yield with every offer passing s at now, in order, until yield returns false.
func (ix *Index) walk(s Settings, now time.Time, yield func(*entry) bool) {
	nowNS := unixNanos(now)
	games := ix.games
	if len(s.Games) > 0 {
		games = s.Games
	}
	var muted map[int32]bool
	if len(s.Muted) > 0 {
		muted = ix.mutedTitles(s.Muted)
	}
	// Offers whose reduced fee has ended are left out of the lists and computed again.
	ended := 0
	if ix.firstFeeEnd != 0 && nowNS >= ix.firstFeeEnd {
		ended, _ = slices.BinarySearchFunc(ix.feeEnds, nowNS, func(e *entry, t int64) int {
			if e.feeEnds <= t {
				return -1
			}
			return 1
		})
	}
	pass := func(e *entry) bool {
		return e.buy >= s.MinPriceCents && (e.expires == 0 || nowNS <= e.expires) &&
			(e.feeEnds == 0 || nowNS < e.feeEnds) && (muted == nil || !muted[e.title])
	}
	cursors := make([]cursor, 0, 2*len(games)+1)
	seen := make(map[string]bool, len(games))
	for _, g := range games {
		lists := ix.lists[g]
		if lists == nil || seen[g] {
			continue
		}
		seen[g] = true
		for st := range lists {
			cursors = append(cursors, cursor{list: lists[st]})
		}
	}
	if ended > 0 {
		cursors = append(cursors, cursor{list: ix.recompute(ix.feeEnds[:ended], seen, now)})
	}
	advance := func(c *cursor) {
		c.head = nil
		for c.next < len(c.list) {
			e := &c.list[c.next]
			if e.bp < s.LimitBasisPoints {
				c.next = len(c.list) // sorted by profit: nothing further passes
				return
			}
			c.next++
			if pass(e) {
				c.head = e
				return
			}
		}
	}
	for k := range cursors {
		advance(&cursors[k])
	}
	for {
		var best *cursor
		for k := range cursors {
			if c := &cursors[k]; c.head != nil && (best == nil || c.head.before(best.head)) {
				best = c
			}
		}
		if best == nil || !yield(best.head) {
			return
		}
		advance(best)
	}
}

// recompute returns the offers of ended, of the games in games, with the fee that applies at now,
// sorted.
func (ix *Index) recompute(ended []*entry, games map[string]bool, now time.Time) []entry {
	out := make([]entry, 0, len(ended))
	for _, e := range ended {
		t := &ix.market.Titles[e.title]
		if !games[t.GameID] {
			continue
		}
		fee, ends := schedule(ix.market, t.GameID, t.Title).feeUntil(e.sell, now)
		r := *e
		r.fee, r.feeEnds = fee, unixNanos(ends)
		r.bp = ProfitBasisPoints(e.sell-fee, e.buy)
		out = append(out, r)
	}
	slices.SortFunc(out, compareEntries)
	return out
}

// mutedTitles returns the positions of the market's titles named in muted.
func (ix *Index) mutedTitles(muted []string) map[int32]bool {
	names := make(map[string]bool, len(muted))
	for _, t := range muted {
		names[t] = true
	}
	out := make(map[int32]bool, len(muted))
	titles := ix.market.Titles
	// Titles are usually sorted (pricestore.MarketReader returns them so): look each up; otherwise scan once.
	if ix.sortedTitles {
		for name := range names {
			i, ok := slices.BinarySearchFunc(titles, name, func(t market.TitleState, name string) int { return cmp.Compare(t.Title, name) })
			for ; ok && i < len(titles) && titles[i].Title == name; i++ {
				out[int32(i)] = true //nolint:gosec // a market holds far fewer than 2^31 titles
			}
		}
		return out
	}
	for i := range titles {
		if names[titles[i].Title] {
			out[int32(i)] = true //nolint:gosec // a market holds far fewer than 2^31 titles
		}
	}
	return out
}

// offer builds the full offer of e.
func (ix *Index) offer(e *entry) Offer {
	return makeOffer(&ix.market.Titles[e.title], e.order&2 != 0, e.order&1 == 1, e.buy, e.sell, e.fee, e.bp)
}
