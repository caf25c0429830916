package market

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParsePhase(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Phase
		ok   bool
	}{
		{"Phase 1", Phase1, true},
		{"phase-1", Phase1, true},
		{"phase1", Phase1, true},
		{"PHASE_2", Phase2, true},
		{" Phase 3 ", Phase3, true},
		{"phase 4", Phase4, true},
		{"ruby", PhaseRuby, true},
		{"Sapphire", PhaseSapphire, true},
		{"black_pearl", PhaseBlackPearl, true},
		{"BlackPearl", PhaseBlackPearl, true},
		{"Black Pearl", PhaseBlackPearl, true},
		{"EMERALD", PhaseEmerald, true},
		{"", PhaseNone, true},
		{" - _ ", PhaseNone, true},
		{"Phase 5", PhaseNone, false},
		{"Phase 0", PhaseNone, false},
		{"Phase", PhaseNone, false},
		{"Phase 12", PhaseNone, false},
		{"Doppler", PhaseNone, false},
		{"Ruby Phase 1", PhaseNone, false},
		{"Ｒuby", PhaseNone, false},
		{"P1", PhaseNone, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParsePhase(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPhaseIndexAndOrder(t *testing.T) {
	all := Phases()
	require.Equal(t, []Phase{Phase1, Phase2, Phase3, Phase4, PhaseRuby, PhaseSapphire, PhaseBlackPearl, PhaseEmerald}, all)
	for i, p := range all {
		require.Equal(t, i+1, p.Index(), p)
		got, ok := ParsePhase(string(p))
		require.True(t, ok)
		require.Equal(t, p, got, "a canonical phase parses as itself")
	}
	require.Zero(t, PhaseNone.Index())
	require.Zero(t, Phase("Phase 9").Index())
	all[0] = "changed"
	require.Equal(t, Phase1, Phases()[0], "Phases returns a copy")
}

func TestPhasedTitle(t *testing.T) {
	for title, want := range map[string]bool{
		"★ Karambit | Doppler (Factory New)":              true,
		"★ StatTrak™ Bayonet | Doppler (Minimal Wear)":    true,
		"★ Butterfly Knife | Gamma Doppler (Factory New)": true,
		"Glock-18 | Gamma Doppler (Field-Tested)":         true,
		"AK-47 | Redline (Field-Tested)":                  false,
		"★ Karambit | Marble Fade (Factory New)":          false,
		"Doppler":                           false,
		"":                                  false,
		"★ Karambit |Doppler (Factory New)": false,
		"Sticker | Crown (Foil)":            false,
		"★ M9 Bayonet | Autotronic (Battle-Scarred)":        false,
		"★ Flip Knife | Doppler (Factory New) Souvenir":     true,
		"Souvenir MP9 | Hot Rod (Factory New)":              false,
		"StatTrak™ Glock-18 | Gamma Doppler (Minimal Wear)": true,
	} {
		require.Equal(t, want, PhasedTitle(title), title)
	}
}

func TestWearOf(t *testing.T) {
	for _, tc := range []struct {
		title string
		short string
		ok    bool
	}{
		{"AK-47 | Redline (Field-Tested)", "FT", true},
		{"StatTrak™ MP9 | Hydra (Minimal Wear)", "MW", true},
		{"★ Karambit | Doppler (Factory New)", "FN", true},
		{"AWP | Asiimov (Well-Worn)", "WW", true},
		{"★ Sport Gloves | Vice (Battle-Scarred)", "BS", true},
		{"Sticker | Crown (Foil)", "", false},
		{"AK-47 | Redline (Field-Tested) ", "", false},
		{"AK-47 | Redline Field-Tested", "", false},
		{"", "", false},
	} {
		t.Run(tc.title, func(t *testing.T) {
			w, ok := WearOf(tc.title)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.short, w.Short)
		})
	}
	prev := 0.0
	for _, name := range []string{"Factory New", "Minimal Wear", "Field-Tested", "Well-Worn", "Battle-Scarred"} {
		w, ok := WearOf("X (" + name + ")")
		require.True(t, ok)
		require.Equal(t, name, w.Name)
		require.Equal(t, prev, w.Min, "bands are adjacent")
		require.Greater(t, w.Max, w.Min)
		prev = w.Max
	}
	require.Equal(t, 1.0, prev, "the bands cover [0, 1]")
}

func TestTopPercent(t *testing.T) {
	ft, _ := WearOf("X (Field-Tested)")
	fn, _ := WearOf("X (Factory New)")
	for _, tc := range []struct {
		name string
		w    Wear
		f    float64
		want int
	}{
		{"band start is top 1", ft, 0.15, 1},
		{"just above the start", ft, 0.1501, 1},
		{"one percent and a bit", ft, 0.1525, 2},
		{"exactly half", ft, 0.265, 50},
		{"exactly one percent", fn, 0.0007, 1},
		{"exactly 37 percent", ft, 0.2351, 37},
		{"band end is 100", ft, 0.38, 100},
		{"below the band clamps to 1", ft, 0.01, 1},
		{"above the band clamps to 100", ft, 0.9, 100},
		{"factory new low float", fn, 0.0123, 18},
		{"factory new zero", fn, 0, 1},
		{"empty band", Wear{Min: 0.5, Max: 0.5}, 0.5, 100},
		{"inverted band", Wear{Min: 0.6, Max: 0.5}, 0.55, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.w.TopPercent(tc.f))
		})
	}
}

