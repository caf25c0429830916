package offers

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Resale parameters of SPEC §6.1.
const (
	// HistoryMinSoldPerWeek is the weekly volume a HISTORY offer needs.
	HistoryMinSoldPerWeek = 5
	// HistoryHighBuyCents is the buy price from which HISTORY offers sell at market.ResaleLevelHigh (the
	// lower sell probability) instead of market.ResaleLevelLow.
	HistoryHighBuyCents = 10000
	// FallbackFeeMinCents is the fee minimum used with the configured fallback fee.
	FallbackFeeMinCents = 1
)

// gameFees finds the fee schedules of titles in turn, looking a game's fees up again only when the game
// changes from one title to the next.
type gameFees struct {
	m      *market.Snapshot
	game   string
	fee    market.FeeSchedule
	ok     bool
	looked bool
}

// schedule returns the fee schedule of t.
func (g *gameFees) schedule(t *market.TitleState) feeSchedule {
	if !g.looked || t.GameID != g.game {
		g.fee, g.ok = g.m.Fees[t.GameID]
		g.game, g.looked = t.GameID, true
	}
	return scheduleOf(g.m, g.fee, g.ok, t.Title)
}

// feeSchedule is the fee rules that apply to one title, looked up once per title.
type feeSchedule struct {
	game     market.FeeSchedule
	reduced  []market.TitleFee
	fallback market.Fraction
	hasGame  bool
}

// schedule returns the fee rules of title of game in m.
func schedule(m *market.Snapshot, game, title string) feeSchedule {
	gf, ok := m.Fees[game]
	return scheduleOf(m, gf, ok, title)
}

// scheduleOf is schedule for a game fee already looked up (ok false: the game has none).
func scheduleOf(m *market.Snapshot, gf market.FeeSchedule, ok bool, title string) feeSchedule {
	if !ok {
		return feeSchedule{fallback: m.FallbackFee}
	}
	fs := feeSchedule{game: gf, hasGame: true}
	if len(gf.Reduced) > 0 {
		fs.reduced = gf.Reduced[title]
	}
	return fs
}

// feeUntil is fee, plus the end of the reduced fee it used (the zero time when it used none, or one that
// never ends): until then the fee of this sale stays the same.
func (fs feeSchedule) feeUntil(sell int64, now time.Time) (int64, time.Time) {
	c := market.Cents(sell)
	if !fs.hasGame {
		return int64(max(fs.fallback.Fee(c), FallbackFeeMinCents)), time.Time{}
	}
	for i := range fs.reduced {
		if r := &fs.reduced[i]; r.Applies(c, now) {
			minimum := fs.game.Min
			if r.Min != nil {
				minimum = *r.Min
			}
			return int64(max(r.Fraction.Fee(c), minimum)), r.ExpiresAt
		}
	}
	return int64(max(fs.game.Fraction.Fee(c), fs.game.Min)), time.Time{}
}

func (fs feeSchedule) fee(sell int64, now time.Time) int64 {
	fee, _ := fs.feeUntil(sell, now)
	return fee
}

// ProfitBasisPoints returns (net − buy) / buy × 100 rounded half away from zero to 2 decimals, times 100;
// buy must be positive.
func ProfitBasisPoints(net, buy int64) int64 {
	num := (net - buy) * 10000
	q, r := num/buy, num%buy
	if r < 0 {
		r = -r
	}
	if 2*r >= buy {
		if num < 0 {
			q--
		} else {
			q++
		}
	}
	return q
}

// Compute returns the offers of the market that pass the settings (muted titles left out, hidden kinds
// left out), sorted by profit descending, then title, then kind (TARGET, HISTORY, FLOAT, STICKERS), then
// available before locked, then phase (none first, then market.Phase Index order). An offer priced from
// a listing level or kept item that has expired by now is left out. It does not modify m, so one
// market.Snapshot can serve many users concurrently; it is fastest when m.Titles is sorted by title, as
// pricestore.MarketReader returns it.
func Compute(m market.Snapshot, s Settings, now time.Time, opts ...Option) []Offer {
	p := newPricing(opts)
	return compute(&m, s, now, &p)
}

