package dmarkettest

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// The attribute titles (SPEC §9.2) join the adversarial catalogue of AttrGame: CS2 skins whose items
// differ by wear float, paint seed, Doppler phase and applied stickers, and whose prices depend on them:
//
//   - phased titles (Doppler, Gamma Doppler): each phase its own price level and its own sales (Ruby,
//     Sapphire, Emerald far above Phase 1…4), phase names written in several ways ("Phase 2", "phase2",
//     "RUBY", under phaseTitle or phase), a few items and sales without a phase;
//   - float premiums: low floats sell higher; floats lie inside the title's wear band and are sometimes
//     sent as numeric strings;
//   - stickers named bare ("Crown (Foil)") or as market titles ("Sticker | Crown (Foil)"), some with
//     white space around the name; sticker titles that are listed (tradable, or trade-locked with
//     sales only) so that stickers can be valued, a sticker title that is only sold, never listed (only
//     the items carrying it name it), and stickers no title of the market names;
//   - designed cases (Designed) with a known answer: FLOAT and STICKERS deals and non-deals, and HISTORY
//     traps (a listing the mixed-phase history would call a big profit while its own phase loses).
//
// The attribute titles draw from their own random source and stay out of the ordinary and adversarial
// fee draws, so the other titles, listings, sales and fees of a seed stay as they were.

// Designed is one designed case of the attribute titles, and its answer.
type Designed struct {
	// Game and Title name the title; ItemID is the listing the case is about and Price its price.
	Game, Title, ItemID string
	Price               int64
	// Kind is the offer kind at stake: "FLOAT", "STICKERS" or "HISTORY".
	Kind string
	// Locked is the listing's status; Phase its phase in canonical form ("" for none).
	Locked bool
	Phase  string
	// Deal says the listing must be offered as Kind (at every user limit at or below 0 %); false says it
	// must not be (for HISTORY traps: at a limit of 0 %, while its own phase's offer is a loss).
	Deal bool
	// Why says what the case tests.
	Why string
}

// Designed returns the designed cases of the attribute titles (none when the catalogue is Simple or
// holds no AttrGame).
func (h *Handler) Designed() []Designed { return slices.Clone(h.cat.designed) }

// Sticker titles of the attribute catalogue.
const (
	stickerTitan   = "Sticker | Titan (Holo) | Katowice 2014"
	stickerIBP     = "Sticker | iBUYPOWER (Holo) | Katowice 2014"
	stickerCrown   = "Sticker | Crown (Foil)"
	stickerHowling = "Sticker | Howling Dawn"
	// stickerUnlisted names no title of the market: its value is 0.
	stickerUnlisted = "Sticker | Unlisted Craft"
	// stickerNeverListed is a title with sales and no listing at all: only the stickers on items name
	// it, so its sales are fetched only when those items bring it to the sales schedule.
	stickerNeverListed = "Sticker | Vox Eminor (Holo) | Katowice 2014"
)

// attrGen builds the attribute titles.
type attrGen struct {
	r        *rand.Rand
	now      time.Time
	titles   []*Title
	designed []Designed
	fees     []ReducedFee
}

// attributeTitles returns the attribute titles of AttrGame, their designed cases and their reduced fees.
func attributeTitles(cfg *Config) ([]*Title, []Designed, []ReducedFee) {
	g := &attrGen{r: newRand(cfg.Seed, "attributes|"+AttrGame), now: cfg.Now}
	g.stickers()
	g.floatTitles()
	g.karambit()
	g.butterfly()
	g.glock()
	g.stickerTitles()
	g.randomTitles()
	g.badAttrs()
	g.neverListedSticker()
	for _, t := range g.titles {
		slices.SortFunc(t.Listings, listingLess)
		slices.SortStableFunc(t.Sales, func(x, y Sale) int { return y.Date.Compare(x.Date) })
	}
	return g.titles, g.designed, g.fees
}

func (g *attrGen) title(name string, suggested int64) *Title {
	t := &Title{GameID: AttrGame, Name: name, SuggestedCents: suggested}
	g.titles = append(g.titles, t)
	return t
}

