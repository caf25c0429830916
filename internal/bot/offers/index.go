package offers

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Index holds every offer of one market snapshot (each title × kind × status × phase, whatever its
// profit), computed once with its fee and profit and kept in lists sorted by the SPEC §6.1 order (profit
// descending, then title, then kind: TARGET, HISTORY, FLOAT, STICKERS, then available before locked, then
// phase), one list per game and status. A user's offers are a merge of the lists of the user's games
// that filters (min price, limit, muted titles, hidden kinds) while it walks and stops as soon as it has what was asked for, so one page costs
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
	// perTitle counts the offers of each title of market, for the size of a delta's mask.
	perTitle []uint8
	// exp holds the market's level expiries, for re-reading titles as they expire.
	exp *expiries
	// names maps a title to its positions in market when the titles are not sorted, built on first use.
	names *titleNames
	// delta holds the titles changed since the build (nil: none); they hide their offers in the lists.
	delta *delta
	// view is the market the index shows (market with delta applied), built on first use.
	view *marketView
	// users maps sticker titles to the base titles whose kept items carry them, built on first use.
	users *stickerUsers
	// share is the sticker share of STICKERS offers, in percent.
	share int64
}

// pricing returns the pricing of the index's offers: its sticker share, with titles looked up in the
// market the index shows.
func (ix *Index) pricing() pricing {
	return pricing{share: ix.share, lookup: func(name string) *market.TitleState {
		st, _ := ix.title(name)
		return st
	}, history: ix.stickerHistory}
}

// stickerHistory returns the sell history of a sticker title the index shows without a state: that of
// the last state the index showed of it when it has gone since the build, else the base's StickerHistory
// entry.
func (ix *Index) stickerHistory(name string) *market.ResaleHistory {
	if d := ix.delta; d != nil {
		if h, ok := d.goneHistory[name]; ok {
			return h
		}
	}
	return ix.market.StickerHistory[name]
}

// shownStickerHistory returns the StickerHistory of the market the index shows: the base's, with the
// sticker titles gone since the build valued as stickerHistory values them.
func (ix *Index) shownStickerHistory() map[string]*market.ResaleHistory {
	if ix.delta == nil || len(ix.delta.goneHistory) == 0 {
		return ix.market.StickerHistory
	}
	out := maps.Clone(ix.market.StickerHistory)
	if out == nil {
		out = make(map[string]*market.ResaleHistory, len(ix.delta.goneHistory))
	}
	for name, h := range ix.delta.goneHistory {
		if h == nil {
			delete(out, name)
		} else {
			out[name] = h
		}
	}
	return out
}

