package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
)

// accountLimiter paces the client's signed calls with the account limiter and adapts its rates to their
// outcomes.
type accountLimiter struct{ a *ratelimit.Account }

var _ dmarket.AccountObserver = accountLimiter{}

func (a accountLimiter) Wait(ctx context.Context, f dmarket.Family) error {
	return a.a.Wait(ctx, f)
}

// Observe adapts the account's rate to the outcome of a signed call: halve on 429, recover on success.
func (a accountLimiter) Observe(f dmarket.Family, o dmarket.Outcome) {
	switch o {
	case dmarket.Throttled:
		a.a.OnThrottle(f)
	case dmarket.Success:
		a.a.OnSuccess(f)
	}
}

// dmarketHealth degrades while a breaker is not closed, an endpoint is stopped or fewer than 90 % of
// the recent requests succeeded (a 429 storm); DMarket can only degrade the parser, never make it unready.
func dmarketHealth(c *dmarket.Client) health.CheckFunc {
	return func(context.Context) (health.Status, error) {
		var problems []string
		for _, h := range c.Health() {
			switch {
			case h.Stopped:
				problems = append(problems, fmt.Sprintf("%s stopped: %s", h.Endpoint, h.StopReason))
			case h.Breaker != dmarket.BreakerClosed:
				problems = append(problems, fmt.Sprintf("%s breaker %s", h.Endpoint, h.Breaker))
			case h.Attempts >= 10 && h.Successes*10 < h.Attempts*9:
				problems = append(problems, fmt.Sprintf("%s success rate %d/%d", h.Endpoint, h.Successes, h.Attempts))
			}
		}
		if len(problems) > 0 {
			return health.StatusDegraded, fmt.Errorf("%s", strings.Join(problems, "; "))
		}
		return health.StatusHealthy, nil
	}
}

// proxiesHealth degrades while some egresses are cooling down.
func proxiesHealth(p *proxy.Pool) health.CheckFunc {
	return func(context.Context) (health.Status, error) {
		usable, total := p.Usable()
		if usable < total {
			return health.StatusDegraded, fmt.Errorf("%d of %d proxies usable", usable, total)
		}
		return health.StatusHealthy, nil
	}
}
