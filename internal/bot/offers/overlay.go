package offers

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Compaction thresholds: a delta is merged into a new base (in the background) once it holds more than
// compactMinTitles title states and more than the base's titles divided by compactShare (see
// Index.needsCompaction).
const (
	compactMinTitles = 2048
	compactShare     = 32
)

// delta is what changed in an index's market since its build: the changed titles' new states with their
// offers, kept sorted per game and status like the base's, and the base titles they hide (masked). Each
// change copies it in time proportional to its own size and the changed titles, never the market's.
type delta struct {
	// titles holds title states by slot; a slot whose title changed again since is dead.
	titles []market.TitleState
	dead   []uint64
	// slot maps a changed title to its live slot, or to -1 when it has no state (gone).
	slot  map[string]int32
	lists map[string]*[2][]entry
	// games are the games of the base's and the delta's lists, sorted.
	games []string
	// feeEnds holds the delta's offers whose fee is a reduced fee that ends, by the end ascending.
	feeEnds []*entry
	// masked marks the base's titles the delta replaced; maskedOffers counts their offers.
	masked       []uint64
	maskedOffers int
	size         int
	// firstLevelExpiry and firstFeeEnd are as the Index's, for the delta's offers (unix ns; 0: none).
	firstLevelExpiry, firstFeeEnd int64
}

// compare orders a delta's entries: profit descending, then title name, kind and status.
func (d *delta) compare(a, b entry) int {
	if c := cmp.Compare(b.bp, a.bp); c != 0 {
		return c
	}
	if c := strings.Compare(d.titles[a.title].Title, d.titles[b.title].Title); c != 0 {
		return c
	}
	return cmp.Compare(a.order, b.order)
}

func bitSet(bits []uint64, i int32) bool { return bits[i>>6]&(1<<(i&63)) != 0 }

