// Package offerstest holds test helpers for code that builds the market values offers are computed from.
package offerstest

import "github.com/skinflip/dmarket-monitor/internal/market"

// MustFraction is market.ParseFraction for constants known to be valid; it panics on a bad value.
func MustFraction(s string) market.Fraction {
	f, err := market.ParseFraction(s)
	if err != nil {
		panic(err)
	}
	return f
}