// list adds a listing of t at price with lock (0 = tradable) and attributes a.
func (g *attrGen) list(t *Title, price, lock int64, a Attrs) *Listing {
	l := &Listing{GameID: AttrGame, Title: t.Name, ItemID: uuid(g.r), OfferID: uuid(g.r), PriceCents: max(1, price),
		SuggestedCents: t.SuggestedCents, LockSeconds: lock,
		CreatedAt: g.now.Add(-time.Duration(1+g.r.IntN(20*24*3600)) * time.Second), FloatValue: a.Float, PaintSeed: a.Seed, Attrs: a}
	t.Listings = append(t.Listings, l)
	return l
}

// sell adds a sale of t at price, ago before now, with attributes a.
func (g *attrGen) sell(t *Title, price int64, ago time.Duration, a Attrs) {
	tx := "Offer"
	if g.r.IntN(3) == 0 {
		tx = "Target"
	}
	t.Sales = append(t.Sales, Sale{PriceCents: max(1, price), Date: g.now.Add(-ago), TxOperationType: tx, Attrs: a})
}

func (g *attrGen) lock() int64 { return 3600 + g.r.Int64N(7*24*3600) }

// design records a designed case about l.
func (g *attrGen) design(l *Listing, kind, phase string, deal bool, why string) {
	g.designed = append(g.designed, Designed{Game: l.GameID, Title: l.Title, ItemID: l.ItemID, Price: l.PriceCents,
		Kind: kind, Locked: !l.Tradable(), Phase: phase, Deal: deal, Why: why})
}

// floatIn returns a float of t's wear band at position u (0 the lowest float, 1 the highest).
func floatIn(t *Title, u float64) float64 {
	w, _ := market.WearOf(t.Name)
	return bandFloat(w, u)
}

// skin is the pricing of a float title (or of one phase): value(f) = base × (1 + prem × (1 − pos)²),
// pos being f's position in the wear band.
type skin struct {
	base int64
	prem float64
}

func (s skin) value(t *Title, f float64) int64 {
	w, _ := market.WearOf(t.Name)
	pos := (f - w.Min) / (w.Max - w.Min)
	return int64(math.Round(float64(s.base) * (1 + s.prem*(1-pos)*(1-pos))))
}

// floatAttrs returns attributes with float f, a random seed and phase.
func (g *attrGen) floatAttrs(f float64, phase string) Attrs {
	return Attrs{Float: f, HasFloat: true, Seed: g.r.IntN(1001), HasSeed: true, Phase: phase}
}

// floatSales gives t n float sales over the last five days priced by s with ±noise, of phase.
func (g *attrGen) floatSales(t *Title, s skin, n int, noise float64, phase string) {
	for range n {
		f := floatIn(t, g.r.Float64())
		p := float64(s.value(t, f)) * (1 + noise*(2*g.r.Float64()-1))
		g.sell(t, int64(math.Round(p)), time.Duration(1+g.r.IntN(5*24*3600))*time.Second, g.floatAttrs(f, phase))
	}
}

// curve returns the float curve of t's sales of phase (canonical, "" for all) as the design sees it.
func (g *attrGen) curve(t *Title, phase string) *market.FloatCurve {
	var sales []market.Sale
	for _, s := range t.Sales {
		p, _ := market.ParsePhase(s.Attrs.Phase)
		if phase != "" && string(p) != phase {
			continue
		}
		sales = append(sales, market.Sale{Price: market.Cents(s.PriceCents), At: s.Date,
			Attrs: market.Attributes{Float: s.Attrs.Float, HasFloat: s.Attrs.HasFloat}})
	}
	return market.FitFloatCurve(sales, g.now)
}

// fairListings adds n listings of t (status lock, phase) at floats drawn from [lo, hi) of the band,
// priced at or above the value c gives their float (never a FLOAT candidate), at least floor.
func (g *attrGen) fairListings(t *Title, c *market.FloatCurve, n int, lock int64, phase string, lo, hi float64, floor int64) {
	for range n {
		f := floatIn(t, lo+(hi-lo)*g.r.Float64())
		v := max(int64(c.ValueAt(f)), floor)
		g.list(t, v+int64(math.Round(float64(v)*0.3*g.r.Float64())), lock, g.floatAttrs(f, phase))
	}
}

