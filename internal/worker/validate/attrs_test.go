package validate

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// attrCase is one attribute rule: the members of a listing's extra (and of a sale's offerAttributes),
// the attributes kept and the ones left out.
type attrCase struct {
	name    string
	members string
	want    market.Attributes
	bad     Invalid
}

func stickerList(names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = `{"name":` + strconv.Quote(n) + `,"image":"https://example.com/s.png"}`
	}
	return `"stickers":[` + strings.Join(parts, ",") + `]`
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s + strconv.Itoa(i+1)
	}
	return out
}

func floatAttrs(f float64) market.Attributes { return market.Attributes{Float: f, HasFloat: true} }

func seedAttrs(n int) market.Attributes { return market.Attributes{PaintSeed: n, HasSeed: true} }

func phaseAttrs(p market.Phase) market.Attributes { return market.Attributes{Phase: p} }

func stickerAttrs(names ...string) market.Attributes { return market.Attributes{Stickers: names} }

func badOf(r Reason, n int) Invalid { return Invalid{r: n} }

var attrCases = []attrCase{
	{name: "no attributes", members: `"tradable":true`},
	{name: "float number", members: `"floatValue":0.2713904023170471`, want: floatAttrs(0.2713904023170471)},
	{name: "float string", members: `"floatValue":"0.125"`, want: floatAttrs(0.125)},
	{name: "float zero", members: `"floatValue":0`, want: floatAttrs(0)},
	{name: "float negative zero is zero", members: `"floatValue":-0.0`, want: floatAttrs(0)},
	{name: "float one", members: `"floatValue":1`, want: floatAttrs(1)},
	{name: "float exponent", members: `"floatValue":7.5e-3`, want: floatAttrs(0.0075)},
	{name: "float null is absent", members: `"floatValue":null`},
	{name: "float empty string is absent", members: `"floatValue":""`},
	{name: "float negative", members: `"floatValue":-0.01`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float above one", members: `"floatValue":1.0000001`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float overflow", members: `"floatValue":1e999`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float overflow string", members: `"floatValue":"-1e999"`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float NaN string", members: `"floatValue":"NaN"`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float Inf string", members: `"floatValue":"Inf"`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float hex string", members: `"floatValue":"0x1p-2"`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float spaced string", members: `"floatValue":" 0.5"`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float escaped string", members: `"floatValue":"0\u002e5"`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float bool", members: `"floatValue":true`, bad: badOf(ReasonBadFloat, 1)},
	{name: "float object", members: `"floatValue":{"v":0.5}`, bad: badOf(ReasonBadFloat, 1)},
	{name: "seed number", members: `"paintSeed":613`, want: seedAttrs(613)},
	{name: "seed string", members: `"paintSeed":"661"`, want: seedAttrs(661)},
	{name: "seed zero", members: `"paintSeed":0`, want: seedAttrs(0)},
	{name: "seed max", members: `"paintSeed":100000`, want: seedAttrs(market.MaxPaintSeed)},
	{name: "seed above max", members: `"paintSeed":100001`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed huge", members: `"paintSeed":99999999999999999999999`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed negative", members: `"paintSeed":-1`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed fraction", members: `"paintSeed":6.5`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed exponent", members: `"paintSeed":1e3`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed word", members: `"paintSeed":"abc"`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed array", members: `"paintSeed":[1]`, bad: badOf(ReasonBadSeed, 1)},
	{name: "seed null is absent", members: `"paintSeed":null`},
	{name: "phase canonical", members: `"phaseTitle":"Phase 2"`, want: phaseAttrs(market.Phase2)},
	{name: "phase lower case", members: `"phaseTitle":"phase 4"`, want: phaseAttrs(market.Phase4)},
	{name: "phase upper case ruby", members: `"phaseTitle":"RUBY"`, want: phaseAttrs(market.PhaseRuby)},
	{name: "phase underscores", members: `"phaseTitle":"black_pearl"`, want: phaseAttrs(market.PhaseBlackPearl)},
	{name: "phase escaped", members: `"phaseTitle":"Sapphire\u0000"`, want: phaseAttrs(market.PhaseSapphire)},
	{name: "phase key", members: `"phase":"Emerald"`, want: phaseAttrs(market.PhaseEmerald)},
	{name: "phaseTitle wins over phase", members: `"phase":"Phase 1","phaseTitle":"Phase 3"`, want: phaseAttrs(market.Phase3)},
	{name: "bad phaseTitle is not replaced by phase", members: `"phaseTitle":"Phase 9","phase":"Phase 1"`, bad: badOf(ReasonBadPhase, 1)},
	{name: "phase unknown", members: `"phaseTitle":"Phase 5"`, bad: badOf(ReasonBadPhase, 1)},
	{name: "phase blank", members: `"phaseTitle":"   "`, bad: badOf(ReasonBadPhase, 1)},
	{name: "phase bad escape", members: `"phaseTitle":"\ud800"`, bad: badOf(ReasonBadPhase, 1)},
	{name: "phase number", members: `"phaseTitle":2`, bad: badOf(ReasonBadPhase, 1)},
	{name: "phase empty is absent", members: `"phaseTitle":""`},
	{name: "stickers", members: stickerList("Crown (Foil)", "Sticker | Titan | Katowice 2014"),
		want: stickerAttrs("Crown (Foil)", "Sticker | Titan | Katowice 2014")},
	{name: "same sticker four times", members: stickerList("Howl", "Howl", "Howl", "Howl"),
		want: stickerAttrs("Howl", "Howl", "Howl", "Howl")},
	{name: "six stickers", members: stickerList(repeat("S", 6)...), want: stickerAttrs(repeat("S", 6)...)},
	{name: "seven stickers keep six", members: stickerList(repeat("S", 7)...), want: stickerAttrs(repeat("S", 6)...),
		bad: badOf(ReasonTooManyStickers, 1)},
	{name: "seven stickers one bad", members: stickerList(append([]string{" "}, repeat("S", 6)...)...),
		want: stickerAttrs(repeat("S", 6)...), bad: badOf(ReasonBadSticker, 1)},
	{name: "sticker control characters removed", members: `"stickers":[{"name":" Crown\u0007 (Foil)\t"}]`,
		want: stickerAttrs("Crown (Foil)")},
	{name: "sticker only control characters", members: `"stickers":[{"name":"\u0000\u001f"},{"name":"Ok"}]`,
		want: stickerAttrs("Ok"), bad: badOf(ReasonBadSticker, 1)},
	{name: "sticker name longest", members: stickerList(strings.Repeat("é", market.MaxStickerNameRunes)),
		want: stickerAttrs(strings.Repeat("é", market.MaxStickerNameRunes))},
	{name: "sticker name too long", members: stickerList(strings.Repeat("a", market.MaxStickerNameRunes+1)),
		bad: badOf(ReasonBadSticker, 1)},
	{name: "sticker invalid utf8", members: "\"stickers\":[{\"name\":\"a\xffb\"}]", bad: badOf(ReasonBadSticker, 1)},
	{name: "sticker lone surrogate", members: `"stickers":[{"name":"\udc00"}]`, bad: badOf(ReasonBadSticker, 1)},
	{name: "sticker without name", members: `"stickers":[{"image":"x"},{"name":null}]`, bad: badOf(ReasonBadSticker, 2)},
	{name: "sticker name not a string", members: `"stickers":[{"name":5}]`, bad: badOf(ReasonBadSticker, 1)},
	{name: "sticker not an object", members: `"stickers":["Crown",null]`, bad: badOf(ReasonBadSticker, 2)},
	{name: "stickers not an array", members: `"stickers":{"name":"Crown"}`, bad: badOf(ReasonBadSticker, 1)},
	{name: "stickers null is absent", members: `"stickers":null`},
	{name: "stickers empty", members: `"stickers":[]`},
	{name: "everything", members: `"floatValue":"0.0123","paintSeed":661,"phaseTitle":"Ruby",` + stickerList("A", "B"),
		want: market.Attributes{Float: 0.0123, HasFloat: true, PaintSeed: 661, HasSeed: true, Phase: market.PhaseRuby,
			Stickers: []string{"A", "B"}}},
	{name: "every attribute bad", members: `"floatValue":2,"paintSeed":-5,"phase":"x",` + stickerList(append([]string{""}, repeat("S", 8)...)...),
		want: stickerAttrs(repeat("S", 6)...),
		bad:  Invalid{ReasonBadFloat: 1, ReasonBadSeed: 1, ReasonBadPhase: 1, ReasonBadSticker: 1, ReasonTooManyStickers: 1}},
	{name: "attributes in a nested object are not the item's", members: `"inner":{"floatValue":0.5,"stickers":[{"name":"x"}]}`},
}

func listingWithExtra(extra string) string {
	return titledListing("★ Karambit | Doppler (Factory New)", extra)
}

// titledListing returns a listings page of one listing of title whose extra holds the members extra.
func titledListing(title, extra string) string {
	return `{"objects":[{"itemId":"i1","title":"` + title + `","gameId":"a8db","price":{"USD":"100"},` +
		`"extra":{` + extra + `}}],"cursor":""}`
}

// TestPhaseOnlyOnPhasedTitles: a listing keeps its phase only on a Doppler or Gamma Doppler title; on
// another title the phase is dropped and counted as bad, and the listing and its other attributes stay.
func TestPhaseOnlyOnPhasedTitles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		title string
		want  market.Phase
		bad   Invalid
	}{
		{name: "doppler knife", title: "★ Karambit | Doppler (Factory New)", want: market.Phase2},
		{name: "gamma doppler pistol", title: "Glock-18 | Gamma Doppler (Factory New)", want: market.Phase2},
		{name: "stattrak doppler", title: "★ StatTrak™ Butterfly Knife | Doppler (Minimal Wear)", want: market.Phase2},
		{name: "rifle", title: "AK-47 | Redline (Field-Tested)", bad: badOf(ReasonBadPhase, 1)},
		{name: "marble fade knife", title: "★ Karambit | Marble Fade (Factory New)", bad: badOf(ReasonBadPhase, 1)},
		{name: "doppler named without its bar", title: "Doppler Sticker Capsule", bad: badOf(ReasonBadPhase, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := DecodeListings([]byte(titledListing(tc.title, `"floatValue":0.01,"paintSeed":7,"phaseTitle":"Phase 2"`)), "a8db")
			require.NoError(t, err)
			require.Empty(t, page.Invalid)
			require.Len(t, page.Items, 1)
			want := market.Attributes{Float: 0.01, HasFloat: true, PaintSeed: 7, HasSeed: true, Phase: tc.want}
			require.Equal(t, want, page.Items[0].Attrs)
			require.Equal(t, tc.bad, page.BadAttrs)
		})
	}
}

