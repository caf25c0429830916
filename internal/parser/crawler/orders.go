package crawler

import (
	"context"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
)

// With keys, buy orders follow the lanes (a deal is a listing below a buy order, and a better buy order
// is news): every page of the fresh lane with new listings asks for the buy orders of their titles, and
// every claim of the watch lane, once all its titles were scanned, for those of the titles it scanned.
// Each ask is one aggregated-prices call (titles deduplicated, at most 100) whose answer is published as
// an orders message, as the cycle's buy orders are. The calls spend the account's signed budget for other
// calls, not the listings budget, and run beside the lanes, never in their way: at most ordersInFlight
// at once; what is asked meanwhile waits, merged per lane and game into calls of up to 100 titles, and a
// lane's oldest waiting call is dropped once more than maxOrdersBacklog wait, so that nothing queues
// without bound. A call is tried laneOrdersAttempts times (the DMarket client retries each attempt
// itself); a call given up leaves its titles to the next ask or the cycle's buy orders.

// Lane names of the buy-orders calls that follow the fresh and watch lanes: the lane label of
// dmarket_crawler_lane_requests_total and the kind label of dmarket_crawler_fetch_failures_total.
const (
	laneFreshOrders = "fresh-orders"
	laneWatchOrders = "watch-orders"
)

const (
	// ordersInFlight bounds the lanes' buy-orders calls under way at once.
	ordersInFlight = 2
	// maxOrdersBacklog bounds the calls of one lane waiting for a free slot.
	maxOrdersBacklog = 4
	// laneOrdersAttempts bounds the attempts of one lane buy-orders call: an answer later than that is
	// overtaken by the next ask.
	laneOrdersAttempts = 3
	// maxOrdersTitles is the most titles one aggregated-prices call takes.
	maxOrdersTitles = 100
)

// ordersBatch is one aggregated-prices call waiting: the titles one lane asked for in one game.
type ordersBatch struct {
	lane, game string
	titles     []string
}

// ordersQueue holds the lanes' buy-orders calls until a slot is free.
type ordersQueue struct {
	c       *Crawler
	mu      sync.Mutex
	waiting []*ordersBatch // oldest first
	wake    chan struct{}
}

func newOrdersQueue(c *Crawler) *ordersQueue {
	return &ordersQueue{c: c, wake: make(chan struct{}, 1)}
}

// request asks for the buy orders of game's titles on behalf of lane; it never blocks. A nil queue (no
// keys) ignores the request. Titles already waiting in one of the lane's calls of game are not added
// again; the rest fill the lane's newest waiting call of game up to maxOrdersTitles, then new calls.
func (q *ordersQueue) request(lane, game string, titles []string) {
	if q == nil || len(titles) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting := map[string]bool{}
	var open *ordersBatch
	for _, b := range q.waiting {
		if b.lane != lane || b.game != game {
			continue
		}
		for _, t := range b.titles {
			waiting[t] = true
		}
		open = b
	}
	for _, t := range titles {
		if waiting[t] {
			continue
		}
		waiting[t] = true
		if open == nil || len(open.titles) == maxOrdersTitles {
			open = &ordersBatch{lane: lane, game: game}
			q.waiting = append(q.waiting, open)
		}
		open.titles = append(open.titles, t)
	}
	q.dropOldest(lane)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// dropOldest drops lane's oldest waiting calls while more than maxOrdersBacklog wait. Callers hold mu.
func (q *ordersQueue) dropOldest(lane string) {
	n := 0
	for _, b := range q.waiting {
		if b.lane == lane {
			n++
		}
	}
	for i := 0; n > maxOrdersBacklog && i < len(q.waiting); {
		b := q.waiting[i]
		if b.lane != lane {
			i++
			continue
		}
		q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
		n--
		q.c.m.ordersDropped.WithLabelValues(lane).Add(float64(len(b.titles)))
		q.c.log.Debug("buy orders calls behind: oldest waiting call dropped", "lane", lane, "game", b.game, "titles", len(b.titles))
	}
}

// take returns the oldest waiting call, waiting for one; nil when ctx ends.
func (q *ordersQueue) take(ctx context.Context) *ordersBatch {
	for {
		q.mu.Lock()
		if len(q.waiting) > 0 {
			b := q.waiting[0]
			q.waiting = q.waiting[1:]
			q.mu.Unlock()
			return b
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// run makes the waiting calls, at most ordersInFlight at once, until ctx ends.
func (q *ordersQueue) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, ordersInFlight)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		b := q.take(ctx)
		if b == nil {
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			q.c.fetchLaneOrders(ctx, b)
		})
	}
}

// fetchLaneOrders fetches the buy orders of one lane call and publishes them as an orders message.
func (c *Crawler) fetchLaneOrders(ctx context.Context, b *ordersBatch) {
	start := c.clock.Now()
	var r Result
	err := c.fetchWith(ctx, c.laneRetry, b.lane, func(ctx context.Context) error {
		var err error
		c.m.laneRequests.WithLabelValues(b.lane).Inc()
		r, err = c.api.AggregatedPrices(ctx, b.game, b.titles)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("buy orders not fetched", "lane", b.lane, "game", b.game, "titles", len(b.titles), "err", err)
		}
		return
	}
	if err := c.publish(ctx, message.KindOrders, b.game, r, nil, nil); err != nil {
		return
	}
	c.log.Debug("buy orders published", "lane", b.lane, "game", b.game, "titles", len(b.titles),
		"took", c.clock.Now().Sub(start).Round(time.Millisecond))
}

// laneRetryPolicy is the retry policy of the lanes' buy-orders calls: the crawl's, with fewer attempts.
func laneRetryPolicy(p backoff.Policy) backoff.Policy {
	p.MaxAttempts = laneOrdersAttempts
	return p
}
