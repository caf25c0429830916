package market

import (
	"errors"
	"math"
	"strconv"
)

// Cents is an amount of US money in whole cents: 1234 is $12.34. Every price, fee and bound inside the
// system is a Cents (or an int64 of cents at a storage or wire boundary); units are converted once, where
// an adapter reads DMarket's text, with ParseCents, ParseDollars or ParseDollarsRounded.
//
// Cents deliberately has no MarshalText or MarshalJSON: it encodes as a JSON number, and as a map key
// it encodes as the decimal string of the number, exactly like the int64 it replaces.
type Cents int64

// MaxCents is the largest amount a parser returns; -MaxCents is the smallest.
const MaxCents Cents = math.MaxInt64

// Sentinel errors of the parsers. They are returned unwrapped, so that parsing never allocates; callers
// wrap them with the text they parsed.
var (
	// ErrEmpty means the text is empty.
	ErrEmpty = errors.New("empty amount")
	// ErrSyntax means the text is not an amount in the parser's format.
	ErrSyntax = errors.New("malformed amount")
	// ErrSubCent means a decimal-dollar text has more than two decimals (finer than a cent).
	ErrSubCent = errors.New("amount finer than a cent")
	// ErrRange means the amount does not fit in Cents.
	ErrRange = errors.New("amount out of range")
)

// Text is what the parsers read: a string, or a byte slice straight from a JSON token (read without
// conversion or allocation).
type Text interface{ ~string | ~[]byte }

// ParseCents parses DMarket's integer-cents text: an optional '-' followed by decimal digits ("1234" is
// $12.34; market items, aggregated prices and fee bounds come in this form). It returns ErrEmpty,
// ErrSyntax (a '+', spaces, a '.', anything but digits after the sign) or ErrRange (beyond ±MaxCents);
// a syntax error anywhere wins over a range error. "-0" is 0. Callers that want a non-negative amount
// or a ceiling check the result.
func ParseCents[T Text](text T) (Cents, error) {
	v, neg, end, over, err := leadingDigits(text)
	switch {
	case err != nil:
		return 0, err
	case end < len(text):
		return 0, ErrSyntax
	case over:
		return 0, ErrRange
	}
	return signed(v, neg), nil
}

// ParseDollars parses a decimal-dollar text exactly: an optional '-', decimal digits, and optionally a
// '.' followed by one or two digits ("12.57", "12.5", "12", "-0.05"; last-sales prices and configured
// amounts come in this form). It returns ErrEmpty, ErrSyntax (".5", "12.", "1e3", a '+', spaces),
// ErrSubCent ("12.345": more than two decimals, rejected rather than rounded) or ErrRange; a syntax error
// anywhere wins over the others.
func ParseDollars[T Text](text T) (Cents, error) {
	return parseDollars(text, false)
}

// ParseDollarsRounded is ParseDollars, except that decimals beyond the cents are accepted and rounded
// half away from zero on the third decimal ("12.345" is 1235 cents, "-0.005" is -1 cent), as DMarket's
// answers are read by the parser.
func ParseDollarsRounded[T Text](text T) (Cents, error) {
	return parseDollars(text, true)
}

func parseDollars[T Text](text T, round bool) (Cents, error) {
	whole, neg, i, over, err := leadingDigits(text)
	if err != nil {
		return 0, err
	}
	n := len(text)
	if i < n && text[i] != '.' {
		return 0, ErrSyntax
	}
	var frac uint64 // the first two decimals as cents
	decimals := 0
	roundUp := false
	if i < n { // at the '.'
		i++
		if i == n {
			return 0, ErrSyntax // "12."
		}
		for ; i < n; i++ {
			c := text[i]
			if c < '0' || c > '9' {
				return 0, ErrSyntax
			}
			switch decimals {
			case 0, 1:
				frac = frac*10 + uint64(c-'0')
			case 2:
				roundUp = c >= '5'
			}
			decimals++
		}
	}
	if decimals == 1 {
		frac *= 10
	}
	if decimals > 2 && !round {
		return 0, ErrSubCent
	}
	if roundUp {
		frac++
	}
	if over || whole > (uint64(MaxCents)-frac)/100 {
		return 0, ErrRange
	}
	return signed(whole*100+frac, neg), nil
}

// leadingDigits reads the optional '-' and the run of digits that start text. It returns their value
// (over is true when it exceeds MaxCents), whether there was a '-', and the index of the first byte after
// the digits. err is ErrEmpty for an empty text and ErrSyntax when no digit follows the sign.
func leadingDigits[T Text](text T) (v uint64, neg bool, end int, over bool, err error) {
	if len(text) == 0 {
		return 0, false, 0, false, ErrEmpty
	}
	neg = text[0] == '-'
	start := 0
	if neg {
		start = 1
	}
	end = start
	for ; end < len(text) && text[end] >= '0' && text[end] <= '9'; end++ {
		v, over = addDigit(v, text[end], over)
	}
	if end == start {
		return 0, neg, end, over, ErrSyntax
	}
	return v, neg, end, over, nil
}

// addDigit returns v*10 + the digit c, or over=true once the result would exceed MaxCents (v is then
// no longer meaningful).
func addDigit(v uint64, c byte, over bool) (uint64, bool) {
	if over {
		return v, true
	}
	d := uint64(c - '0')
	if v > (uint64(MaxCents)-d)/10 {
		return v, true
	}
	return v*10 + d, false
}

// signed returns the magnitude v (at most MaxCents) with the sign neg.
func signed(v uint64, neg bool) Cents {
	if neg {
		return -Cents(v) //nolint:gosec // v <= MaxCents
	}
	return Cents(v) //nolint:gosec // v <= MaxCents
}

// String formats c as decimal dollars without a currency sign: "12.34", "0.05", "-0.05". The result
// reads back with ParseDollars.
func (c Cents) String() string {
	var buf [24]byte
	return string(c.appendAmount(buf[:0], false))
}

// Dollars formats c as US dollars the way users read money: "$12.34", "$0.00", "-$0.05".
func (c Cents) Dollars() string {
	var buf [24]byte
	return string(c.appendAmount(buf[:0], true))
}

// appendAmount appends c as [-][$]<dollars>.<cents>; it is exact for every int64, MinInt64 included.
func (c Cents) appendAmount(dst []byte, currency bool) []byte {
	u := uint64(c) //nolint:gosec // negated below; uint64 also holds -MinInt64
	if c < 0 {
		dst = append(dst, '-')
		u = -u
	}
	if currency {
		dst = append(dst, '$')
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	r := u % 100
	return append(dst, '.', byte('0'+r/10), byte('0'+r%10))
}
