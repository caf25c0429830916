// Package offerstest holds test helpers for code that builds offers values.
package offerstest

import "github.com/skinflip/dmarket-monitor/internal/bot/offers"

// MustFraction is offers.ParseFraction for constants known to be valid; it panics on a bad value.
func MustFraction(s string) offers.Fraction {
	f, err := offers.ParseFraction(s)
	if err != nil {
		panic(err)
	}
	return f
}
