package dmarkettest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The adversarial part of a catalogue (Config.Simple false) adds the cases a price monitor most easily
// gets wrong, on top of the ordinary titles: the titles to the first game (a title names one item of one
// game), the fees to every game:
//
//   - crowds: one price shared by more than a page (100) of one title's listings, tradable, locked or
//     both, at a crawler range bound and below a deeper level, and one price shared by listings of many
//     titles; crowd listings share their creation time, so several listings tie on the cursor's price and
//     time and only the offer id orders them;
//   - titles with the characters * : + % & < > " ★ ™ and a title of 250 code points;
//   - trade locks under one day and of exactly one day, and titles that exist only trade-locked;
//   - sparse sales (none, one to four, only older than a week, two sales in one hour with a half-cent
//     mean), barely stable histories (19 hourly points) and several sales per hour;
//   - titles of a few cents whose HISTORY offers lose money, and a HISTORY buy either side of $100;
//   - reduced fees with a huge maxPrice (100000000), a zero minPrice or maxPrice (open), a missing
//     minPrice, maxPrice or both, bounds equal to the resale price and just below it, an expired entry, unusual fractions,
//     and more than a thousand entries in all, so that a client must page to see the catalogue's own.
//
// No sale of any title lies within two hours of Now − 7 days, so that an analysis run up to an hour after
// Now counts the same sales as one run at Now.

// AdversarialFillerFees is the number of reduced fees of titles outside the catalogue that precede the
// catalogue's own in every adversarial game's customized-fees answer.
const AdversarialFillerFees = 1100

// MaxFeesPage is the largest customized-fees page the simulator serves; a larger limit is clamped.
const MaxFeesPage = 1000

// HugeMaxPriceCents is the very wide maxPrice some adversarial reduced fees carry.
const HugeMaxPriceCents = 100_000_000

// weekEdgeGap is the band around Now − 7 days kept free of sales.
const weekEdgeGap = 2 * time.Hour

type adversary struct {
	cfg  *Config
	game string
	r    *rand.Rand
	now  time.Time
	// fee rules of special titles, applied by fees.
	feeRules map[string]func(t *Title) ReducedFee
}

func newAdversary(cfg *Config, game string) *adversary {
	return &adversary{cfg: cfg, game: game, r: newRand(cfg.Seed, "adversarial|"+game), now: cfg.Now,
		feeRules: map[string]func(t *Title) ReducedFee{}}
}