// floatTitles are non-phased titles with float curves and designed FLOAT deals and non-deals.
func (g *attrGen) floatTitles() {
	// Dragon Lore: an available deal and a fairly priced low float in the same group of 24 (trimmed to
	// the cheapest 20: the designed ones are among them), and a locked deal.
	dl := g.title("AWP | Dragon Lore (Factory New)", 150000)
	s := skin{base: 150000, prem: 0.6}
	g.floatSales(dl, s, 60, 0.02, "")
	c := g.curve(dl, "")
	g.fairListings(dl, c, 14, 0, "", 0.2, 1, 0)
	f := floatIn(dl, 0.02)
	g.design(g.list(dl, int64(c.ValueAt(f))*70/100, 0, g.floatAttrs(f, "")), "FLOAT", "", true,
		"a low float listed 30 % below its float value")
	f = floatIn(dl, 0.03)
	g.design(g.list(dl, int64(c.ValueAt(f)), 0, g.floatAttrs(f, "")), "FLOAT", "", false,
		"a low float listed at its float value")
	g.fairListings(dl, c, 8, 0, "", 0, 0.1, int64(c.ValueAt(0))*13/10)
	g.fairListings(dl, c, 5, g.lock(), "", 0.3, 1, 0)
	f = floatIn(dl, 0.05)
	g.design(g.list(dl, int64(c.ValueAt(f))*75/100, g.lock(), g.floatAttrs(f, "")), "FLOAT", "", true,
		"a trade-locked low float listed 25 % below its float value")
	dl.BuyOrder = &BuyOrder{PriceCents: s.base * 80 / 100, Count: 3}

	// Wild Lotus: low floats priced just under their value (within the fee: no deal), floats sent as
	// strings, and a locked deal that is one only under the title's reduced fee.
	wl := g.title("AK-47 | Wild Lotus (Minimal Wear)", 60000)
	s = skin{base: 60000, prem: 0.4}
	g.floatSales(wl, s, 40, 0.02, "")
	for i := range wl.Sales {
		wl.Sales[i].Attrs.FloatAsString = i%3 == 0
	}
	c = g.curve(wl, "")
	g.fairListings(wl, c, 10, 0, "", 0.3, 1, 0)
	f = floatIn(wl, 0.01)
	g.design(g.list(wl, int64(c.ValueAt(f)), 0, g.floatAttrs(f, "")), "FLOAT", "", false,
		"a low float listed at its float value")
	f = floatIn(wl, 0.04)
	nd := g.list(wl, int64(c.ValueAt(f))*995/1000, 0, g.floatAttrs(f, ""))
	nd.Attrs.FloatAsString = true
	g.design(nd, "FLOAT", "", false, "a low float 0.5 % under its value: even the 1 % reduced fee eats the margin")
	g.fairListings(wl, c, 4, g.lock(), "", 0.3, 1, 0)
	f = floatIn(wl, 0.02)
	g.design(g.list(wl, int64(c.ValueAt(f))*97/100, g.lock(), g.floatAttrs(f, "")), "FLOAT", "", true,
		"a locked low float 3 % under its value, a deal under the title's 1 % reduced fee")
	g.fees = append(g.fees, ReducedFee{Title: wl.Name, Fraction: "0.01", MinPriceCents: 1, MaxPriceCents: HugeMaxPriceCents,
		ExpiresAt: g.now.Add(24 * time.Hour)})

	// Blaze: 11 float sales, one too few for a curve; Orion: exactly 12 (three groups).
	bz := g.title("Desert Eagle | Blaze (Factory New)", 40000)
	g.floatSales(bz, skin{base: 40000, prem: 0.5}, 11, 0.02, "")
	for range 6 {
		f := floatIn(bz, g.r.Float64())
		g.list(bz, 20000+g.r.Int64N(30000), 0, g.floatAttrs(f, ""))
	}
	or := g.title("USP-S | Orion (Battle-Scarred)", 1500)
	s = skin{base: 1500, prem: 0.5}
	g.floatSales(or, s, 12, 0.05, "")
	for range 8 {
		f := floatIn(or, g.r.Float64())
		g.list(or, s.value(or, f)*int64(70+g.r.IntN(60))/100, 0, g.floatAttrs(f, ""))
	}
}

// phaseSpec is one phase of a phased title: its name as served, its canonical name and its pricing.
type phaseSpec struct {
	served, canon string
	skin          skin
}