// compute is Compute with its pricing; a nil p.lookup looks sticker titles up in m (and their history in
// m.StickerHistory).
func compute(m *market.Snapshot, s Settings, now time.Time, p *pricing) []Offer {
	games, muted := settingsSets(s)
	rank, sorted := titleRanks(m.Titles)
	if p.lookup == nil {
		f := &titleFinder{titles: m.Titles, sorted: sorted, names: &titleNames{}}
		p.lookup = f.find
		p.history = func(name string) *market.ResaleHistory { return m.StickerHistory[name] }
	}
	hidden := s.hiddenKinds()
	nowNS := unixNanos(now)
	// Candidates are kept small and sorted by integer keys; full offers are built once, in order. They
	// are produced in (title rank, kind, status, phase) order, so with sorted titles a candidate's index is
	// its tie-break and the sort needs only plain integers.
	type candidate struct {
		bp    int64
		order int64 // title rank, then kind, status and phase
		sell  int64
		fee   int64
		title int32
		item  int32
	}
	cands := make([]candidate, 0, len(m.Titles))
	// Titles of one game often follow each other: remember the last game's fees.
	fees := gameFees{m: m}
	var buf []entry
	for i := range m.Titles {
		t := &m.Titles[i]
		if (games != nil && !games[t.GameID]) || (muted != nil && muted[t.Title]) {
			continue
		}
		sched := lazySchedule{fees: &fees, t: t}
		for kind := range int64(2) {
			if kind == kindHistory && t.History != nil && isPhased(t) {
				continue // a phased title's history is its phases'
			}
			for st, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
				if l == nil || l.Price <= 0 || int64(l.Price) < s.MinPriceCents || l.ExpiredAt(now) {
					continue
				}
				buy := int64(l.Price)
				sell, ok := sellPrice(t, kind, buy)
				if !ok {
					continue
				}
				fee := sched.get().fee(sell, now)
				bp := ProfitBasisPoints(sell-fee, buy)
				if bp >= s.LimitBasisPoints {
					item := levelItem(t, st, l.Price)
					cands = append(cands, candidate{bp: bp, order: rank(i)<<orderRankShift | orderLow(kind, st, 0), sell: sell,
						fee: fee, title: int32(i), item: item}) //nolint:gosec // a market holds far fewer than 2^31 titles
				}
			}
		}
		if len(t.Items) == 0 {
			continue
		}
		buf = attrEntries(buf[:0], attrSource{t: t, sched: &sched, p: p, now: now}, int32(i), rank(i)<<orderRankShift) //nolint:gosec // as above
		for k := range buf {
			e := &buf[k]
			if e.buy < s.MinPriceCents || e.bp < s.LimitBasisPoints || hidden&(1<<orderKind(e.order)) != 0 ||
				(e.expires != 0 && nowNS > e.expires) {
				continue
			}
			cands = append(cands, candidate{bp: e.bp, order: e.order, sell: e.sell, fee: e.fee, title: e.title, item: e.item})
		}
	}
	if len(cands) == 0 {
		return nil
	}
	perm := sortCandidates(len(cands), sorted, func(k int) int64 { return cands[k].bp }, func(a, b int) int {
		return cmp.Compare(cands[a].order, cands[b].order)
	})
	out := make([]Offer, len(cands))
	for k, ci := range perm {
		c := &cands[ci]
		t := &m.Titles[c.title]
		out[k] = makeOffer(t, c.order, c.item, buyOf(t, c.order, c.item), c.sell, c.fee, c.bp, p)
	}
	return out
}

// settingsSets returns the games and muted titles of s as sets, nil when s names none.
func settingsSets(s Settings) (games, muted map[string]bool) {
	if len(s.Games) > 0 {
		games = make(map[string]bool, len(s.Games))
		for _, g := range s.Games {
			games[g] = true
		}
	}
	if len(s.Muted) > 0 {
		muted = make(map[string]bool, len(s.Muted))
		for _, t := range s.Muted {
			muted[t] = true
		}
	}
	return games, muted
}

// buyOf returns the buy price of the offer of t with order key order and item item: the item's price
// when it has one, else its status's level price.
func buyOf(t *market.TitleState, order int64, item int32) int64 {
	if item >= 0 {
		return int64(t.Items[item].Price)
	}
	if orderStatus(order) == 1 {
		return int64(t.Locked.Price)
	}
	return int64(t.Available.Price)
}

