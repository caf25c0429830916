package offers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

const (
	doppler = "★ Karambit | Doppler (Factory New)"
	redline = "AK-47 | Redline (Field-Tested)"
)

// item returns a tradable kept item of price with attrs.
func item(id string, price market.Cents, attrs market.Attributes) market.ItemListing {
	return market.ItemListing{ItemID: id, Price: price, Attrs: attrs, UpdatedAt: now0.Add(-2 * time.Minute)}
}

func lockedItem(id string, price market.Cents, days int, attrs market.Attributes) market.ItemListing {
	it := item(id, price, attrs)
	it.Locked, it.LockDays = true, days
	return it
}

func floatAttr(f float64) market.Attributes { return market.Attributes{Float: f, HasFloat: true} }

func phaseAttr(p market.Phase) market.Attributes { return market.Attributes{Phase: p} }

func stickerAttr(names ...string) market.Attributes { return market.Attributes{Stickers: names} }

// curve values floats up to 0.2 at c1, above at c2.
func curve(c1, c2 market.Cents) *market.FloatCurve {
	return &market.FloatCurve{Buckets: []market.FloatBucket{{MaxFloat: 0.2, Price: c1, Sales: 10}, {MaxFloat: 0.38, Price: c2, Sales: 14}}}
}

func history(low, high market.Cents) *market.ResaleHistory {
	return &market.ResaleHistory{Stable: true, SoldPerWeek: 9, PriceAtLow: low, PriceAtHigh: high}
}

// kindsOf lists the offers as "KIND status phase item".
func kindsOf(list []Offer) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = string(o.Kind) + " " + string(o.Status) + " " + string(o.Phase()) + " " + o.ItemID()
	}
	return out
}

func TestComputeAttributeOffers(t *testing.T) {
	all := Settings{LimitBasisPoints: -10000}
	cases := []struct {
		name   string
		titles []market.TitleState
		want   []string
	}{
		{
			"per-phase history: each phase from its own sales and its own cheapest item",
			[]market.TitleState{{Title: doppler, GameID: gameZero, Available: avail(1000),
				// The title's mixed history would sell far above: it must not be used.
				History: history(99999, 99999),
				Phases: map[market.Phase]*market.PhaseState{
					market.PhaseRuby: {History: history(5000, 4000)},
					market.Phase2:    {History: history(1100, 1000)},
					market.Phase4:    {History: history(900, 900)}, // below its item: no offer
				},
				Items: []market.ItemListing{
					item("r1", 3000, phaseAttr(market.PhaseRuby)), item("r0", 3500, phaseAttr(market.PhaseRuby)),
					item("p2", 1000, phaseAttr(market.Phase2)), item("p4", 950, phaseAttr(market.Phase4)),
					item("p1", 1000, phaseAttr(market.Phase1)), // Phase 1 has no history
				}}},
			// Ruby: 5000 vs 3000 = +66.67 %; Phase 2: 1100 vs 1000 = +10 %; Phase 4: 900 vs 950 (−5.26 %).
			[]string{"HISTORY available Ruby r1", "HISTORY available Phase 2 p2", "HISTORY available Phase 4 p4"},
		},
		{
			"phased title without phase histories: no HISTORY at all",
			[]market.TitleState{{Title: doppler, GameID: gameZero, Available: avail(1000), History: history(5000, 5000),
				Items: []market.ItemListing{item("a", 1000, phaseAttr(market.PhaseRuby))}}},
			nil,
		},
		{
			"float: best per status, nil curve none, net equal to buy none",
			[]market.TitleState{
				{Title: redline, GameID: gameZero, Available: avail(1000), Locked: &market.PriceLevel{Price: 900, LockDays: 3},
					Float: curve(1300, 1000),
					Items: []market.ItemListing{
						item("a", 1000, floatAttr(0.3)),          // 1000 = buy: not above
						item("b", 1100, floatAttr(0.19)),         // 1300 vs 1100: +18.18 %
						item("c", 1000, floatAttr(0.15)),         // 1300 vs 1000: +30 % (best)
						lockedItem("d", 999, 2, floatAttr(0.31)), // 1000 vs 999: +0.10 %
						item("e", 500, market.Attributes{}),      // no float
					}},
				{Title: "M4A1-S | Nitro (Field-Tested)", GameID: gameZero, Available: avail(100),
					Items: []market.ItemListing{item("n", 100, floatAttr(0.01))}}, // no curve
			},
			[]string{"FLOAT available  c", "FLOAT locked  d"},
		},
		{
			"float on a phased title: the phase's curve; items without a phase have none",
			[]market.TitleState{{Title: doppler, GameID: gameZero, Available: avail(1000), Float: curve(9999, 9999),
				Phases: map[market.Phase]*market.PhaseState{market.Phase1: {Float: curve(2000, 1500)}},
				Items: []market.ItemListing{
					item("x", 1000, market.Attributes{Phase: market.Phase1, Float: 0.01, HasFloat: true}),
					item("y", 1000, market.Attributes{Phase: market.Phase2, Float: 0.01, HasFloat: true}),
					item("z", 1000, floatAttr(0.01)),
				}}},
			[]string{"FLOAT available Phase 1 x"},
		},
		{
			"ties: lowest price, then lowest item id",
			[]market.TitleState{{Title: redline, GameID: gameZero, Available: avail(1000), Float: curve(2000, 2000),
				Items: []market.ItemListing{item("q", 1000, floatAttr(0.1)), item("p", 1000, floatAttr(0.1))}}},
			[]string{"FLOAT available  p"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := baseMarket(c.titles...)
			var got []string
			for _, o := range Compute(m, all, now0) {
				if o.Kind != market.KindTarget {
					got = append(got, kindsOf([]Offer{o})[0])
				}
			}
			require.Equal(t, c.want, got)
			ix := BuildIndex(&m, now0)
			require.Equal(t, Compute(m, all, now0), ix.Offers(all, now0))
		})
	}
}

