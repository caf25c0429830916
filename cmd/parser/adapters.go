package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/health"
	"github.com/skinflip/dmarket-monitor/internal/proxy"
	"github.com/skinflip/dmarket-monitor/internal/ratelimit"
)

// poolEgress lets the DMarket client send through the proxy pool.
type poolEgress struct{ pool *proxy.Pool }

func (p poolEgress) Acquire(ctx context.Context, limited bool) (dmarket.Lease, error) {
	l, err := p.pool.Acquire(ctx, limited)
	if err != nil {
		return nil, err
	}
	return poolLease{l}, nil
}

type poolLease struct{ l *proxy.Lease }

func (p poolLease) Do(req *http.Request) (*http.Response, error) { return p.l.Do(req) }
func (p poolLease) Name() string                                 { return p.l.Name() }

func (p poolLease) Release(o dmarket.Outcome) {
	switch o {
	case dmarket.Success:
		p.l.Release(proxy.Success)
	case dmarket.Throttled:
		p.l.Release(proxy.Throttled)
	case dmarket.EgressFailure:
		p.l.Release(proxy.EgressFailure)
	default:
		p.l.Release(proxy.APIError)
	}
}

// accountLimiter maps the client's endpoint families onto the account limiter's.
type accountLimiter struct{ a *ratelimit.Account }

func (a accountLimiter) Wait(ctx context.Context, f dmarket.Family) error {
	return a.a.Wait(ctx, family(f))
}

func family(f dmarket.Family) ratelimit.Family {
	switch f {
	case dmarket.FamilyListings:
		return ratelimit.FamilyListings
	case dmarket.FamilySales:
		return ratelimit.FamilySales
	default:
		return ratelimit.FamilyOther
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
