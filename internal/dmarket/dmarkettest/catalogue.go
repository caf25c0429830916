package dmarkettest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Catalogue is the simulator's ground truth: every title, listing, buy order, sale and fee it serves.
// It is generated from Config.Seed and stays as generated unless the market is moved (Handler.AddListing,
// Sell, SetOrder, or a Mover): then titles, their listings, buy orders and sales change under its lock, and
// a caller reads them within View. Callers must not modify it.
type Catalogue struct {
	// Now is the reference time: sales lie in the SalesDays before it, reduced fees expire after it.
	Now time.Time
	// Games are the game ids, in Config order.
	Games []string
	// Titles holds each game's titles sorted by name.
	Titles map[string][]*Title
	// Fees holds each game's customized fees.
	Fees map[string]*Fees

	// mu guards the fields that change when the market moves: Titles, every Title's Listings, BuyOrder
	// and Sales, and the indexes below. A Listing never changes once created.
	mu      sync.RWMutex
	byName  map[string]map[string]*Title
	byPrice map[string][]*Listing
	// byCreated holds each game's listings by creation time ascending, ties by item id ascending.
	byCreated map[string][]*Listing
	// byItem finds a game's listing by item id.
	byItem map[string]map[string]*Listing
	// byLower holds each game's titles sorted by lower-case name, for the title prefix filter.
	byLower map[string][]lowerTitle
	// sold records every listing sold, in order, and soldTimes when each was sold.
	sold      []SoldListing
	soldTimes map[itemKey]time.Time
	// rng draws the ids and attributes of listings added at run time.
	rng *rand.Rand
	// designed are the designed cases of the attribute titles (attrcat.go).
	designed []Designed
}

// lowerTitle is a title with its lower-case name.
type lowerTitle struct {
	lower string
	t     *Title
}

// Title is one market hash name of one game.
type Title struct {
	// GameID is the game.
	GameID string
	// Name is the market hash name.
	Name string
	// SuggestedCents is DMarket's suggested price.
	SuggestedCents int64
	// Listings are the title's listings sorted by price ascending (ties by OfferID).
	Listings []*Listing
	// BuyOrder is the best buy order, nil when the title has none.
	BuyOrder *BuyOrder
	// Sales are the title's sales, newest first.
	Sales []Sale
	// Stable is true for titles generated with frequent, tightly clustered sales.
	Stable bool
}

// Listing is one offer on the market.
type Listing struct {
	// GameID and Title identify what is listed.
	GameID, Title string
	// ItemID is the asset id and OfferID the offer id (both UUIDs).
	ItemID, OfferID string
	// PriceCents is the price the buyer pays.
	PriceCents int64
	// SuggestedCents is the title's suggested price.
	SuggestedCents int64
	// LockSeconds is the remaining trade lock; 0 means tradable.
	LockSeconds int64
	// CreatedAt is when it was listed.
	CreatedAt time.Time
	// FloatValue and PaintSeed are the drawn cosmetic values an ordinary listing's attributes derive from.
	FloatValue float64
	PaintSeed  int
	// Attrs are the attributes the listing is served with (extra); the zero value serves none.
	Attrs Attrs
}

// Image is the image URL the listing is served with.
func (l *Listing) Image() string {
	return "https://steamcommunity-a.akamaihd.net/economy/image/sim-" + l.ItemID[:8]
}

// Tradable reports whether the listing has no trade lock.
func (l *Listing) Tradable() bool { return l.LockSeconds == 0 }

// LockDays is the lock in whole days, floor(LockSeconds / 86400), as extra.tradeLock.
func (l *Listing) LockDays() int { return int(l.LockSeconds / 86400) }

// Listed reports whether the title has a listing; a title that is only sold has none (and no prices key
// in the system under test).
func (t *Title) Listed() bool { return len(t.Listings) > 0 }

// Cheapest returns the title's cheapest listing that is tradable (locked false) or trade-locked
// (locked true), or nil when there is none.
func (t *Title) Cheapest(locked bool) *Listing {
	for _, l := range t.Listings {
		if l.Tradable() != locked {
			return l
		}
	}
	return nil
}

// BuyOrder is the top of a title's buy-order book.
type BuyOrder struct {
	// PriceCents is the best bid.
	PriceCents int64
	// Count is the number of buy orders.
	Count int
}

