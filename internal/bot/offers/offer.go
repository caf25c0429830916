// Package offers owns the trading arithmetic of the bot: over a market.Snapshot (read from Redis by
// pricestore.MarketReader) it computes TARGET, HISTORY, FLOAT and STICKERS offers with the fee rules of
// SPEC §6.1 and §9.2 and filters and sorts them for one user's settings. It is pure computation over values: it neither reads
// storage nor exports metrics (a Service reports its builds to a BuildObserver).
package offers

import (
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Offer is one chance to buy a title's cheapest listing of one status (or, for the kinds priced from an
// item, one kept listing) and resell it. Money is integer US cents.
type Offer struct {
	// Title is the item's sanitised title.
	Title string
	// GameID is the DMarket game id.
	GameID string
	// Image is the item's image URL, possibly empty.
	Image string
	// Kind is how the item would be resold.
	Kind market.OfferKind
	// Status is the listing's status.
	Status market.ListingStatus
	// LockDays is the lowest lock in whole days (locked listings only); LockSeconds when known is finer.
	LockDays int
	// Buy is the listing price in cents.
	Buy int64
	// Sell is the resale price in cents.
	Sell int64
	// Fee is the fee on the resale in cents.
	Fee int64
	// Net is Sell minus Fee in cents.
	Net int64
	// ProfitBasisPoints is the profit percent times 100, rounded half away from zero (1234 = +12.34 %).
	ProfitBasisPoints int64
	// OrderCount is the number of buy orders at Sell (TARGET offers).
	OrderCount int
	// SoldPerWeek is the units sold in the last week (HISTORY offers).
	SoldPerWeek int
	// UpdatedAt is when the listing price was last written.
	UpdatedAt time.Time
	// Item is what the offer shows of the item it buys (per-phase HISTORY, FLOAT, STICKERS) or, for
	// TARGET, of the kept listing at exactly its buy price (lowest id); nil when there is none, so that
	// offers without attributes stay small.
	Item *ItemInfo
}

// ItemInfo is the item an offer buys or shows, with its attributes and what its kind was priced from.
type ItemInfo struct {
	// ID is DMarket's asset id of the listing.
	ID string
	// Phase is the item's Doppler phase, market.PhaseNone when it has none.
	Phase market.Phase
	// Float is the item's wear float; meaningful only when HasFloat.
	Float float64
	// HasFloat says the item has a wear float.
	HasFloat bool
	// Wear is the short name of the title's exterior ("FT") when the item has a float and the title
	// names an exterior, else empty.
	Wear string
	// TopPercent is where the float lies in the exterior's band (market.Wear.TopPercent), 0 without Wear.
	TopPercent int
	// PaintSeed is the item's paint seed; meaningful only when HasSeed.
	PaintSeed int
	// HasSeed says the item has a paint seed.
	HasSeed bool
	// StickersValue is the value of the item's stickers in cents, 0 when unknown or none.
	StickersValue int64
	// Floor is the floor price a STICKERS offer adds the stickers' share to.
	Floor int64
	// StickerShare is the percentage of StickersValue a STICKERS offer adds to Floor.
	StickerShare int
	// FloatSales is the number of sales of the float curve a FLOAT offer was valued with.
	FloatSales int
}

// ItemID returns the id of the item o buys or shows, "" when none.
func (o *Offer) ItemID() string {
	if o.Item == nil {
		return ""
	}
	return o.Item.ID
}

// Phase returns the phase of the item o buys or shows, market.PhaseNone when none.
func (o *Offer) Phase() market.Phase {
	if o.Item == nil {
		return market.PhaseNone
	}
	return o.Item.Phase
}

// Settings are one user's filters.
type Settings struct {
	// MinPriceCents hides offers whose buy price is below it.
	MinPriceCents int64
	// LimitBasisPoints hides offers whose profit percent times 100 is below it.
	LimitBasisPoints int64
	// Games restricts offers to these game ids; empty means every game.
	Games []string
	// Muted hides the offers of these titles.
	Muted []string
	// HideFloat hides FLOAT offers.
	HideFloat bool
	// HideStickers hides STICKERS offers.
	HideStickers bool
}

// hiddenKinds returns the kinds s hides as a bit mask over the packed kinds.
func (s *Settings) hiddenKinds() int64 {
	var m int64
	if s.HideFloat {
		m |= 1 << kindFloat
	}
	if s.HideStickers {
		m |= 1 << kindStickers
	}
	return m
}
