package offers

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// marketGen makes a random market around now (genMarket, genAttrMarket).
type marketGen func(r *rand.Rand, c genConfig, now time.Time) market.Snapshot

// eachSeed runs check over markets of gen as one subtest per seed.
func eachSeed(t *testing.T, gen marketGen, check func(t *testing.T, seed uint64, gen marketGen)) {
	t.Helper()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { check(t, seed, gen) })
	}
}

// genStickers are the stickers of generated markets: S0…S5 have market titles, each in one game (some
// with a tradable level, some with a history only); "Gone" has none, and in half the markets a sell
// history (market.Snapshot.StickerHistory).
var genStickers = []string{"S0", "S1", "S2", "S3", "S4", "S5", "Gone"}

// genAttrMarket returns genMarket's market with item attributes: a third of the titles are Doppler
// skins (phased, with per-phase histories and float curves), a third name an exterior (with a float
// curve), every title keeps up to six items with floats, seeds, phases and stickers, and sticker titles
// of every game are added. It has no reduced fees: an attribute offer is chosen among its items with
// the fees at the build, which a later end of a reduced fee does not revisit.
func genAttrMarket(r *rand.Rand, c genConfig, now time.Time) market.Snapshot {
	m := genMarket(r, c, now)
	for g, gf := range m.Fees {
		gf.Reduced = nil
		m.Fees[g] = gf
	}
	for i := range m.Titles {
		t := &m.Titles[i]
		prefix := t.Title[:strings.Index(t.Title, "|")+2]
		switch r.IntN(3) {
		case 0:
			t.Title = prefix + "Doppler (Factory New)"
			t.Phases = genPhases(r, t)
		case 1:
			t.Title = prefix + "Skin (Field-Tested)"
			t.Float = genCurve(r, levelPrice(t))
		}
		t.Items = genItems(r, t, now, c.span)
	}
	// Sticker titles sort after the items' ("Item …" < "Sticker …"), in name order; each is of one game.
	for k, name := range genStickers[:6] {
		st := market.TitleState{Title: market.StickerTitlePrefix + name, GameID: genGames[k%len(genGames)]}
		if k%3 != 2 {
			st.Available = &market.PriceLevel{Price: market.Cents(50 + r.IntN(5000)), Count: 1,
				ExpiresAt: now.Add(time.Duration(r.Int64N(int64(2*c.span))) - c.span)}
		} else {
			st.Locked = &market.PriceLevel{Price: 70}
		}
		if k%2 == 0 {
			st.History = &market.ResaleHistory{PriceAtLow: market.Cents(40 + r.IntN(3000))}
		}
		m.Titles = append(m.Titles, st)
	}
	// "Gone" has no listing; half the markets know its sales (a full read finds its `history:` key).
	if r.IntN(2) == 0 {
		m.StickerHistory = map[string]*market.ResaleHistory{
			market.StickerTitlePrefix + "Gone": {PriceAtLow: market.Cents(40 + r.IntN(3000))}}
	}
	return m
}

func levelPrice(t *market.TitleState) market.Cents {
	if t.Available != nil && t.Available.Price > 0 {
		return t.Available.Price
	}
	return 1000
}

// genCurve returns a float curve around base, or nil.
func genCurve(r *rand.Rand, base market.Cents) *market.FloatCurve {
	if r.IntN(4) == 0 {
		return nil
	}
	c := &market.FloatCurve{}
	price := base * market.Cents(100+r.IntN(80)) / 100
	for k := range 1 + r.IntN(5) {
		c.Buckets = append(c.Buckets, market.FloatBucket{MaxFloat: 0.16 + float64(k)*0.04 + r.Float64()*0.03,
			Price: price, Sales: 4 + r.IntN(4)})
		price = price * market.Cents(80+r.IntN(20)) / 100
	}
	return c
}

// genPhases returns per-phase resale states of a phased title.
func genPhases(r *rand.Rand, t *market.TitleState) map[market.Phase]*market.PhaseState {
	out := map[market.Phase]*market.PhaseState{}
	base := levelPrice(t)
	for _, p := range market.Phases() {
		if r.IntN(2) == 0 {
			continue
		}
		ps := &market.PhaseState{Float: genCurve(r, base)}
		if r.IntN(4) > 0 {
			ps.History = &market.ResaleHistory{Stable: r.IntN(5) > 0, SoldPerWeek: r.IntN(20),
				PriceAtLow: base * market.Cents(60+r.IntN(100)) / 100, PriceAtHigh: base * market.Cents(60+r.IntN(90)) / 100}
		}
		out[p] = ps
	}
	return out
}

// genItems returns up to six kept items of t around its level prices, some at exactly a level's price.
func genItems(r *rand.Rand, t *market.TitleState, now time.Time, span time.Duration) []market.ItemListing {
	var out []market.ItemListing
	for k := range r.IntN(7) {
		locked := r.IntN(3) == 0
		l := t.Available
		if locked {
			l = t.Locked
		}
		price := levelPrice(t) * market.Cents(90+r.IntN(40)) / 100
		if l != nil && r.IntN(3) == 0 {
			price = l.Price
		}
		it := market.ItemListing{ItemID: fmt.Sprintf("i%d-%d", r.IntN(1000), k), Price: price, Locked: locked,
			UpdatedAt: now.Add(-time.Duration(r.IntN(600)) * time.Second)}
		if locked {
			it.LockDays = r.IntN(8)
		}
		if r.IntN(4) > 0 {
			it.ExpiresAt = now.Add(time.Duration(r.Int64N(int64(2*span))) - span)
		}
		if r.IntN(3) > 0 {
			it.Attrs.Float, it.Attrs.HasFloat = 0.15+r.Float64()*0.25, true
		}
		if r.IntN(2) == 0 {
			it.Attrs.PaintSeed, it.Attrs.HasSeed = r.IntN(1001), true
		}
		if market.PhasedTitle(t.Title) && r.IntN(5) > 0 {
			it.Attrs.Phase = market.Phases()[r.IntN(8)]
		}
		for range r.IntN(4) {
			name := genStickers[r.IntN(len(genStickers))]
			if r.IntN(2) == 0 {
				name = market.StickerTitle(name)
			}
			it.Attrs.Stickers = append(it.Attrs.Stickers, name)
		}
		out = append(out, it)
	}
	return out
}