// entry is one precomputed offer, small enough that walking a list touches little memory.
type entry struct {
	bp    int64
	order int64 // title rank and orderLow(kind, status, phase), as in Compute
	buy   int64
	sell  int64
	fee   int64
	// expires is the level's expiry (unix ns, 0: never); the offer is skipped once now is after it.
	expires int64
	// feeEnds is when the reduced fee used ends (unix ns, 0: the fee never changes); from then on the
	// offer is computed again.
	feeEnds int64
	title   int32
	// item is the position in the title's Items of the listing the offer buys or shows, -1 for none.
	item int32
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
func BuildIndex(m *market.Snapshot, now time.Time, opts ...Option) *Index {
	ix := &Index{market: m, builtAt: now, lists: map[string]*[2][]entry{}, exp: &expiries{}, names: &titleNames{},
		view: &marketView{}, perTitle: make([]uint8, len(m.Titles)), users: &stickerUsers{}, share: newPricing(opts).share}
	nowNS := unixNanos(now)
	rank, sorted := titleRanks(m.Titles)
	ix.sortedTitles = sorted
	fees := gameFees{m: m}
	p := ix.pricing()
	buf := make([]entry, 0, 8)
	for i := range m.Titles {
		t := &m.Titles[i]
		found := titleEntries(buf[:0], t, &fees, &p, int32(i), rank(i)<<orderRankShift, now) //nolint:gosec // a market holds far fewer than 2^31 titles
		buf = found[:0]
		if len(found) == 0 {
			continue
		}
		ix.perTitle[i] = uint8(min(len(found), math.MaxUint8)) //nolint:gosec // clamped
		lists := ix.lists[t.GameID]
		if lists == nil {
			lists = &[2][]entry{}
			ix.lists[t.GameID] = lists
		}
		for _, e := range found {
			lists[orderStatus(e.order)] = append(lists[orderStatus(e.order)], e)
			if e.expires >= nowNS && (ix.firstLevelExpiry == 0 || e.expires < ix.firstLevelExpiry) {
				ix.firstLevelExpiry = e.expires
			}
		}
	}
	for game, lists := range ix.lists {
		ix.games = append(ix.games, game)
		for st := range lists {
			lists[st] = sortEntries(lists[st], sorted)
			ix.size += len(lists[st])
			for k := range lists[st] {
				if e := &lists[st][k]; e.feeEnds != 0 {
					ix.feeEnds = append(ix.feeEnds, e)
				}
			}
		}
	}
	slices.Sort(ix.games)
	ix.firstFeeEnd = sortFeeEnds(ix.feeEnds, nowNS)
	return ix
}

// sortEntries returns list sorted by compareEntries. inOrder says the entries were appended in
// (order, title) order, as BuildIndex appends them over titles sorted by name: then the sort runs on
// packed integer keys (see sortCandidates).
func sortEntries(list []entry, inOrder bool) []entry {
	if !inOrder {
		slices.SortFunc(list, compareEntries)
		return list
	}
	perm := sortCandidates(len(list), true, func(k int) int64 { return list[k].bp }, func(a, b int) int {
		return compareEntries(list[a], list[b])
	})
	out := make([]entry, len(list))
	for k, i := range perm {
		out[k] = list[i]
	}
	return out
}

// titleEntries appends to dst the offers of t (each kind, status and phase, whatever its profit) with
// their fees at now, their entries carrying title index title and prefix in their order (the title's
// rank << orderRankShift in a base, 0 in a delta), and returns dst.
func titleEntries(dst []entry, t *market.TitleState, fees *gameFees, p *pricing, title int32, prefix int64, now time.Time) []entry {
	sched := lazySchedule{fees: fees, t: t}
	for kind := range int64(2) {
		if kind == kindHistory && t.History != nil && isPhased(t) {
			continue // a phased title's history is its phases'
		}
		for st, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
			if l == nil || l.Price <= 0 {
				continue
			}
			buy := int64(l.Price)
			sell, ok := sellPrice(t, kind, buy)
			if !ok {
				continue
			}
			item := levelItem(t, st, l.Price)
			fee, ends := sched.get().feeUntil(sell, now)
			dst = append(dst, entry{
				bp: ProfitBasisPoints(sell-fee, buy), order: prefix | orderLow(kind, st, 0),
				buy: buy, sell: sell, fee: fee, expires: unixNanos(l.ExpiresAt), feeEnds: unixNanos(ends), title: title, item: item,
			})
		}
	}
	if len(t.Items) == 0 {
		return dst
	}
	return attrEntries(dst, attrSource{t: t, sched: &sched, p: p, now: now}, title, prefix)
}

// Market returns the market the index shows: the snapshot it was built from with the titles changed
// since (Service.Apply, Forget) replaced, sorted by title when the snapshot was. It must not be modified;
// after changes it is assembled on the first call.
func (ix *Index) Market() *market.Snapshot {
	if ix.delta == nil {
		return ix.market
	}
	return ix.view.get(ix)
}

// BuiltAt returns the time the index's base was built: its fees were computed for that time, or for
// the later time its titles were changed (Service.Apply) and then compacted into the base.
func (ix *Index) BuiltAt() time.Time { return ix.builtAt }

// Len returns the number of offers the index holds, before any user's filters.
func (ix *Index) Len() int {
	if ix.delta == nil {
		return ix.size
	}
	return ix.size - ix.delta.maskedOffers + ix.delta.size
}

