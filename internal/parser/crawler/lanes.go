package crawler

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Besides the range crawl, two lanes spend fixed shares of the listings budget (SPEC §9.1): the fresh
// lane polls each game's newest listings, the watch lane scans the titles the bot watches. One pacer
// hands out their requests at share × budget requests per second (the budget is the usable egresses ×
// PARSER_RATE_PER_IP, read again at every request, so it follows the proxy set), each lane getting its
// share of the ticks; a request then waits for an egress in the same pool and limiters as the range
// crawl's chains, which take whatever the pool has left. A tick whose lane has nothing to do (no watched
// title due) is left unused, so that budget goes to the range crawl.

// Lane names, the lane label of the lane metrics.
const (
	laneRange = "range"
	laneFresh = "fresh"
	laneWatch = "watch"
)

// Watchlist hands out the watched titles that are due; *watchlist.Store implements it.
type Watchlist interface {
	// Claim returns up to n due titles of game, each due again every later.
	Claim(ctx context.Context, game string, n int, every time.Duration) ([]string, error)
}

// job is one request of a lane with what follows from its answer.
type job func(ctx context.Context)

// lane is one paced source of requests.
type lane struct {
	name  string
	share float64
	// next returns the lane's next request given the lane's rate, nil when it has nothing to do now.
	next func(ctx context.Context, rate float64) job
	// credit is the lane's deficit in the pacer's weighted round robin.
	credit   float64
	inflight atomic.Int32
	// freed is signalled when a request of the lane ends.
	freed chan struct{}
	// budget is the lane's dmarket_crawler_lane_budget_requests_per_second gauge.
	budget prometheus.Gauge
}

// laneWindow is how long a lane's requests may wait in the pool together: a lane has at most its rate ×
// laneWindow requests in flight, enough to keep its rate while the range crawl's chains queue in front
// of it at the egresses' limiters.
const laneWindow = 3 * time.Second

// maxCatchUp is how far behind its schedule the pacer may fall before it forgets the missed ticks
// instead of sending them in a burst.
const maxCatchUp = time.Second

// idleBudgetWait is how long the pacer waits when the budget is zero (no usable egress).
const idleBudgetWait = time.Second

func (l *lane) release() {
	l.inflight.Add(-1)
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// waitSlot waits until the lane has fewer than limit requests in flight.
func (l *lane) waitSlot(ctx context.Context, limit int) error {
	for int(l.inflight.Load()) >= limit {
		select {
		case <-l.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// laneSet builds the lanes whose share is positive.
func (c *Crawler) laneSet() []*lane {
	var out []*lane
	if c.cfg.FreshShare > 0 {
		f := newFreshLane(c)
		out = append(out, &lane{name: laneFresh, share: c.cfg.FreshShare, next: f.next, freed: make(chan struct{}, 1),
			budget: c.m.laneBudget.WithLabelValues(laneFresh)})
	}
	if c.cfg.WatchShare > 0 && c.watchlist != nil {
		w := &watchLane{c: c}
		out = append(out, &lane{name: laneWatch, share: c.cfg.WatchShare, next: w.next, freed: make(chan struct{}, 1),
			budget: c.m.laneBudget.WithLabelValues(laneWatch)})
	}
	return out
}

// RunLanes paces the fresh and watch lanes, and with keys makes the buy-orders calls that follow them
// (orders.go), until ctx ends (Run starts it); it returns at once when both lanes are off (zero share).
func (c *Crawler) RunLanes(ctx context.Context) error {
	lanes := c.laneSet()
	if len(lanes) == 0 {
		return nil
	}
	var total float64
	for _, l := range lanes {
		total += l.share
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.orders != nil {
		wg.Go(func() { c.orders.run(ctx) })
	}
	next := c.clock.Now()
	for {
		budget := c.budget()
		for _, l := range lanes {
			l.budget.Set(l.share * budget)
		}
		rate := total * budget
		if !(rate > 0) || math.IsInf(rate, 0) {
			if c.clock.Sleep(ctx, idleBudgetWait) != nil {
				return nil
			}
			next = c.clock.Now()
			continue
		}
		now := c.clock.Now()
		if now.Sub(next) > maxCatchUp {
			next = now
		}
		if c.clock.Sleep(ctx, next.Sub(now)) != nil {
			return nil
		}
		next = next.Add(time.Duration(float64(time.Second) / rate))
		l := pickLane(lanes, total)
		laneRate := l.share * budget
		if l.waitSlot(ctx, max(2, int(math.Ceil(laneRate*laneWindow.Seconds())))) != nil {
			return nil
		}
		j := l.next(ctx, laneRate)
		if j == nil {
			continue
		}
		l.inflight.Add(1)
		wg.Go(func() {
			defer l.release()
			j(ctx)
		})
	}
}

// laneMarketItems reads the listings page q asks for on lane's account, counting the request; a failure
// is counted and logged as notFetched with attrs, unless ctx ended. ok is false when there is no page.
func (c *Crawler) laneMarketItems(ctx context.Context, lane string, q ListingsQuery, notFetched string, attrs ...any) (ListingsPage, bool) {
	c.m.laneRequests.WithLabelValues(lane).Inc()
	page, err := c.api.MarketItems(ctx, q)
	if err != nil {
		if ctx.Err() == nil {
			c.m.failures.WithLabelValues(lane).Inc()
			c.log.Debug(notFetched, append(attrs, "err", err)...)
		}
		return ListingsPage{}, false
	}
	return page, true
}

// pickLane returns the lane whose turn it is: a weighted round robin that gives each lane its share of
// the ticks.
func pickLane(lanes []*lane, total float64) *lane {
	var best *lane
	for _, l := range lanes {
		l.credit += l.share / total
		if best == nil || l.credit > best.credit {
			best = l
		}
	}
	best.credit--
	return best
}

// budget returns the listings budget of the lanes in requests per second.
func (c *Crawler) budget() float64 {
	if c.budgetFn == nil {
		return 0
	}
	return c.budgetFn()
}
