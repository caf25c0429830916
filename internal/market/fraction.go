package market

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// maxFractionDecimals bounds the decimals of a fee fraction so that its denominator stays well inside
// 64 bits.
const maxFractionDecimals = 12

// ErrBadFraction reports a fee fraction or percent that is not a plain decimal in range.
var ErrBadFraction = errors.New("bad fee fraction")

// Fraction is an exact non-negative decimal fee rate no greater than 1, such as 0.05 for 5 %, that
// computes fees exactly (Fee). The zero value is a zero rate.
type Fraction struct {
	num uint64 // value is num / den
	den uint64 // a power of ten; 0 means the zero value (rate 0)
}

// ParseFraction parses a plain decimal such as "0.05", "0.025" or "1" exactly. It accepts up to 12
// decimals and values from 0 to 1.
func ParseFraction(s string) (Fraction, error) {
	f, err := parseDecimal(s, 0)
	if err != nil {
		return Fraction{}, err
	}
	return f, nil
}

// ParsePercent parses a percent such as "5" or "2.5" (up to 10 decimals, 0 to 100) into the exact
// Fraction it denotes: "2.5" is 0.025.
func ParsePercent(s string) (Fraction, error) {
	return parseDecimal(s, 2)
}

// parseDecimal parses s as a plain decimal divided by 10^shift.
func parseDecimal(s string, shift int) (Fraction, error) {
	intPart, fracPart, hasDot := strings.Cut(s, ".")
	if s == "" || (intPart == "" && fracPart == "") || (hasDot && fracPart == "") ||
		!allDigits(intPart) || !allDigits(fracPart) {
		return Fraction{}, fmt.Errorf("%w: %q is not a plain decimal", ErrBadFraction, s)
	}
	fracPart = strings.TrimRight(fracPart, "0")
	if len(fracPart)+shift > maxFractionDecimals {
		return Fraction{}, fmt.Errorf("%w: %q has too many decimals", ErrBadFraction, s)
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 3 {
		return Fraction{}, fmt.Errorf("%w: %q is out of range", ErrBadFraction, s)
	}
	num, err := strconv.ParseUint("0"+intPart+fracPart, 10, 64)
	if err != nil {
		return Fraction{}, fmt.Errorf("%w: %q: %w", ErrBadFraction, s, err)
	}
	den := uint64(1)
	for range len(fracPart) + shift {
		den *= 10
	}
	if num > den {
		return Fraction{}, fmt.Errorf("%w: %q is above %s", ErrBadFraction, s, map[int]string{0: "1", 2: "100"}[shift])
	}
	return Fraction{num: num, den: den}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Fee returns ⌊sell × f + ½⌋, computed exactly; sell must not be negative.
func (f Fraction) Fee(sell Cents) Cents {
	if f.den == 0 || sell <= 0 {
		return 0
	}
	// ⌊(2·sell·num + den) / (2·den)⌋ in 128 bits; the quotient is at most sell, so it fits.
	hi, lo := bits.Mul64(uint64(sell), 2*f.num)
	lo, carry := bits.Add64(lo, f.den, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, 2*f.den)
	return Cents(q) //nolint:gosec // q ≤ sell, which is an int64
}

// String returns the fraction as a plain decimal such as "0.05".
func (f Fraction) String() string {
	if f.den == 0 {
		return "0"
	}
	decimals := len(strconv.FormatUint(f.den, 10)) - 1
	s := strconv.FormatUint(f.num, 10)
	if decimals == 0 {
		return s
	}
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	out := strings.TrimRight(s[:len(s)-decimals]+"."+s[len(s)-decimals:], "0")
	return strings.TrimSuffix(out, ".")
}

// UnmarshalJSON accepts a decimal string ("0.05") or a plain JSON number (0.05), both read exactly.
func (f *Fraction) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return fmt.Errorf("%w: null", ErrBadFraction)
	}
	if strings.HasPrefix(s, `"`) {
		u, err := strconv.Unquote(s)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadFraction, err)
		}
		s = u
	}
	v, err := ParseFraction(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// MarshalJSON writes the fraction as a decimal string.
func (f Fraction) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(f.String())), nil
}
