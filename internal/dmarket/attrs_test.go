package dmarket

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

func stickersJSON(names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = `{"name":` + strconv.Quote(n) + `}`
	}
	return `"stickers":[` + strings.Join(parts, ",") + `]`
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "S" + strconv.Itoa(i+1)
	}
	return out
}

// attrRules are the attribute rules of SPEC §9.2 as the client applies them: the members of a
// listing's extra (and of a sale's offerAttributes), the attributes kept and how many were left out.
var attrRules = []struct {
	name    string
	members string
	want    market.Attributes
	bad     int
}{
	{name: "none", members: `"tradable":true`},
	{name: "float number", members: `"floatValue":0.2713904023170471`, want: market.Attributes{Float: 0.2713904023170471, HasFloat: true}},
	{name: "float string", members: `"floatValue":"0.125"`, want: market.Attributes{Float: 0.125, HasFloat: true}},
	{name: "float null", members: `"floatValue":null`},
	{name: "float empty string", members: `"floatValue":""`},
	{name: "float overflow", members: `"floatValue":1e999`, bad: 1},
	{name: "float negative", members: `"floatValue":-0.5`, bad: 1},
	{name: "float NaN", members: `"floatValue":"NaN"`, bad: 1},
	{name: "float escaped", members: `"floatValue":"0\u002e5"`, bad: 1},
	{name: "float object", members: `"floatValue":{}`, bad: 1},
	{name: "seed", members: `"paintSeed":661`, want: market.Attributes{PaintSeed: 661, HasSeed: true}},
	{name: "seed string", members: `"paintSeed":"7"`, want: market.Attributes{PaintSeed: 7, HasSeed: true}},
	{name: "seed too big", members: `"paintSeed":100001`, bad: 1},
	{name: "seed fraction", members: `"paintSeed":1.5`, bad: 1},
	{name: "phase", members: `"phaseTitle":"Phase 2"`, want: market.Attributes{Phase: market.Phase2}},
	{name: "phase lower case", members: `"phase":"ruby"`, want: market.Attributes{Phase: market.PhaseRuby}},
	{name: "phaseTitle wins", members: `"phase":"Ruby","phaseTitle":"Emerald"`, want: market.Attributes{Phase: market.PhaseEmerald}},
	{name: "phase unknown", members: `"phaseTitle":"Phase 5"`, bad: 1},
	{name: "phase number", members: `"phaseTitle":3`, bad: 1},
	{name: "phase empty", members: `"phaseTitle":""`},
	{name: "stickers", members: `"stickers":[{"name":"Crown (Foil)"},{"name":" Howl\u0007 "}]`, want: market.Attributes{Stickers: []string{"Crown (Foil)", "Howl"}}},
	{name: "seven stickers", members: stickersJSON(numbered(7)...), want: market.Attributes{Stickers: numbered(6)}, bad: 1},
	{name: "bad stickers", members: `"stickers":[{"name":""},{"name":5},"x",null,{"image":"y"},{"name":"ok"}]`,
		want: market.Attributes{Stickers: []string{"ok"}}, bad: 5},
	{name: "sticker name too long", members: stickersJSON(strings.Repeat("a", market.MaxStickerNameRunes+1)), bad: 1},
	{name: "stickers not an array", members: `"stickers":"Crown"`, bad: 1},
	{name: "stickers null", members: `"stickers":null`},
	{name: "all bad", members: `"floatValue":true,"paintSeed":-1,"phase":"x","stickers":{}`, bad: 4},
}

