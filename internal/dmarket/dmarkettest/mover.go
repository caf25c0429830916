package dmarkettest

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// Sleeper is the clock a Mover runs on: clock.Real, or a test clock.
type Sleeper interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// MoverConfig sets up a Mover. Zero values take the documented defaults.
type MoverConfig struct {
	// DealEvery is how often a designed deal is injected, default 3s; negative injects none.
	DealEvery time.Duration
	// DealLife is how long a deal stays listed before it is sold, default 20s.
	DealLife time.Duration
	// DealLifeJitter spreads each deal's life uniformly over DealLife ± DealLifeJitter, default
	// DealLife/4; negative means none. A life is at least one second.
	DealLifeJitter time.Duration
	// ChurnPerSecond is the number of ordinary listings added, and of random ordinary listings sold, per
	// second (0, the default, means none).
	ChurnPerSecond float64
	// MinProfit and MaxProfit bound a deal's TARGET profit after fee as a share of its price (SPEC §6.1),
	// default 0.25 and 0.40.
	MinProfit, MaxProfit float64
	// LockedShare is the share of deals that are trade-locked, default 0 (every deal is tradable).
	LockedShare float64
	// ExistingOrders designs every deal against its title's buy order as it stands, never setting a new
	// order: a deal is then only a new cheap listing, as on the real market where buy orders last, and a
	// system that knows the orders can tell a deal from its listing alone.
	ExistingOrders bool
	// Games are the games that move, default every game of the simulator.
	Games []string
	// Seed makes the mover's choices deterministic (for a given clock), default the simulator's seed.
	Seed int64
	// Clock paces the mover, default the simulator's clock when it can sleep, else the real clock. Run
	// sleeps on it until the next event: a clock whose Sleep returns at once (clocktest.Fake) runs the
	// market through time as fast as it can, so tests pace a Mover with a clock whose Sleep waits for
	// the test.
	Clock Sleeper
	// OnDeal, when set, is called with every deal right after it is listed (from Run's goroutine).
	OnDeal func(Deal)
}

// Deal is a designed deal a Mover injected: one listing whose TARGET offer is clearly profitable.
type Deal struct {
	// Game, Title and ItemID identify the listing; OfferID is its offer id.
	Game, Title, ItemID, OfferID string
	// Price is the listing's price in cents, strictly below every other listing of the title when listed.
	Price int64
	// Locked is true for a trade-locked deal.
	Locked bool
	// CreatedAt is when it was listed (its createdAt, whole seconds); SoldAt when it was sold, zero while it
	// is listed.
	CreatedAt, SoldAt time.Time
	// OrderPrice is the title's best buy order (cents) when it was listed: the TARGET sell price.
	OrderPrice int64
	// ProfitPercent is the TARGET offer's profit % (SPEC §6.1, two decimals) with the game's fees.
	ProfitPercent float64
	// SellAt is when the Mover sells it.
	SellAt time.Time
}

// Mover moves a simulator's market: every DealEvery it lists a designed deal (a listing below the title's
// cheapest whose TARGET offer makes MinProfit..MaxProfit after fee), sells each deal DealLife later, and
// adds and sells ChurnPerSecond ordinary listings a second, none of them a deal. Its accessors are safe for
// concurrent use.
type Mover struct {
	h     *Handler
	cfg   MoverConfig
	clock Sleeper

	mu sync.Mutex
	// rng draws every choice; guarded by mu.
	rng *rand.Rand
	// deals are every deal injected, in order; live indexes the listed ones by item id.
	deals []Deal
	live  map[itemKey]int
	// nasty holds each game's adversarial titles: [0] those with awkward names, [1] those whose cheapest
	// price more than a page of listings share; crowded holds those prices, sorted.
	nasty   map[string][2][]string
	crowded map[string][]int64
	// nextDeal and nextChurn are when the next deal and churn step are due.
	nextDeal, nextChurn time.Time
}

