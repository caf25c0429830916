package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Cents is an amount of US cents parsed exactly from a dollar string ("10", "10.5", "10.05"). A value
// with more than two decimal places ("10.015") is rejected rather than rounded: a money setting is
// either exact or wrong.
type Cents int64

// maxHundredths bounds a setting (twelve digits before the point), far from int64 overflow.
const maxHundredths = 999_999_999_999_99

// UnmarshalText parses a non-negative dollar amount with at most two decimals.
func (c *Cents) UnmarshalText(b []byte) error {
	v, err := parseDecimal(string(b), false, "a dollar amount")
	if err != nil {
		return err
	}
	*c = Cents(v)
	return nil
}

// Dollars formats c as "$12.34".
func (c Cents) Dollars() string { return market.Cents(c).Dollars() }

// String formats c as a dollar amount without a currency sign: "12.34".
func (c Cents) String() string { return market.Cents(c).String() }

// Percent is a percentage in hundredths of a percent (basis points: 1234 = 12.34 %), parsed exactly
// from a decimal string ("5", "-30", "2.5", "0.25") with at most two decimal places.
type Percent int64

// UnmarshalText parses a signed percentage with at most two decimals (no % sign).
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := parseDecimal(string(b), true, "a percentage")
	if err != nil {
		return err
	}
	*p = Percent(v)
	return nil
}

// BasisPoints returns p in hundredths of a percent.
func (p Percent) BasisPoints() int64 { return int64(p) }

// String formats p as "12.34" (with a leading '-' when negative), the two-decimal form of money.
func (p Percent) String() string { return market.Cents(p).String() }

// parseDecimal parses s as a decimal with at most two decimal places and returns it times 100. Around
// the grammar of market.ParseDollars it accepts what people type in a setting: surrounding spaces, a
// leading '+' and no digit before the point (".5").
func parseDecimal(s string, signed bool, what string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if !signed && s[0] == '-' {
			return 0, fmt.Errorf("%q must not be negative", orig)
		}
		neg = s[0] == '-'
		s = s[1:]
	}
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	v, err := market.ParseDollars(s)
	switch {
	case errors.Is(err, market.ErrSubCent):
		return 0, fmt.Errorf("%q has more than two decimal places (cents/hundredths are the finest unit)", orig)
	case errors.Is(err, market.ErrRange) || v > maxHundredths:
		return 0, fmt.Errorf("%q is too large", orig)
	case err != nil || v < 0: // v < 0: a second sign
		return 0, fmt.Errorf("%q is not %s (digits with an optional '.' and at most two decimals)", orig, what)
	}
	if neg {
		v = -v
	}
	return int64(v), nil
}

// GameIDs is a comma list of DMarket game ids (a8db, 9a92, tf2, rust), trimmed, lower-cased and without
// duplicates.
type GameIDs []string

// UnmarshalText parses a comma list, reporting every unknown or duplicate id.
func (g *GameIDs) UnmarshalText(b []byte) error {
	var ids GameIDs
	var bad []string
	for part := range strings.SplitSeq(string(b), ",") {
		id := strings.ToLower(strings.TrimSpace(part))
		switch {
		case id == "":
			continue
		case market.KnownGameID(id) == "":
			bad = append(bad, fmt.Sprintf("unknown game id %q", part))
		case slices.Contains(ids, id):
			bad = append(bad, fmt.Sprintf("game id %q listed twice", id))
		default:
			ids = append(ids, id)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s (known: %s)", strings.Join(bad, ", "), strings.Join(market.GameIDs(), ", "))
	}
	if len(ids) == 0 {
		return fmt.Errorf("no game id given (known: %s)", strings.Join(market.GameIDs(), ", "))
	}
	*g = ids
	return nil
}

// Whitelist is a comma list of Telegram user ids.
type Whitelist []int64

// UnmarshalText parses a comma list of positive integers, reporting every bad entry. Blank entries are
// skipped; duplicates are kept once.
func (w *Whitelist) UnmarshalText(b []byte) error {
	var ids Whitelist
	var bad []string
	for part := range strings.SplitSeq(string(b), ",") {
		s := strings.TrimSpace(part)
		if s == "" {
			continue
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			bad = append(bad, fmt.Sprintf("%q is not a Telegram user id (a positive integer)", s))
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, ", "))
	}
	*w = ids
	return nil
}

// Contains reports whether id is on the list.
func (w Whitelist) Contains(id int64) bool { return slices.Contains(w, id) }

// CentsList is a comma list of dollar amounts in strictly increasing order.
type CentsList []Cents

// UnmarshalText parses the list, reporting every bad amount and any ordering mistake.
func (l *CentsList) UnmarshalText(b []byte) error {
	var out CentsList
	var bad []string
	for part := range strings.SplitSeq(string(b), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var c Cents
		if err := c.UnmarshalText([]byte(part)); err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if c == 0 {
			bad = append(bad, fmt.Sprintf("%q: bounds must be above 0", part))
			continue
		}
		if n := len(out); n > 0 && c <= out[n-1] {
			bad = append(bad, fmt.Sprintf("%s is not above %s (bounds must increase)", c, out[n-1]))
			continue
		}
		out = append(out, c)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, ", "))
	}
	*l = out
	return nil
}