func TestComputeStickerOffers(t *testing.T) {
	stickers := []market.TitleState{
		{Title: "Sticker | Crown (Foil)", GameID: gameZero, Available: avail(30000), History: history(1, 1)},
		{Title: "Sticker | Titan", GameID: gameZero, Locked: &market.PriceLevel{Price: 99999}, History: history(2000, 2000)},
		{Title: "Sticker | Other Game", GameID: gameCS, Available: avail(50000)},
	}
	cases := []struct {
		name      string
		share     int
		names     []string
		wantValue int64 // 0: no offer
	}{
		// Bare and prefixed names both find the market title; a level beats the history.
		{"listing, bare name", 10, []string{"Crown (Foil)"}, 30000},
		{"listing, prefixed name", 10, []string{"Sticker | Crown (Foil)"}, 30000},
		// A title without an available level is worth its history's low price.
		{"history", 10, []string{"Titan"}, 2000},
		{"unknown and other game are worth nothing", 10, []string{"Nope", "Other Game", "Titan"}, 2000},
		{"sum", 10, []string{"Crown (Foil)", "Titan", "Titan"}, 34000},
		{"nothing known: no offer", 10, []string{"Nope"}, 0},
		// A sticker title without any listing is worth the low price of its sell history
		// (market.Snapshot.StickerHistory), in any game: a history key is per title.
		{"no listing: sticker history", 10, []string{"Sold Out (Holo)"}, 7000},
		{"sticker history and a listing", 10, []string{"Sold Out (Holo)", "Crown (Foil)"}, 37000},
		{"sticker history without sales at the low level", 10, []string{"No Sales"}, 0},
		// floor 1000 + 100 % of 10 = 1010 > 1000 … but 0 % adds nothing.
		{"zero share: no offer", 0, []string{"Crown (Foil)"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			skin := market.TitleState{Title: redline, GameID: gameZero, Available: avail(1000),
				Items: []market.ItemListing{item("s", 1200, stickerAttr(c.names...))}}
			m := baseMarket(append([]market.TitleState{skin}, stickers...)...)
			m.StickerHistory = map[string]*market.ResaleHistory{"Sticker | Sold Out (Holo)": history(7000, 9000),
				"Sticker | No Sales": history(0, 0)}
			var got []Offer
			for _, o := range Compute(m, Settings{LimitBasisPoints: -10000}, now0, StickerShare(c.share)) {
				if o.Kind == market.KindStickers {
					got = append(got, o)
				}
			}
			want := 1000 + c.wantValue*int64(c.share)/100
			if c.wantValue == 0 || want <= 1200 {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			require.Equal(t, want, got[0].Sell)
			require.Equal(t, c.wantValue, got[0].Item.StickersValue)
			require.Equal(t, int64(1000), got[0].Item.Floor)
			require.Equal(t, "s", got[0].ItemID())
		})
	}
}

// STICKERS sell at the floor plus the share; only when the net is above the buy price (exactly equal is
// no offer); a phased title's floor is the cheapest kept item of the item's phase.
func TestComputeStickerFloorAndBoundary(t *testing.T) {
	sticker := market.TitleState{Title: "Sticker | A", GameID: gameZero, Available: avail(1000)}
	for _, c := range []struct {
		name   string
		skin   market.TitleState
		offers int
		sell   int64
	}{
		// floor 1100 + 10 % of 1000 = 1200 = buy: not above.
		{"net equal to buy", market.TitleState{Title: redline, GameID: gameZero, Available: avail(1100),
			Items: []market.ItemListing{item("s", 1200, stickerAttr("A"))}}, 0, 0},
		{"net one cent above", market.TitleState{Title: redline, GameID: gameZero, Available: avail(1100),
			Items: []market.ItemListing{item("s", 1199, stickerAttr("A"))}}, 1, 1200},
		{"no level of the status: no floor", market.TitleState{Title: redline, GameID: gameZero, Locked: &market.PriceLevel{Price: 10},
			Items: []market.ItemListing{item("s", 100, stickerAttr("A"))}}, 0, 0},
		{"phased: floor of the item's phase", market.TitleState{Title: doppler, GameID: gameZero, Available: avail(10),
			Items: []market.ItemListing{item("p", 500, phaseAttr(market.PhaseRuby)),
				item("s", 520, market.Attributes{Phase: market.PhaseRuby, Stickers: []string{"A"}})}}, 1, 600},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := baseMarket(c.skin, sticker)
			var got []Offer
			for _, o := range Compute(m, Settings{LimitBasisPoints: -10000}, now0) {
				if o.Kind == market.KindStickers {
					got = append(got, o)
				}
			}
			require.Len(t, got, c.offers)
			if c.offers > 0 {
				require.Equal(t, c.sell, got[0].Sell)
			}
		})
	}
}

