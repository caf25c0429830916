package offers

import (
	"slices"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// compacted returns an index of the market ix shows with its delta merged into a new base. Over sorted
// titles the offers are not computed again: the base's and the delta's sorted lists are merged in linear
// time and renumbered (each offer keeps the fee computed when its title was read, which holds until its
// fee end, as in any index). Over unsorted titles it is BuildIndex of that market at now.
func (ix *Index) compacted(now time.Time) *Index {
	d := ix.delta
	if d == nil {
		return ix
	}
	if !ix.sortedTitles {
		return BuildIndex(ix.Market(), now)
	}
	m, baseAt, slotAt, perTitle := ix.renumbered()
	nx := &Index{market: m, builtAt: ix.builtAt, lists: map[string]*[2][]entry{}, exp: &expiries{}, names: &titleNames{},
		view: &marketView{}, perTitle: perTitle, sortedTitles: true, users: &stickerUsers{}, share: ix.share}
	buildNS := unixNanos(ix.builtAt)
	for _, g := range d.games {
		var next [2][]entry
		for st := range next {
			next[st] = ix.mergeLists(g, st, baseAt, slotAt)
			nx.size += len(next[st])
		}
		if len(next[0])+len(next[1]) == 0 {
			continue
		}
		nx.lists[g] = &next
		nx.games = append(nx.games, g)
		for st := range next {
			for k := range next[st] {
				e := &next[st][k]
				if e.feeEnds != 0 {
					nx.feeEnds = append(nx.feeEnds, e)
				}
				if e.expires >= buildNS && (nx.firstLevelExpiry == 0 || e.expires < nx.firstLevelExpiry) {
					nx.firstLevelExpiry = e.expires
				}
			}
		}
	}
	nx.firstFeeEnd = sortFeeEnds(nx.feeEnds, buildNS)
	return nx
}

// renumbered returns the market ix shows (titles sorted) with the new position of each base title
// (baseAt, -1: replaced) and of each live delta slot (slotAt), and each title's number of offers.
func (ix *Index) renumbered() (m *market.Snapshot, baseAt, slotAt []int32, perTitle []uint8) {
	d := ix.delta
	var live []int32
	d.eachSlot(func(_ string, i int32) {
		if i >= 0 {
			live = append(live, i)
		}
	})
	slices.SortFunc(live, func(a, b int32) int { return strings.Compare(d.titles[a].Title, d.titles[b].Title) })
	base := ix.market.Titles
	out := *ix.market
	out.StickerHistory = ix.shownStickerHistory()
	out.Titles = make([]market.TitleState, 0, len(base)+len(live))
	baseAt, slotAt = make([]int32, len(base)), make([]int32, len(d.titles))
	perTitle = make([]uint8, 0, len(base)+len(live))
	pos := func() int32 { return int32(len(out.Titles)) } //nolint:gosec // a market holds far fewer than 2^31 titles
	for i := range base {
		for len(live) > 0 && d.titles[live[0]].Title < base[i].Title {
			slotAt[live[0]] = pos()
			out.Titles, perTitle = append(out.Titles, d.titles[live[0]]), append(perTitle, d.perSlot[live[0]])
			live = live[1:]
		}
		if bitSet(d.masked, int32(i)) { //nolint:gosec // a market holds far fewer than 2^31 titles
			baseAt[i] = -1
			continue
		}
		baseAt[i] = pos()
		out.Titles, perTitle = append(out.Titles, base[i]), append(perTitle, ix.perTitle[i])
	}
	for _, s := range live {
		slotAt[s] = pos()
		out.Titles, perTitle = append(out.Titles, d.titles[s]), append(perTitle, d.perSlot[s])
	}
	return &out, baseAt, slotAt, perTitle
}

// mergeLists returns the live offers of game g and status st of ix's base and delta, merged in order and
// renumbered to the titles' new positions.
func (ix *Index) mergeLists(g string, st int, baseAt, slotAt []int32) []entry {
	d := ix.delta
	var cursors []cursor
	if l := ix.lists[g]; l != nil {
		cursors = append(cursors, cursor{list: l[st]})
	}
	for _, l := range [2]*[2][]entry{d.lists[g], d.recent[g]} {
		if l != nil {
			cursors = append(cursors, cursor{list: l[st], delta: true})
		}
	}
	n := 0
	for _, c := range cursors {
		n += len(c.list)
	}
	out := make([]entry, 0, n)
	advance := func(c *cursor) {
		c.head = nil
		for c.next < len(c.list) {
			e := &c.list[c.next]
			c.next++
			if (c.delta && !bitSet(d.dead, e.title)) || (!c.delta && !bitSet(d.masked, e.title)) {
				c.head = e
				return
			}
		}
	}
	ix.merge(cursors, advance, func(best *cursor) bool {
		e := *best.head
		if best.delta {
			e.title = slotAt[e.title]
		} else {
			e.title = baseAt[e.title]
		}
		e.order = int64(e.title)<<orderRankShift | e.order&orderLowMask
		out = append(out, e)
		return true
	})
	return out
}