func TestDecodeMarketItemsAttributes(t *testing.T) {
	for _, tc := range attrRules {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"objects":[{"itemId":"i1","title":"★ Karambit | Doppler (Factory New)","price":{"USD":"100"},` +
				`"extra":{"offerId":"o",` + tc.members + `}}],"cursor":""}`
			page, err := DecodeMarketItems([]byte(body))
			require.NoError(t, err)
			require.Zero(t, page.Invalid, "a bad attribute keeps the listing")
			require.Len(t, page.Items, 1)
			require.Equal(t, "o", page.Items[0].OfferID)
			require.Equal(t, tc.want, page.Items[0].Attrs)
			require.Equal(t, tc.bad, page.BadAttrs)
		})
	}
}

// A phase on a title without phases is left out and counted, as the worker does (SPEC §9.2); the
// listing and its other attributes stay.
func TestDecodeMarketItemsPhaseOnlyOnPhasedTitles(t *testing.T) {
	for _, tc := range []struct {
		title string
		want  market.Attributes
		bad   int
	}{
		{"★ Karambit | Doppler (Factory New)", market.Attributes{Phase: market.PhaseRuby, PaintSeed: 7, HasSeed: true}, 0},
		{"Glock-18 | Gamma Doppler (Minimal Wear)", market.Attributes{Phase: market.PhaseRuby, PaintSeed: 7, HasSeed: true}, 0},
		{"AK-47 | Redline (Field-Tested)", market.Attributes{PaintSeed: 7, HasSeed: true}, 1},
	} {
		t.Run(tc.title, func(t *testing.T) {
			body := `{"objects":[{"itemId":"i1","title":` + strconv.Quote(tc.title) +
				`,"price":{"USD":"100"},"extra":{"phaseTitle":"Ruby","paintSeed":7}}],"cursor":""}`
			page, err := DecodeMarketItems([]byte(body))
			require.NoError(t, err)
			require.Len(t, page.Items, 1)
			require.Equal(t, tc.want, page.Items[0].Attrs)
			require.Equal(t, tc.bad, page.BadAttrs)
		})
	}
}

func TestDecodeLastSalesAttributes(t *testing.T) {
	for _, tc := range attrRules {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"sales":[{"price":"1.00","date":"5","offerAttributes":{` + tc.members + `}}]}`
			got, err := DecodeLastSales([]byte(body))
			require.NoError(t, err)
			require.Zero(t, got.Invalid, "a bad attribute keeps the sale")
			require.Len(t, got.Sales, 1)
			require.Equal(t, tc.want, got.Sales[0].Attrs)
			require.Equal(t, tc.bad, got.BadAttrs)
		})
	}
}

func TestDecodeLastSalesOfferAttributesShapes(t *testing.T) {
	for _, attrs := range []string{`null`, `[1]`, `"x"`, `{}`} {
		got, err := DecodeLastSales([]byte(`{"sales":[{"price":"1","date":"5","offerAttributes":` + attrs + `}]}`))
		require.NoError(t, err, attrs)
		require.Len(t, got.Sales, 1, attrs)
		require.True(t, got.Sales[0].Attrs.Empty(), attrs)
		require.Zero(t, got.BadAttrs, attrs)
	}
}

func TestDecodeMarketItemsAttributesFixture(t *testing.T) {
	page, err := DecodeMarketItems(fixture(t, "market-items-attrs.json"))
	require.NoError(t, err)
	require.Zero(t, page.Invalid)
	require.Equal(t, []market.Attributes{
		{Float: 0.0123456789, HasFloat: true, PaintSeed: 661, HasSeed: true, Phase: market.Phase2},
		{Float: 0.0081, HasFloat: true, PaintSeed: 412, HasSeed: true, Phase: market.PhaseRuby},
		{Float: 0.1512, HasFloat: true, PaintSeed: 77, HasSeed: true,
			Stickers: []string{"Titan | Katowice 2014", "Sticker | Crown (Foil)", "Howling Dawn"}},
		{Float: 0.071, HasFloat: true, PaintSeed: 3, HasSeed: true, Phase: market.PhaseEmerald},
		{Stickers: []string{"A", "B", "C", "D", "E", "F"}},
	}, []market.Attributes{page.Items[0].Attrs, page.Items[1].Attrs, page.Items[2].Attrs, page.Items[3].Attrs, page.Items[4].Attrs})
	require.Equal(t, 5, page.BadAttrs, "float, seed, phase, one bad sticker, too many stickers")
}

func TestDecodeMarketItemsFixtureAttributes(t *testing.T) {
	page, err := DecodeMarketItems(fixture(t, "market-items-page.json"))
	require.NoError(t, err)
	require.Zero(t, page.BadAttrs)
	require.Equal(t, market.Attributes{Float: 0.2713904023170471, HasFloat: true, PaintSeed: 613, HasSeed: true}, page.Items[0].Attrs)
	require.True(t, page.Items[3].Attrs.Empty(), "the sticker item carries no attribute")
}

// requireValidAttrs checks that a meets every attribute rule.
func requireValidAttrs(t *testing.T, a market.Attributes) {
	t.Helper()
	require.True(t, a.Valid(), "%+v", a)
}
