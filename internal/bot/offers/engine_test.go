package offers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
)

var now0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// historyOf summarises a sell-history analysis as a market read does.
func historyOf(r sellhistory.Result) *market.ResaleHistory {
	h := &market.ResaleHistory{Stable: r.Stable, SoldPerWeek: r.SoldPerWeek}
	low, _ := sellhistory.PriceAt(r.Probability, market.ResaleLevelLow)
	high, _ := sellhistory.PriceAt(r.Probability, market.ResaleLevelHigh)
	h.PriceAtLow, h.PriceAtHigh = market.Cents(low), market.Cents(high)
	return h
}

// mustFraction is ParseFraction for constants known to be valid; it panics on a bad value.
// feeOf returns the fee in cents on selling title of game at sell cents at now in m (SPEC §6.1): the
// first applicable reduced fee of the title, else the game's default fee, else the fallback rate with a
// 1-cent minimum; in each case max(⌊sell × fraction + ½⌋, minimum).
func feeOf(m *market.Snapshot, game, title string, sell int64, now time.Time) int64 {
	return schedule(m, game, title).fee(sell, now)
}

const (
	gameCS   = "a8db"
	gameZero = "zero" // no fee at all, so net = sell
	gameNone = "none" // no fees key: fallback
)

// baseFees: CS2 5 % with a 10-cent minimum; "zero" 0 % without minimum.
func baseMarket(titles ...market.TitleState) market.Snapshot {
	return market.Snapshot{
		Titles: titles,
		Fees: map[string]market.FeeSchedule{
			gameCS:   {Fraction: offerstest.MustFraction("0.05"), Min: 10},
			gameZero: {Fraction: offerstest.MustFraction("0")},
		},
		FallbackFee: offerstest.MustFraction("0.025"),
	}
}

func avail(price market.Cents) *market.PriceLevel {
	return &market.PriceLevel{Price: price, Count: 1, UpdatedAt: now0.Add(-time.Minute)}
}

func order(price market.Cents) *market.OrderLevel { return &market.OrderLevel{Price: price, Count: 3} }