func TestStickerTitle(t *testing.T) {
	for in, want := range map[string]string{
		"Crown (Foil)":                   "Sticker | Crown (Foil)",
		"Sticker | Crown (Foil)":         "Sticker | Crown (Foil)",
		"  Titan | Katowice 2014 ":       "Sticker | Titan | Katowice 2014",
		" Sticker | Howling Dawn ":       "Sticker | Howling Dawn",
		"sticker | lower case is a name": "Sticker | sticker | lower case is a name",
		"Sticker |NoSpace":               "Sticker | Sticker |NoSpace",
	} {
		require.Equal(t, want, StickerTitle(in), in)
	}
}

// curveNow is the clock of the float-curve tests.
var curveNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// floatSale is a sale of the last hour with a float.
func floatSale(f float64, p Cents) Sale {
	return Sale{Price: p, At: curveNow.Add(-time.Hour), Attrs: Attributes{Float: f, HasFloat: true}}
}

// groupSales returns len(prices) sales per group, group g's floats being g + 1 hundredths plus i
// thousandths, so that the groups sort in order.
func groupSales(groups ...[]Cents) []Sale {
	var out []Sale
	for g, prices := range groups {
		for i, p := range prices {
			out = append(out, floatSale(float64(g+1)/10+float64(i)/1000, p))
		}
	}
	return out
}

func TestFitFloatCurve(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sales []Sale
		want  []FloatBucket
	}{
		{
			name:  "falling groups stay apart; an even group takes its lower middle price",
			sales: groupSales([]Cents{430, 400, 420, 410}, []Cents{300, 330, 310, 320}, []Cents{200, 230, 210, 220}),
			want:  []FloatBucket{{0.103, 410, 4}, {0.203, 310, 4}, {0.303, 210, 4}},
		},
		{
			name:  "a rising group is pooled with the one before into the sales-weighted mean",
			sales: groupSales([]Cents{100, 100, 100, 100}, []Cents{200, 200, 200, 200}, []Cents{120, 120, 120, 120}),
			want:  []FloatBucket{{0.203, 150, 8}, {0.303, 120, 4}},
		},
		{
			name:  "pooling cascades back and the mean is floored to the cent",
			sales: groupSales([]Cents{100, 100, 100, 100}, []Cents{90, 90, 90, 90}, []Cents{400, 400, 400, 400}),
			want:  []FloatBucket{{0.303, 196, 12}}, // (100×4 + ((90×4 + 400×4)/8 ↦ 245 as 1960/8)) → 2360/12 = 196.67
		},
		{
			name:  "equal values are not pooled",
			sales: groupSales([]Cents{50, 50, 50, 50}, []Cents{50, 50, 50, 50}, []Cents{50, 50, 50, 50}),
			want:  []FloatBucket{{0.103, 50, 4}, {0.203, 50, 4}, {0.303, 50, 4}},
		},
		{
			name: "uneven groups: the first groups take one more",
			sales: append(groupSales([]Cents{500, 520, 510, 530}, []Cents{400, 420, 410, 430}, []Cents{300, 320, 310, 330}),
				floatSale(0.05, 900)),
			// Sorted: 0.05/900 then group 1 → first group of 5 {900,500,520,510,530} has median 520.
			want: []FloatBucket{{0.103, 520, 5}, {0.203, 410, 4}, {0.303, 310, 4}},
		},
		{
			name: "at most FloatBuckets groups",
			sales: groupSales(
				[]Cents{900, 900, 900, 900, 900}, []Cents{800, 800, 800, 800, 800}, []Cents{700, 700, 700, 700, 700},
				[]Cents{600, 600, 600, 600, 600}, []Cents{500, 500, 500, 500, 500}, []Cents{400, 400, 400, 400, 400},
				[]Cents{300, 300, 300, 300, 300}),
			// 35 sales in groups of 6, 6, 6, 6, 6 and 5 that straddle the input groups.
			want: []FloatBucket{{0.2, 900, 6}, {0.301, 800, 6}, {0.402, 600, 6}, {0.503, 500, 6}, {0.604, 400, 6}, {0.704, 300, 5}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := FitFloatCurve(tc.sales, curveNow)
			require.NotNil(t, c)
			require.Len(t, c.Buckets, len(tc.want))
			for i, w := range tc.want {
				require.InDelta(t, w.MaxFloat, c.Buckets[i].MaxFloat, 1e-12, "bucket %d", i)
				require.Equal(t, w.Price, c.Buckets[i].Price, "bucket %d", i)
				require.Equal(t, w.Sales, c.Buckets[i].Sales, "bucket %d", i)
			}
		})
	}
}

