package dmarket

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
)

// HealthCheckConfig tunes HealthCheck.
type HealthCheckConfig struct {
	// Label, when set, prefixes the check's error ("re-checks: market_items breaker open").
	Label string
	// MinSuccessPercent, when > 0, also degrades while fewer than this percentage of an endpoint's
	// recent attempts succeeded (once it has made 10 at least); 0 leaves success rates out.
	MinSuccessPercent int
}

// HealthCheck returns a health check of c that degrades while a breaker is not closed, an endpoint is
// stopped or, as cfg asks, too few recent requests succeeded. It never reports unhealthy: DMarket can
// only degrade a service, never make it unready.
func HealthCheck(c *Client, cfg HealthCheckConfig) health.CheckFunc {
	return func(context.Context) (health.Status, error) {
		problems := healthProblems(c.Health(), cfg.MinSuccessPercent)
		if len(problems) == 0 {
			return health.StatusHealthy, nil
		}
		msg := strings.Join(problems, "; ")
		if cfg.Label != "" {
			msg = cfg.Label + ": " + msg
		}
		return health.StatusDegraded, errors.New(msg)
	}
}

// healthProblems describes what is wrong with each endpoint, one endpoint a line at most.
func healthProblems(hs []EndpointHealth, minSuccessPercent int) []string {
	var problems []string
	for _, h := range hs {
		switch {
		case h.Stopped:
			problems = append(problems, fmt.Sprintf("%s stopped: %s", h.Endpoint, h.StopReason))
		case h.Breaker != BreakerClosed:
			problems = append(problems, fmt.Sprintf("%s breaker %s", h.Endpoint, h.Breaker))
		case minSuccessPercent > 0 && h.Attempts >= 10 && h.Successes*100 < h.Attempts*minSuccessPercent:
			problems = append(problems, fmt.Sprintf("%s success rate %d/%d", h.Endpoint, h.Successes, h.Attempts))
		}
	}
	return problems
}
