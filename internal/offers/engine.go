package offers

import (
	"slices"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/sellhistory"
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
	// Malformed counts the titles and fee keys skipped because their stored data could not be read.
	Malformed int
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
	// History is the sell-history analysis, nil when the title has no sales.
	History *sellhistory.Result
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
	gf, ok := m.Fees[game]
	if !ok {
		return max(m.FallbackFee.Fee(sell), FallbackFeeMinCents)
	}
	for _, r := range gf.Reduced[title] {
		if r.applies(sell, now) {
			minimum := gf.MinCents
			if r.MinCents != nil {
				minimum = *r.MinCents
			}
			return max(r.Fraction.Fee(sell), minimum)
		}
	}
	return max(gf.Fraction.Fee(sell), gf.MinCents)
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

// Compute returns the offers of the market that pass the settings, sorted by profit descending, then
// title, then TARGET before HISTORY, then available before locked. It does not modify m.
func Compute(m Market, s Settings, now time.Time) []Offer {
	var games map[string]bool
	if len(s.Games) > 0 {
		games = make(map[string]bool, len(s.Games))
		for _, g := range s.Games {
			games[g] = true
		}
	}
	var out []Offer
	for i := range m.Titles {
		t := &m.Titles[i]
		if games != nil && !games[t.GameID] {
			continue
		}
		for _, l := range [...]struct {
			status  Status
			listing *Listing
		}{{StatusAvailable, t.Available}, {StatusLocked, t.Locked}} {
			if l.listing == nil || l.listing.Price <= 0 || l.listing.Price < s.MinPriceCents {
				continue
			}
			if t.Order != nil && t.Order.Price > 0 {
				o := m.offer(t, l.status, l.listing, KindTarget, t.Order.Price, now)
				o.OrderCount = t.Order.Count
				if o.ProfitBasisPoints >= s.LimitBasisPoints {
					out = append(out, o)
				}
			}
			if sell, ok := historySell(t.History, l.listing.Price); ok {
				o := m.offer(t, l.status, l.listing, KindHistory, sell, now)
				o.SoldPerWeek = t.History.SoldPerWeek
				if o.ProfitBasisPoints >= s.LimitBasisPoints {
					out = append(out, o)
				}
			}
		}
	}
	Sort(out)
	return out
}

// historySell returns the HISTORY sell price for a buy price, and false when the history does not allow
// a HISTORY offer.
func historySell(h *sellhistory.Result, buy int64) (int64, bool) {
	if h == nil || !h.Stable || h.SoldPerWeek < HistoryMinSoldPerWeek {
		return 0, false
	}
	level := HistoryLevelLow
	if buy >= HistoryHighBuyCents {
		level = HistoryLevelHigh
	}
	sell, ok := sellhistory.PriceAt(h.Probability, level)
	if !ok || sell <= 0 {
		return 0, false
	}
	return sell, true
}

func (m *Market) offer(t *Title, status Status, l *Listing, kind Kind, sell int64, now time.Time) Offer {
	fee := m.Fee(t.GameID, t.Title, sell, now)
	net := sell - fee
	o := Offer{
		Title:             t.Title,
		GameID:            t.GameID,
		Image:             t.Image,
		Kind:              kind,
		Status:            status,
		Buy:               l.Price,
		Sell:              sell,
		Fee:               fee,
		Net:               net,
		ProfitBasisPoints: ProfitBasisPoints(net, l.Price),
		UpdatedAt:         l.UpdatedAt,
	}
	if status == StatusLocked {
		o.LockDays = int(max(l.LockDays, 0))
	}
	return o
}

// Sort orders offers by profit descending, then title, then TARGET before HISTORY, then available before
// locked.
func Sort(offers []Offer) {
	slices.SortFunc(offers, func(a, b Offer) int {
		switch {
		case a.ProfitBasisPoints != b.ProfitBasisPoints:
			if a.ProfitBasisPoints > b.ProfitBasisPoints {
				return -1
			}
			return 1
		case a.Title != b.Title:
			return strings.Compare(a.Title, b.Title)
		case a.Kind != b.Kind:
			return kindRank(a.Kind) - kindRank(b.Kind)
		default:
			return statusRank(a.Status) - statusRank(b.Status)
		}
	})
}

func kindRank(k Kind) int {
	if k == KindTarget {
		return 0
	}
	return 1
}

func statusRank(s Status) int {
	if s == StatusAvailable {
		return 0
	}
	return 1
}
