package market

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFloatValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.2713904023170471", 0.2713904023170471, true},
		{"0", 0, true},
		{"1", 1, true},
		{"1.0", 1, true},
		{"-0", 0, true},
		{"-0.0", 0, true},
		{"7.5e-3", 0.0075, true},
		{"5E-1", 0.5, true},
		{".5", 0.5, true},
		{"1e-400", 0, true}, // below the smallest float64: rounds to 0, a valid float
		{"", 0, false},
		{"-0.01", 0, false},
		{"1.0000001", 0, false},
		{"1e999", 0, false},
		{"-1e999", 0, false},
		{"NaN", 0, false},
		{"nan", 0, false},
		{"Inf", 0, false},
		{"+Inf", 0, false},
		{"Infinity", 0, false},
		{"0x1p-2", 0, false},
		{"0_5", 0, false},
		{" 0.5", 0, false},
		{"0.5 ", 0, false},
		{"e5", 0, false},
		{"0.5.5", 0, false},
		{"true", 0, false},
		{"{}", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseFloatValue(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
			require.False(t, math.Signbit(got), "no negative zero")
		})
	}
}

func TestAttributesEmpty(t *testing.T) {
	require.True(t, (&Attributes{}).Empty())
	for _, a := range []Attributes{{HasFloat: true}, {HasSeed: true}, {Phase: PhaseRuby}, {Stickers: []string{"x"}}} {
		require.False(t, a.Empty(), "%+v", a)
	}
}

func TestAttributesValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Attributes
		want bool
	}{
		{"none", Attributes{}, true},
		{"all", Attributes{Float: 0.5, HasFloat: true, PaintSeed: 7, HasSeed: true, Phase: PhaseRuby, Stickers: []string{"A", "B"}}, true},
		{"float without HasFloat", Attributes{Float: 0.5}, false},
		{"float out of range", Attributes{Float: 1.5, HasFloat: true}, false},
		{"seed without HasSeed", Attributes{PaintSeed: 3}, false},
		{"negative seed", Attributes{PaintSeed: -3, HasSeed: true}, false},
		{"seed too big", Attributes{PaintSeed: MaxPaintSeed + 1, HasSeed: true}, false},
		{"unknown phase", Attributes{Phase: "phase 2"}, false},
		{"too many stickers", Attributes{Stickers: []string{"1", "2", "3", "4", "5", "6", "7"}}, false},
		{"unclean sticker", Attributes{Stickers: []string{" A"}}, false},
		{"empty sticker", Attributes{Stickers: []string{""}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.a.Valid()) })
	}
}

func TestCheckFloat(t *testing.T) {
	for f, want := range map[float64]bool{
		0: true, 1: true, 0.5: true, math.SmallestNonzeroFloat64: true,
		-0.0001: false, 1.0001: false, math.Inf(1): false, math.Inf(-1): false, math.NaN(): false,
	} {
		require.Equal(t, want, CheckFloat(f), "%v", f)
	}
}

func TestParsePaintSeed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"661", 661, true},
		{"0007", 7, true},
		{"100000", MaxPaintSeed, true},
		{"100001", 0, false},
		{"999999", 0, false},
		{"1000000", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{"12a", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParsePaintSeed(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCanonicalPhase(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Phase
		ok   bool
	}{
		{"Phase 2", Phase2, true},
		{"phase 2", Phase2, true},
		{"Black Pearl", PhaseBlackPearl, true},
		{"emerald", PhaseEmerald, true},
		{"", PhaseNone, false},
		{"  ", PhaseNone, false},
		{"Phase 5", PhaseNone, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := CanonicalPhase(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
	require.Zero(t, testing.AllocsPerRun(10, func() { _, _ = CanonicalPhase("Phase 3") }), "a canonical phase does not allocate")
}

func TestCleanStickerName(t *testing.T) {
	long := strings.Repeat("ü", MaxStickerNameRunes)
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "Crown (Foil)", "Crown (Foil)", true},
		{"market title", "Sticker | Titan | Katowice 2014", "Sticker | Titan | Katowice 2014", true},
		{"trimmed", "  Howl \t", "Howl", true},
		{"control characters removed", "Cr\x00own\u0085 (Foil)\x7f", "Crown (Foil)", true},
		{"longest", long, long, true},
		{"too long", long + "x", "", false},
		{"long only before trimming", " " + long + " ", long, true},
		{"empty", "", "", false},
		{"blank", " \t\n", "", false},
		{"only control characters", "\x01\x02", "", false},
		{"invalid utf8", "a\xffb", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CleanStickerName(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDropStrayPhase(t *testing.T) {
	for _, tc := range []struct {
		name, title string
		phase       Phase
		want        Phase
		dropped     bool
	}{
		{"Doppler keeps its phase", "★ Karambit | Doppler (Factory New)", PhaseRuby, PhaseRuby, false},
		{"Gamma Doppler keeps its phase", "Glock-18 | Gamma Doppler (Minimal Wear)", Phase2, Phase2, false},
		{"another title loses it", "AK-47 | Redline (Field-Tested)", PhaseRuby, PhaseNone, true},
		{"no phase: nothing to drop", "AK-47 | Redline (Field-Tested)", PhaseNone, PhaseNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Attributes{Phase: tc.phase, PaintSeed: 7, HasSeed: true}
			require.Equal(t, tc.dropped, a.DropStrayPhase(tc.title))
			require.Equal(t, Attributes{Phase: tc.want, PaintSeed: 7, HasSeed: true}, a)
		})
	}
}