func TestDecodeListingsAttributes(t *testing.T) {
	for _, tc := range attrCases {
		t.Run(tc.name, func(t *testing.T) {
			page, err := DecodeListings([]byte(listingWithExtra(tc.members)), "a8db")
			require.NoError(t, err)
			require.Empty(t, page.Invalid, "a bad attribute keeps the listing")
			require.Len(t, page.Items, 1)
			require.Equal(t, tc.want, page.Items[0].Attrs)
			require.False(t, math.Signbit(page.Items[0].Attrs.Float))
			require.Equal(t, tc.bad, page.BadAttrs)
		})
	}
}

func TestDecodeSalesAttributes(t *testing.T) {
	for _, tc := range attrCases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"sales":[{"price":"1.00","date":"1749568028","offerAttributes":{` + tc.members + `},"orderAttributes":{}}]}`
			sales, err := DecodeSales([]byte(body))
			require.NoError(t, err)
			require.Empty(t, sales.Invalid, "a bad attribute keeps the sale")
			require.Len(t, sales.Items, 1)
			require.Equal(t, tc.want, sales.Items[0].Attrs)
			require.Equal(t, tc.bad, sales.BadAttrs)
		})
	}
}

func TestDroppedItemsCountNoBadAttributes(t *testing.T) {
	body := `{"objects":[{"itemId":"i1","title":"T","gameId":"a8db","extra":{"floatValue":7}}],"cursor":""}`
	page, err := DecodeListings([]byte(body), "a8db")
	require.NoError(t, err)
	require.Equal(t, Invalid{ReasonMissingField: 1}, page.Invalid)
	require.Nil(t, page.BadAttrs)

	sales, err := DecodeSales([]byte(`{"sales":[{"price":"x","date":"1","offerAttributes":{"paintSeed":-1}}]}`))
	require.NoError(t, err)
	require.Equal(t, Invalid{ReasonBadPrice: 1}, sales.Invalid)
	require.Nil(t, sales.BadAttrs)
}

func TestSaleOfferAttributesShapes(t *testing.T) {
	for _, tc := range []struct {
		name, attrs string
	}{
		{"null", `null`},
		{"not an object", `[1,2]`},
		{"empty", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sales, err := DecodeSales([]byte(`{"sales":[{"price":"1","date":"5","offerAttributes":` + tc.attrs + `}]}`))
			require.NoError(t, err)
			require.Len(t, sales.Items, 1)
			require.True(t, sales.Items[0].Attrs.Empty())
			require.Nil(t, sales.BadAttrs)
		})
	}
	_, err := DecodeSales([]byte(`{"sales":[{"price":"1","date":"5","offerAttributes":{"stickers":[{"name":"a"]}}]}`))
	require.ErrorIs(t, err, ErrInvalidPayload, "broken JSON inside the attributes is a broken payload")
}

func TestDecodeFixturesAttributes(t *testing.T) {
	page, err := DecodeListings(readFixture(t, "market-items-page.json"), "a8db")
	require.NoError(t, err)
	require.Nil(t, page.BadAttrs)
	first := page.Items[0].Attrs
	require.Equal(t, market.Attributes{Float: 0.2713904023170471, HasFloat: true, PaintSeed: 613, HasSeed: true}, first)
	require.Equal(t, "0.2713904023170471", strconv.FormatFloat(first.Float, 'g', -1, 64))
	require.True(t, page.Items[3].Attrs.Empty(), "the sticker item carries no attribute")

	sales, err := DecodeSales(readFixture(t, "last-sales.json"))
	require.NoError(t, err)
	require.Nil(t, sales.BadAttrs)
	require.Equal(t, market.Attributes{Float: 0.178656073, HasFloat: true, PaintSeed: 106, HasSeed: true}, sales.Items[0].Attrs)
}

func TestDecodeListingsWithoutAttributesDoesNotAllocateMore(t *testing.T) {
	plain := []byte(listingWithExtra(`"tradable":true,"tradeLock":0`))
	withFloat := []byte(listingWithExtra(`"tradable":true,"tradeLock":0,"floatValue":0.25,"paintSeed":"12","phaseTitle":"Phase 1"`))
	decode := func(body []byte) func() {
		return func() {
			if _, err := DecodeListings(body, "a8db"); err != nil {
				panic(err)
			}
		}
	}
	require.Equal(t, testing.AllocsPerRun(20, decode(plain)), testing.AllocsPerRun(20, decode(withFloat)),
		"a float, a seed and a canonical phase cost no allocation")
}

// requireValidAttrs checks that a meets every attribute rule.
func requireValidAttrs(t *testing.T, a market.Attributes) {
	t.Helper()
	require.True(t, a.Valid(), "%+v", a)
}

func FuzzDecodeSales(f *testing.F) {
	f.Add(readFixture(f, "last-sales.json"))
	for _, tc := range attrCases {
		f.Add([]byte(`{"sales":[{"price":"1.00","date":"5","offerAttributes":{` + tc.members + `}}]}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sales, err := DecodeSales(body)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidPayload)
			return
		}
		require.True(t, json.Valid(body), "accepted invalid JSON")
		for _, s := range sales.Items {
			requireValidAttrs(t, s.Attrs)
		}
		for r := range sales.BadAttrs {
			require.Contains(t, AttrReasons, r)
		}
	})
}