// Offers of one title sort by kind, then status, then phase; hidden kinds are left out.
func TestComputeAttributeSortAndToggles(t *testing.T) {
	equal := func(p market.Phase) *market.PhaseState {
		return &market.PhaseState{History: history(2000, 2000), Float: curve(2000, 2000)}
	}
	ti := market.TitleState{Title: doppler, GameID: gameZero, Available: avail(1000), Locked: &market.PriceLevel{Price: 1000, LockDays: 2},
		Order:  &market.OrderLevel{Price: 2000, Count: 1},
		Phases: map[market.Phase]*market.PhaseState{market.PhaseRuby: equal(market.PhaseRuby), market.Phase1: equal(market.Phase1)},
		Items: []market.ItemListing{
			item("a1", 1000, market.Attributes{Phase: market.PhaseRuby, Float: 0.1, HasFloat: true, Stickers: []string{"S"}}),
			item("a2", 1000, market.Attributes{Phase: market.Phase1, Float: 0.1, HasFloat: true, Stickers: []string{"S"}}),
			lockedItem("l1", 1000, 2, market.Attributes{Phase: market.Phase1, Float: 0.1, HasFloat: true}),
		}}
	// Floor 1000 + 10 % of 10000 = 2000: every offer sells at 2000 for 1000, so all tie on profit.
	m := baseMarket(ti, market.TitleState{Title: "Sticker | S", GameID: gameZero, Available: avail(10000)})
	want := []string{
		"TARGET available Ruby a1", "TARGET locked Phase 1 l1",
		"HISTORY available Phase 1 a2", "HISTORY available Ruby a1", "HISTORY locked Phase 1 l1",
		"FLOAT available Phase 1 a2", "FLOAT available Ruby a1", "FLOAT locked Phase 1 l1",
		"STICKERS available Phase 1 a2", "STICKERS available Ruby a1",
	}
	ix := BuildIndex(&m, now0)
	for _, c := range []struct {
		name string
		s    Settings
		want []string
	}{
		{"all kinds", Settings{}, want},
		{"float hidden", Settings{HideFloat: true}, append(append([]string{}, want[:5]...), want[8:]...)},
		{"stickers hidden", Settings{HideStickers: true}, want[:8]},
		{"both hidden", Settings{HideFloat: true, HideStickers: true}, want[:5]},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Compute(m, c.s, now0)
			require.Equal(t, c.want, kindsOf(got))
			require.Equal(t, got, ix.Offers(c.s, now0))
		})
	}
}

