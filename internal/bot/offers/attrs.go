package offers

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Offer kinds as they are packed into an order key, in their sort order.
const (
	kindTarget int64 = iota
	kindHistory
	kindFloat
	kindStickers
)

// An order key packs what sorts offers of equal profit: the title's rank, then the kind, then the
// status, then the phase (its market.Phase Index, 0 for none): rank << orderRankShift | kind <<
// orderKindShift | status << orderStatusShift | phase.
const (
	orderStatusShift = 4
	orderKindShift   = 5
	orderRankShift   = 7
	orderLowMask     = 1<<orderRankShift - 1
	phaseCount       = 9 // PhaseNone and the eight known phases
)

// orderLow returns the low part of an order key (everything but the rank).
func orderLow(kind int64, status int, phase int) int64 {
	return kind<<orderKindShift | int64(status)<<orderStatusShift | int64(phase)
}

// orderStatus returns the status (0 available, 1 locked) of an order key.
func orderStatus(order int64) int { return int(order >> orderStatusShift & 1) }

// orderKind returns the kind of an order key.
func orderKind(order int64) int64 { return order >> orderKindShift & 3 }

// offerKinds are the market kinds by their packed value.
var offerKinds = [4]market.OfferKind{market.KindTarget, market.KindHistory, market.KindFloat, market.KindStickers}

// Option configures how offers are priced (Compute, BuildIndex, WithPricing).
type Option func(*pricing)

// StickerShare sets the percentage of the applied stickers' value a STICKERS offer adds to the floor
// (BOT_STICKER_SHARE, 0…100; market.DefaultStickerSharePercent unless set).
func StickerShare(percent int) Option {
	return func(p *pricing) { p.share = int64(min(max(percent, 0), 100)) }
}

// pricing is what offers of one title are priced with besides the title and its fees: the sticker share
// and the lookup of other titles of the same market (sticker values).
type pricing struct {
	share int64
	// lookup returns the state of the named title in the market, nil when it has none.
	lookup func(name string) *market.TitleState
	// history returns the sell history of a sticker title that lookup does not find (market.Snapshot's
	// StickerHistory), nil when there is none.
	history func(name string) *market.ResaleHistory
}

func newPricing(opts []Option) pricing {
	p := pricing{share: market.DefaultStickerSharePercent}
	for _, o := range opts {
		o(&p)
	}
	return p
}

// stickerValue returns the value of the stickers named names on an item of game, and the earliest expiry
// (unix ns; 0: none) of the listing levels it was read from. A sticker is worth the cheapest available
// level of its market title in the same game, else that title's low resale price; a sticker title without
// a live listing is worth its low resale price from the sticker history (p.history); else nothing.
func (p *pricing) stickerValue(game string, names []string) (value, expires int64) {
	for _, name := range names {
		title := market.StickerTitle(name)
		st := p.lookup(title)
		var h *market.ResaleHistory
		switch {
		case st == nil:
			if p.history != nil {
				h = p.history(title)
			}
		case st.GameID != game:
			continue
		case st.Available != nil && st.Available.Price > 0:
			value += int64(st.Available.Price)
			expires = earliestNS(expires, unixNanos(st.Available.ExpiresAt))
			continue
		default:
			h = st.History
		}
		if h != nil && h.PriceAtLow > 0 {
			value += int64(h.PriceAtLow)
		}
	}
	return value, expires
}

// isPhased reports whether t is a phased title, whose phases are separate markets.
func isPhased(t *market.TitleState) bool { return market.PhasedTitle(t.Title) }

// phaseGroup returns the phase index an item of t is grouped by: its phase on a phased title, else 0.
func phaseGroup(t *market.TitleState, it *market.ItemListing) int {
	if !isPhased(t) {
		return 0
	}
	return it.Attrs.Phase.Index()
}

// itemStatus returns 1 for a locked item, 0 for a tradable one.
func itemStatus(it *market.ItemListing) int {
	if it.Locked {
		return 1
	}
	return 0
}

// levelItem returns the position in t.Items of the kept item of status st at exactly price (the lowest
// item id), -1 when there is none.
func levelItem(t *market.TitleState, st int, price market.Cents) int32 {
	best := int32(-1)
	for k := range t.Items {
		it := &t.Items[k]
		if itemStatus(it) == st && it.Price == price && (best < 0 || it.ItemID < t.Items[best].ItemID) {
			best = int32(k) //nolint:gosec // a title keeps few items
		}
	}
	return best
}

// cheaper reports whether item a sorts before item b: price, then item id.
func cheaper(a, b *market.ItemListing) bool {
	return a.Price < b.Price || (a.Price == b.Price && a.ItemID < b.ItemID)
}