// hourlyPhaseSales gives t, for each of hours hours, one sale of each phase (priced by its skin at a
// random float, ±noise), so that every phase and the title as a whole are stable.
func (g *attrGen) hourlyPhaseSales(t *Title, phases []phaseSpec, hours int, noise float64, floats bool) {
	for h := range hours {
		for _, p := range phases {
			f := floatIn(t, g.r.Float64())
			price := float64(p.skin.value(t, f)) * (1 + noise*(2*g.r.Float64()-1))
			a := Attrs{Phase: p.served}
			if floats {
				a = g.floatAttrs(f, p.served)
			}
			// Within UTC hour h before the current one, wherever now lies in its hour: the analysis groups
			// sales by UTC hour, so every hour holds one sale of each phase at any time of day.
			ago := g.now.Sub(g.now.Truncate(time.Hour)) + time.Duration(h)*time.Hour + time.Duration(60+g.r.IntN(3500))*time.Second
			g.sell(t, int64(math.Round(price)), ago, a)
		}
	}
}

// phaseAttrs returns float attributes of phase p at band position u.
func (g *attrGen) phaseAttrs(t *Title, p phaseSpec, u float64) Attrs {
	return g.floatAttrs(floatIn(t, u), p.served)
}

// karambit is a Doppler with seven phases: a HISTORY trap in Phase 3, a Ruby FLOAT deal, a fairly priced
// Phase 2 low float among more than ItemsPerStatus Phase 2 listings.
func (g *attrGen) karambit() {
	t := g.title("★ Karambit | Doppler (Factory New)", 90000)
	ph := []phaseSpec{
		{"Phase 1", "Phase 1", skin{60000, 0.08}}, {"phase2", "Phase 2", skin{75000, 0.08}},
		{"Phase 3", "Phase 3", skin{58000, 0.02}}, {"PHASE 4", "Phase 4", skin{65000, 0.08}},
		{"RUBY", "Ruby", skin{250000, 0.08}}, {"Sapphire", "Sapphire", skin{280000, 0.08}},
	}
	g.hourlyPhaseSales(t, ph, 26, 0.01, true)
	bp := phaseSpec{"black_pearl", "Black Pearl", skin{180000, 0.08}}
	for i := range 3 {
		g.sell(t, bp.skin.base, time.Duration(5+i*7)*time.Hour, g.phaseAttrs(t, bp, g.r.Float64()))
	}
	for i := range 3 { // sales without a phase: the title's, no phase's
		g.sell(t, 70000, time.Duration(3+i*5)*time.Hour, g.floatAttrs(floatIn(t, g.r.Float64()), ""))
	}
	byCanon := map[string]phaseSpec{}
	for _, p := range ph {
		byCanon[p.canon] = p
	}
	// Phase 3: every listing above what Phase 3 sells at, far below the mixed history's price.
	p3 := byCanon["Phase 3"]
	trap := g.list(t, p3.skin.base*125/100, 0, g.phaseAttrs(t, p3, 0.6))
	g.design(trap, "HISTORY", "Phase 3", false, "the mixed-phase history sells at about twice its price, Phase 3 below it")
	for range 3 {
		g.list(t, p3.skin.base*(130+int64(g.r.IntN(20)))/100, 0, g.phaseAttrs(t, p3, g.r.Float64()))
	}
	// Phase 2: 10 fair listings, a fairly priced low float, 12 dearer ones (23: trimmed to 20).
	p2 := byCanon["Phase 2"]
	c2 := g.curve(t, "Phase 2")
	for range 10 {
		a := g.phaseAttrs(t, p2, 0.3+0.7*g.r.Float64())
		g.list(t, int64(c2.ValueAt(a.Float))*(100+int64(g.r.IntN(20)))/100, 0, a)
	}
	a := g.phaseAttrs(t, p2, 0.01)
	fair := g.list(t, int64(c2.ValueAt(a.Float))*101/100, 0, a)
	g.design(fair, "FLOAT", "Phase 2", false, "a Phase 2 low float listed just above its value among 23 Phase 2 listings")
	for range 12 {
		g.list(t, fair.PriceCents+1+g.r.Int64N(20000), 0, g.phaseAttrs(t, p2, g.r.Float64()))
	}
	// Ruby: a deal at 70 % of the Ruby value (far above every other phase's prices).
	ruby := byCanon["Ruby"]
	cr := g.curve(t, "Ruby")
	a = g.phaseAttrs(t, ruby, 0.05)
	g.design(g.list(t, int64(cr.ValueAt(a.Float))*70/100, 0, a), "FLOAT", "Ruby", true, "a Ruby listed 30 % below its value")
	g.list(t, int64(cr.ValueAt(1))*115/100, 0, g.phaseAttrs(t, ruby, 0.9))
	for _, p := range []phaseSpec{byCanon["Phase 1"], byCanon["Phase 4"], byCanon["Sapphire"]} {
		c := g.curve(t, p.canon)
		g.fairListings(t, c, 3, 0, p.served, 0, 1, 0)
		g.fairListings(t, c, 2, g.lock(), p.served, 0, 1, 0)
	}
	// A listing without a phase and one of a phase without enough sales.
	g.list(t, 200000, 0, g.floatAttrs(floatIn(t, 0.5), ""))
	g.list(t, 190000, 0, g.phaseAttrs(t, bp, 0.4))
	t.BuyOrder = &BuyOrder{PriceCents: 50000, Count: 4}
}