// fixtureAttrs are the attributes of the items of testdata/market-items-attrs.json.
var fixtureAttrs = []market.Attributes{
	{Float: 0.0123456789, HasFloat: true, PaintSeed: 661, HasSeed: true, Phase: market.Phase2},
	{Float: 0.0081, HasFloat: true, PaintSeed: 412, HasSeed: true, Phase: market.PhaseRuby},
	{Float: 0.1512, HasFloat: true, PaintSeed: 77, HasSeed: true,
		Stickers: []string{"Titan | Katowice 2014", "Sticker | Crown (Foil)", "Howling Dawn"}},
	{Float: 0.071, HasFloat: true, PaintSeed: 3, HasSeed: true, Phase: market.PhaseEmerald},
	{Stickers: []string{"A", "B", "C", "D", "E", "F"}},
}

func TestDecodeListingsAttributesFixture(t *testing.T) {
	page, err := DecodeListings(readFixture(t, "market-items-attrs.json"), "a8db")
	require.NoError(t, err)
	require.Empty(t, page.Invalid)
	require.Len(t, page.Items, len(fixtureAttrs))
	for i, want := range fixtureAttrs {
		require.Equal(t, want, page.Items[i].Attrs, page.Items[i].ItemID)
	}
	require.True(t, page.Items[3].Locked)
	require.Equal(t, Invalid{ReasonBadFloat: 1, ReasonBadSeed: 1, ReasonBadPhase: 1, ReasonBadSticker: 1, ReasonTooManyStickers: 1},
		page.BadAttrs)
}