// makeOffer builds the offer of title t with order key order (kind, status, phase) and item position
// item (-1: none) from its amounts; p values stickers (STICKERS offers).
func makeOffer(t *market.TitleState, order int64, item int32, buy, sell, fee, bp int64, p *pricing) Offer {
	kind := orderKind(order)
	locked := orderStatus(order) == 1
	status, l := market.StatusAvailable, t.Available
	if locked {
		status, l = market.StatusLocked, t.Locked
	}
	o := Offer{
		Title:             t.Title,
		GameID:            t.GameID,
		Image:             t.Image,
		Kind:              offerKinds[kind],
		Status:            status,
		Buy:               buy,
		Sell:              sell,
		Fee:               fee,
		Net:               sell - fee,
		ProfitBasisPoints: bp,
	}
	if l != nil {
		o.UpdatedAt = l.UpdatedAt
		if locked {
			o.LockDays = int(max(l.LockDays, 0))
		}
	}
	switch kind {
	case kindTarget:
		o.OrderCount = t.Order.Count
	case kindHistory:
		if item < 0 || !isPhased(t) { // a phased title's HISTORY is its item's phase's (describeItem)
			o.SoldPerWeek = t.History.SoldPerWeek
		}
	}
	if item >= 0 {
		describeItem(&o, t, &t.Items[item], p)
	}
	return o
}

// titleRanks returns each title's rank in title order (equal titles share a rank), and whether the
// titles are strictly ascending, as pricestore.MarketReader returns them, in which case the rank is the
// index.
func titleRanks(titles []market.TitleState) (func(i int) int64, bool) {
	strict := true
	for i := 1; i < len(titles) && strict; i++ {
		strict = titles[i-1].Title < titles[i].Title
	}
	if strict {
		return func(i int) int64 { return int64(i) }, true
	}
	idx := make([]int, len(titles))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(titles[a].Title, titles[b].Title) })
	ranks := make([]int64, len(titles))
	for k, i := range idx {
		if k > 0 && titles[i].Title == titles[idx[k-1]].Title {
			ranks[i] = ranks[idx[k-1]]
		} else {
			ranks[i] = int64(k)
		}
	}
	return func(i int) int64 { return ranks[i] }, false
}

// sortCandidates returns the order of n candidates by profit (bp) descending, then by tie. When inOrder
// says candidates were produced in tie order, the sort runs on packed integer keys (profit in the high
// half, index in the low half), which is several times faster than a comparison function.
func sortCandidates(n int, inOrder bool, bp func(k int) int64, tie func(a, b int) int) []int {
	perm := make([]int, n)
	packable := inOrder && n <= math.MaxUint32
	for k := 0; k < n && packable; k++ {
		packable = bp(k) >= math.MinInt32 && bp(k) <= math.MaxInt32
	}
	if packable {
		keys := make([]uint64, n)
		for k := range keys {
			keys[k] = uint64(math.MaxInt32-bp(k))<<32 | uint64(k) //nolint:gosec // bp is within int32 and k within uint32 (checked above)
		}
		slices.Sort(keys)
		for k, key := range keys {
			perm[k] = int(uint32(key)) //nolint:gosec // the low half holds the index k
		}
		return perm
	}
	for k := range perm {
		perm[k] = k
	}
	slices.SortFunc(perm, func(a, b int) int {
		if c := cmp.Compare(bp(b), bp(a)); c != 0 {
			return c
		}
		return tie(a, b)
	})
	return perm
}

// historySell returns the HISTORY sell price for a buy price, and false when the history does not allow
// a HISTORY offer.
func historySell(h *market.ResaleHistory, buy int64) (int64, bool) {
	if h == nil || !h.Stable || h.SoldPerWeek < HistoryMinSoldPerWeek {
		return 0, false
	}
	sell := h.PriceAtLow
	if buy >= HistoryHighBuyCents {
		sell = h.PriceAtHigh
	}
	return int64(sell), sell > 0
}

// sellPrice returns the sell price of an offer of kind (0 TARGET, 1 HISTORY) for a listing bought at buy,
// and false when title t has no such offer (no buy order; history not good enough).
func sellPrice(t *market.TitleState, kind, buy int64) (int64, bool) {
	if kind == 0 {
		if t.Order == nil || t.Order.Price <= 0 {
			return 0, false
		}
		return int64(t.Order.Price), true
	}
	return historySell(t.History, buy)
}