// butterfly is a Gamma Doppler: a locked HISTORY trap in Phase 1, a Phase 4 FLOAT deal and a fairly
// priced Emerald, the phase sent under "phase".
func (g *attrGen) butterfly() {
	t := g.title("★ Butterfly Knife | Gamma Doppler (Minimal Wear)", 45000)
	ph := []phaseSpec{
		{"Phase 1", "Phase 1", skin{40000, 0.02}}, {"Phase 2", "Phase 2", skin{42000, 0.1}},
		{"phase-3", "Phase 3", skin{39000, 0.1}}, {"Phase 4", "Phase 4", skin{41000, 0.1}},
		{"Emerald", "Emerald", skin{150000, 0.1}},
	}
	g.hourlyPhaseSales(t, ph, 30, 0.01, true)
	for i := range t.Sales {
		if i%4 == 1 {
			t.Sales[i].Attrs.PhaseKey = "phase"
		}
	}
	p1, p4, em := ph[0], ph[3], ph[4]
	trap := g.list(t, p1.skin.base*130/100, 2*86400+g.r.Int64N(86400), g.phaseAttrs(t, p1, 0.5))
	g.design(trap, "HISTORY", "Phase 1", false, "a locked Phase 1 the mixed history (Emerald included) calls a big profit")
	g.list(t, p1.skin.base*140/100, 5*86400, g.phaseAttrs(t, p1, 0.2))
	c1 := g.curve(t, "Phase 1")
	g.fairListings(t, c1, 4, 0, p1.served, 0, 1, 0)
	c4 := g.curve(t, "Phase 4")
	g.fairListings(t, c4, 5, 0, p4.served, 0.2, 1, 0)
	a := g.phaseAttrs(t, p4, 0.02)
	deal := g.list(t, int64(c4.ValueAt(a.Float))*80/100, 0, a)
	deal.Attrs.PhaseKey = "phase"
	g.design(deal, "FLOAT", "Phase 4", true, "a Phase 4 low float listed 20 % below its value")
	ce := g.curve(t, "Emerald")
	a = g.phaseAttrs(t, em, 0.03)
	g.design(g.list(t, int64(ce.ValueAt(a.Float)), 0, a), "FLOAT", "Emerald", false, "an Emerald listed at its value")
	g.fairListings(t, ce, 2, 0, em.served, 0.3, 1, 0)
}

// stickerAttrs returns float and seed attributes of t at a random float, with phase and stickers.
func (g *attrGen) stickerAttrs(t *Title, phase string, stickers ...string) Attrs {
	a := g.floatAttrs(floatIn(t, g.r.Float64()), phase)
	a.Stickers = stickers
	return a
}

// stickers are the sticker titles: two expensive and one cheap one listed tradable, one listed only
// trade-locked with sales (valued at its history), each with a few sales.
func (g *attrGen) stickers() {
	for _, s := range []struct {
		name  string
		price int64
	}{{stickerTitan, 50000}, {stickerIBP, 80000}, {stickerCrown, 2500}} {
		t := g.title(s.name, s.price)
		for i := range 3 {
			g.list(t, s.price+int64(i)*s.price/20, 0, Attrs{})
		}
		g.list(t, s.price*9/10, g.lock(), Attrs{})
		for i := range 4 {
			g.sell(t, s.price+int64(i), time.Duration(2+i*9)*time.Hour, Attrs{})
		}
	}
	t := g.title(stickerHowling, 4000)
	g.list(t, 4100, 3*86400, Attrs{})
	g.list(t, 4300, 5*86400, Attrs{})
	for i := range 9 {
		g.sell(t, 3500+int64(i)*50, time.Duration(1+i*3)*time.Hour, Attrs{})
	}
}

