package dmarkettest

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The market moves at run time through AddListing, Sell and SetOrder (and a Mover, which uses them):
// each change happens under the catalogue's write lock, so a request sees the market before or after it,
// never in between, and every order, filter and index agrees at once.

// itemKey identifies a listing across games.
type itemKey struct{ game, itemID string }

// AddListing lists a new listing of title in game at price (cents) with lockSeconds of trade lock (0 means
// tradable), created at the simulator clock's now truncated to the second (createdAt is served in unix
// seconds, so that listings created in one second tie and the item id orders them); an unknown title is created first, with the price as
// its suggested price, no buy order and no sales. It returns the listing, or nil when the game is unknown
// or price is not positive. It is safe for concurrent use with requests.
func (h *Handler) AddListing(game, title string, price int64, lockSeconds int64) *Listing {
	c := h.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addListing(game, title, price, max(0, lockSeconds), h.cfg.Clock.Now())
}

// Sell sells a game's listing by item id: it disappears from every order, filter and count, and its title's
// history gains an Offer sale at its price, dated now. It reports whether the listing was on the market.
// It is safe for concurrent use with requests.
func (h *Handler) Sell(game, itemID string) bool {
	c := h.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.byItem[game][itemID]
	if l == nil {
		return false
	}
	c.sell(l, h.cfg.Clock.Now())
	return true
}

// SetOrder sets the best buy order of a game's title to price cents and count orders (aggregated prices
// answer it from now on); a price or count that is not positive removes the order. An unknown title is
// created first, without listings. Unknown games are ignored. It is safe for concurrent use with requests.
func (h *Handler) SetOrder(game, title string, price int64, count int) {
	c := h.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byName[game]; !ok {
		return
	}
	c.setOrder(c.title(game, title, price), price, count)
}

// Sold returns every listing sold so far (by Sell or a Mover), oldest first. It is safe for concurrent use.
func (h *Handler) Sold() []SoldListing {
	h.cat.mu.RLock()
	defer h.cat.mu.RUnlock()
	return slices.Clone(h.cat.sold)
}

// soldAt returns when a game's listing was sold, or the zero time. The caller holds the lock.
func (c *Catalogue) soldAt(game, itemID string) time.Time {
	return c.soldTimes[itemKey{game, itemID}]
}

// title returns a game's title by name, creating it (suggested at suggested cents) when unknown. The game
// must be known; the caller holds the write lock.
func (c *Catalogue) title(game, name string, suggested int64) *Title {
	if t := c.byName[game][name]; t != nil {
		return t
	}
	t := &Title{GameID: game, Name: name, SuggestedCents: max(1, suggested)}
	c.byName[game][name] = t
	titles := c.Titles[game]
	i, _ := slices.BinarySearchFunc(titles, name, func(t *Title, name string) int { return strings.Compare(t.Name, name) })
	c.Titles[game] = slices.Insert(titles, i, t)
	lt := lowerTitle{lower: strings.ToLower(name), t: t}
	lower := c.byLower[game]
	j, _ := slices.BinarySearchFunc(lower, lt, func(a, b lowerTitle) int { return strings.Compare(a.lower, b.lower) })
	c.byLower[game] = slices.Insert(lower, j, lt)
	return t
}

// addListing is AddListing under the write lock.
func (c *Catalogue) addListing(game, name string, price, lock int64, now time.Time) *Listing {
	if _, ok := c.byName[game]; !ok || price <= 0 {
		return nil
	}
	t := c.title(game, name, price)
	l := &Listing{
		GameID: game, Title: t.Name, ItemID: uuid(c.rng), OfferID: uuid(c.rng), PriceCents: price,
		SuggestedCents: t.SuggestedCents, LockSeconds: lock, CreatedAt: now.Truncate(time.Second),
		FloatValue: math.Round(c.rng.Float64()*1e9) / 1e9, PaintSeed: c.rng.IntN(1000),
	}
	l.Attrs = plainAttrs(game, t.Name, l.FloatValue, l.PaintSeed)
	t.Listings = insertSorted(t.Listings, l, listingLess)
	c.byPrice[game] = insertSorted(c.byPrice[game], l, listingLess)
	c.byCreated[game] = insertSorted(c.byCreated[game], l, createdLess)
	c.byItem[game][l.ItemID] = l
	return l
}

// sell removes l from the market and records its sale at now. The caller holds the write lock and l is
// listed.
func (c *Catalogue) sell(l *Listing, now time.Time) {
	t := c.byName[l.GameID][l.Title]
	t.Listings = removeSorted(t.Listings, l, listingLess)
	c.byPrice[l.GameID] = removeSorted(c.byPrice[l.GameID], l, listingLess)
	c.byCreated[l.GameID] = removeSorted(c.byCreated[l.GameID], l, createdLess)
	delete(c.byItem[l.GameID], l.ItemID)
	// Sales are newest first; a new slice leaves any copy a reader holds intact.
	t.Sales = append([]Sale{{PriceCents: l.PriceCents, Date: now, TxOperationType: "Offer", Attrs: l.Attrs}}, t.Sales...)
	c.sold = append(c.sold, SoldListing{Game: l.GameID, Title: l.Title, ItemID: l.ItemID, Price: l.PriceCents, SoldAt: now})
	c.soldTimes[itemKey{l.GameID, l.ItemID}] = now
}

// setOrder replaces t's buy order (a new value: a reader holding the old one keeps it whole).
func (c *Catalogue) setOrder(t *Title, price int64, count int) {
	if price <= 0 || count <= 0 {
		t.BuyOrder = nil
		return
	}
	t.BuyOrder = &BuyOrder{PriceCents: price, Count: count}
}

// insertSorted inserts l into ls sorted by cmp.
func insertSorted(ls []*Listing, l *Listing, cmp func(a, b *Listing) int) []*Listing {
	i, _ := slices.BinarySearchFunc(ls, l, cmp)
	return slices.Insert(ls, i, l)
}

// removeSorted removes l from ls sorted by cmp (a total order, so l's position is exact).
func removeSorted(ls []*Listing, l *Listing, cmp func(a, b *Listing) int) []*Listing {
	i, found := slices.BinarySearchFunc(ls, l, cmp)
	if !found || ls[i] != l {
		return ls
	}
	return slices.Delete(ls, i, i+1)
}

// newMovesRand returns the source of the ids and attributes of listings added at run time.
func newMovesRand(seed int64) *rand.Rand { return newRand(seed, "moves") }