// NewMover returns a Mover of h's market; Run starts it.
func NewMover(h *Handler, cfg MoverConfig) *Mover {
	positiveOr(&cfg.DealLife, 20*time.Second)
	zeroOr(&cfg.DealEvery, 3*time.Second)
	zeroOr(&cfg.DealLifeJitter, cfg.DealLife/4)
	cfg.DealLifeJitter = max(0, cfg.DealLifeJitter)
	if cfg.MinProfit <= 0 {
		cfg.MinProfit = 0.25
	}
	if cfg.MaxProfit < cfg.MinProfit {
		cfg.MaxProfit = max(cfg.MinProfit, 0.40)
	}
	if len(cfg.Games) == 0 {
		cfg.Games = slices.Clone(h.cat.Games)
	}
	zeroOr(&cfg.Seed, h.cfg.Seed)
	m := &Mover{h: h, cfg: cfg, clock: cfg.Clock, rng: newRand(cfg.Seed, "mover"), live: map[itemKey]int{},
		nasty: map[string][2][]string{}, crowded: map[string][]int64{}}
	if m.clock == nil {
		if s, ok := h.cfg.Clock.(Sleeper); ok {
			m.clock = s
		} else {
			m.clock = clock.Real{}
		}
	}
	h.cat.View(func(c *Catalogue) {
		for _, g := range cfg.Games {
			m.nasty[g], m.crowded[g] = adversarialTargets(c, g)
		}
	})
	return m
}

// adversarialTargets returns a game's titles with awkward names and those whose cheapest price is
// crowded, and the crowded prices: those more than a page (100) of its listings share.
func adversarialTargets(c *Catalogue, game string) (titles [2][]string, crowded []int64) {
	perPrice := map[int64]int{}
	for _, l := range c.byPrice[game] {
		perPrice[l.PriceCents]++
	}
	for p, n := range perPrice {
		if n > 100 {
			crowded = append(crowded, p)
		}
	}
	slices.Sort(crowded)
	for _, t := range c.Titles[game] {
		switch {
		case strings.ContainsAny(t.Name, `*:+%&<>"★`) || utf8.RuneCountInString(t.Name) > 100:
			titles[0] = append(titles[0], t.Name)
		case len(t.Listings) > 0 && slices.Contains(crowded, t.Listings[0].PriceCents):
			titles[1] = append(titles[1], t.Name)
		}
	}
	return titles, crowded
}

// Run moves the market until ctx ends; it returns nil then. The first deal comes DealEvery after the start.
func (m *Mover) Run(ctx context.Context) error {
	now := m.clock.Now()
	m.mu.Lock()
	m.nextDeal, m.nextChurn = now.Add(m.cfg.DealEvery), now.Add(m.churnStep())
	m.mu.Unlock()
	for {
		for _, d := range m.step(now) {
			if m.cfg.OnDeal != nil {
				m.cfg.OnDeal(d)
			}
		}
		if err := m.clock.Sleep(ctx, m.next().Sub(now)); err != nil {
			return nil
		}
		now = m.clock.Now()
	}
}

// churnStep is the time between two churn steps, or a year without churn.
func (m *Mover) churnStep() time.Duration {
	if m.cfg.ChurnPerSecond <= 0 {
		return 365 * 24 * time.Hour
	}
	return max(time.Microsecond, time.Duration(float64(time.Second)/m.cfg.ChurnPerSecond))
}

// next returns when the next event is due.
func (m *Mover) next() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.nextChurn
	if m.cfg.DealEvery > 0 && m.nextDeal.Before(next) {
		next = m.nextDeal
	}
	for _, i := range m.live {
		if d := m.deals[i]; d.SellAt.Before(next) {
			next = d.SellAt
		}
	}
	return next
}