// glock is a cheap Gamma Doppler without float sales: a Phase 2 STICKERS deal over its phase's floor, a
// Phase 1 sticker craft priced at its stickers' share, an Emerald with worthless stickers.
func (g *attrGen) glock() {
	t := g.title("Glock-18 | Gamma Doppler (Factory New)", 3500)
	for h := range 20 {
		g.sell(t, 3000+g.r.Int64N(60), time.Duration(h)*time.Hour+30*time.Minute, Attrs{Phase: "Phase 2"})
		if h < 8 {
			g.sell(t, 20000+g.r.Int64N(400), time.Duration(h)*time.Hour+40*time.Minute, Attrs{Phase: "Emerald"})
		}
		if h < 5 {
			g.sell(t, 3300, time.Duration(h)*time.Hour+50*time.Minute, Attrs{Phase: "Phase 1", Seed: h, HasSeed: true})
		}
	}
	g.sell(t, 2900, 2*time.Hour, Attrs{})
	g.list(t, 3000, 0, g.stickerAttrs(t, "Phase 2"))
	for range 3 {
		g.list(t, 3200+g.r.Int64N(500), 0, g.stickerAttrs(t, "Phase 2"))
	}
	// V = 2 × $500 + $25 = $1025: sell = $30.00 + $102.50.
	deal := g.list(t, 3100, 0, g.stickerAttrs(t, "Phase 2", "Titan (Holo) | Katowice 2014", stickerTitan, "Crown (Foil)"))
	g.design(deal, "STICKERS", "Phase 2", true, "two Titan Holo and a Crown Foil $1 over the Phase 2 floor")
	g.list(t, 3300, 0, g.stickerAttrs(t, "Phase 1"))
	// V = 4 × $800 = $3200: the craft asks floor + $320 + $2.
	craft := g.list(t, 3300+32000+200, 0, g.stickerAttrs(t, "Phase 1", stickerIBP, stickerIBP, stickerIBP, stickerIBP))
	g.design(craft, "STICKERS", "Phase 1", false, "a sticker craft priced at its stickers' share")
	g.list(t, 19000, 0, g.stickerAttrs(t, "Emerald"))
	none := g.list(t, 19000, 0, g.stickerAttrs(t, "Emerald", stickerUnlisted, "Unlisted Craft"))
	g.design(none, "STICKERS", "Emerald", false, "stickers no title names (worth nothing) at the Emerald floor")
	g.list(t, 3050, g.lock(), g.stickerAttrs(t, ""))
	// Bad attributes: a phase no Doppler has (left out: the item joins the items without a phase),
	// seven stickers of which one is only control characters and one carries a control character.
	bad := g.stickerAttrs(t, "Phase 9", "Crown\x00 (Foil)", "\x07\x1f", stickerCrown, stickerCrown, stickerCrown, stickerCrown,
		stickerTitan, stickerTitan)
	g.list(t, 3600, 0, bad)
}

// badAttrs is a float title whose listings and sales also carry attributes that break the rules (a
// float outside [0, 1], a negative or huge paint seed, a float string that is no number): the bad
// attribute is left out, the item kept.
func (g *attrGen) badAttrs() {
	t := g.title("MAC-10 | Neon Rider (Minimal Wear)", 2500)
	s := skin{base: 2500, prem: 0.5}
	g.floatSales(t, s, 30, 0.03, "")
	bads := []Attrs{{Float: 1.5, HasFloat: true, Seed: 3, HasSeed: true}, {Float: 0.1, HasFloat: true, Seed: -1, HasSeed: true},
		{Float: -0.25, HasFloat: true, FloatAsString: true}, {Float: 0.12, HasFloat: true, Seed: 2_000_000, HasSeed: true},
		{HasFloat: true, FloatText: "n/a", Seed: 11, HasSeed: true}, {HasFloat: true, FloatText: "0x1p-3", Seed: 12, HasSeed: true}}
	for i := range t.Sales {
		if i%7 == 0 {
			t.Sales[i].Attrs = bads[i/7%len(bads)]
		}
	}
	for i := range 16 {
		f := floatIn(t, g.r.Float64())
		a := g.floatAttrs(f, "")
		if i < len(bads) {
			a = bads[i]
		}
		g.list(t, s.value(t, min(f, 0.15))*int64(80+g.r.IntN(40))/100, 0, a)
	}
}

