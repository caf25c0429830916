package market

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The rules an item attribute must meet to be kept (SPEC §9.2). The decoders of DMarket answers apply
// them; an attribute that breaks one is left out and the item is kept.

// ParseFloatValue parses a wear float sent as a JSON number or as a string holding one: plain decimal
// or exponent notation only (no hex, no "NaN", no "Inf"), finite and in [0, 1]. A negative zero is 0.
func ParseFloatValue(text string) (float64, bool) {
	if !numberText(text) {
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || !CheckFloat(f) {
		return 0, false
	}
	if f == 0 {
		f = 0 // no negative zero
	}
	return f, true
}

// numberText reports whether s is made only of the characters of a decimal number (digits, sign,
// point, exponent) and starts with a digit, a sign or a point.
func numberText(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+':
		case (c == 'e' || c == 'E') && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckFloat reports whether f is a valid wear float: finite and in [0, 1].
func CheckFloat(f float64) bool {
	return !math.IsNaN(f) && f >= 0 && f <= 1
}

// maxPaintSeedDigits is the number of decimal digits of MaxPaintSeed.
const maxPaintSeedDigits = 6

// ParsePaintSeed parses a paint seed sent as a JSON number or as a string holding one: a plain
// decimal integer (digits only) in 0…MaxPaintSeed.
func ParsePaintSeed(text string) (int, bool) {
	if text == "" || len(text) > maxPaintSeedDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > MaxPaintSeed {
		return 0, false
	}
	return n, true
}

// CanonicalPhase returns the known phase text names like ParsePhase, but ok is false for the empty
// text too: a phase attribute that is sent must name a phase. Text that is already canonical ("Phase
// 2", "Ruby") is matched without allocating.
func CanonicalPhase(text string) (Phase, bool) {
	for _, p := range phases {
		if text == string(p) {
			return p, true
		}
	}
	p, ok := ParsePhase(text)
	return p, ok && p != PhaseNone
}

// CleanStickerName sanitises a decoded sticker name like a title: it must be valid UTF-8; control
// characters are removed and surrounding white space trimmed; the result must be non-empty and at most
// MaxStickerNameRunes code points.
func CleanStickerName(name string) (string, bool) {
	if !utf8.ValidString(name) {
		return "", false
	}
	if strings.IndexFunc(name, isControlRune) >= 0 {
		name = strings.Map(func(r rune) rune {
			if isControlRune(r) {
				return -1
			}
			return r
		}, name)
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxStickerNameRunes {
		return "", false
	}
	return name, true
}

// isControlRune reports the Unicode control characters (category Cc: C0, DEL and C1).
func isControlRune(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// Valid reports whether a meets every attribute rule: a float only with HasFloat and valid, a paint
// seed only with HasSeed and in range, a known phase or none, at most MaxStickers clean sticker names.
func (a *Attributes) Valid() bool {
	if (!a.HasFloat && a.Float != 0) || !CheckFloat(a.Float) || (!a.HasSeed && a.PaintSeed != 0) ||
		a.PaintSeed < 0 || a.PaintSeed > MaxPaintSeed || (a.Phase != PhaseNone && a.Phase.Index() == 0) ||
		len(a.Stickers) > MaxStickers {
		return false
	}
	for _, n := range a.Stickers {
		if clean, ok := CleanStickerName(n); !ok || clean != n {
			return false
		}
	}
	return true
}

// DropStrayPhase removes a's phase when title has no phases (only Doppler and Gamma Doppler patterns do,
// SPEC §9.2: on another title a phase names no market) and reports whether it removed one.
func (a *Attributes) DropStrayPhase(title string) bool {
	if a.Phase == PhaseNone || PhasedTitle(title) {
		return false
	}
	a.Phase = PhaseNone
	return true
}
