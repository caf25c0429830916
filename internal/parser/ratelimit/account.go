package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
)

// Default account limits of DMarket, in requests per second.
const (
	DefaultListingsRate = 10
	DefaultSalesRate    = 6
	DefaultOtherRate    = 20
)

// AccountConfig configures the per-account limits. Zero rates take the defaults.
type AccountConfig struct {
	// Listings is the rate of signed listings calls (default 10/s).
	Listings float64
	// Sales is the rate of signed sales calls (default 6/s).
	Sales float64
	// Other is the rate of every other signed call (default 20/s).
	Other float64
	// Burst is the number of calls of one family that may start at once (default 1).
	Burst int
}

// Account limits the signed calls of one DMarket account by endpoint family (dmarket.Family), each family
// with its own AIMD limiter; a value other than the three families is limited as dmarket.FamilyOther. It
// is safe for concurrent use.
type Account struct {
	limiters map[dmarket.Family]*AIMD
}

// NewAccount returns the account limiter and registers `dmarket_ratelimit_account_rate{family}` and
// `dmarket_ratelimit_account_throttles_total{family}` with reg (nil registers nothing); the family label
// is the family's String.
func NewAccount(cfg AccountConfig, clk Clock, reg prometheus.Registerer) (*Account, error) {
	vecs := newObserverVecs(reg, "family",
		"dmarket_ratelimit_account_rate",
		"Current adaptive rate limit of signed calls of an endpoint family, in requests per second.",
		"dmarket_ratelimit_account_throttles_total",
		"Throttle events (HTTP 429 answers) seen by the account limiter of an endpoint family.")
	rates := map[dmarket.Family]float64{
		dmarket.FamilyListings: orDefault(cfg.Listings, DefaultListingsRate),
		dmarket.FamilySales:    orDefault(cfg.Sales, DefaultSalesRate),
		dmarket.FamilyOther:    orDefault(cfg.Other, DefaultOtherRate),
	}
	a := &Account{limiters: make(map[dmarket.Family]*AIMD, len(rates))}
	for fam, r := range rates {
		l, err := NewAIMD(AIMDConfig{Ceiling: r, Burst: cfg.Burst}, clk, vecs.observer(fam.String()))
		if err != nil {
			return nil, fmt.Errorf("account limiter %s: %w", fam, err)
		}
		a.limiters[fam] = l
	}
	return a, nil
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func (a *Account) limiter(f dmarket.Family) *AIMD {
	if l, ok := a.limiters[f]; ok {
		return l
	}
	return a.limiters[dmarket.FamilyOther]
}

// Wait blocks until one signed call of family f may start or ctx is done.
func (a *Account) Wait(ctx context.Context, f dmarket.Family) error { return a.limiter(f).Wait(ctx) }

// Reserve takes one token of family f at now and returns how long the call must wait.
func (a *Account) Reserve(f dmarket.Family, now time.Time) time.Duration {
	return a.limiter(f).Reserve(now)
}

// OnSuccess reports a successful signed call of family f.
func (a *Account) OnSuccess(f dmarket.Family) { a.limiter(f).OnSuccess() }

// OnThrottle reports a 429 answer to a signed call of family f and reports whether the rate decreased.
func (a *Account) OnThrottle(f dmarket.Family) bool { return a.limiter(f).OnThrottle() }

// Rate returns the current rate of family f in requests per second.
func (a *Account) Rate(f dmarket.Family) float64 { return a.limiter(f).Rate() }