// stickerTitles are non-phased titles without float sales: tradable and locked STICKERS deals, a sticker
// craft, worthless stickers, names with white space.
func (g *attrGen) stickerTitles() {
	t := g.title("AK-47 | Gold Arabesque (Field-Tested)", 3000)
	for h := range 7 * 24 / 4 {
		g.sell(t, 3000+g.r.Int64N(40), time.Duration(h)*4*time.Hour+time.Duration(g.r.IntN(3600))*time.Second,
			g.floatAttrs(floatIn(t, g.r.Float64()), ""))
	}
	for i := range t.Sales { // sales carry seeds only: no float curve
		t.Sales[i].Attrs.HasFloat = false
	}
	g.list(t, 2500, 0, g.stickerAttrs(t, ""))
	for range 12 {
		g.list(t, 2500+g.r.Int64N(1500), 0, g.stickerAttrs(t, ""))
	}
	// V = $1025: sell = $25.00 + $102.50.
	deal := g.list(t, 2600, 0, g.stickerAttrs(t, "", "Titan (Holo) | Katowice 2014", " "+stickerTitan+" ", "Crown (Foil)"))
	g.design(deal, "STICKERS", "", true, "two Titan Holo and a Crown Foil $1 over the floor")
	// V = 4 × $800: the craft asks floor + $320 + $5.
	craft := g.list(t, 2500+32000+500, 0, g.stickerAttrs(t, "", "iBUYPOWER (Holo) | Katowice 2014", stickerIBP, stickerIBP, stickerIBP))
	g.design(craft, "STICKERS", "", false, "a sticker craft priced above its stickers' share")
	for range 3 { // cheap crafts above the share of their Crown Foils
		g.list(t, 2500+500+g.r.Int64N(1000), 0, g.stickerAttrs(t, "", stickerCrown, "Crown (Foil)"))
	}
	lk := g.lock()
	g.list(t, 2300, lk, g.stickerAttrs(t, ""))
	g.list(t, 2450, g.lock(), g.stickerAttrs(t, ""))
	// V = $500 + the Howling Dawn's history value (about $37): sell ≥ $23.00 + $50.00.
	ld := g.list(t, 2400, g.lock(), g.stickerAttrs(t, "", stickerTitan, "Howling Dawn"))
	g.design(ld, "STICKERS", "", true, "a locked Titan Holo and a Howling Dawn (valued by its sales) $1 over the locked floor")
	t.BuyOrder = &BuyOrder{PriceCents: 2200, Count: 12}

	hr := g.title("M4A1-S | Hot Rod (Factory New)", 9000)
	for h := range 30 {
		g.sell(hr, 9000+g.r.Int64N(90), time.Duration(h)*time.Hour+20*time.Minute, Attrs{Seed: g.r.IntN(1000), HasSeed: true})
	}
	g.list(hr, 8800, 0, g.stickerAttrs(hr, ""))
	none := g.list(hr, 8800, 0, g.stickerAttrs(hr, "", stickerUnlisted, stickerUnlisted, "  Unlisted Craft"))
	g.design(none, "STICKERS", "", false, "stickers no title names at the floor")
	g.list(hr, 9100, 0, g.stickerAttrs(hr, "", "Crown (Foil)", "Crown (Foil)", "Crown (Foil)", "Crown (Foil)", "Crown (Foil)", "Crown (Foil)"))
	g.list(hr, 9300, g.lock(), Attrs{Seed: 7, HasSeed: true})
}