// cheapestItems returns, by status and phase index, the position of the cheapest kept item of t with a
// price (-1: none).
func cheapestItems(t *market.TitleState) (out [2][phaseCount]int32) {
	for st := range out {
		for p := range out[st] {
			out[st][p] = -1
		}
	}
	for k := range t.Items {
		it := &t.Items[k]
		if it.Price <= 0 {
			continue
		}
		st, p := itemStatus(it), phaseGroup(t, it)
		if cur := out[st][p]; cur < 0 || cheaper(it, &t.Items[cur]) {
			out[st][p] = int32(k) //nolint:gosec // a title keeps few items
		}
	}
	return out
}

// lazySchedule looks a title's fee schedule up on first use.
type lazySchedule struct {
	fees *gameFees
	t    *market.TitleState
	s    feeSchedule
	ok   bool
}

func (l *lazySchedule) get() *feeSchedule {
	if !l.ok {
		l.s, l.ok = l.fees.schedule(l.t), true
	}
	return &l.s
}

// attrSource is what titleEntries needs to price a title's attribute offers.
type attrSource struct {
	t     *market.TitleState
	sched *lazySchedule
	p     *pricing
	now   time.Time
}

// attrEntries appends to dst the per-phase HISTORY, FLOAT and STICKERS offers of t (see
// TitleState.Items) with prefix in their order and title index title, whatever their profit.
func attrEntries(dst []entry, a attrSource, title int32, prefix int64) []entry {
	t := a.t
	if len(t.Items) == 0 {
		return dst
	}
	cheapest := cheapestItems(t)
	if isPhased(t) && t.Phases != nil {
		phases := market.Phases() // one copy per title, not one per status
		for st := range 2 {
			for pi, ph := range phases {
				ps := t.Phases[ph]
				k := cheapest[st][pi+1]
				if ps == nil || k < 0 {
					continue
				}
				it := &t.Items[k]
				sell, ok := historySell(ps.History, int64(it.Price))
				if !ok {
					continue
				}
				fee, ends := a.sched.get().feeUntil(sell, a.now)
				dst = append(dst, entry{bp: ProfitBasisPoints(sell-fee, int64(it.Price)), order: prefix | orderLow(kindHistory, st, pi+1),
					buy: int64(it.Price), sell: sell, fee: fee, expires: unixNanos(it.ExpiresAt), feeEnds: unixNanos(ends),
					title: title, item: k})
			}
		}
	}
	dst = bestPerGroup(dst, a, kindFloat, title, prefix, func(it *market.ItemListing) (int64, int64, bool) {
		if !it.Attrs.HasFloat {
			return 0, 0, false
		}
		c := floatCurve(t, it)
		v := int64(c.ValueAt(it.Attrs.Float))
		return v, unixNanos(it.ExpiresAt), v > 0
	})
	return bestPerGroup(dst, a, kindStickers, title, prefix, func(it *market.ItemListing) (int64, int64, bool) {
		if len(it.Attrs.Stickers) == 0 {
			return 0, 0, false
		}
		floor, floorExp, ok := stickerFloor(t, it, &cheapest)
		if !ok {
			return 0, 0, false
		}
		v, vExp := a.p.stickerValue(t.GameID, it.Attrs.Stickers)
		return floor + v*a.p.share/100, earliestNS(earliestNS(unixNanos(it.ExpiresAt), floorExp), vExp), true
	})
}

// floatCurve returns the float curve an item of t is valued with: the phase's on a phased title (nil for
// an item without a phase), else the title's.
func floatCurve(t *market.TitleState, it *market.ItemListing) *market.FloatCurve {
	if !isPhased(t) {
		return t.Float
	}
	if ps := t.Phases[it.Attrs.Phase]; ps != nil && it.Attrs.Phase != market.PhaseNone {
		return ps.Float
	}
	return nil
}

// stickerFloor returns the floor a STICKERS offer of item it adds to and when it expires (unix ns): the
// cheapest level of its status, or on a phased title the cheapest kept item of its status and phase.
func stickerFloor(t *market.TitleState, it *market.ItemListing, cheapest *[2][phaseCount]int32) (int64, int64, bool) {
	st := itemStatus(it)
	if isPhased(t) {
		k := cheapest[st][phaseGroup(t, it)]
		if k < 0 {
			return 0, 0, false
		}
		return int64(t.Items[k].Price), unixNanos(t.Items[k].ExpiresAt), true
	}
	l := t.Available
	if st == 1 {
		l = t.Locked
	}
	if l == nil || l.Price <= 0 {
		return 0, 0, false
	}
	return int64(l.Price), unixNanos(l.ExpiresAt), true
}