// Sale is one completed sale.
type Sale struct {
	// PriceCents is the sale price (served as decimal dollars).
	PriceCents int64
	// Date is when it sold (served as unix seconds).
	Date time.Time
	// TxOperationType is Offer (a listing was bought) or Target (a buy order was filled).
	TxOperationType string
	// Attrs are the sold item's attributes (offerAttributes); the zero value serves none.
	Attrs Attrs
}

// Fees is one game's customized fees.
type Fees struct {
	// DefaultFraction is the default fee share, e.g. "0.05".
	DefaultFraction string
	// MinAmountCents is the minimum fee.
	MinAmountCents int64
	// Reduced are the reduced-fee titles.
	Reduced []ReducedFee
}

// ReducedFee is a title with a lower fee within a price range until ExpiresAt.
type ReducedFee struct {
	// Title is the market hash name.
	Title string
	// Fraction is the fee share.
	Fraction string
	// MinPriceCents and MaxPriceCents bound the prices it applies to (inclusive).
	MinPriceCents, MaxPriceCents int64
	// OpenMin and OpenMax say that minPrice or maxPrice is left out of the answer: that side is open and
	// the matching *PriceCents field is meaningless. A MaxPriceCents of 0 that is sent is open too:
	// DMarket leaves zero values out, so a zero bound limits nothing.
	OpenMin, OpenMax bool
	// ExpiresAt is when it ends.
	ExpiresAt time.Time
}

// Title returns a title by game and exact name, or nil. While the market moves, call it within View.
func (c *Catalogue) Title(gameID, name string) *Title { return c.byName[gameID][name] }

// Listings returns a game's listings sorted by price ascending (ties by OfferID). Do not modify. While the
// market moves, call it (and use the slice) within View.
func (c *Catalogue) Listings(gameID string) []*Listing { return c.byPrice[gameID] }

// View calls fn with the catalogue locked against changes, so that fn reads a consistent market while
// listings are added or sold. fn must not change the market (no AddListing, Sell or SetOrder).
func (c *Catalogue) View(fn func(c *Catalogue)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fn(c)
}

// ListingCount returns the number of listings of every game together. It is safe for concurrent use.
func (c *Catalogue) ListingCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, l := range c.byPrice {
		n += len(l)
	}
	return n
}

func listingLess(a, b *Listing) int {
	if a.PriceCents != b.PriceCents {
		if a.PriceCents < b.PriceCents {
			return -1
		}
		return 1
	}
	return strings.Compare(a.OfferID, b.OfferID)
}

// createdLess orders listings by creation time, ties by item id.
func createdLess(a, b *Listing) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ItemID, b.ItemID)
}

// index builds the creation-time, item and lower-case name indexes of a game from its titles and
// listings.
func (c *Catalogue) index(game string) {
	all := c.byPrice[game]
	created := slices.Clone(all)
	slices.SortFunc(created, createdLess)
	c.byCreated[game] = created
	items := make(map[string]*Listing, len(all))
	for _, l := range all {
		items[l.ItemID] = l
	}
	c.byItem[game] = items
	lower := make([]lowerTitle, 0, len(c.Titles[game]))
	for _, t := range c.Titles[game] {
		lower = append(lower, lowerTitle{lower: strings.ToLower(t.Name), t: t})
	}
	slices.SortFunc(lower, func(a, b lowerTitle) int { return strings.Compare(a.lower, b.lower) })
	c.byLower[game] = lower
}

var (
	weapons = []string{"AK-47", "M4A4", "M4A1-S", "AWP", "Desert Eagle", "Glock-18", "USP-S", "P250", "MP9",
		"MAC-10", "FAMAS", "Galil AR", "SSG 08", "UMP-45", "P90", "Five-SeveN", "Tec-9", "CZ75-Auto",
		"Nova", "XM1014", "MP7", "SG 553", "AUG", "Negev"}
	skins = []string{"Redline", "Asiimov", "Hydra", "Vulcan", "Fire Serpent", "Hyper Beast", "Neo-Noir",
		"Bloodsport", "Printstream", "Fade", "Slate", "Safari Mesh", "Boreal Forest", "Night Riot",
		"Ice Coaled", "Phantom Disruptor", "Nightwish", "Head Shot", "Duality", "Cyber Security",
		"Mount Fuji", "Emerald Poison Dart", "Kill Confirmed", "Temukau", "Case Hardened", "Blue Steel",
		"Urban DDPAT", "Sand Dune", "Forest DDPAT", "Scorched"}
	wears = []string{"Factory New", "Minimal Wear", "Field-Tested", "Well-Worn", "Battle-Scarred"}
)

