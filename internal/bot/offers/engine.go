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
	// HistoryHighBuyCents is the buy price from which HISTORY offers sell at the lower probability level.
	HistoryHighBuyCents = 10000
	// HistoryLevelLow is the sell-probability level used for buy prices below HistoryHighBuyCents.
	HistoryLevelLow = 50
	// HistoryLevelHigh is the sell-probability level used for buy prices from HistoryHighBuyCents.
	HistoryLevelHigh = 20
	// FallbackFeeMinCents is the fee minimum used with the configured fallback fee.
	FallbackFeeMinCents = 1
)

// Market is a snapshot of everything the offers of every user are computed from.
type Market struct {
	// Titles holds one entry per title with listings.
	Titles []Title
	// Fees maps a game id to its fees; a game without an entry uses FallbackFee.
	Fees map[string]GameFee
	// FallbackFee is the DMARKET_FEE_PERCENT rate used (with a 1-cent minimum) when a game has no fees.
	FallbackFee Fraction
	// Malformed counts the titles and fee keys skipped because their stored data could not be read, by
	// kind of key at fault.
	Malformed map[string]int
}

// Title is the market state of one title.
type Title struct {
	// Title is the sanitised title.
	Title string
	// GameID is the DMarket game id.
	GameID string
	// Image is the item's image URL, possibly empty.
	Image string
	// Available is the cheapest unexpired tradable listing, nil when there is none.
	Available *Listing
	// Locked is the cheapest unexpired trade-locked listing, nil when there is none.
	Locked *Listing
	// Order is the best buy order, nil when there is none.
	Order *Order
	// History is what the HISTORY offers need of the sell-history analysis, nil when the title has no
	// sales.
	History *History
}

// History is the part of a sell-history analysis (SPEC §5.3) that HISTORY offers use: the verdict, the
// weekly volume and the two resale prices of SPEC §6.1, read from the sell-probability table once instead
// of once per offer.
type History struct {
	// Stable says whether last week's price was stable.
	Stable bool
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int
	// PriceAtLow is price_at(HistoryLevelLow) in cents, 0 when no price reaches that level.
	PriceAtLow int64
	// PriceAtHigh is price_at(HistoryLevelHigh) in cents, 0 when no price reaches that level.
	PriceAtHigh int64
}

// Listing is the cheapest listing of one status.
type Listing struct {
	// Price is the listing price in cents.
	Price int64
	// Count is how many listings share that price.
	Count int
	// LockDays is the lowest trade lock in days (locked listings), possibly fractional.
	LockDays float64
	// UpdatedAt is when the price was last written.
	UpdatedAt time.Time
	// ExpiresAt is when the level stops counting (its exp) unless seen again; the zero time means never.
	ExpiresAt time.Time
}

// expiredAt reports whether the level no longer counts at now: a snapshot read earlier may hold a level
// that has expired since (its listing was sold or withdrawn and not seen again).
func (l *Listing) expiredAt(now time.Time) bool {
	return !l.ExpiresAt.IsZero() && now.After(l.ExpiresAt)
}

// Order is the best buy order of a title.
type Order struct {
	// Price is the order price in cents.
	Price int64
	// Count is the number of orders at that price.
	Count int
	// UpdatedAt is when the order was last written.
	UpdatedAt time.Time
}

// GameFee is the fee schedule of one game.
type GameFee struct {
	// Fraction is the default fee rate.
	Fraction Fraction
	// MinCents is the default minimum fee.
	MinCents int64
	// Reduced maps a title to its reduced fees, in the order they were given.
	Reduced map[string][]ReducedFee
}

// ReducedFee is a title's temporary lower fee.
type ReducedFee struct {
	// Fraction is the reduced fee rate.
	Fraction Fraction
	// MinCents is the reduced fee's own minimum; nil means the game's.
	MinCents *int64
	// MinPrice is the lowest sell price (cents, inclusive) it applies to; nil means no lower bound.
	MinPrice *int64
	// MaxPrice is the highest sell price (cents, inclusive) it applies to; nil means no upper bound.
	MaxPrice *int64
	// ExpiresAt is when it stops applying; the zero time means never.
	ExpiresAt time.Time
}

// applies says whether the reduced fee covers a sale at sell cents at now.
func (r ReducedFee) applies(sell int64, now time.Time) bool {
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return false
	}
	if r.MinPrice != nil && sell < *r.MinPrice {
		return false
	}
	if r.MaxPrice != nil && sell > *r.MaxPrice {
		return false
	}
	return true
}

// Fee returns the fee in cents on selling title of game at sell cents at now (SPEC §6.1): the first
// applicable reduced fee of the title, else the game's default fee, else the fallback rate with a 1-cent
// minimum; in each case max(⌊sell × fraction + ½⌋, minimum).
func (m *Market) Fee(game, title string, sell int64, now time.Time) int64 {
	return m.schedule(game, title).fee(sell, now)
}

// gameFees finds the fee schedules of titles in turn, looking a game's fees up again only when the game
// changes from one title to the next.
type gameFees struct {
	m      *Market
	game   string
	fee    GameFee
	ok     bool
	looked bool
}

// schedule returns the fee schedule of t.
func (g *gameFees) schedule(t *Title) feeSchedule {
	if !g.looked || t.GameID != g.game {
		g.fee, g.ok = g.m.Fees[t.GameID]
		g.game, g.looked = t.GameID, true
	}
	return g.m.scheduleOf(g.fee, g.ok, t.Title)
}