func TestFitFloatCurveEligibleSales(t *testing.T) {
	eleven := make([]Sale, 0, 20)
	for i := range FloatMinSales - 1 {
		eleven = append(eleven, floatSale(float64(i)/100, 100))
	}
	require.Nil(t, FitFloatCurve(nil, curveNow))
	require.Nil(t, FitFloatCurve(eleven, curveNow), "fewer than FloatMinSales")

	with := func(s Sale) []Sale { return append(append([]Sale(nil), eleven...), s) }
	for _, tc := range []struct {
		name  string
		sale  Sale
		count bool
	}{
		{"just inside the 7 days", Sale{Price: 1, At: curveNow.Add(-7*24*time.Hour + time.Second), Attrs: Attributes{Float: 0.5, HasFloat: true}}, true},
		{"exactly 7 days old", Sale{Price: 1, At: curveNow.Add(-7 * 24 * time.Hour), Attrs: Attributes{Float: 0.5, HasFloat: true}}, false},
		{"older", Sale{Price: 1, At: curveNow.Add(-30 * 24 * time.Hour), Attrs: Attributes{Float: 0.5, HasFloat: true}}, false},
		{"now", Sale{Price: 1, At: curveNow, Attrs: Attributes{Float: 0.5, HasFloat: true}}, true},
		{"in the future", Sale{Price: 1, At: curveNow.Add(time.Second), Attrs: Attributes{Float: 0.5, HasFloat: true}}, false},
		{"without a float", Sale{Price: 1, At: curveNow.Add(-time.Hour), Attrs: Attributes{PaintSeed: 3, HasSeed: true}}, false},
		{"float zero counts", Sale{Price: 1, At: curveNow.Add(-time.Hour), Attrs: Attributes{HasFloat: true}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := FitFloatCurve(with(tc.sale), curveNow)
			if !tc.count {
				require.Nil(t, c)
				return
			}
			require.NotNil(t, c)
			total := 0
			for _, b := range c.Buckets {
				total += b.Sales
			}
			require.Equal(t, FloatMinSales, total)
		})
	}
}

func TestFitFloatCurveNeverRises(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := FloatMinSales; n < 200; n += 7 {
		sales := make([]Sale, n)
		for i := range sales {
			sales[i] = floatSale(rng.Float64(), Cents(100+rng.IntN(10000)))
		}
		c := FitFloatCurve(sales, curveNow)
		require.NotNil(t, c)
		require.LessOrEqual(t, len(c.Buckets), FloatBuckets)
		total := 0
		for i, b := range c.Buckets {
			total += b.Sales
			require.GreaterOrEqual(t, b.Sales, FloatBucketMinSales)
			if i > 0 {
				require.LessOrEqual(t, b.Price, c.Buckets[i-1].Price, "n=%d bucket %d", n, i)
				require.Greater(t, b.MaxFloat, c.Buckets[i-1].MaxFloat)
			}
		}
		require.Equal(t, n, total)
		require.Equal(t, c.Buckets[len(c.Buckets)-1].Price, c.ValueAt(2), "beyond the last bucket")
	}
}

func TestValueAt(t *testing.T) {
	c := &FloatCurve{Buckets: []FloatBucket{{MaxFloat: 0.1, Price: 500, Sales: 4}, {MaxFloat: 0.2, Price: 300, Sales: 4}, {MaxFloat: 0.3, Price: 200, Sales: 4}}}
	for _, tc := range []struct {
		f    float64
		want Cents
	}{
		{0, 500}, {0.05, 500}, {0.1, 500}, {0.1000001, 300}, {0.2, 300}, {0.25, 200}, {0.3, 200}, {0.9, 200},
	} {
		require.Equal(t, tc.want, c.ValueAt(tc.f), "f=%v", tc.f)
	}
	var nilCurve *FloatCurve
	require.Zero(t, nilCurve.ValueAt(0.1))
	require.Zero(t, (&FloatCurve{}).ValueAt(0.1))
}