func newRand(seed int64, salt string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(salt))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func titleNames(cfg *Config, game string, r *rand.Rand) []string {
	var all []string
	if game == "a8db" {
		for _, st := range []string{"", "StatTrak™ "} {
			for _, w := range weapons {
				for _, s := range skins {
					for _, wear := range wears {
						all = append(all, fmt.Sprintf("%s%s | %s (%s)", st, w, s, wear))
					}
				}
			}
		}
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	}
	if len(all) >= cfg.Titles {
		return all[:cfg.Titles]
	}
	for i := len(all); i < cfg.Titles; i++ {
		all = append(all, fmt.Sprintf("Sim %s Item %06d", game, i))
	}
	return all
}

func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, (b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

// generate builds the catalogue. It is deterministic for a given Config (Seed, sizes, shares, Now).
func generate(cfg *Config) *Catalogue {
	c := &Catalogue{
		Now:       cfg.Now,
		Games:     slices.Clone(cfg.Games),
		Titles:    make(map[string][]*Title),
		Fees:      make(map[string]*Fees),
		byName:    make(map[string]map[string]*Title),
		byPrice:   make(map[string][]*Listing),
		byCreated: make(map[string][]*Listing),
		byItem:    make(map[string]map[string]*Listing),
		byLower:   make(map[string][]lowerTitle),
		soldTimes: make(map[itemKey]time.Time),
		rng:       newMovesRand(cfg.Seed),
	}
	for _, game := range cfg.Games {
		r := newRand(cfg.Seed, game)
		names := titleNames(cfg, game, r)
		titles := make([]*Title, 0, len(names))
		byName := make(map[string]*Title, len(names))
		var all []*Listing
		for _, name := range names {
			titles = append(titles, generateTitle(cfg, game, name, r))
		}
		var adv *adversary
		if !cfg.Simple {
			adv = newAdversary(cfg, game)
			// Titles are unique across games (Redis keys name the title only): the adversarial titles
			// belong to the first game.
			if game == cfg.Games[0] {
				titles = adv.titles(titles)
			}
		}
		for _, t := range titles {
			if _, dup := byName[t.Name]; dup {
				continue
			}
			if adv != nil {
				t.Sales = withoutWeekEdge(t.Sales, cfg.Now)
			}
			byName[t.Name] = t
		}
		titles = sortedTitles(byName)
		c.Fees[game] = generateFees(cfg, titles, r)
		if adv != nil {
			adv.fees(c.Fees[game], titles)
			if game == AttrGame {
				_, c.designed = attributeCatalogue(cfg, byName, c.Fees[game])
				titles = sortedTitles(byName)
			}
		}
		for _, t := range titles {
			all = append(all, t.Listings...)
		}
		slices.SortFunc(all, listingLess)
		c.Titles[game] = titles
		c.byName[game] = byName
		c.byPrice[game] = all
		c.index(game)
	}
	return c
}

// sortedTitles returns the titles of byName sorted by name.
func sortedTitles(byName map[string]*Title) []*Title {
	titles := make([]*Title, 0, len(byName))
	for _, t := range byName {
		titles = append(titles, t)
	}
	slices.SortFunc(titles, func(a, b *Title) int { return strings.Compare(a.Name, b.Name) })
	return titles
}

func generateTitle(cfg *Config, game, name string, r *rand.Rand) *Title {
	lo, hi := math.Log(float64(cfg.MinPriceCents)), math.Log(float64(cfg.MaxPriceCents))
	suggested := int64(math.Round(math.Exp(lo + r.Float64()*(hi-lo))))
	t := &Title{GameID: game, Name: name, SuggestedCents: suggested}
	n := 1
	if cfg.ListingsPerTitle > 1 {
		n = 1 + r.IntN(2*cfg.ListingsPerTitle-1)
	}
	deal := r.Float64() < cfg.DealShare
	for i := 0; i < n; i++ {
		factor := 0.92 + 0.35*r.Float64()
		if deal && i == 0 {
			factor = 0.55 + 0.2*r.Float64()
		}
		l := &Listing{
			GameID: game, Title: name, ItemID: uuid(r), OfferID: uuid(r),
			PriceCents:     max(1, int64(math.Round(float64(suggested)*factor))),
			SuggestedCents: suggested,
			CreatedAt:      cfg.Now.Add(-time.Duration(r.IntN(30*24*3600)) * time.Second),
			FloatValue:     math.Round(r.Float64()*1e9) / 1e9,
			PaintSeed:      r.IntN(1000),
		}
		l.Attrs = plainAttrs(game, name, l.FloatValue, l.PaintSeed)
		// Trade-locked items sell at a discount, so most deals are locked listings.
		if r.Float64() < cfg.LockedShare || (deal && i == 0 && r.Float64() < 0.7) {
			l.LockSeconds = 1 + r.Int64N(8*24*3600)
		}
		t.Listings = append(t.Listings, l)
	}
	slices.SortFunc(t.Listings, listingLess)
	if r.Float64() < cfg.BuyOrderShare {
		// A buy order stays below the cheapest tradable listing (they would match otherwise); locked
		// listings may be cheaper than the bid.
		ask := cheapestTradable(t.Listings)
		bid := int64(math.Round(float64(suggested) * (0.8 + 0.15*r.Float64())))
		bid = max(1, min(bid, ask-1))
		if bid >= 1 && bid < ask {
			t.BuyOrder = &BuyOrder{PriceCents: bid, Count: 1 + r.IntN(150)}
		}
	}
	t.Stable = r.Float64() < cfg.StableShare
	hours := cfg.SalesDays * 24
	if t.Stable {
		for h := 0; h < hours; h++ {
			at := cfg.Now.Add(-time.Duration(h)*time.Hour - time.Duration(r.IntN(3600))*time.Second)
			tx, f := "Offer", 0.98+0.04*r.Float64()
			if r.IntN(3) == 0 {
				tx, f = "Target", 0.95+0.02*r.Float64()
			}
			t.Sales = append(t.Sales, Sale{PriceCents: max(1, int64(math.Round(float64(suggested)*f))), Date: at, TxOperationType: tx})
		}
	} else {
		for i, k := 0, r.IntN(16); i < k; i++ {
			at := cfg.Now.Add(-time.Duration(r.IntN(hours*3600)) * time.Second)
			tx := "Offer"
			if r.IntN(2) == 0 {
				tx = "Target"
			}
			f := 0.6 + 0.8*r.Float64()
			t.Sales = append(t.Sales, Sale{PriceCents: max(1, int64(math.Round(float64(suggested)*f))), Date: at, TxOperationType: tx})
		}
	}
	slices.SortStableFunc(t.Sales, func(a, b Sale) int { return b.Date.Compare(a.Date) })
	return t
}

// cheapestTradable returns the lowest price of the tradable listings (sorted by price), or of all
// listings when every one is locked.
func cheapestTradable(ls []*Listing) int64 {
	for _, l := range ls {
		if l.Tradable() {
			return l.PriceCents
		}
	}
	return ls[0].PriceCents
}

func generateFees(cfg *Config, titles []*Title, r *rand.Rand) *Fees {
	f := &Fees{DefaultFraction: cfg.DefaultFeeFraction, MinAmountCents: cfg.MinFeeCents}
	n := min(cfg.ReducedFeeTitles, len(titles))
	for _, i := range r.Perm(len(titles))[:n] {
		t := titles[i]
		f.Reduced = append(f.Reduced, ReducedFee{
			Title:         t.Name,
			Fraction:      fmt.Sprintf("0.0%d", 2+r.IntN(2)),
			MinPriceCents: 1,
			MaxPriceCents: t.SuggestedCents * 3,
			ExpiresAt:     cfg.Now.Add(24 * time.Hour),
		})
	}
	slices.SortFunc(f.Reduced, func(a, b ReducedFee) int { return strings.Compare(a.Title, b.Title) })
	return f
}

// SoldListing is a listing that was sold while the market moved.
type SoldListing struct {
	// Game, Title and ItemID identify the listing.
	Game, Title, ItemID string
	// Price is what it sold at, in cents.
	Price int64
	// SoldAt is when it was sold.
	SoldAt time.Time
}
