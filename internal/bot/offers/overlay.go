package offers

import (
	"cmp"
	"maps"
	"math"
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
	compactShare     = 8
)

// delta is what changed in an index's market since its build: the changed titles' new states with their
// offers, kept sorted per game and status like the base's, and the base titles they hide (masked). Each
// change copies it in time proportional to the changes and to its recent part, never to the market:
// new offers are merged into small recent lists, which are folded into the older lists once they grow;
// offers of titles changed again since (dead slots) are skipped by walks and dropped by merges.
type delta struct {
	// titles holds title states by slot and perSlot their number of offers; a slot whose title changed
	// again since is dead. Slots are only appended, and only to the latest delta (a Service changes its
	// current index alone, under its lock), so deltas share the arrays: each sees only its own slots.
	titles  []market.TitleState
	perSlot []uint8
	dead    []uint64
	// slot maps a changed title to its live slot, or to -1 when it has no state (gone): recent changes in
	// slotNew, copied on every change, older ones in slotOld, shared until slotNew is folded into it.
	slotNew, slotOld map[string]int32
	// lists and recent hold the delta's offers by game and status, sorted; recent ones are merged on
	// every change, older ones shared until recent is folded into them.
	lists, recent map[string]*[2][]entry
	recentSize    int
	// games are the games of the base's and the delta's lists, sorted.
	games []string
	// feeEnds holds the delta's live offers whose fee is a reduced fee that ends, by the end ascending.
	feeEnds []*entry
	// masked marks the base's titles the delta replaced; maskedOffers counts their offers.
	masked       []uint64
	maskedOffers int
	// size counts the live offers.
	size int
	// firstLevelExpiry and firstFeeEnd are as the Index's, for the delta's offers (unix ns; 0: none).
	firstLevelExpiry, firstFeeEnd int64
	// stickered are the slots whose titles keep items (which may carry stickers), in the shared arrays.
	stickered []int32
	// goneHistory holds, for each sticker title gone since the build, the sell history of the last state
	// the index showed of it (nil: none), which its stickers are valued from (see Index.stickerHistory).
	goneHistory map[string]*market.ResaleHistory
}

// recentFold is the most offers the recent lists hold before they are folded into the older ones (a
// small delta folds sooner: once they hold more than half its live offers).
const recentFold = 2048

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

// slotFold is the most titles slotNew holds before it is folded into slotOld (a small delta folds
// sooner: when slotNew holds more than half as many as slotOld).
const slotFold = 512

// slot returns the live slot of a changed title (-1: gone), and false for a title that did not change.
func (d *delta) slot(name string) (int32, bool) {
	if i, ok := d.slotNew[name]; ok {
		return i, true
	}
	i, ok := d.slotOld[name]
	return i, ok
}

// eachSlot calls yield with every changed title's live slot (-1: gone).
func (d *delta) eachSlot(yield func(name string, slot int32)) {
	for name, i := range d.slotNew {
		yield(name, i)
	}
	for name, i := range d.slotOld {
		if _, newer := d.slotNew[name]; !newer {
			yield(name, i)
		}
	}
}

