package market

import "time"

// Sell-probability levels of SPEC §6.1: a title's resale prices (ResaleHistory) are the highest prices
// at which at least this percentage of last week's units sold.
const (
	// ResaleLevelLow is the level of the resale price of cheaper buys.
	ResaleLevelLow = 50
	// ResaleLevelHigh is the level of the resale price of dearer buys.
	ResaleLevelHigh = 20
)

// Snapshot is the state of the whole market at one read, as offers are computed from it: every title
// with a live listing level and every game's fees. Storage adapters produce it; it is shared read-only
// once built.
type Snapshot struct {
	// Titles holds one entry per title with listings.
	Titles []TitleState
	// Fees maps a game id to its fees; a game without an entry uses FallbackFee.
	Fees map[string]FeeSchedule
	// FallbackFee is the configured rate used (with a 1-cent minimum) when a game has no fees.
	FallbackFee Fraction
	// Malformed counts the titles and fee keys skipped because their stored data could not be read, by
	// kind of key at fault.
	Malformed map[string]int
	// StickerHistory holds, by market title (see StickerTitle), the sell history of the stickers that
	// kept items of Titles carry but that have no title in Titles (no live listing level), so that such a
	// sticker is valued from its sales; nil when there is none. A `history:` key is per title, not per
	// game, so these entries have no game.
	StickerHistory map[string]*ResaleHistory
}

// TitleState is the market state of one title: its cheapest listing level of each status, its best buy
// order and the summary of its sell history.
type TitleState struct {
	// Title is the sanitised title.
	Title string
	// GameID is the DMarket game id.
	GameID string
	// Image is the item's image URL, possibly empty.
	Image string
	// Available is the cheapest unexpired tradable level, nil when there is none.
	Available *PriceLevel
	// Locked is the cheapest unexpired trade-locked level, nil when there is none.
	Locked *PriceLevel
	// Order is the best buy order, nil when there is none.
	Order *OrderLevel
	// History is the resale summary of the sell history, nil when the title has no sales.
	History *ResaleHistory
	// Items are the title's cheapest live listings with attributes (ItemsPerStatus per status, and per
	// phase on phased titles), sorted by status (available first), then price, then item id. An item
	// counts only while its (status, price) level is live: readers leave out the others.
	Items []ItemListing
	// Float is the title's float curve, nil when it has none (too few float sales, or a phased title).
	Float *FloatCurve
	// Phases holds a phased title's resale summary and float curve of each phase with sales; nil
	// elsewhere.
	Phases map[Phase]*PhaseState
}

// Listed reports whether the title has a live listing level of either status; a nil state has none.
// Markets hold only listed titles.
func (t *TitleState) Listed() bool {
	return t != nil && (t.Available != nil || t.Locked != nil)
}

// PhaseState is the resale state of one phase of a phased title.
type PhaseState struct {
	// History is the resale summary of the phase's own sales.
	History *ResaleHistory
	// Float is the phase's float curve, nil when it has none.
	Float *FloatCurve
}

// PriceLevel is the cheapest price of one listing status with the listings at it.
type PriceLevel struct {
	// Price is the listing price.
	Price Cents
	// Count is how many listings share that price.
	Count int
	// LockDays is the lowest trade lock in days (locked listings), possibly fractional.
	LockDays float64
	// UpdatedAt is when the price was last written.
	UpdatedAt time.Time
	// ExpiresAt is when the level stops counting unless seen again; the zero time means never.
	ExpiresAt time.Time
}

// ExpiredAt reports whether the level no longer counts at now: a snapshot read earlier may hold a level
// that has expired since (its listings were sold or withdrawn and not seen again).
func (l *PriceLevel) ExpiredAt(now time.Time) bool {
	return !l.ExpiresAt.IsZero() && now.After(l.ExpiresAt)
}

// OrderLevel is the best buy order of a title.
type OrderLevel struct {
	// Price is the order price.
	Price Cents
	// Count is the number of orders at that price.
	Count int
	// UpdatedAt is when the order was last written.
	UpdatedAt time.Time
}

// ResaleHistory is the part of a sell-history analysis (History) that resale needs: the verdict, the
// weekly volume and the two resale prices of SPEC §6.1, read from the sell-probability table once.
type ResaleHistory struct {
	// Stable says whether last week's price was stable.
	Stable bool
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int
	// PriceAtLow is the highest price reaching ResaleLevelLow, 0 when none does.
	PriceAtLow Cents
	// PriceAtHigh is the highest price reaching ResaleLevelHigh, 0 when none does.
	PriceAtHigh Cents
}

// FeeSchedule is a game's selling fees in exact form, as fees are computed from them.
type FeeSchedule struct {
	// Fraction is the default fee rate.
	Fraction Fraction
	// Min is the default minimum fee.
	Min Cents
	// Reduced maps a title to its reduced fees, in the order they were given.
	Reduced map[string][]TitleFee
}

// TitleFee is a title's temporary lower fee in exact form.
type TitleFee struct {
	// Fraction is the reduced fee rate.
	Fraction Fraction
	// Min is the reduced fee's own minimum; nil means the game's.
	Min *Cents
	// MinPrice is the lowest sell price (inclusive) it applies to; nil means no lower bound.
	MinPrice *Cents
	// MaxPrice is the highest sell price (inclusive) it applies to; nil means no upper bound.
	MaxPrice *Cents
	// ExpiresAt is when it stops applying; the zero time means never.
	ExpiresAt time.Time
}

// Applies reports whether the fee covers a sale at sell at now.
func (r *TitleFee) Applies(sell Cents, now time.Time) bool {
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