// earliestNS returns the earlier of two unix-ns instants, 0 meaning none.
func earliestNS(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// with returns an index of ix's market with the titles of changes replaced by their new state (nil, or
// a state without a level: the title is gone), their offers computed at now. ix is not modified; the
// result shares its base and costs time proportional to the changes and the delta, not the market.
func (ix *Index) with(changes map[string]*market.TitleState, now time.Time) *Index {
	d := ix.delta.clone(len(ix.market.Titles))
	fees := gameFees{m: ix.market}
	touched := map[string]bool{}
	fresh := map[string]*[2][]entry{}
	var buf [4]entry
	for name, st := range changes {
		if i, ok := d.slot[name]; ok && i >= 0 {
			d.dead[i>>6] |= 1 << (i & 63)
			touched[d.titles[i].GameID] = true
		}
		for _, i := range ix.positions(name) {
			if !bitSet(d.masked, i) {
				d.masked[i>>6] |= 1 << (i & 63)
				d.maskedOffers += int(ix.perTitle[i])
			}
		}
		if st == nil || (st.Available == nil && st.Locked == nil) {
			d.slot[name] = -1
			continue
		}
		slot := int32(len(d.titles)) //nolint:gosec // a delta holds far fewer than 2^31 titles
		t := *st
		t.Title = name
		d.titles = append(d.titles, t)
		if len(d.dead) < len(d.titles)/64+1 {
			d.dead = append(d.dead, 0)
		}
		d.slot[name] = slot
		found := titleEntries(buf[:0], &d.titles[slot], &fees, slot, 0, now)
		if len(found) == 0 {
			continue
		}
		touched[t.GameID] = true
		lists := fresh[t.GameID]
		if lists == nil {
			lists = &[2][]entry{}
			fresh[t.GameID] = lists
		}
		for _, e := range found {
			lists[e.order&1] = append(lists[e.order&1], e)
		}
	}
	d.merge(touched, fresh, ix)
	nx := *ix
	nx.delta, nx.view = d, &marketView{}
	return &nx
}

// clone returns a copy of d to change (a new delta over a base of n titles when d is nil).
func (d *delta) clone(n int) *delta {
	if d == nil {
		return &delta{slot: map[string]int32{}, lists: map[string]*[2][]entry{}, masked: make([]uint64, (n+63)/64)}
	}
	return &delta{titles: slices.Clip(d.titles), dead: slices.Clone(d.dead), slot: maps.Clone(d.slot),
		lists: maps.Clone(d.lists), masked: slices.Clone(d.masked), maskedOffers: d.maskedOffers,
		feeEnds: d.feeEnds, firstLevelExpiry: d.firstLevelExpiry}
}

// merge rebuilds the lists of the touched games from their live entries and the fresh ones, and the
// delta's summary (games, size, fee ends, first expiry).
func (d *delta) merge(touched map[string]bool, fresh map[string]*[2][]entry, ix *Index) {
	for g := range touched {
		var next [2][]entry
		for st := range next {
			var add, prev []entry
			if f := fresh[g]; f != nil {
				add = f[st]
				slices.SortFunc(add, d.compare)
			}
			if l := d.lists[g]; l != nil {
				prev = l[st]
			}
			out := make([]entry, 0, len(prev)+len(add))
			for _, e := range prev {
				if bitSet(d.dead, e.title) {
					continue
				}
				for len(add) > 0 && d.compare(add[0], e) < 0 {
					out, add = append(out, add[0]), add[1:]
				}
				out = append(out, e)
			}
			next[st] = append(out, add...)
		}
		if len(next[0])+len(next[1]) == 0 {
			delete(d.lists, g)
		} else {
			d.lists[g] = &next
		}
	}
	feeEnds := make([]*entry, 0, len(d.feeEnds))
	for _, e := range d.feeEnds {
		if !touched[d.titles[e.title].GameID] {
			feeEnds = append(feeEnds, e)
		}
	}
	buildNS := unixNanos(ix.builtAt)
	d.size = 0
	games := slices.Clone(ix.games)
	for g, lists := range d.lists {
		games = append(games, g)
		for st := range lists {
			d.size += len(lists[st])
			for k := range lists[st] {
				e := &lists[st][k]
				if touched[g] && e.feeEnds != 0 {
					feeEnds = append(feeEnds, e)
				}
				if touched[g] && e.expires >= buildNS {
					d.firstLevelExpiry = earliestNS(d.firstLevelExpiry, e.expires)
				}
			}
		}
	}
	slices.Sort(games)
	d.games = slices.Compact(games)
	slices.SortFunc(feeEnds, func(a, b *entry) int { return cmp.Compare(a.feeEnds, b.feeEnds) })
	d.feeEnds, d.firstFeeEnd = feeEnds, 0
	if len(feeEnds) > 0 {
		d.firstFeeEnd = feeEnds[0].feeEnds
	}
}

// title returns the state of the named title in the market the index shows.
func (ix *Index) title(name string) (*market.TitleState, bool) {
	if d := ix.delta; d != nil {
		if i, ok := d.slot[name]; ok {
			if i < 0 {
				return nil, false
			}
			return &d.titles[i], true
		}
	}
	if pos := ix.positions(name); len(pos) > 0 {
		return &ix.market.Titles[pos[0]], true
	}
	return nil, false
}

// needsCompaction reports whether the index's changes should be merged into a new base: its delta holds
// more than minTitles title states and more than the base's titles divided by compactShare.
func (ix *Index) needsCompaction(minTitles int) bool {
	return ix.delta != nil && len(ix.delta.titles) > max(minTitles, len(ix.market.Titles)/compactShare)
}

// firstExpiry returns when the first cheapest level of the index's base market expires, or the zero time.
func (ix *Index) firstExpiry() time.Time { return earliestExpiry(ix.market) }

// titleNames maps titles to their positions in an unsorted market, built on first use.
type titleNames struct {
	once sync.Once
	m    map[string][]int32
}

func (n *titleNames) get(titles []market.TitleState) map[string][]int32 {
	n.once.Do(func() {
		n.m = make(map[string][]int32, len(titles))
		for i := range titles {
			n.m[titles[i].Title] = append(n.m[titles[i].Title], int32(i)) //nolint:gosec // a market holds far fewer than 2^31 titles
		}
	})
	return n.m
}

// marketView is the market an index with a delta shows, assembled on first use.
type marketView struct {
	once sync.Once
	m    *market.Snapshot
}

func (v *marketView) get(ix *Index) *market.Snapshot {
	v.once.Do(func() {
		d := ix.delta
		changed := make([]market.TitleState, 0, len(d.slot))
		for _, i := range d.slot {
			if i >= 0 {
				changed = append(changed, d.titles[i])
			}
		}
		slices.SortFunc(changed, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
		m := *ix.market
		m.Titles = make([]market.TitleState, 0, len(ix.market.Titles)-len(d.slot)+len(changed))
		for i := range ix.market.Titles {
			if bitSet(d.masked, int32(i)) { //nolint:gosec // a market holds far fewer than 2^31 titles
				continue
			}
			t := &ix.market.Titles[i]
			for ix.sortedTitles && len(changed) > 0 && changed[0].Title < t.Title {
				m.Titles, changed = append(m.Titles, changed[0]), changed[1:]
			}
			m.Titles = append(m.Titles, *t)
		}
		m.Titles = append(m.Titles, changed...)
		v.m = &m
	})
	return v.m
}

// levelExpiry is when one cheapest level of a title expires.
type levelExpiry struct {
	at    int64 // unix ns
	title int32
}

// expiries are a base market's level expiries, sorted, computed on first use.
type expiries struct {
	once sync.Once
	list []levelExpiry
}

func (ix *Index) levelExpiries() []levelExpiry {
	ix.exp.once.Do(func() {
		for i := range ix.market.Titles {
			t := &ix.market.Titles[i]
			for _, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
				if l != nil && !l.ExpiresAt.IsZero() {
					ix.exp.list = append(ix.exp.list, levelExpiry{at: unixNanos(l.ExpiresAt), title: int32(i)}) //nolint:gosec // far fewer than 2^31 titles
				}
			}
		}
		slices.SortFunc(ix.exp.list, func(a, b levelExpiry) int { return cmp.Compare(a.at, b.at) })
	})
	return ix.exp.list
}

// eachExpiry calls yield with the title and expiry (unix ns) of every cheapest level of the market the
// index shows that expires at from or later, the delta's first, then the base's in order (base true),
// until yield returns false.
func (ix *Index) eachExpiry(from int64, yield func(title string, at int64, base bool) bool) {
	if d := ix.delta; d != nil {
		for _, i := range d.slot {
			if i < 0 {
				continue
			}
			t := &d.titles[i]
			for _, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
				if l != nil && !l.ExpiresAt.IsZero() && unixNanos(l.ExpiresAt) >= from && !yield(t.Title, unixNanos(l.ExpiresAt), false) {
					return
				}
			}
		}
	}
	list := ix.levelExpiries()
	i, _ := slices.BinarySearchFunc(list, from, func(e levelExpiry, t int64) int { return cmp.Compare(e.at, t) })
	for ; i < len(list); i++ {
		if ix.delta != nil && bitSet(ix.delta.masked, list[i].title) {
			continue
		}
		if !yield(ix.market.Titles[list[i].title].Title, list[i].at, true) {
			return
		}
	}
}

// nextExpiryFrom returns the first instant after from at which a cheapest level of the market is gone
// (just after its expiry), and false when none expires then.
func (ix *Index) nextExpiryFrom(from time.Time) (time.Time, bool) {
	first := int64(0)
	ix.eachExpiry(unixNanos(from), func(_ string, at int64, base bool) bool {
		first = earliestNS(first, at)
		return !base // the base's come in order: the first is the earliest
	})
	if first == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, first+1), true
}

// expiringTitles returns the titles, sorted, with a cheapest level gone in (from, to]: one that
// expires at from or later and before to.
func (ix *Index) expiringTitles(from, to time.Time) []string {
	toNS := unixNanos(to)
	var out []string
	ix.eachExpiry(unixNanos(from), func(title string, at int64, base bool) bool {
		if at >= toNS {
			return !base // the base's come in order: none further is before to
		}
		out = append(out, title)
		return true
	})
	slices.Sort(out)
	return slices.Compact(out)
}