// changedTitles returns how many titles changed.
func (d *delta) changedTitles() int {
	n := len(d.slotOld)
	for name := range d.slotNew {
		if _, ok := d.slotOld[name]; !ok {
			n++
		}
	}
	return n
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
// a state without a level: the title is gone) and the sticker titles of learned valued from the history
// it holds (nil: none) while they have no state, their offers and those of the titles carrying them
// computed at now. ix is not modified; the result shares its base and costs time proportional to the
// changes and the delta's recent part.
func (ix *Index) with(changes map[string]*market.TitleState, learned map[string]*market.ResaleHistory, now time.Time) *Index {
	changes = ix.withStickerUsers(changes, learned)
	d := ix.delta.clone(len(ix.market.Titles))
	fees := gameFees{m: ix.market}
	fresh := map[string]*[2][]entry{}
	d.keepHistories(ix, changes, learned)
	nx := *ix
	nx.delta = d
	p := pricing{share: ix.share, lookup: func(name string) *market.TitleState {
		if st, ok := changes[name]; ok {
			if !st.Listed() {
				return nil
			}
			return st
		}
		st, _ := ix.title(name)
		return st
	}, history: nx.stickerHistory}
	buf := make([]entry, 0, 8)
	for name, st := range changes {
		if i, ok := d.slot(name); ok && i >= 0 && !bitSet(d.dead, i) {
			d.dead[i>>6] |= 1 << (i & 63)
			d.size -= int(d.perSlot[i])
		}
		for _, i := range ix.positions(name) {
			if !bitSet(d.masked, i) {
				d.masked[i>>6] |= 1 << (i & 63)
				d.maskedOffers += int(ix.perTitle[i])
			}
		}
		if !st.Listed() {
			d.slotNew[name] = -1
			continue
		}
		slot := int32(len(d.titles)) //nolint:gosec // a delta holds far fewer than 2^31 titles
		t := *st
		t.Title = name
		d.titles = append(d.titles, t)
		if len(d.dead)*64 <= int(slot) {
			d.dead = append(d.dead, 0)
		}
		d.slotNew[name] = slot
		found := titleEntries(buf[:0], &d.titles[slot], &fees, &p, slot, 0, now)
		buf = found[:0]
		d.perSlot = append(d.perSlot, uint8(min(len(found), math.MaxUint8))) //nolint:gosec // clamped
		if len(t.Items) > 0 {
			d.stickered = append(d.stickered, slot)
		}
		d.size += len(found)
		if len(found) == 0 {
			continue
		}
		lists := fresh[t.GameID]
		if lists == nil {
			lists = &[2][]entry{}
			fresh[t.GameID] = lists
		}
		for _, e := range found {
			lists[orderStatus(e.order)] = append(lists[orderStatus(e.order)], e)
		}
	}
	feeEnds := d.sortFresh(fresh, unixNanos(ix.builtAt))
	d.addRecent(fresh)
	d.summarize(ix, feeEnds)
	nx.view = &marketView{}
	return &nx
}

// keepHistories records the sell histories the delta values sticker titles without a state from: of each
// sticker title changes leave without a level, the history of its state in ix (when ix shows one); then
// those of learned, which were read after the states and win.
func (d *delta) keepHistories(ix *Index, changes map[string]*market.TitleState, learned map[string]*market.ResaleHistory) {
	keep := func(name string, h *market.ResaleHistory) {
		if d.goneHistory == nil {
			d.goneHistory = make(map[string]*market.ResaleHistory)
		}
		d.goneHistory[name] = h
	}
	for name, st := range changes {
		if isStickerTitle(name) && !st.Listed() {
			if prev, _ := ix.title(name); prev != nil {
				keep(name, prev.History)
			}
		}
	}
	for name, h := range learned {
		keep(name, h)
	}
}

// sortFresh sorts the new entries of each game and status in delta order, notes the earliest level
// expiry after the build (buildNS, unix ns) and returns the entries whose reduced fee ends.
func (d *delta) sortFresh(fresh map[string]*[2][]entry, buildNS int64) []*entry {
	var feeEnds []*entry
	for _, lists := range fresh {
		for st := range lists {
			slices.SortFunc(lists[st], d.compare)
			for k := range lists[st] {
				e := &lists[st][k]
				if e.feeEnds != 0 {
					feeEnds = append(feeEnds, e)
				}
				if e.expires >= buildNS {
					d.firstLevelExpiry = earliestNS(d.firstLevelExpiry, e.expires)
				}
			}
		}
	}
	return feeEnds
}

// withStickerUsers returns changes with the titles whose kept items carry the stickers of changed sticker
// titles, or of the sticker titles of learned, added at their current state (their STICKERS offers are
// priced from those titles), or changes itself when none is added.
func (ix *Index) withStickerUsers(changes map[string]*market.TitleState, learned map[string]*market.ResaleHistory) map[string]*market.TitleState {
	var users []string
	for name := range changes {
		if isStickerTitle(name) {
			users = append(users, ix.stickerUsersOf(name)...)
		}
	}
	for name := range learned {
		if _, ok := changes[name]; !ok {
			users = append(users, ix.stickerUsersOf(name)...)
		}
	}
	if len(users) == 0 {
		return changes
	}
	out := maps.Clone(changes)
	for _, name := range users {
		if _, ok := out[name]; ok {
			continue
		}
		if st, ok := ix.title(name); ok {
			c := *st
			out[name] = &c
		}
	}
	return out
}

// stickerUsersOf returns the titles of the market the index shows whose kept items carry a sticker of
// the sticker title name.
func (ix *Index) stickerUsersOf(name string) []string {
	var out []string
	d := ix.delta
	for _, i := range ix.users.get(ix.market.Titles)[name] {
		if d == nil || !bitSet(d.masked, i) {
			out = append(out, ix.market.Titles[i].Title)
		}
	}
	if d == nil {
		return out
	}
	for _, i := range d.stickered {
		if !bitSet(d.dead, i) && slices.Contains(stickerTitles(&d.titles[i]), name) {
			out = append(out, d.titles[i].Title)
		}
	}
	return out
}

// clone returns a copy of d to change (a new delta over a base of n titles when d is nil).
func (d *delta) clone(n int) *delta {
	if d == nil {
		return &delta{slotNew: map[string]int32{}, lists: map[string]*[2][]entry{}, recent: map[string]*[2][]entry{},
			masked: make([]uint64, (n+63)/64)}
	}
	c := *d
	c.dead, c.slotNew, c.recent, c.masked = slices.Clone(d.dead), maps.Clone(d.slotNew), maps.Clone(d.recent), slices.Clone(d.masked)
	c.goneHistory = maps.Clone(d.goneHistory)
	if len(c.slotNew) > min(slotFold, max(8, len(c.slotOld)/2)) {
		old := make(map[string]int32, len(c.slotOld)+len(c.slotNew))
		maps.Copy(old, c.slotOld)
		maps.Copy(old, c.slotNew)
		c.slotOld, c.slotNew = old, make(map[string]int32, slotFold)
	}
	return &c
}

// mergeLive returns the live entries of a and b merged in order.
func (d *delta) mergeLive(a, b []entry) []entry {
	out := make([]entry, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		var e entry
		if len(b) == 0 || (len(a) > 0 && d.compare(a[0], b[0]) <= 0) {
			e, a = a[0], a[1:]
		} else {
			e, b = b[0], b[1:]
		}
		if !bitSet(d.dead, e.title) {
			out = append(out, e)
		}
	}
	return out
}

// addRecent merges the fresh offers (sorted) into the recent lists, and folds the recent lists into the
// older ones once they have grown.
func (d *delta) addRecent(fresh map[string]*[2][]entry) {
	for g, f := range fresh {
		var next [2][]entry
		prev := d.recent[g]
		for st := range next {
			var old []entry
			if prev != nil {
				old = prev[st]
			}
			d.recentSize += len(f[st])
			next[st] = d.mergeLive(old, f[st])
		}
		d.recent[g] = &next
	}
	if d.recentSize <= min(recentFold, max(16, d.size/2)) {
		return
	}
	lists := make(map[string]*[2][]entry, len(d.lists)+len(d.recent))
	for g, l := range d.lists {
		lists[g] = l
	}
	for g, r := range d.recent {
		var next [2][]entry
		for st := range next {
			var old []entry
			if l := d.lists[g]; l != nil {
				old = l[st]
			}
			next[st] = d.mergeLive(old, r[st])
		}
		lists[g] = &next
	}
	d.lists, d.recent, d.recentSize = lists, map[string]*[2][]entry{}, 0
}

// summarize updates the delta's games and fee ends after a change that added fresh fee ends.
func (d *delta) summarize(ix *Index, fresh []*entry) {
	feeEnds := make([]*entry, 0, len(d.feeEnds)+len(fresh))
	for _, e := range d.feeEnds {
		if !bitSet(d.dead, e.title) {
			feeEnds = append(feeEnds, e)
		}
	}
	feeEnds = append(feeEnds, fresh...)
	d.feeEnds, d.firstFeeEnd = feeEnds, sortFeeEnds(feeEnds, 0)
	games := slices.Clone(ix.games)
	for g := range d.lists {
		games = append(games, g)
	}
	for g := range d.recent {
		games = append(games, g)
	}
	slices.Sort(games)
	d.games = slices.Compact(games)
}

// title returns the state of the named title in the market the index shows.
func (ix *Index) title(name string) (*market.TitleState, bool) {
	if d := ix.delta; d != nil {
		if i, ok := d.slot(name); ok {
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
		changed := make([]market.TitleState, 0, d.changedTitles())
		d.eachSlot(func(_ string, i int32) {
			if i >= 0 {
				changed = append(changed, d.titles[i])
			}
		})
		slices.SortFunc(changed, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
		m := *ix.market
		m.Titles = make([]market.TitleState, 0, len(ix.market.Titles)+len(changed))
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
		m.StickerHistory = ix.shownStickerHistory()
		v.m = &m
	})
	return v.m
}

// eachTitleExpiry calls yield with the expiry of each of t's cheapest levels and kept items that expires,
// until yield returns false.
func eachTitleExpiry(t *market.TitleState, yield func(at time.Time) bool) {
	for _, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
		if l != nil && !l.ExpiresAt.IsZero() && !yield(l.ExpiresAt) {
			return
		}
	}
	for k := range t.Items {
		if at := t.Items[k].ExpiresAt; !at.IsZero() && !yield(at) {
			return
		}
	}
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
			eachTitleExpiry(&ix.market.Titles[i], func(at time.Time) bool {
				ix.exp.list = append(ix.exp.list, levelExpiry{at: unixNanos(at), title: int32(i)}) //nolint:gosec // far fewer than 2^31 titles
				return true
			})
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
		stop := false
		d.eachSlot(func(_ string, i int32) {
			if i < 0 || stop {
				return
			}
			t := &d.titles[i]
			eachTitleExpiry(t, func(at time.Time) bool {
				stop = unixNanos(at) >= from && !yield(t.Title, unixNanos(at), false)
				return !stop
			})
		})
		if stop {
			return
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