// step does everything due at or before now and returns the deals it listed.
func (m *Mover) step(now time.Time) []Deal {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.h.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range m.liveIndexes() {
		if d := m.deals[i]; !d.SellAt.After(now) {
			if l := c.byItem[d.Game][d.ItemID]; l != nil {
				c.sell(l, now)
			}
			delete(m.live, itemKey{d.Game, d.ItemID})
		}
	}
	var listed []Deal
	if m.cfg.DealEvery > 0 && !m.nextDeal.After(now) {
		// One deal at a time: a mover that fell behind (a stalled process) skips the deals it missed
		// rather than listing them in a burst.
		m.nextDeal = m.nextDeal.Add(m.cfg.DealEvery)
		if !m.nextDeal.After(now) {
			m.nextDeal = now.Add(m.cfg.DealEvery)
		}
		game := m.cfg.Games[m.rng.IntN(len(m.cfg.Games))]
		if d, ok := m.inject(c, game, now); ok {
			listed = append(listed, d)
		}
	}
	if now.Sub(m.nextChurn) > time.Second {
		// Likewise churn catches up on one second at most.
		m.nextChurn = now.Add(-time.Second)
	}
	for step := m.churnStep(); !m.nextChurn.After(now); m.nextChurn = m.nextChurn.Add(step) {
		m.churn(c, now)
	}
	return listed
}