// withoutWeekEdge drops the sales within weekEdgeGap of now − 7 days.
func withoutWeekEdge(sales []Sale, now time.Time) []Sale {
	edge := now.Add(-7 * 24 * time.Hour)
	out := sales[:0]
	for _, s := range sales {
		if d := s.Date.Sub(edge); d > -weekEdgeGap && d < weekEdgeGap {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (a *adversary) title(name string, suggested int64) *Title {
	return &Title{GameID: a.game, Name: name, SuggestedCents: suggested}
}

// add appends n listings at price with the given lock (0 = tradable); same says whether they share one
// creation time (a cursor tie).
func (a *adversary) add(t *Title, n int, price, lock int64, same bool) {
	at := a.now.Add(-time.Duration(1+a.r.IntN(20*24*3600)) * time.Second)
	for range n {
		if !same {
			at = a.now.Add(-time.Duration(1+a.r.IntN(20*24*3600)) * time.Second)
		}
		l := &Listing{
			GameID: a.game, Title: t.Name, ItemID: uuid(a.r), OfferID: uuid(a.r), PriceCents: price,
			SuggestedCents: t.SuggestedCents, LockSeconds: lock, CreatedAt: at,
			FloatValue: math.Round(a.r.Float64()*1e9) / 1e9, PaintSeed: a.r.IntN(1000),
		}
		l.Attrs = plainAttrs(a.game, t.Name, l.FloatValue, l.PaintSeed)
		t.Listings = append(t.Listings, l)
	}
}

func (a *adversary) lock() int64 { return 1 + a.r.Int64N(8*24*3600) }

func (a *adversary) order(t *Title, price int64) {
	t.BuyOrder = &BuyOrder{PriceCents: price, Count: 1 + a.r.IntN(40)}
}

// hourly gives t one sale per hour for hours hours (newest within the last hour) at prices drawn around
// center (±spread share), perHour sales an hour.
func (a *adversary) hourly(t *Title, hours, perHour int, center int64, spread float64) {
	for h := range hours {
		for range perHour {
			at := a.now.Add(-time.Duration(h)*time.Hour - time.Duration(a.r.IntN(3600))*time.Second)
			f := 1 + spread*(2*a.r.Float64()-1)
			tx := "Offer"
			if a.r.IntN(3) == 0 {
				tx = "Target"
			}
			t.Sales = append(t.Sales, Sale{PriceCents: max(1, int64(math.Round(float64(center)*f))), Date: at, TxOperationType: tx})
		}
	}
	t.Stable = true
}

func (a *adversary) sale(t *Title, price int64, ago time.Duration) {
	t.Sales = append(t.Sales, Sale{PriceCents: price, Date: a.now.Add(-ago), TxOperationType: "Offer"})
}

func (a *adversary) finish(t *Title) *Title {
	slices.SortFunc(t.Listings, listingLess)
	slices.SortStableFunc(t.Sales, func(x, y Sale) int { return y.Date.Compare(x.Date) })
	return t
}

// specialNames are titles with characters that need escaping or encoding somewhere.
var specialNames = []string{
	"Sticker | *Crown* (Foil)",
	"Sealed Graffiti | Key: Value (Battle Green)",
	"Name Tag +1",
	"100% Discount Case",
	"R&D Case <Prototype>",
	`"Quoted" Souvenir Package`,
	"★ Karambit | Fade (Factory New)",
	`StatTrak™ ★ Bayonet | Doppler <Phase 2> & "Ruby" : *+% (Minimal Wear)`,
	`Sticker | A&B <C> "D" : E * F + G % ★ ™`,
	"Patch | 50%+50% = 100% ™",
}

// longName returns a title of exactly 250 code points (more than 250 bytes).
func longName() string {
	var b strings.Builder
	b.WriteString("★ Long Souvenir ™ ")
	for i := 0; utf8.RuneCountInString(b.String()) < 250; i++ {
		fmt.Fprintf(&b, "Part %d ★ ", i)
	}
	runes := []rune(b.String())[:250]
	if runes[249] == ' ' {
		runes[249] = 'X'
	}
	return string(runes)
}

// titles returns base plus the adversarial titles of the game, group by group.
func (a *adversary) titles(base []*Title) []*Title {
	out := slices.Clone(base)
	groups := []func() []*Title{a.crowds, a.sharedPrice, a.specialTitles, a.locks, a.lockedOnly, a.sparseSales,
		a.barelyStable, a.denseHours, a.cheap, a.levelBoundary, a.feeEdges}
	for _, group := range groups {
		for _, t := range group() {
			out = append(out, a.finish(t))
		}
	}
	return out
}

// crowds are titles whose listings crowd one price with more than a page.
func (a *adversary) crowds() []*Title {
	// One title's tradable listings crowd one price at a crawler range bound ($10).
	bound := a.title("Crowd | Tradable at a Bound (Field-Tested)", 1100)
	a.add(bound, 137, 1000, 0, true)
	a.add(bound, 5, 1001+a.r.Int64N(5), 0, false)
	a.add(bound, 2, 1200, a.lock(), false)
	a.order(bound, 990)
	a.hourly(bound, 7*24, 1, 1150, 0.01)
	a.feeRules[bound.Name] = func(t *Title) ReducedFee { return a.reduced(t, "0.02", 1, HugeMaxPriceCents) }

	// Locked listings crowd one price; the lowest lock is on one of them.
	locked := a.title("Crowd | Locked (Minimal Wear)", 2600)
	for range 112 {
		a.add(locked, 1, 2500, 5*86400+a.r.Int64N(3*86400), true)
	}
	a.add(locked, 1, 2500, 3*86400+7, false)
	a.add(locked, 3, 2700, 0, false)
	a.order(locked, 2400)

	// Both statuses at one price, more than a page each.
	both := a.title("Crowd | Both Statuses", 5200)
	a.add(both, 105, 5000, 0, true)
	for range 101 {
		a.add(both, 1, 5000, a.lock(), true)
	}
	a.order(both, 4800)
	a.hourly(both, 6*24, 1, 5600, 0.02)

	// A deeper level crowds, the cheapest does not.
	deep := a.title("Crowd | Deep Level", 1700)
	a.add(deep, 3, 1500, 0, false)
	a.add(deep, 120, 1600, 0, true)
	a.add(deep, 104, 1650, a.lock(), true)
	a.order(deep, 1400)
	return []*Title{bound, locked, both, deep}
}

// sharedPrice are many titles sharing one price: 180 listings at $7.77 across pages.
func (a *adversary) sharedPrice() []*Title {
	var out []*Title
	for i := range 45 {
		t := a.title(fmt.Sprintf("Shared Price Case %02d", i), 800)
		a.add(t, 3, 777, 0, true)
		lock := a.lock()
		if i%5 == 0 {
			lock = 1 + a.r.Int64N(86399)
		}
		a.add(t, 1, 777, lock, true)
		if i%3 == 0 {
			a.order(t, 700+int64(i))
		}
		out = append(out, t)
	}
	return out
}

// specialTitles are titles with characters that need care, and a long one.
func (a *adversary) specialTitles() []*Title {
	var out []*Title
	names := append(slices.Clone(specialNames), longName())
	for i, name := range names {
		sug := int64(200 + a.r.IntN(20000))
		t := a.title(name, sug)
		free := sug * int64(90+a.r.IntN(20)) / 100
		a.add(t, 1+a.r.IntN(4), free, 0, false)
		a.add(t, 1+a.r.IntN(3), free*85/100, a.lock(), false)
		a.add(t, 2, free+7, 0, false)
		a.order(t, free*97/100)
		if i%2 == 0 {
			a.hourly(t, 7*24, 1, sug*105/100, 0.015)
		} else {
			a.sale(t, sug, 3*time.Hour)
		}
		switch i % 4 {
		case 0:
			a.feeRules[name] = func(t *Title) ReducedFee { return a.reduced(t, "0.03", 0, HugeMaxPriceCents) }
		case 1:
			a.feeRules[name] = func(t *Title) ReducedFee {
				f := a.reduced(t, "0.025", 0, 0)
				f.OpenMin, f.OpenMax = true, true
				return f
			}
		}
		out = append(out, t)
	}
	return out
}

// locks are trade locks under one day and of exactly one day.
func (a *adversary) locks() []*Title {
	under := a.title("Lock | Under a Day (Well-Worn)", 900)
	a.add(under, 2, 800, 3600, false)
	a.add(under, 1, 800, 86399, false)
	a.add(under, 2, 950, 0, false)
	a.order(under, 870)
	a.hourly(under, 7*24, 1, 990, 0.01)
	exact := a.title("Lock | Exactly One Day (Well-Worn)", 900)
	a.add(exact, 1, 810, 86400, false)
	a.add(exact, 1, 810, 2*86400, false)
	a.add(exact, 1, 960, 0, false)
	a.order(exact, 880)
	mixed := a.title("Lock | Cheapest Locked Under a Day, Dearer Locked Longer", 3000)
	a.add(mixed, 1, 2500, 12*3600, false)
	a.add(mixed, 1, 2400, 7*86400, false)
	a.add(mixed, 1, 3100, 0, false)
	a.order(mixed, 2900)
	return []*Title{under, exact, mixed}
}

// series returns n titles named by format (given the index) with suggested prices drawn from
// [lo, lo+spread), each filled by fill.
func (a *adversary) series(n int, format string, lo, spread int, fill func(i int, t *Title, sug int64)) []*Title {
	out := make([]*Title, 0, n)
	for i := range n {
		sug := int64(lo + a.r.IntN(spread))
		t := a.title(fmt.Sprintf(format, i), sug)
		fill(i, t, sug)
		out = append(out, t)
	}
	return out
}

// lockedOnly are titles that exist only trade-locked.
func (a *adversary) lockedOnly() []*Title {
	return a.series(6, "Locked Only | Item %d", 100, 5000, func(i int, t *Title, sug int64) {
		a.add(t, 1+a.r.IntN(5), sug*(80+int64(a.r.IntN(20)))/100, a.lock(), false)
		a.add(t, 1, sug, 1+a.r.Int64N(86399), false)
		if i%2 == 0 {
			a.order(t, sug*95/100)
			a.hourly(t, 7*24, 1, sug*110/100, 0.01)
		}
	})
}

// sparseSales are titles with few sales, seven kinds of sparse.
func (a *adversary) sparseSales() []*Title {
	return a.series(14, "Sparse Sales | Item %02d", 50, 3000, func(i int, t *Title, sug int64) {
		a.add(t, 1+a.r.IntN(3), sug, 0, false)
		a.add(t, 1, sug*90/100, a.lock(), false)
		if i%2 == 0 {
			a.order(t, sug*95/100)
		}
		a.sparse(t, i%7, sug)
	})
}

// sparse gives t the sales of sparse kind 0..6 around sug.
func (a *adversary) sparse(t *Title, kind int, sug int64) {
	switch kind {
	case 0: // no sales at all
	case 1:
		a.sale(t, sug, 30*time.Minute)
	case 2:
		for k := range 4 {
			a.sale(t, sug+int64(k), time.Duration(1+k*20)*time.Hour)
		}
	case 3: // only sales older than a week
		a.sale(t, sug, 7*24*time.Hour+5*time.Hour)
		a.sale(t, sug+1, 7*24*time.Hour+9*time.Hour)
	case 4: // two sales in one hour with a half-cent mean, and one more
		h := a.now.Add(-5 * time.Hour).Truncate(time.Hour)
		t.Sales = append(t.Sales, Sale{PriceCents: sug, Date: h.Add(10 * time.Minute), TxOperationType: "Offer"},
			Sale{PriceCents: sug + 1, Date: h.Add(40 * time.Minute), TxOperationType: "Target"})
		a.sale(t, sug+3, 50*time.Hour)
	case 5: // five sales, not stable
		for k := range 5 {
			a.sale(t, sug+int64(10*k), time.Duration(2+k)*time.Hour)
		}
	case 6: // sales either side of the week's edge band
		a.sale(t, sug, 7*24*time.Hour-3*time.Hour)
		a.sale(t, sug+2, 7*24*time.Hour+3*time.Hour)
	}
}

// barelyStable are titles with 19 hourly points, 5 windows of 15.
func (a *adversary) barelyStable() []*Title {
	return a.series(3, "Barely Stable | Item %d", 300, 900, func(_ int, t *Title, sug int64) {
		a.add(t, 2, sug*95/100, 0, false)
		a.add(t, 1, sug*85/100, a.lock(), false)
		for h := range 19 { // one sale in each of 19 distinct hours
			at := a.now.Truncate(time.Hour).Add(-time.Duration(h+1)*time.Hour + 30*time.Minute)
			t.Sales = append(t.Sales, Sale{PriceCents: sug, Date: at, TxOperationType: "Offer"})
		}
		t.Stable = true
	})
}

// denseHours are titles with several sales per hour.
func (a *adversary) denseHours() []*Title {
	return a.series(3, "Dense Hours | Item %d", 400, 900, func(_ int, t *Title, sug int64) {
		a.add(t, 2, sug*93/100, 0, false)
		a.add(t, 2, sug*80/100, a.lock(), false)
		a.order(t, sug*90/100)
		a.hourly(t, 60, 3, sug, 0.02)
	})
}

// cheap are titles of a few cents: HISTORY offers around zero profit, tradable and locked at different
// prices.
func (a *adversary) cheap() []*Title {
	var out []*Title
	for i := range 6 {
		t := a.title(fmt.Sprintf("Cheap | Item %d", i), 3)
		a.add(t, 2+a.r.IntN(3), 3, 0, false)
		a.add(t, 1+a.r.IntN(2), 2, a.lock(), false)
		if i%2 == 1 {
			a.add(t, 1, 4, 0, false)
		}
		a.hourly(t, 7*24, 1, 3, 0.1)
		if i == 0 {
			a.order(t, 2)
		}
		out = append(out, t)
	}
	return out
}

// levelBoundary is a title whose HISTORY buy prices lie either side of $100 (levels 50 % and 20 %).
func (a *adversary) levelBoundary() []*Title {
	t := a.title("Level Boundary | Knife (Field-Tested)", 10500)
	a.add(t, 1, 9999, 0, false)
	a.add(t, 1, 10000, a.lock(), false)
	a.add(t, 3, 11000, 0, false)
	a.hourly(t, 7*24, 1, 10800, 0.05)
	return []*Title{t}
}

// feeEdges are titles whose reduced fees have awkward bounds: at the resale price and just below it,
// expired, open or zero bounds, a zero fraction.
func (a *adversary) feeEdges() []*Title {
	edges := []struct {
		name string
		fee  func(t *Title) ReducedFee
	}{
		{"Fee Edge | Bound Equals Sell", func(t *Title) ReducedFee { return a.reduced(t, "0.01", 2000, 2000) }},
		{"Fee Edge | Bound Below Sell", func(t *Title) ReducedFee { return a.reduced(t, "0.01", 1, 1999) }},
		{"Fee Edge | Expired", func(t *Title) ReducedFee {
			f := a.reduced(t, "0.01", 1, HugeMaxPriceCents)
			f.ExpiresAt = a.now.Add(-time.Hour)
			return f
		}},
		{"Fee Edge | Missing Max", func(t *Title) ReducedFee {
			f := a.reduced(t, "0.0125", 1000, 0)
			f.OpenMax = true
			return f
		}},
		{"Fee Edge | Missing Min", func(t *Title) ReducedFee {
			f := a.reduced(t, "0.035", 0, 5000)
			f.OpenMin = true
			return f
		}},
		{"Fee Edge | Zero Max", func(t *Title) ReducedFee { return a.reduced(t, "0.015", 0, 0) }},
		{"Fee Edge | Zero Fraction", func(t *Title) ReducedFee { return a.reduced(t, "0", 0, HugeMaxPriceCents) }},
	}
	out := make([]*Title, 0, len(edges))
	for _, e := range edges {
		t := a.title(e.name, 2000)
		a.add(t, 2, 2050, 0, false)
		a.order(t, 2000)
		a.feeRules[t.Name] = e.fee
		out = append(out, t)
	}
	return out
}

func (a *adversary) reduced(t *Title, fraction string, lo, hi int64) ReducedFee {
	return ReducedFee{Title: t.Name, Fraction: fraction, MinPriceCents: lo, MaxPriceCents: hi, ExpiresAt: a.now.Add(24 * time.Hour)}
}

// fees rewrites f: AdversarialFillerFees entries of titles outside the catalogue first, then one entry
// per reduced-fee title of the catalogue (the ordinary ones, the special titles' and wide-bound fees of
// some ordinary titles with buy orders), sorted by title.
func (a *adversary) fees(f *Fees, titles []*Title) {
	have := map[string]bool{}
	own := slices.Clone(f.Reduced)
	for _, rf := range own {
		have[rf.Title] = true
	}
	for _, t := range titles {
		if rule := a.feeRules[t.Name]; rule != nil && !have[t.Name] {
			own = append(own, rule(t))
			have[t.Name] = true
		}
	}
	// Wide bounds on ordinary titles with buy orders: their TARGET offers must use the reduced fee.
	kinds := 0
	for _, i := range a.r.Perm(len(titles)) {
		t := titles[i]
		if t.BuyOrder == nil || have[t.Name] || kinds >= 24 {
			continue
		}
		rf := a.reduced(t, []string{"0.02", "0.03", "0.015"}[kinds%3], 0, HugeMaxPriceCents)
		switch kinds % 4 {
		case 1:
			rf.MinPriceCents = 1
		case 2:
			rf.OpenMax = true
		case 3:
			rf.OpenMin, rf.OpenMax = true, true
		}
		own = append(own, rf)
		have[t.Name] = true
		kinds++
	}
	slices.SortFunc(own, func(x, y ReducedFee) int { return strings.Compare(x.Title, y.Title) })
	filler := make([]ReducedFee, 0, AdversarialFillerFees+len(own))
	for i := range AdversarialFillerFees {
		filler = append(filler, ReducedFee{Title: fmt.Sprintf("Reduced Filler | Item %04d", i), Fraction: "0.03",
			MinPriceCents: 1, MaxPriceCents: 100000, ExpiresAt: a.now.Add(24 * time.Hour)})
	}
	f.Reduced = append(filler, own...)
}