// NextChange returns the first time after the build at which a query no longer sees the market as
// built (a listing level expires or a reduced fee ends), or the zero time when nothing ever changes.
func (ix *Index) NextChange() time.Time {
	firstLevel, firstFee := ix.firstLevelExpiry, ix.firstFeeEnd
	if d := ix.delta; d != nil {
		firstLevel, firstFee = earliestNS(firstLevel, d.firstLevelExpiry), earliestNS(firstFee, d.firstFeeEnd)
	}
	first := firstLevel
	if first != 0 && first < math.MaxInt64 {
		first++ // a level still counts at its expiry and is gone right after
	}
	if firstFee != 0 && (first == 0 || firstFee < first) {
		first = firstFee
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
	var hits []hit
	if n > 0 {
		hits = make([]hit, 0, min(n, ix.Len()))
	}
	ix.walk(s, now, func(c *cursor) bool {
		hits = append(hits, ix.hit(c))
		return n < 0 || len(hits) < n
	})
	if len(hits) == 0 {
		return nil
	}
	out := make([]Offer, len(hits))
	p := ix.pricing()
	for k, f := range hits {
		out[k] = makeOffer(f.title, f.e.order, f.e.item, f.e.buy, f.e.sell, f.e.fee, f.e.bp, &p)
	}
	return out
}

// hit is an offer a walk found: its entry with its title's state.
type hit struct {
	e     *entry
	title *market.TitleState
}

func (ix *Index) hit(c *cursor) hit {
	if c.delta {
		return hit{e: c.head, title: &ix.delta.titles[c.head.title]}
	}
	return hit{e: c.head, title: &ix.market.Titles[c.head.title]}
}

// Count returns how many offers pass s at now without building them.
func (ix *Index) Count(s Settings, now time.Time) int {
	n := 0
	ix.walk(s, now, func(*cursor) bool {
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
	// delta says the list is the delta's: entries index its titles and their order holds no rank.
	delta bool
}

// merge advances every cursor to its first head, then yields the cursor whose head sorts first (by
// before) and advances it, until every cursor is drained or yield returns false.
func (ix *Index) merge(cursors []cursor, advance func(*cursor), yield func(*cursor) bool) {
	for k := range cursors {
		advance(&cursors[k])
	}
	for {
		var best *cursor
		for k := range cursors {
			if c := &cursors[k]; c.head != nil && (best == nil || ix.before(c, best)) {
				best = c
			}
		}
		if best == nil || !yield(best) {
			return
		}
		advance(best)
	}
}

// before reports whether c's head sorts before d's: profit descending, then title, kind, status and
// phase. Entries of one base compare by their order (rank, kind, status, phase); a delta's, and entries
// of a base and a delta, by title name.
func (ix *Index) before(c, d *cursor) bool {
	a, b := c.head, d.head
	if a.bp != b.bp {
		return a.bp > b.bp
	}
	if !c.delta && !d.delta {
		return a.before(b)
	}
	ta, tb := ix.titleName(c.delta, a.title), ix.titleName(d.delta, b.title)
	if ta != tb {
		return ta < tb
	}
	return a.order&orderLowMask < b.order&orderLowMask
}

func (ix *Index) titleName(delta bool, title int32) string {
	if delta {
		return ix.delta.titles[title].Title
	}
	return ix.market.Titles[title].Title
}

// filter is what a walk checks of every offer besides its profit.
type filter struct {
	minPrice, now int64
	// hidden are the kinds the user hides, as a bit mask over the packed kinds.
	hidden int64
	// muted are the positions of muted titles in the base and in the delta.
	muted, mutedDelta map[int32]bool
	// masked marks the base's titles that the delta replaced, dead the delta's slots replaced since.
	masked, dead []uint64
}

func (f *filter) pass(e *entry, delta bool) bool {
	if e.buy < f.minPrice || (e.expires != 0 && f.now > e.expires) || (e.feeEnds != 0 && f.now >= e.feeEnds) ||
		(f.hidden != 0 && f.hidden>>orderKind(e.order)&1 != 0) {
		return false
	}
	if delta {
		return !bitSet(f.dead, e.title) && (f.mutedDelta == nil || !f.mutedDelta[e.title])
	}
	return (f.masked == nil || !bitSet(f.masked, e.title)) && (f.muted == nil || !f.muted[e.title])
}

// walk calls yield with the cursor of every offer passing s at now, in order, until yield returns false.
func (ix *Index) walk(s Settings, now time.Time, yield func(*cursor) bool) {
	f := filter{minPrice: s.MinPriceCents, now: unixNanos(now), hidden: s.hiddenKinds()}
	if len(s.Muted) > 0 {
		f.muted, f.mutedDelta = ix.mutedTitles(s.Muted)
	}
	d := ix.delta
	if d != nil {
		f.masked, f.dead = d.masked, d.dead
	}
	games := ix.games
	if d != nil {
		games = d.games
	}
	if len(s.Games) > 0 {
		games = s.Games
	}
	cursors := make([]cursor, 0, 6*len(games)+2)
	seen := make(map[string]bool, len(games))
	for _, g := range games {
		if seen[g] {
			continue
		}
		seen[g] = true
		if lists := ix.lists[g]; lists != nil {
			cursors = append(cursors, cursor{list: lists[0]}, cursor{list: lists[1]})
		}
		if d != nil {
			for _, lists := range [2]*[2][]entry{d.lists[g], d.recent[g]} {
				if lists != nil {
					cursors = append(cursors, cursor{list: lists[0], delta: true}, cursor{list: lists[1], delta: true})
				}
			}
		}
	}
	// Offers whose reduced fee has ended are left out of the lists and computed again.
	if ended := endedBy(ix.feeEnds, ix.firstFeeEnd, f.now); ended > 0 {
		cursors = append(cursors, cursor{list: ix.recompute(ix.feeEnds[:ended], seen, now, false)})
	}
	if d != nil {
		if ended := endedBy(d.feeEnds, d.firstFeeEnd, f.now); ended > 0 {
			cursors = append(cursors, cursor{list: ix.recompute(d.feeEnds[:ended], seen, now, true), delta: true})
		}
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
			if f.pass(e, c.delta) {
				c.head = e
				return
			}
		}
	}
	ix.merge(cursors, advance, yield)
}

// sortFeeEnds sorts feeEnds by their end and returns the first end at or after from (unix ns; 0: none).
func sortFeeEnds(feeEnds []*entry, from int64) int64 {
	slices.SortFunc(feeEnds, func(a, b *entry) int { return cmp.Compare(a.feeEnds, b.feeEnds) })
	for _, e := range feeEnds {
		if e.feeEnds >= from {
			return e.feeEnds
		}
	}
	return 0
}

// endedBy returns how many of feeEnds (sorted by their end; the first at or after the build is first)
// have ended by now.
func endedBy(feeEnds []*entry, first, now int64) int {
	if first == 0 || now < first {
		return 0
	}
	ended, _ := slices.BinarySearchFunc(feeEnds, now, func(e *entry, t int64) int {
		if e.feeEnds <= t {
			return -1
		}
		return 1
	})
	return ended
}

// recompute returns the offers of ended (of the base, or of the delta), of the games in games, with the
// fee that applies at now, sorted.
func (ix *Index) recompute(ended []*entry, games map[string]bool, now time.Time, delta bool) []entry {
	out := make([]entry, 0, len(ended))
	for _, e := range ended {
		t := &ix.market.Titles[e.title]
		if delta {
			t = &ix.delta.titles[e.title]
		}
		if !games[t.GameID] {
			continue
		}
		fee, ends := schedule(ix.market, t.GameID, t.Title).feeUntil(e.sell, now)
		r := *e
		r.fee, r.feeEnds = fee, unixNanos(ends)
		r.bp = ProfitBasisPoints(e.sell-fee, e.buy)
		out = append(out, r)
	}
	if delta {
		slices.SortFunc(out, ix.delta.compare)
	} else {
		slices.SortFunc(out, compareEntries)
	}
	return out
}

// mutedTitles returns the positions of the titles named in muted in the base market and in the delta.
func (ix *Index) mutedTitles(muted []string) (base, delta map[int32]bool) {
	base = make(map[int32]bool, len(muted))
	for _, name := range muted {
		for _, i := range ix.positions(name) {
			base[i] = true
		}
	}
	if d := ix.delta; d != nil {
		delta = make(map[int32]bool, len(muted))
		for _, name := range muted {
			if i, ok := d.slot(name); ok && i >= 0 {
				delta[i] = true
			}
		}
	}
	return base, delta
}

// positions returns the positions of the named title in the base market.
func (ix *Index) positions(name string) []int32 {
	f := titleFinder{titles: ix.market.Titles, sorted: ix.sortedTitles, names: ix.names}
	return f.positions(name)
}