// liveIndexes returns the indexes of the listed deals in m.deals, in order.
func (m *Mover) liveIndexes() []int {
	out := make([]int, 0, len(m.live))
	for _, i := range m.live {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// Deals returns every deal injected so far, in order, SoldAt set for those sold (by the Mover or Sell).
func (m *Mover) Deals() []Deal {
	m.mu.Lock()
	out := slices.Clone(m.deals)
	m.mu.Unlock()
	m.h.cat.View(func(c *Catalogue) {
		for i := range out {
			out[i].SoldAt = c.soldAt(out[i].Game, out[i].ItemID)
		}
	})
	return out
}

// Sold returns every listing sold so far, deals and churn (and any other Sell), oldest first.
func (m *Mover) Sold() []SoldListing { return m.h.Sold() }

// lifetime draws a deal's life.
func (m *Mover) lifetime() time.Duration {
	life := m.cfg.DealLife
	if j := m.cfg.DealLifeJitter; j > 0 {
		life += time.Duration(m.rng.Int64N(int64(2*j)+1)) - j
	}
	return max(time.Second, life)
}

// isLive reports whether l is a listed deal.
func (m *Mover) isLive(l *Listing) bool {
	_, ok := m.live[itemKey{l.GameID, l.ItemID}]
	return ok
}

// churn lists one ordinary listing and sells one random ordinary listing of a game drawn by its size.
func (m *Mover) churn(c *Catalogue, now time.Time) {
	game := m.weightedGame(c)
	all := c.byPrice[game]
	if len(all) == 0 {
		return
	}
	// A new listing of a random listing's title and status, at or above the cheapest ordinary listing of
	// that status, above the title's cheapest, and never profitable against the buy order.
	ref := all[m.rng.IntN(len(all))]
	t := c.byName[game][ref.Title]
	floor := ref.PriceCents
	for _, l := range t.Listings {
		if l.Tradable() == ref.Tradable() && !m.isLive(l) {
			floor = l.PriceCents
			break
		}
	}
	floor = max(floor, t.Listings[0].PriceCents)
	if t.BuyOrder != nil {
		floor = max(floor, netAfterFee(c, t, t.BuyOrder.PriceCents, now)+1)
	}
	price := floor + int64(math.Round(float64(floor)*0.25*m.rng.Float64()))
	lock := int64(0)
	if !ref.Tradable() {
		lock = 1 + m.rng.Int64N(8*24*3600)
	}
	c.addListing(game, t.Name, price, lock, now)
	for range 8 {
		all = c.byPrice[game]
		if l := all[m.rng.IntN(len(all))]; !m.isLive(l) {
			c.sell(l, now)
			return
		}
	}
}

// weightedGame draws a moving game with a chance proportional to its listings.
func (m *Mover) weightedGame(c *Catalogue) string {
	total := 0
	for _, g := range m.cfg.Games {
		total += len(c.byPrice[g])
	}
	if total == 0 {
		return m.cfg.Games[0]
	}
	n := m.rng.IntN(total)
	for _, g := range m.cfg.Games {
		if n -= len(c.byPrice[g]); n < 0 {
			return g
		}
	}
	return m.cfg.Games[0]
}

// netAfterFee is what a sale of t at sell cents leaves after the game's fee at now (SPEC §6.1).
func netAfterFee(c *Catalogue, t *Title, sell int64, now time.Time) int64 {
	fees := c.Fees[t.GameID]
	fraction := fees.DefaultFraction
	for _, rf := range fees.Reduced {
		if rf.Title == t.Name && rf.applies(sell, now) {
			fraction = rf.Fraction
			break
		}
	}
	f, err := market.ParseFraction(fraction)
	if err != nil {
		f, _ = market.ParseFraction("0.05")
	}
	return sell - max(int64(f.Fee(market.Cents(sell))), fees.MinAmountCents)
}

// applies reports whether the reduced fee covers a sale at sell cents at now: not expired, sell within
// the bounds given (an open or zero maximum limits nothing).
func (rf ReducedFee) applies(sell int64, now time.Time) bool {
	if !now.Before(rf.ExpiresAt) {
		return false
	}
	if !rf.OpenMin && sell < rf.MinPriceCents {
		return false
	}
	return rf.OpenMax || rf.MaxPriceCents == 0 || sell <= rf.MaxPriceCents
}

// profitPercent is (net − buy) / buy × 100 rounded half away from zero to two decimals; buy is positive.
func profitPercent(net, buy int64) float64 {
	num := (net - buy) * 10000
	if num < 0 {
		return -float64((-2*num+buy)/(2*buy)) / 100
	}
	return float64((2*num+buy)/(2*buy)) / 100
}

// inject lists a designed deal in game at now. The caller holds m.mu and the catalogue's write lock.
func (m *Mover) inject(c *Catalogue, game string, now time.Time) (Deal, bool) {
	for range 64 {
		t := m.pickTitle(c, game)
		if t == nil || len(t.Listings) == 0 || t.Listings[0].PriceCents < 100 || m.hasLiveDeal(t) {
			continue
		}
		price, bid, ok := m.design(c, t, now)
		if !ok {
			continue
		}
		if t.BuyOrder == nil || t.BuyOrder.PriceCents != bid {
			c.setOrder(t, bid, 1+m.rng.IntN(20))
		}
		lock := int64(0)
		if m.rng.Float64() < m.cfg.LockedShare {
			lock = 1 + m.rng.Int64N(8*24*3600)
		}
		l := c.addListing(game, t.Name, price, lock, now)
		d := Deal{Game: game, Title: t.Name, ItemID: l.ItemID, OfferID: l.OfferID, Price: price, Locked: lock > 0,
			CreatedAt: l.CreatedAt, OrderPrice: bid, ProfitPercent: profitPercent(netAfterFee(c, t, bid, now), price),
			SellAt: l.CreatedAt.Add(m.lifetime())}
		m.live[itemKey{game, l.ItemID}] = len(m.deals)
		m.deals = append(m.deals, d)
		return d, true
	}
	return Deal{}, false
}

// pickTitle draws a title of game: a third of the time an adversarial one (an awkward name or a crowded
// cheapest price, evenly) when the game has any.
func (m *Mover) pickTitle(c *Catalogue, game string) *Title {
	if nasty := m.nasty[game][m.rng.IntN(2)]; len(nasty) > 0 && m.rng.IntN(3) == 0 {
		return c.byName[game][nasty[m.rng.IntN(len(nasty))]]
	}
	titles := c.Titles[game]
	if len(titles) == 0 {
		return nil
	}
	return titles[m.rng.IntN(len(titles))]
}

// hasLiveDeal reports whether a deal of t is listed.
func (m *Mover) hasLiveDeal(t *Title) bool {
	for _, i := range m.live {
		if d := m.deals[i]; d.Game == t.GameID && d.Title == t.Name {
			return true
		}
	}
	return false
}

// design prices a deal of t (whose cheapest listing is at least $1) and returns the price and the buy
// order it is designed against: the title's own order when a profitable price below its cheapest
// listing exists, else a new order just below the cheapest listing (below every listing, so that no
// other listing becomes profitable). Half the time the price is one more than a page of listings share
// (atCrowdedPrice, or within the window of the title's order), when one fits.
func (m *Mover) design(c *Catalogue, t *Title, now time.Time) (price, bid int64, ok bool) {
	cheapest := t.Listings[0].PriceCents
	if !m.cfg.ExistingOrders && m.rng.IntN(2) == 0 {
		if price, bid, ok := m.atCrowdedPrice(c, t, now); ok {
			return price, bid, true
		}
	}
	window := func(n int64) (lo, hi int64) {
		return int64(math.Ceil(float64(n) / (1 + m.cfg.MaxProfit))), int64(math.Floor(float64(n) / (1 + m.cfg.MinProfit)))
	}
	lo, hi := int64(1), int64(0)
	if o := t.BuyOrder; o != nil {
		bid = o.PriceCents
		lo, hi = window(netAfterFee(c, t, bid, now))
		hi = min(hi, cheapest-1)
	}
	if (lo < 1 || lo > hi) && !m.cfg.ExistingOrders {
		bid = int64(math.Round(float64(cheapest) * (0.90 + 0.07*m.rng.Float64())))
		lo, hi = window(netAfterFee(c, t, bid, now))
	}
	if lo < 1 || lo > hi {
		return 0, 0, false
	}
	price = lo + int64(math.Round(float64(hi-lo)*m.rng.Float64()))
	if crowded := m.crowded[t.GameID]; m.rng.IntN(2) == 0 {
		if i, _ := slices.BinarySearch(crowded, lo); i < len(crowded) && crowded[i] <= hi {
			price = crowded[i]
		}
	}
	profit := profitPercent(netAfterFee(c, t, bid, now), price)
	return price, bid, profit >= 100*m.cfg.MinProfit && profit <= 100*m.cfg.MaxProfit
}

// atCrowdedPrice prices a deal of t at a price more than a page of the game's listings share, below the
// title's cheapest listing, with a new buy order below that listing that makes the TARGET offer
// profitable as designed. ok is false when no crowded price fits t.
func (m *Mover) atCrowdedPrice(c *Catalogue, t *Title, now time.Time) (price, bid int64, ok bool) {
	cheapest := t.Listings[0].PriceCents
	var fit []int64
	for _, x := range m.crowded[t.GameID] {
		if x*4 >= cheapest && float64(x)*(1+m.cfg.MaxProfit) < float64(cheapest)*0.9 {
			fit = append(fit, x)
		}
	}
	if len(fit) == 0 {
		return 0, 0, false
	}
	price = fit[m.rng.IntN(len(fit))]
	want := float64(price) * (1 + m.cfg.MinProfit + (m.cfg.MaxProfit-m.cfg.MinProfit)*m.rng.Float64())
	// Scale a first guess by what the fee at that price leaves: the fraction hardly moves with the price.
	bid = int64(math.Ceil(want / 0.95))
	if n := netAfterFee(c, t, bid, now); n > 0 {
		bid = int64(math.Ceil(float64(bid) * want / float64(n)))
	}
	profit := profitPercent(netAfterFee(c, t, bid, now), price)
	ok = bid < cheapest && profit >= 100*m.cfg.MinProfit && profit <= 100*m.cfg.MaxProfit
	return price, bid, ok
}