// neverListedSticker adds a sticker title that is never listed, only sold, and a tradable STICKERS deal
// carrying it on a title of its own (made last, so that the other titles' random draws stay as they were).
func (g *attrGen) neverListedSticker() {
	s := g.title(stickerNeverListed, 30000)
	for i := range 8 {
		g.sell(s, 29000+int64(i)*200, time.Duration(3+i*11)*time.Hour, Attrs{})
	}
	t := g.title("Sawed-Off | The Kraken (Minimal Wear)", 4000)
	for h := range 24 {
		g.sell(t, 4000+g.r.Int64N(50), time.Duration(h)*3*time.Hour+15*time.Minute, Attrs{Seed: g.r.IntN(1000), HasSeed: true})
	}
	g.list(t, 3900, 0, g.stickerAttrs(t, ""))
	g.list(t, 4100, 0, g.stickerAttrs(t, ""))
	// V = the Vox Eminor's history value (about $290): sell ≈ $39.00 + $29.00.
	deal := g.list(t, 4000, 0, g.stickerAttrs(t, "", "Vox Eminor (Holo) | Katowice 2014"))
	g.design(deal, "STICKERS", "", true, "a sticker never listed, valued by its sales, $1 over the floor")
}

// randomTitles are float titles with random prices around their float value, random stickers and
// buy orders: offers nobody designed, for the ground truth to compute.
func (g *attrGen) randomTitles() {
	names := []string{"★ M9 Bayonet | Marble Fade (Factory New)", "AWP | Medusa (Well-Worn)",
		"P90 | Emerald Dragon (Minimal Wear)", "SSG 08 | Blood in the Water (Field-Tested)"}
	stickerNames := []string{"Crown (Foil)", stickerTitan, "Howling Dawn", stickerUnlisted, "*Crown* (Foil)", stickerIBP}
	for i, name := range names {
		base := int64(2000 + g.r.IntN(60000))
		t := g.title(name, base)
		s := skin{base: base, prem: 0.2 + 0.5*g.r.Float64()}
		g.floatSales(t, s, 14+g.r.IntN(40), 0.08, "")
		for range 8 + g.r.IntN(20) {
			f := floatIn(t, g.r.Float64())
			a := g.floatAttrs(f, "")
			for range g.r.IntN(4) {
				a.Stickers = append(a.Stickers, stickerNames[g.r.IntN(len(stickerNames))])
			}
			lock := int64(0)
			if g.r.IntN(4) == 0 {
				lock = g.lock()
			}
			g.list(t, s.value(t, f)*int64(80+g.r.IntN(45))/100, lock, a)
		}
		if i%2 == 0 {
			t.BuyOrder = &BuyOrder{PriceCents: base * 85 / 100, Count: 1 + g.r.IntN(9)}
		}
	}
}

// attributeCatalogue adds the attribute titles to titles (AttrGame's, sorted by name), with their
// reduced fees to fees, and returns the titles and the designed cases. Titles whose names are taken
// already are left out, with their designed cases.
func attributeCatalogue(cfg *Config, byName map[string]*Title, fees *Fees) ([]*Title, []Designed) {
	ts, designed, reduced := attributeTitles(cfg)
	var added []*Title
	for _, t := range ts {
		if _, dup := byName[t.Name]; dup {
			continue
		}
		t.Sales = withoutWeekEdge(t.Sales, cfg.Now)
		byName[t.Name] = t
		added = append(added, t)
	}
	designed = slices.DeleteFunc(designed, func(d Designed) bool { return !slices.Contains(added, byName[d.Title]) })
	for _, rf := range reduced {
		if slices.Contains(added, byName[rf.Title]) {
			fees.Reduced = append(fees.Reduced, rf)
		}
	}
	slices.SortStableFunc(fees.Reduced, func(a, b ReducedFee) int {
		// Filler entries stay first, as the adversarial fees put them.
		af, bf := strings.HasPrefix(a.Title, "Reduced Filler | "), strings.HasPrefix(b.Title, "Reduced Filler | ")
		if af != bf {
			return map[bool]int{true: -1, false: 1}[af]
		}
		return cmp.Compare(a.Title, b.Title)
	})
	return added, designed
}

// String describes a designed case for test messages.
func (d Designed) String() string {
	st := "available"
	if d.Locked {
		st = "locked"
	}
	return fmt.Sprintf("%s %s %s %q item %s at %d (deal %t): %s", d.Kind, st, d.Phase, d.Title, d.ItemID, d.Price, d.Deal, d.Why)
}