// TARGET shows the kept item at exactly its level price with the lowest id; the item's attributes fill
// the offer; offers priced from an item end at its expiry.
func TestOfferItemDetails(t *testing.T) {
	exp := now0.Add(time.Minute)
	it := item("b", 1000, market.Attributes{Float: 0.16, HasFloat: true, PaintSeed: 661, HasSeed: true, Stickers: []string{"S"}})
	it.ExpiresAt = exp
	ti := market.TitleState{Title: redline, GameID: gameZero, Available: avail(1000), Order: order(1500), Float: curve(1400, 1000),
		Items: []market.ItemListing{item("c", 1000, market.Attributes{}), it, item("a", 1001, market.Attributes{})}}
	m := baseMarket(ti, market.TitleState{Title: "Sticker | S", GameID: gameZero, Available: avail(4510)})
	got := Compute(m, Settings{}, now0)
	require.Equal(t, []string{"TARGET available  b", "STICKERS available  b", "FLOAT available  b"}, kindsOf(got))
	require.Equal(t, &ItemInfo{ID: "b", Float: 0.16, HasFloat: true, Wear: "FT", TopPercent: 5, PaintSeed: 661, HasSeed: true,
		StickersValue: 4510}, got[0].Item, "top 5 %: 0.16 in 0.15…0.38 is ⌈4.35⌉")
	require.Equal(t, 3, got[0].OrderCount)
	require.Equal(t, int64(1000), got[1].Item.Floor)
	require.Equal(t, 10, got[1].Item.StickerShare)
	require.Equal(t, 24, got[2].Item.FloatSales)
	require.Equal(t, it.UpdatedAt, got[2].UpdatedAt)

	ix := BuildIndex(&m, now0)
	require.Equal(t, exp.Add(time.Nanosecond).UnixNano(), ix.NextChange().UnixNano())
	require.Len(t, ix.Offers(Settings{}, exp), 3, "an item counts up to its expiry")
	after := exp.Add(time.Millisecond)
	require.Equal(t, []string{"TARGET available  b"}, kindsOf(ix.Offers(Settings{}, after)))
	require.Equal(t, ix.Offers(Settings{}, after), Compute(m, Settings{}, after))
}

// ForgetItem removes the offers priced from the item at once; an unknown item changes nothing.
func TestServiceForgetItem(t *testing.T) {
	ti := market.TitleState{Title: redline, GameID: gameZero, Available: avail(1000), Float: curve(1400, 1000),
		Items: []market.ItemListing{item("a", 1000, floatAttr(0.1)), item("b", 1100, floatAttr(0.1))}}
	src := newMemSource(baseMarket(ti))
	svc := NewService(src, clocktest.NewFake(now0), time.Hour, WithPricing(StickerShare(10)))
	ctx := t.Context()
	require.NoError(t, svc.Resync(ctx))
	svc.ForgetItem(redline, "nope")
	svc.ForgetItem("Nope", "a")
	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"FLOAT available  a"}, kindsOf(got))
	svc.ForgetItem(redline, "a")
	got, err = svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"FLOAT available  b"}, kindsOf(got))
}

// A non-phased title's HISTORY offer is priced from the title's history and level, and shows the level's
// item as TARGET does, with the title's weekly volume.
func TestHistoryOfferShowsTheLevelItem(t *testing.T) {
	ti := market.TitleState{Title: redline, GameID: gameZero, Available: avail(1000), History: history(1200, 1100),
		Items: []market.ItemListing{item("b", 1000, market.Attributes{Float: 0.16, HasFloat: true}), item("a", 1001, floatAttr(0.2))}}
	m := baseMarket(ti)
	got := Compute(m, Settings{}, now0)
	require.Equal(t, []string{"HISTORY available  b"}, kindsOf(got))
	require.Equal(t, 9, got[0].SoldPerWeek)
	require.Equal(t, avail(1000).UpdatedAt, got[0].UpdatedAt, "priced from the level: the level's time")
	require.Equal(t, Compute(m, Settings{}, now0), BuildIndex(&m, now0).Offers(Settings{}, now0))
}