// feeSchedule is the fee rules that apply to one title, looked up once per title.
type feeSchedule struct {
	game     GameFee
	reduced  []ReducedFee
	fallback Fraction
	hasGame  bool
}

func (m *Market) schedule(game, title string) feeSchedule {
	gf, ok := m.Fees[game]
	return m.scheduleOf(gf, ok, title)
}

// scheduleOf is schedule for a game fee already looked up (ok false: the game has none).
func (m *Market) scheduleOf(gf GameFee, ok bool, title string) feeSchedule {
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
	if !fs.hasGame {
		return max(fs.fallback.Fee(sell), FallbackFeeMinCents), time.Time{}
	}
	for _, r := range fs.reduced {
		if r.applies(sell, now) {
			minimum := fs.game.MinCents
			if r.MinCents != nil {
				minimum = *r.MinCents
			}
			return max(r.Fraction.Fee(sell), minimum), r.ExpiresAt
		}
	}
	return max(fs.game.Fraction.Fee(sell), fs.game.MinCents), time.Time{}
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

// Compute returns the offers of the market that pass the settings (muted titles left out), sorted by
// profit descending, then title, then TARGET before HISTORY, then available before locked. A listing
// level that has expired by now is left out. It does not modify m, so one Market
// can serve many users concurrently; it is fastest when m.Titles is sorted by title, as
// pricestore.MarketReader returns it.
func Compute(m Market, s Settings, now time.Time) []Offer {
	var games map[string]bool
	if len(s.Games) > 0 {
		games = make(map[string]bool, len(s.Games))
		for _, g := range s.Games {
			games[g] = true
		}
	}
	var muted map[string]bool
	if len(s.Muted) > 0 {
		muted = make(map[string]bool, len(s.Muted))
		for _, t := range s.Muted {
			muted[t] = true
		}
	}
	rank, sorted := titleRanks(m.Titles)
	// Candidates are kept small and sorted by integer keys; full offers are built once, in order. They
	// are produced in (title rank, kind, status) order, so with sorted titles a candidate's index is its
	// tie-break and the sort needs only plain integers.
	type candidate struct {
		bp    int64
		order int64 // title rank, then kind, then status
		sell  int64
		fee   int64
		title int32
	}
	cands := make([]candidate, 0, len(m.Titles))
	// Titles of one game often follow each other: remember the last game's fees.
	fees := gameFees{m: &m}
	for i := range m.Titles {
		t := &m.Titles[i]
		if (games != nil && !games[t.GameID]) || (muted != nil && muted[t.Title]) {
			continue
		}
		var sched feeSchedule
		scheduled := false
		for kind := range int64(2) {
			for st, l := range [2]*Listing{t.Available, t.Locked} {
				if l == nil || l.Price <= 0 || l.Price < s.MinPriceCents || l.expiredAt(now) {
					continue
				}
				sell, ok := sellPrice(t, kind, l.Price)
				if !ok {
					continue
				}
				if !scheduled {
					sched, scheduled = fees.schedule(t), true
				}
				fee := sched.fee(sell, now)
				bp := ProfitBasisPoints(sell-fee, l.Price)
				if bp >= s.LimitBasisPoints {
					cands = append(cands, candidate{bp: bp, order: rank(i)<<2 | kind<<1 | int64(st), sell: sell, fee: fee,
						title: int32(i)})
				}
			}
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
		l := t.Available
		if c.order&1 == 1 {
			l = t.Locked
		}
		out[k] = makeOffer(t, c.order&2 != 0, c.order&1 == 1, l.Price, c.sell, c.fee, c.bp)
	}
	return out
}

// makeOffer builds the offer of title t of one kind (history: HISTORY, else TARGET) and status (locked:
// its locked listing, else its available one) from its amounts.
func makeOffer(t *Title, history, locked bool, buy, sell, fee, bp int64) Offer {
	status, l := market.StatusAvailable, t.Available
	if locked {
		status, l = market.StatusLocked, t.Locked
	}
	o := Offer{
		Title:             t.Title,
		GameID:            t.GameID,
		Image:             t.Image,
		Kind:              market.KindTarget,
		Status:            status,
		Buy:               buy,
		Sell:              sell,
		Fee:               fee,
		Net:               sell - fee,
		ProfitBasisPoints: bp,
		UpdatedAt:         l.UpdatedAt,
	}
	if locked {
		o.LockDays = int(max(l.LockDays, 0))
	}
	if history {
		o.Kind = market.KindHistory
		o.SoldPerWeek = t.History.SoldPerWeek
	} else {
		o.OrderCount = t.Order.Count
	}
	return o
}

// titleRanks returns each title's rank in title order (equal titles share a rank), and whether the
// titles are strictly ascending, as pricestore.MarketReader returns them, in which case the rank is the
// index.
func titleRanks(titles []Title) (func(i int) int64, bool) {
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
func historySell(h *History, buy int64) (int64, bool) {
	if h == nil || !h.Stable || h.SoldPerWeek < HistoryMinSoldPerWeek {
		return 0, false
	}
	sell := h.PriceAtLow
	if buy >= HistoryHighBuyCents {
		sell = h.PriceAtHigh
	}
	return sell, sell > 0
}

// sellPrice returns the sell price of an offer of kind (0 TARGET, 1 HISTORY) for a listing bought at buy,
// and false when title t has no such offer (no buy order; history not good enough).
func sellPrice(t *Title, kind, buy int64) (int64, bool) {
	if kind == 0 {
		if t.Order == nil || t.Order.Price <= 0 {
			return 0, false
		}
		return t.Order.Price, true
	}
	return historySell(t.History, buy)
}