// bestPerGroup appends to dst, for each status and phase, the best offer of kind among t's items that
// value prices (sell, the offer's expiry in unix ns, ok): the highest profit, then the lowest price,
// then the lowest item id, among those whose net is above their price.
func bestPerGroup(dst []entry, a attrSource, kind int64, title int32, prefix int64,
	value func(it *market.ItemListing) (sell, expires int64, ok bool)) []entry {
	t := a.t
	var best [2][phaseCount]entry
	var found [2][phaseCount]bool
	for k := range t.Items {
		it := &t.Items[k]
		if it.Price <= 0 {
			continue
		}
		sell, expires, ok := value(it)
		if !ok {
			continue
		}
		buy := int64(it.Price)
		fee, ends := a.sched.get().feeUntil(sell, a.now)
		if sell-fee <= buy {
			continue
		}
		st, pi := itemStatus(it), phaseGroup(t, it)
		e := entry{bp: ProfitBasisPoints(sell-fee, buy), order: prefix | orderLow(kind, st, pi), buy: buy, sell: sell,
			fee: fee, expires: expires, feeEnds: unixNanos(ends), title: title, item: int32(k)} //nolint:gosec // a title keeps few items
		if b := &best[st][pi]; !found[st][pi] || e.bp > b.bp || (e.bp == b.bp && cheaper(it, &t.Items[b.item])) {
			best[st][pi], found[st][pi] = e, true
		}
	}
	for st := range best {
		for pi := range best[st] {
			if found[st][pi] {
				dst = append(dst, best[st][pi])
			}
		}
	}
	return dst
}

// titleFinder finds titles of a market by name: by binary search when they are sorted, else through a
// map built on first use.
type titleFinder struct {
	titles []market.TitleState
	sorted bool
	names  *titleNames
}

// positions returns the positions of the named title.
func (f *titleFinder) positions(name string) []int32 {
	if f.sorted {
		i, ok := slices.BinarySearchFunc(f.titles, name, func(t market.TitleState, name string) int { return cmp.Compare(t.Title, name) })
		if !ok {
			return nil
		}
		return []int32{int32(i)} //nolint:gosec // a market holds far fewer than 2^31 titles
	}
	return f.names.get(f.titles)[name]
}

// find returns the state of the named title, nil when the market has none.
func (f *titleFinder) find(name string) *market.TitleState {
	if pos := f.positions(name); len(pos) > 0 {
		return &f.titles[pos[0]]
	}
	return nil
}

// stickerUsers maps a sticker's market title to the positions of the titles of a base market whose kept
// items carry it, built on first use.
type stickerUsers struct {
	once sync.Once
	m    map[string][]int32
}

func (u *stickerUsers) get(titles []market.TitleState) map[string][]int32 {
	u.once.Do(func() {
		u.m = map[string][]int32{}
		for i := range titles {
			for _, name := range stickerTitles(&titles[i]) {
				u.m[name] = append(u.m[name], int32(i)) //nolint:gosec // a market holds far fewer than 2^31 titles
			}
		}
	})
	return u.m
}

// stickerTitles returns the market titles of the stickers t's kept items carry, sorted, without repeats.
func stickerTitles(t *market.TitleState) []string {
	var out []string
	for k := range t.Items {
		for _, name := range t.Items[k].Attrs.Stickers {
			out = append(out, market.StickerTitle(name))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isStickerTitle reports whether name is a sticker's market title.
func isStickerTitle(name string) bool { return strings.HasPrefix(name, market.StickerTitlePrefix) }

// describeItem fills in o what its item it of title t shows: the item id and attributes, and for the
// offers priced from the item (all but TARGET and a non-phased title's HISTORY, which are priced from the
// title's level and show the level's item) its listing time, lock, and what its kind was priced from.
func describeItem(o *Offer, t *market.TitleState, it *market.ItemListing, p *pricing) {
	in := &ItemInfo{ID: it.ItemID, Phase: it.Attrs.Phase, PaintSeed: it.Attrs.PaintSeed, HasSeed: it.Attrs.HasSeed}
	o.Item = in
	if it.Attrs.HasFloat {
		in.Float, in.HasFloat = it.Attrs.Float, true
		if w, ok := market.WearOf(t.Title); ok {
			in.Wear, in.TopPercent = w.Short, w.TopPercent(it.Attrs.Float)
		}
	}
	if len(it.Attrs.Stickers) > 0 {
		in.StickersValue, _ = p.stickerValue(t.GameID, it.Attrs.Stickers)
	}
	if o.Kind == market.KindTarget || (o.Kind == market.KindHistory && !isPhased(t)) {
		return // priced from the title's level: the level's item is only shown
	}
	o.UpdatedAt = it.UpdatedAt
	if it.Locked {
		o.LockDays = max(it.LockDays, 0)
	}
	switch o.Kind {
	case market.KindHistory:
		o.SoldPerWeek = t.Phases[it.Attrs.Phase].History.SoldPerWeek
	case market.KindFloat:
		for _, b := range floatCurve(t, it).Buckets {
			in.FloatSales += b.Sales
		}
	case market.KindStickers:
		in.Floor, in.StickerShare = o.Sell-in.StickersValue*p.share/100, int(p.share)
	}
}
