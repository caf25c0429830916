// Package market holds the domain model of the DMarket monitor, independent of any wire or storage
// format: money in integer cents (Cents, with its one family of parsers and its one formatter), the
// catalogue of known games, and the values every adapter converts to and from — a listing, a buy order, a
// sale, a game's fees, the sell history of a title — with the enums of an offer's kind and a listing's
// status. Snapshot is the read model of the whole market that offers are computed from (each title's
// cheapest price levels, best buy order and resale history, and every game's fee schedule, with exact
// fee rates as Fraction).
//
// The DMarket client, the worker's validation, the Redis store and the bot translate between their
// formats and these types, and read and write money with Cents' parsers and formatter.
package market

import "time"

// ListingStatus says whether a listing can be traded now.
type ListingStatus string

// The listing statuses.
const (
	// StatusAvailable is a listing tradable now.
	StatusAvailable ListingStatus = "available"
	// StatusLocked is a listing under a Steam trade lock.
	StatusLocked ListingStatus = "locked"
)

// OfferKind is how an item bought on the market would be resold (SPEC §6.1).
type OfferKind string

// The offer kinds.
const (
	// KindTarget sells into the title's best buy order.
	KindTarget OfferKind = "TARGET"
	// KindHistory sells at a price the title's sell history says is reachable.
	KindHistory OfferKind = "HISTORY"
	// KindFloat sells at the value same-title sales give the listing's float (SPEC §9.2).
	KindFloat OfferKind = "FLOAT"
	// KindStickers sells at the title's floor plus a share of the applied stickers' value (SPEC §9.2).
	KindStickers OfferKind = "STICKERS"
)

// Listing is one item offered for sale on the market.
type Listing struct {
	// ItemID is DMarket's asset id.
	ItemID string
	// Title is the item's sanitised title (its market hash name).
	Title string
	// GameID is the game's id (see Games).
	GameID string
	// Image is the item's image URL, possibly empty.
	Image string
	// Price is what a buyer pays.
	Price Cents
	// Suggested is DMarket's reference price, 0 when absent.
	Suggested Cents
	// Locked is true while the item cannot be traded (a Steam trade lock).
	Locked bool
	// LockDays is the trade lock left in whole days (0 when none or less than a day).
	LockDays int
	// Attrs are the item's attributes (float, paint seed, phase, stickers), zero when it has none.
	Attrs Attributes
}

// BuyOrder is the best buy order (a "target") of one title.
type BuyOrder struct {
	// Title is the item's sanitised title.
	Title string
	// Price is the best order's price; 0 when the title has no buy order.
	Price Cents
	// Count is the number of buy orders; 0 when the title has none.
	Count int
}

// Exists reports whether the title has a buy order.
func (o BuyOrder) Exists() bool { return o.Price > 0 }

// Sale is one sold unit of a title.
type Sale struct {
	// Price is the sale price.
	Price Cents
	// At is when the sale happened.
	At time.Time
	// Attrs are the sold item's attributes (offerAttributes), zero when the answer gave none.
	Attrs Attributes
}

// Fees are a game's selling fees: a share of the sale price with a minimum, lowered for some titles.
type Fees struct {
	// Fraction is the default share of the price, the exact decimal DMarket sent ("0.05").
	Fraction string
	// Min is the default minimum fee.
	Min Cents
	// Reduced are the titles with a lower fee, in the order given.
	Reduced []ReducedFee
}

// ReducedFee is a title's temporary lower fee, for sale prices within [MinPrice, MaxPrice].
type ReducedFee struct {
	// Title is the item's sanitised title.
	Title string
	// Fraction is the share of the price, the exact decimal DMarket sent.
	Fraction string
	// MinPrice is the lowest price the fee applies to; nil means no lower bound.
	MinPrice *Cents
	// MaxPrice is the highest price the fee applies to; nil means no upper bound.
	MaxPrice *Cents
	// ExpiresAt is when the fee ends; the zero time means not given.
	ExpiresAt time.Time
}

// History is what the sell-history analysis of a title's recent sales produces (SPEC §5.3; package
// sellhistory computes it).
type History struct {
	// Stable says whether last week's price was stable enough to resell at.
	Stable bool
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int
	// Probability maps a price to the percentage of last week's units sold at that price or higher.
	Probability map[Cents]int
	// Points are last week's hourly sale points, oldest first (for charts).
	Points []HourPoint
	// Oldest is the time of the oldest sale analysed, of any age; the zero time when there were none.
	// The sales cover the time after max(Oldest, analysis time − 7 days).
	Oldest time.Time
	// Float is the float curve of the sales (FitFloatCurve), nil when too few carry a float. On a phased
	// title it is nil: each phase has its own.
	Float *FloatCurve
	// Phases holds, on a phased title (PhasedTitle), the analysis of each phase's own sales (sales without
	// a phase are in no phase); nil elsewhere. A phase's entry has no Phases and no Points.
	Phases map[Phase]*History
}

// HourPoint is one hour of a title's sales.
type HourPoint struct {
	// Hour is the start of the UTC hour.
	Hour time.Time
	// Mean is the mean sale price of the hour, rounded to the cent.
	Mean Cents
	// Units is the number of units sold in the hour.
	Units int
}