func TestFee(t *testing.T) {
	reduced := func(r market.TitleFee) market.Snapshot {
		m := baseMarket()
		gf := m.Fees[gameCS]
		gf.Reduced = map[string][]market.TitleFee{"R": {r}}
		m.Fees[gameCS] = gf
		return m
	}
	bounded := market.TitleFee{Fraction: offerstest.MustFraction("0.02"), MinPrice: ptr[market.Cents](500), MaxPrice: ptr[market.Cents](2000)}
	cases := []struct {
		name  string
		m     market.Snapshot
		game  string
		title string
		sell  int64
		want  int64
	}{
		// 100 × 0.05 = 5 < minimum 10.
		{"game minimum", baseMarket(), gameCS, "X", 100, 10},
		// 1010 × 0.05 = 50.5 → 51.
		{"game fee half rounds up", baseMarket(), gameCS, "X", 1010, 51},
		// 1020 × 0.025 = 25.5 → 26.
		{"fallback fee", baseMarket(), gameNone, "X", 1020, 26},
		// 10 × 0.025 = 0.25 → 0 < 1-cent fallback minimum.
		{"fallback minimum one cent", baseMarket(), gameNone, "X", 10, 1},
		// 1000 × 0.02 = 20 ≥ game minimum 10.
		{"reduced inside bounds", reduced(bounded), gameCS, "R", 1000, 20},
		// 2000 × 0.02 = 40: the upper bound is inclusive.
		{"reduced at upper bound", reduced(bounded), gameCS, "R", 2000, 40},
		// 500 × 0.02 = 10: the lower bound is inclusive.
		{"reduced at lower bound", reduced(bounded), gameCS, "R", 500, 10},
		// 2001 × 0.05 = 100.05 → 100 (default fee).
		{"reduced above upper bound", reduced(bounded), gameCS, "R", 2001, 100},
		// 499 × 0.05 = 24.95 → 25 (default fee).
		{"reduced below lower bound", reduced(bounded), gameCS, "R", 499, 25},
		// Another title of the game keeps the default: 1000 × 0.05 = 50.
		{"reduced other title", reduced(bounded), gameCS, "X", 1000, 50},
		// Open bounds: 100000 × 0.02 = 2000.
		{"reduced open bounds", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.02")}), gameCS, "R", 100000, 2000},
		// expires_at == now: expired, default 1000 × 0.05 = 50.
		{"reduced expired at now", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.02"), ExpiresAt: now0}), gameCS, "R", 1000, 50},
		{"reduced expires after now", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.02"), ExpiresAt: now0.Add(time.Second)}), gameCS, "R", 1000, 20},
		// 1000 × 0.01 = 10 < own minimum 25.
		{"reduced own minimum above", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.01"), Min: ptr[market.Cents](25)}), gameCS, "R", 1000, 25},
		// 500 × 0.01 = 5 ≥ own minimum 3, although below the game minimum 10.
		{"reduced own minimum below game minimum", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.01"), Min: ptr[market.Cents](3)}), gameCS, "R", 500, 5},
		// 500 × 0.01 = 5 < game minimum 10 when the reduced fee has none.
		{"reduced without own minimum uses game minimum", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.01")}), gameCS, "R", 500, 10},
		// Explicit own minimum 0: 40 × 0.01 = 0.4 → 0.
		{"reduced own minimum zero", reduced(market.TitleFee{Fraction: offerstest.MustFraction("0.01"), Min: ptr[market.Cents](0)}), gameCS, "R", 40, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, feeOf(&tc.m, tc.game, tc.title, tc.sell, now0))
		})
	}
}

func TestFeeFirstApplicableReduced(t *testing.T) {
	m := baseMarket()
	gf := m.Fees[gameCS]
	gf.Reduced = map[string][]market.TitleFee{"R": {
		{Fraction: offerstest.MustFraction("0.01"), MaxPrice: ptr[market.Cents](999)},
		{Fraction: offerstest.MustFraction("0.03"), MinPrice: ptr[market.Cents](1000)},
	}}
	m.Fees[gameCS] = gf
	require.Equal(t, int64(10), feeOf(&m, gameCS, "R", 999, now0))  // 9.99 → 10 ≥ 10
	require.Equal(t, int64(30), feeOf(&m, gameCS, "R", 1000, now0)) // 30
}

func TestProfitBasisPoints(t *testing.T) {
	cases := []struct {
		name     string
		net, buy int64
		want     int64
	}{
		{"zero", 1000, 1000, 0},
		{"plain", 1200, 1000, 2000},
		// 80 / 900 = 8.888… % → 8.89.
		{"rounds up", 980, 900, 889},
		// 1 / 3 = 33.333… % → 33.33.
		{"rounds down", 4, 3, 3333},
		// 1 / 20000 = 0.005 % → 0.01 (half away from zero).
		{"half up positive", 20001, 20000, 1},
		// −1 / 20000 = −0.005 % → −0.01.
		{"half away negative", 19999, 20000, -1},
		// 5 / 20000 = 0.025 % → 0.03 (half to even would give 0.02).
		{"half odd positive", 20005, 20000, 3},
		{"half odd negative", 19995, 20000, -3},
		// −1 / 1901 = −0.0526 % → −0.05.
		{"small negative", 1900, 1901, -5},
		{"total loss", 0, 1000, -10000},
		{"negative net", -5, 1000, -10050},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ProfitBasisPoints(tc.net, tc.buy))
		})
	}
}

func stableHistory(sold int, prob map[int64]int) *market.ResaleHistory {
	return historyOf(sellhistory.Result{Stable: true, SoldPerWeek: sold, Probability: prob})
}

func TestCompute(t *testing.T) {
	levels := map[int64]int{9000: 100, 12000: 50, 15000: 20, 18000: 5}
	cases := []struct {
		name     string
		m        market.Snapshot
		settings Settings
		want     []Offer
	}{
		{
			// Sell 100: fee max(5, 10) = 10, net 90; (90 − 80) / 80 = 12.5 %.
			name:     "target with fee minimum",
			m:        baseMarket(market.TitleState{Title: "A", GameID: gameCS, Image: "img", Available: avail(80), Order: order(100)}),
			settings: Settings{LimitBasisPoints: -10000},
			want: []Offer{{Title: "A", GameID: gameCS, Image: "img", Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 80,
				Sell: 100, Fee: 10, Net: 90, ProfitBasisPoints: 1250, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			// Buy 9999 < $100 → level 50 → sell 12000, fee 600, net 11400; 1401 / 9999 = 14.0114 % → 14.01.
			name:     "history below 100 dollars uses level 50",
			m:        baseMarket(market.TitleState{Title: "H", GameID: gameCS, Available: avail(9999), History: stableHistory(10, levels)}),
			settings: Settings{LimitBasisPoints: -10000},
			want: []Offer{{Title: "H", GameID: gameCS, Kind: market.KindHistory, Status: market.StatusAvailable, Buy: 9999, Sell: 12000,
				Fee: 600, Net: 11400, ProfitBasisPoints: 1401, SoldPerWeek: 10, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			// Buy 10000 → level 20 → sell 15000, fee 750, net 14250; 4250 / 10000 = 42.5 %.
			name:     "history at 100 dollars uses level 20",
			m:        baseMarket(market.TitleState{Title: "H", GameID: gameCS, Available: avail(10000), History: stableHistory(10, levels)}),
			settings: Settings{LimitBasisPoints: -10000},
			want: []Offer{{Title: "H", GameID: gameCS, Kind: market.KindHistory, Status: market.StatusAvailable, Buy: 10000, Sell: 15000,
				Fee: 750, Net: 14250, ProfitBasisPoints: 4250, SoldPerWeek: 10, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			// Sell 2000 − fee 100 = net 1900 = buy: exactly 0 % passes limit 0 and min price 1900.
			name:     "explicit zero limit and min price are inclusive",
			m:        baseMarket(market.TitleState{Title: "Z", GameID: gameCS, Available: avail(1900), Order: order(2000)}, market.TitleState{Title: "Y", GameID: gameCS, Available: avail(1901), Order: order(2000)}),
			settings: Settings{MinPriceCents: 1900, LimitBasisPoints: 0},
			want: []Offer{{Title: "Z", GameID: gameCS, Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 1900, Sell: 2000,
				Fee: 100, Net: 1900, ProfitBasisPoints: 0, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			name:     "min price above buy hides",
			m:        baseMarket(market.TitleState{Title: "Z", GameID: gameCS, Available: avail(1900), Order: order(2000)}),
			settings: Settings{MinPriceCents: 1901, LimitBasisPoints: -10000},
			want:     nil,
		},
		{
			// Zero fee: 700 / 1000 = −30.00 % passes −30; 699 / 1000 = −30.10 % does not.
			name: "negative limit",
			m: baseMarket(
				market.TitleState{Title: "N1", GameID: gameZero, Available: avail(1000), Order: order(700)},
				market.TitleState{Title: "N2", GameID: gameZero, Available: avail(1000), Order: order(699)},
			),
			settings: Settings{LimitBasisPoints: -3000},
			want: []Offer{{Title: "N1", GameID: gameZero, Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 1000, Sell: 700,
				Fee: 0, Net: 700, ProfitBasisPoints: -3000, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			// Zero fee: +5 / 20000 = 0.025 % → +0.03; −5 / 20000 → −0.03.
			name: "profit rounds half away from zero both signs",
			m: baseMarket(
				market.TitleState{Title: "P", GameID: gameZero, Available: avail(20000), Order: order(20005)},
				market.TitleState{Title: "Q", GameID: gameZero, Available: avail(20000), Order: order(19995)},
			),
			settings: Settings{LimitBasisPoints: -10000},
			want: []Offer{
				{Title: "P", GameID: gameZero, Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 20000, Sell: 20005, Net: 20005,
					ProfitBasisPoints: 3, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)},
				{Title: "Q", GameID: gameZero, Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 20000, Sell: 19995, Net: 19995,
					ProfitBasisPoints: -3, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)},
			},
		},
		{
			// Zero fee, order 1200: available 1000 → 20 %; locked 900 → 33.33 %, lock 3.7 days → 3.
			name: "both statuses yield two offers",
			m: baseMarket(market.TitleState{Title: "B", GameID: gameZero, Available: avail(1000), Order: order(1200),
				Locked: &market.PriceLevel{Price: 900, Count: 2, LockDays: 3.7, UpdatedAt: now0.Add(-time.Hour)}}),
			settings: Settings{LimitBasisPoints: -10000},
			want: []Offer{
				{Title: "B", GameID: gameZero, Kind: market.KindTarget, Status: market.StatusLocked, LockDays: 3, Buy: 900, Sell: 1200,
					Net: 1200, ProfitBasisPoints: 3333, OrderCount: 3, UpdatedAt: now0.Add(-time.Hour)},
				{Title: "B", GameID: gameZero, Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 1000, Sell: 1200,
					Net: 1200, ProfitBasisPoints: 2000, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)},
			},
		},
		{
			name: "history requires stable and five sold",
			m: baseMarket(
				market.TitleState{Title: "U", GameID: gameZero, Available: avail(100), History: historyOf(sellhistory.Result{Stable: false, SoldPerWeek: 50, Probability: map[int64]int{200: 100}})},
				market.TitleState{Title: "V", GameID: gameZero, Available: avail(100), History: stableHistory(4, map[int64]int{200: 100})},
				market.TitleState{Title: "W", GameID: gameZero, Available: avail(100), History: stableHistory(5, map[int64]int{200: 100})},
				market.TitleState{Title: "E", GameID: gameZero, Available: avail(100), History: stableHistory(5, map[int64]int{200: 10})},
			),
			settings: Settings{LimitBasisPoints: -10000},
			want: []Offer{{Title: "W", GameID: gameZero, Kind: market.KindHistory, Status: market.StatusAvailable, Buy: 100, Sell: 200,
				Net: 200, ProfitBasisPoints: 10000, SoldPerWeek: 5, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			name: "games filter",
			m: baseMarket(
				market.TitleState{Title: "G1", GameID: gameZero, Available: avail(100), Order: order(110)},
				market.TitleState{Title: "G2", GameID: gameCS, Available: avail(100), Order: order(110)},
			),
			settings: Settings{LimitBasisPoints: -10000, Games: []string{gameZero}},
			want: []Offer{{Title: "G1", GameID: gameZero, Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 100, Sell: 110,
				Net: 110, ProfitBasisPoints: 1000, OrderCount: 3, UpdatedAt: now0.Add(-time.Minute)}},
		},
		{
			name: "no listing, no order, zero price",
			m: baseMarket(
				market.TitleState{Title: "L", GameID: gameZero, Order: order(110)},
				market.TitleState{Title: "O", GameID: gameZero, Available: avail(100)},
				market.TitleState{Title: "P0", GameID: gameZero, Available: avail(0), Order: order(110)},
				market.TitleState{Title: "O0", GameID: gameZero, Available: avail(100), Order: &market.OrderLevel{Price: 0}},
			),
			settings: Settings{LimitBasisPoints: -10000},
			want:     nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Compute(tc.m, tc.settings, now0))
		})
	}
}

func TestComputeSortOrder(t *testing.T) {
	// Zero fee. Every offer of "M" and "N" is +10 %; "T" is +20 %.
	prob := map[int64]int{1100: 100}
	locked := &market.PriceLevel{Price: 1000, LockDays: 0.5}
	titles := []market.TitleState{
		{Title: "N", GameID: gameZero, Available: avail(1000), Locked: locked, Order: order(1100), History: stableHistory(9, prob)},
		{Title: "M", GameID: gameZero, Available: avail(1000), Order: order(1100)},
		{Title: "T", GameID: gameZero, Locked: locked, Order: order(1200)},
	}
	type key struct {
		title  string
		kind   market.OfferKind
		status market.ListingStatus
		bp     int64
		days   int
	}
	want := []key{
		{"T", market.KindTarget, market.StatusLocked, 2000, 0},
		{"M", market.KindTarget, market.StatusAvailable, 1000, 0},
		{"N", market.KindTarget, market.StatusAvailable, 1000, 0},
		{"N", market.KindTarget, market.StatusLocked, 1000, 0},
		{"N", market.KindHistory, market.StatusAvailable, 1000, 0},
		{"N", market.KindHistory, market.StatusLocked, 1000, 0},
	}
	// Unsorted titles take the comparison sort, sorted ones the packed-key sort, and a duplicate title
	// (never read from Redis, but possible in a hand-built market) the comparison sort again.
	sorted := []market.TitleState{titles[1], titles[0], titles[2]}
	dup := append([]market.TitleState{titles[1]}, sorted...)
	dup[0].Available = nil
	for name, ts := range map[string][]market.TitleState{"unsorted": titles, "sorted": sorted, "duplicate": dup} {
		t.Run(name, func(t *testing.T) {
			var got []key
			for _, o := range Compute(baseMarket(ts...), Settings{LimitBasisPoints: -10000}, now0) {
				got = append(got, key{o.Title, o.Kind, o.Status, o.ProfitBasisPoints, o.LockDays})
			}
			require.Equal(t, want, got)
		})
	}
}

func TestComputeHugeProfitSortsFirst(t *testing.T) {
	// 1 cent bought, sold for $1,000,000 without fee: +9,999,999,900 % does not fit the packed key.
	m := baseMarket(
		market.TitleState{Title: "A", GameID: gameZero, Available: avail(1000), Order: order(2000)},
		market.TitleState{Title: "B", GameID: gameZero, Available: avail(1), Order: order(100000000)},
		market.TitleState{Title: "C", GameID: gameZero, Available: avail(1000), Order: order(500)},
	)
	got := Compute(m, Settings{LimitBasisPoints: -10000}, now0)
	require.Len(t, got, 3)
	require.Equal(t, []string{"B", "A", "C"}, []string{got[0].Title, got[1].Title, got[2].Title})
	require.Equal(t, int64(999999990000), got[0].ProfitBasisPoints)
	require.Equal(t, int64(-5000), got[2].ProfitBasisPoints)
}

func TestComputeAlternatingGames(t *testing.T) {
	// Sell 1000: CS2 fee 50, zero-fee game 0, fallback (2.5 %) 25; the per-game fee cache must follow
	// the game of each title.
	m := baseMarket(
		market.TitleState{Title: "A", GameID: gameCS, Available: avail(1000), Order: order(1000)},
		market.TitleState{Title: "B", GameID: gameZero, Available: avail(1000), Order: order(1000)},
		market.TitleState{Title: "C", GameID: gameCS, Available: avail(1000), Order: order(1000)},
		market.TitleState{Title: "D", GameID: gameNone, Available: avail(1000), Order: order(1000)},
	)
	fees := map[string]int64{}
	for _, o := range Compute(m, Settings{LimitBasisPoints: -10000}, now0) {
		fees[o.Title] = o.Fee
	}
	require.Equal(t, map[string]int64{"A": 50, "B": 0, "C": 50, "D": 25}, fees)
}
