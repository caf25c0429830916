package main

import (
	"context"
	"fmt"

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
