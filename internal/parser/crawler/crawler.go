package crawler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
)

// Config tunes the crawl.
type Config struct {
	// Games are the DMarket game ids to crawl.
	Games []string
	// Bounds are the initial range starts in cents (ascending, first 0); see RangesFromBounds.
	Bounds []int64
	// Concurrency is the number of cursor chains crawled at once.
	Concurrency int
	// SignedWorkers is how many of the chains sign their requests and so spend the account's listings
	// budget instead of an egress's; 0 without keys.
	SignedWorkers int
	// CycleInterval is the minimum time between the starts of two cycles.
	CycleInterval time.Duration
	// CycleDeadline bounds one cycle; ranges still unfinished then are crawled first next cycle.
	CycleDeadline time.Duration
	// MaxChainPages is the longest cursor chain wanted; a longer range is split for the next cycle.
	MaxChainPages int
	// RetryBase and RetryMax bound the backoff between retries of a failing request; a request is tried
	// at most MaxAttempts times.
	RetryBase, RetryMax time.Duration
	// WithKeys enables what needs signed calls: buy orders, sales and fees.
	WithKeys bool
	// SalesBatch is how many due titles one claim takes.
	SalesBatch int
	// SalesLease is how long a claimed title stays locked to this parser.
	SalesLease time.Duration
	// SalesRefresh is how long after a successful fetch a title's sales are due again.
	SalesRefresh time.Duration
	// SalesIdle is how long the sales loop waits when no title is due.
	SalesIdle time.Duration
	// SalesWindow is how far back sales are walked (7 days).
	SalesWindow time.Duration
	// SalesMaxPages bounds the pages read per title (10).
	SalesMaxPages int
	// SalesPageSize is the page size of last-sales requests (20).
	SalesPageSize int
	// FeesPeriod is how often fees are fetched per game (24h).
	FeesPeriod time.Duration
	// IsRetryable classifies API errors; nil treats every error as retryable.
	IsRetryable func(error) bool
	// FreshShare is the share of the listings budget (Deps.Budget) the fresh lane spends polling each
	// game's newest listings; 0 turns the lane off.
	FreshShare float64
	// FreshMaxPages bounds the pages one poll of the fresh lane reads while every listing is new (5).
	FreshMaxPages int
	// FreshSeen is how many listings the fresh lane remembers as seen (100 000).
	FreshSeen int
	// WatchShare is the share of the listings budget the watch lane spends scanning watched titles; 0
	// (or no Deps.Watchlist) turns the lane off.
	WatchShare float64
	// WatchInterval is the shortest time between two scans of one watched title (5s).
	WatchInterval time.Duration
}

// DefaultConfig returns the defaults of SPEC §3.1.
func DefaultConfig() Config {
	return Config{
		Games:         []string{market.GameCS2},
		Bounds:        []int64{0, 10, 25, 50, 100, 200, 350, 500, 1000, 2000, 5000, 10000, 50000},
		Concurrency:   4,
		CycleInterval: 60 * time.Second,
		CycleDeadline: 10 * time.Minute,
		MaxChainPages: 20,
		RetryBase:     500 * time.Millisecond,
		RetryMax:      30 * time.Second,
		SalesBatch:    10,
		SalesLease:    5 * time.Minute,
		SalesRefresh:  6 * time.Hour,
		SalesIdle:     5 * time.Second,
		SalesWindow:   7 * 24 * time.Hour,
		SalesMaxPages: 10,
		SalesPageSize: 20,
		FeesPeriod:    24 * time.Hour,
		FreshMaxPages: 5,
		FreshSeen:     100_000,
		WatchInterval: 5 * time.Second,
	}
}

// MaxAttempts caps the attempts of one fetch or publish of the crawler, which come on top of the DMarket
// client's own retries of each request. With the default RetryBase and RetryMax the waits between them
// add up to one to two minutes, enough to ride out a broker restart; a range whose requests keep failing
// beyond that is left unfinished and crawled first next cycle.
const MaxAttempts = 10

// Clock tells the time and waits; clock.Real and *clocktest.Fake implement it.
type Clock interface {
	clock.Clock
	Sleep(ctx context.Context, d time.Duration) error
}

// Crawler crawls DMarket and publishes what it fetches.
type Crawler struct {
	cfg    Config
	retry  backoff.Policy
	api    API
	pub    message.Publisher
	sched  Schedule
	gate   Gate
	clock  Clock
	log    *slog.Logger
	tracer *zipkin.Tracer
	m      *metrics
	seq    atomic.Uint64
	// lastCycle is the crawl identity handed to the newest range crawl (see nextCycle).
	lastCycle atomic.Int64
	// unsignedOnly is set once DMarket refused a signed listings request permanently (bad or disabled
	// keys): every chain then crawls with the per-IP budget only.
	unsignedOnly atomic.Bool

	mu         sync.Mutex
	plan       map[string][]Range // learned ranges per game
	unfinished map[string][]Range // ranges the last cycle left, per game
	attempts   map[string]int     // sales failures per game/title

	// leases shares the range crawls with other parsers; nil without.
	leases Leases
	// budgetFn returns the lanes' listings budget in requests per second; watchlist feeds the watch lane.
	budgetFn  func() float64
	watchlist Watchlist
	// orders holds the buy-orders calls that follow the fresh and watch lanes (nil without keys), made
	// with the retry policy laneRetry.
	orders    *ordersQueue
	laneRetry backoff.Policy
	// sharedStart is the start (unix ms) of the earliest shared cycle the last cycle joined, 0 for none.
	sharedStart atomic.Int64
}

// Deps are the crawler's collaborators.
type Deps struct {
	API       API
	Publisher message.Publisher
	// Schedule and Gate may be nil when cfg.WithKeys is false.
	Schedule Schedule
	Gate     Gate
	// Clock may be nil (the wall clock).
	Clock Clock
	Log   *slog.Logger
	// Tracer may be nil (no spans).
	Tracer   *zipkin.Tracer
	Registry prometheus.Registerer
	// Leases, when set, shares every cycle's range crawls with the other parsers using the same Redis
	// (see NewLeases); nil crawls every range alone.
	Leases Leases
	// Budget returns the listings budget the lanes' shares are taken of, in requests per second: the
	// usable egresses × PARSER_RATE_PER_IP. Required when a lane's share is positive.
	Budget func() float64
	// Watchlist hands the watch lane the watched titles that are due; nil turns the lane off.
	Watchlist Watchlist
}

// New builds a crawler.
func New(cfg Config, d Deps) (*Crawler, error) {
	ranges, err := RangesFromBounds(cfg.Bounds)
	if err != nil {
		return nil, err
	}
	switch {
	case len(cfg.Games) == 0:
		return nil, errors.New("crawler: no games")
	case cfg.Concurrency < 1:
		return nil, errors.New("crawler: concurrency must be at least 1")
	case cfg.MaxChainPages < 2:
		return nil, errors.New("crawler: max chain pages must be at least 2")
	case cfg.WithKeys && (d.Schedule == nil || d.Gate == nil):
		return nil, errors.New("crawler: signed jobs need a schedule and a gate")
	case cfg.FreshShare < 0 || cfg.WatchShare < 0 || cfg.FreshShare+cfg.WatchShare >= 1:
		return nil, fmt.Errorf("crawler: lane shares %v and %v must be at least 0 and below 1 together", cfg.FreshShare, cfg.WatchShare)
	case (cfg.FreshShare > 0 || cfg.WatchShare > 0) && d.Budget == nil:
		return nil, errors.New("crawler: the lanes need a budget")
	case cfg.FreshShare > 0 && (cfg.FreshMaxPages < 1 || cfg.FreshSeen < 1):
		return nil, errors.New("crawler: the fresh lane needs at least one page and one remembered listing")
	case cfg.WatchShare > 0 && cfg.WatchInterval <= 0:
		return nil, errors.New("crawler: the watch interval must be positive")
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	c := &Crawler{
		cfg:   cfg,
		retry: backoff.Policy{Initial: cfg.RetryBase, Max: cfg.RetryMax, Jitter: backoff.EqualJitter, MaxAttempts: MaxAttempts},
		api:   d.API, pub: d.Publisher, sched: d.Schedule, gate: d.Gate, clock: d.Clock,
		log: d.Log, tracer: d.Tracer, m: newMetrics(d.Registry), leases: d.Leases, budgetFn: d.Budget, watchlist: d.Watchlist,
		plan: map[string][]Range{}, unfinished: map[string][]Range{}, attempts: map[string]int{},
	}
	c.laneRetry = laneRetryPolicy(c.retry)
	if cfg.WithKeys {
		c.orders = newOrdersQueue(c)
	}
	for _, g := range cfg.Games {
		c.plan[g] = ranges
		c.m.ranges.WithLabelValues(g).Set(float64(len(ranges)))
	}
	return c, nil
}

// Run crawls cycle after cycle (and sales continuously when keys are set) until ctx ends.
func (c *Crawler) Run(ctx context.Context) error {
	if !c.cfg.WithKeys {
		c.log.Warn("DMarket API keys are not set: crawling listings only; buy orders, sales and fees are off")
	}
	var wg sync.WaitGroup
	if c.cfg.WithKeys {
		wg.Go(func() { c.runSales(ctx) })
	}
	wg.Go(func() { _ = c.RunLanes(ctx) })
	defer wg.Wait()
	for {
		start := time.Now()
		st := c.RunCycle(ctx)
		c.log.Info("crawl cycle done", "pages", st.Pages, "listings", st.Listings,
			"unfinished_ranges", st.Unfinished, "duration", time.Since(start).Round(time.Millisecond))
		wait := c.cfg.CycleInterval - time.Since(start)
		if s := c.sharedStart.Load(); s > 0 {
			// The next shared cycle may start CycleInterval after the current one did, whoever started it.
			wait = time.UnixMilli(s).Add(c.cfg.CycleInterval).Sub(c.clock.Now())
		}
		if wait < 0 {
			wait = 0
		}
		if err := c.clock.Sleep(ctx, wait); err != nil {
			return nil
		}
	}
}

// CycleStats summarises one cycle.
type CycleStats struct {
	// Pages is the number of listings pages published.
	Pages int
	// Listings is the number of listings in them.
	Listings int
	// Unfinished is the number of ranges left for the next cycle.
	Unfinished int
	// Titles is the number of distinct titles seen.
	Titles int
}

type task struct {
	game string
	r    Range
	// shared is the shared cycle the task belongs to and crawl the identity of its crawl there (both 0
	// when crawling alone).
	shared, crawl int64
}

type rangeResult struct {
	task
	// cycle identifies this crawl of the range in the pages it publishes.
	cycle int64
	done  bool
	cuts  []int64
	// resumed is the number of pages of the crawl another parser published before this one took it
	// over; pages counts this parser's.
	resumed  int
	pages    int
	listings int
	// held means another parser holds the range's lease: the range is neither done nor given up.
	held bool
}

// RunCycle crawls every range of every game once, then buy orders for the titles seen and fees when due.
func (c *Crawler) RunCycle(ctx context.Context) CycleStats {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CycleDeadline)
	defer cancel()

	titles := newTitleSet(c.cfg.Games)
	var st CycleStats
	if c.leases != nil {
		st = c.runShared(cctx, titles)
	} else {
		st = c.applyResults(c.runTasks(cctx, c.localTasks(), titles, c.crawlRange))
	}

	st.Titles = titles.len()
	if c.cfg.WithKeys && ctx.Err() == nil {
		c.fetchOrders(cctx, titles)
		c.fetchFees(cctx)
	}
	outcome := "complete"
	if st.Unfinished > 0 {
		outcome = "partial"
	}
	c.m.cycles.WithLabelValues(outcome).Inc()
	c.m.cycleSeconds.Observe(time.Since(start).Seconds())
	return st
}

// localTasks returns the ranges of this parser's own plan, those the last cycle left unfinished first.
func (c *Crawler) localTasks() []task {
	var tasks []task
	c.mu.Lock()
	for _, g := range c.cfg.Games {
		first := map[Range]bool{}
		for _, r := range c.unfinished[g] {
			first[r] = true
			tasks = append(tasks, task{game: g, r: r})
		}
		for _, r := range c.plan[g] {
			if !first[r] {
				tasks = append(tasks, task{game: g, r: r})
			}
		}
	}
	c.mu.Unlock()
	return tasks
}

// runTasks crawls tasks with cfg.Concurrency workers and returns every task's result once all are in.
func (c *Crawler) runTasks(ctx context.Context, tasks []task, titles *titleSet,
	crawl func(context.Context, task, bool, *titleSet) rangeResult) <-chan rangeResult {
	todo := make(chan task)
	results := make(chan rangeResult, len(tasks))
	var wg sync.WaitGroup
	for i := range c.cfg.Concurrency {
		signed := i < c.cfg.SignedWorkers
		wg.Go(func() {
			for t := range todo {
				results <- crawl(ctx, t, signed, titles)
			}
		})
	}
	go func() {
		defer close(todo)
		for _, t := range tasks {
			select {
			case todo <- t:
			case <-ctx.Done():
				// Hand the rest to the workers anyway: they return at once as unfinished.
				todo <- t
			}
		}
	}()
	wg.Wait()
	close(results)
	return results
}

func (c *Crawler) applyResults(results <-chan rangeResult) CycleStats {
	var st CycleStats
	byGame := map[string][]rangeResult{}
	for r := range results {
		byGame[r.game] = append(byGame[r.game], r)
		st.Pages += r.pages
		st.Listings += r.listings
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.cfg.Games {
		var plan, unfinished []Range
		for _, r := range byGame[g] {
			if !r.done {
				unfinished = append(unfinished, r.r)
				plan = append(plan, r.r)
				continue
			}
			parts := splitRange(r.r, r.cuts)
			if len(parts) > 1 {
				c.m.splits.WithLabelValues(g).Inc()
				c.log.Info("price range split for the next cycle", "game", g, "range", r.r.String(),
					"pages", r.pages, "into", len(parts))
			}
			plan = append(plan, parts...)
		}
		sortRanges(plan)
		c.plan[g] = plan
		c.unfinished[g] = unfinished
		st.Unfinished += len(unfinished)
		c.m.ranges.WithLabelValues(g).Set(float64(len(plan)))
		c.m.unfinished.WithLabelValues(g).Set(float64(len(unfinished)))
	}
	return st
}

func (c *Crawler) crawlRange(ctx context.Context, t task, signed bool, titles *titleSet) rangeResult {
	res := rangeResult{task: t, cycle: c.nextCycle()}
	q := ListingsQuery{GameID: t.game, PriceFrom: t.r.From, PriceTo: t.r.To, Signed: signed}
	lastCut := t.r.From
	for ctx.Err() == nil {
		pctx, finish := c.span(ctx, "listings page")
		more, err := c.crawlPage(pctx, t, &q, &res, &lastCut, titles)
		finish()
		if err != nil || !more {
			return res
		}
	}
	return res
}

// crawlPage fetches and publishes the page q points at and advances q's cursor. more is false when the
// chain ended (res.done tells whether it ended complete).
func (c *Crawler) crawlPage(ctx context.Context, t task, q *ListingsQuery, res *rangeResult, lastCut *int64, titles *titleSet) (bool, error) {
	var page ListingsPage
	err := c.fetch(ctx, "listings", func(ctx context.Context) error {
		var err error
		q.Signed = q.Signed && !c.unsignedOnly.Load()
		c.m.laneRequests.WithLabelValues(laneRange).Inc()
		page, err = c.api.MarketItems(ctx, *q)
		return err
	})
	if err != nil && q.Signed && errors.Is(err, errPermanent) && ctx.Err() == nil {
		if !c.unsignedOnly.Swap(true) {
			c.log.Error("DMarket refused signed listings requests: crawling with the per-IP budget only", "err", err)
		}
		q.Signed = false
		return true, nil
	}
	if err != nil {
		c.log.Warn("price range left unfinished", "game", t.game, "range", t.r.String(), "err", err)
		return false, err
	}
	// The chain ends with this page (no cursor, or an empty page): it is the crawl's last, marked so before
	// publishing, so that a worker can remove the levels the completed crawl did not show.
	last := page.Cursor == "" || page.Items == 0
	crawl := &message.Crawl{Range: t.r.String(), Cycle: res.cycle, Page: res.resumed + res.pages, Last: last}
	if err := c.publish(ctx, message.KindListings, t.game, page.Result, crawl, nil); err != nil {
		return false, err
	}
	res.pages++
	res.listings += page.Items
	c.m.lanePages.WithLabelValues(laneRange).Inc()
	c.m.listings.WithLabelValues(t.game).Add(float64(page.Items))
	titles.add(t.game, page.Titles)
	if (res.resumed+res.pages)%c.cfg.MaxChainPages == 0 && page.LastPrice > *lastCut {
		res.cuts = append(res.cuts, page.LastPrice)
		*lastCut = page.LastPrice
	}
	if last {
		res.done = true
		return false, nil
	}
	q.Cursor = page.Cursor
	return true, nil
}

// kindPublish is the failures label of publishing to the broker. IsRetryable judges DMarket's answers
// only: every broker failure (a lost connection, a nack) is worth another attempt.
const kindPublish = "publish"

// fetch calls fn until it succeeds, fails permanently, has failed MaxAttempts times or ctx ends, waiting
// the capped, jittered backoff of the retry policy on the clock between attempts. Every failure counts in
// the failures of kind; an API error IsRetryable refuses is returned at once, marked errPermanent.
func (c *Crawler) fetch(ctx context.Context, kind string, fn func(context.Context) error) error {
	return c.fetchWith(ctx, c.retry, kind, fn)
}

// fetchWith is fetch with the retry policy p.
func (c *Crawler) fetchWith(ctx context.Context, p backoff.Policy, kind string, fn func(context.Context) error) error {
	err := backoff.Retry(ctx, p, c.clock, func(ctx context.Context) error {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		c.m.failures.WithLabelValues(kind).Inc()
		switch {
		case ctx.Err() != nil:
			return backoff.Permanent(err)
		case kind != kindPublish && c.cfg.IsRetryable != nil && !c.cfg.IsRetryable(err):
			return backoff.Permanent(fmt.Errorf("%w: %w", errPermanent, err))
		}
		return err
	}, func(attempt int, err error, _ time.Duration) {
		c.log.Debug("fetch failed, retrying", "kind", kind, "attempt", attempt, "err", err)
	})
	if err != nil {
		return fmt.Errorf("fetch %s: %w", kind, err)
	}
	return nil
}

// nextCycle returns the identity of a new range crawl: its start in unix milliseconds, kept strictly
// above every identity handed out before, so that a later crawl of a range always has a larger one.
func (c *Crawler) nextCycle() int64 {
	now := c.clock.Now().UnixMilli()
	for {
		last := c.lastCycle.Load()
		next := max(now, last+1)
		if c.lastCycle.CompareAndSwap(last, next) {
			return next
		}
	}
}

// publish publishes r as a message of kind; crawl identifies a listings page of a range crawl and scan
// one of a title scan (both nil for other pages).
func (c *Crawler) publish(ctx context.Context, kind message.Kind, game string, r Result, crawl *message.Crawl, scan *message.Scan) error {
	headers := map[string]any{}
	if c.tracer != nil {
		span, sctx := tracing.StartProducerSpan(ctx, c.tracer, "publish "+string(kind), headers)
		span.Tag("game", game)
		defer span.Finish()
		ctx = sctx
	}
	body, err := message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: kind, GameID: game, FetchedAt: c.clock.Now().UTC(),
		Request: r.Request, Payload: json.RawMessage(r.Raw), Crawl: crawl, Scan: scan,
	})
	if err != nil {
		c.log.Error("refusing to publish an invalid envelope", "kind", kind, "game", game, "err", err)
		return err
	}
	out := message.Outgoing{
		MessageID: string(kind) + "-" + game + "-" + strconv.FormatInt(c.clock.Now().UnixNano(), 36) + "-" +
			strconv.FormatUint(c.seq.Add(1), 36),
		Body:    body,
		Headers: headers,
	}
	err = c.fetch(ctx, kindPublish, func(ctx context.Context) error { return c.pub.Publish(ctx, message.Queue(kind), out) })
	if err != nil {
		c.log.Error("publish failed", "kind", kind, "game", game, "err", err)
		return err
	}
	c.m.pages.WithLabelValues(game, string(kind)).Inc()
	return nil
}

func (c *Crawler) span(ctx context.Context, name string) (context.Context, func()) {
	return tracing.StartSpan(ctx, c.tracer, name)
}

func (c *Crawler) fetchOrders(ctx context.Context, titles *titleSet) {
	for _, g := range c.cfg.Games {
		all := titles.list(g)
		for i := 0; i < len(all) && ctx.Err() == nil; i += 100 {
			batch := all[i:min(i+100, len(all))]
			var r Result
			err := c.fetch(ctx, "orders", func(ctx context.Context) error {
				var err error
				r, err = c.api.AggregatedPrices(ctx, g, batch)
				return err
			})
			if err != nil {
				c.log.Warn("buy orders not fetched", "game", g, "titles", len(batch), "err", err)
				continue
			}
			_ = c.publish(ctx, message.KindOrders, g, r, nil, nil)
		}
	}
}

func (c *Crawler) fetchFees(ctx context.Context) {
	for _, g := range c.cfg.Games {
		due, err := c.gate.Due(ctx, "fees:"+g, c.cfg.FeesPeriod)
		if err != nil {
			c.log.Warn("fees gate unavailable", "game", g, "err", err)
			continue
		}
		if !due {
			continue
		}
		var r Result
		err = c.fetch(ctx, "fees", func(ctx context.Context) error {
			var err error
			r, err = c.api.CustomizedFees(ctx, g)
			return err
		})
		if err == nil {
			err = c.publish(ctx, message.KindFees, g, r, nil, nil)
		}
		if err != nil {
			c.log.Warn("fees not fetched; will try next cycle", "game", g, "err", err)
			if rerr := c.gate.Release(context.WithoutCancel(ctx), "fees:"+g); rerr != nil {
				c.log.Warn("fees gate release failed", "game", g, "err", rerr)
			}
		}
	}
}

func (c *Crawler) runSales(ctx context.Context) {
	for ctx.Err() == nil {
		claimed := 0
		for _, g := range c.cfg.Games {
			titles, err := c.sched.Claim(ctx, g, c.cfg.SalesBatch, c.cfg.SalesLease)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("sales schedule unavailable", "game", g, "err", err)
				}
				continue
			}
			claimed += len(titles)
			var wg sync.WaitGroup
			for _, title := range titles {
				wg.Go(func() { c.fetchSales(ctx, g, title) })
			}
			wg.Wait()
		}
		if claimed == 0 {
			if c.clock.Sleep(ctx, c.cfg.SalesIdle) != nil {
				return
			}
		}
	}
}

// FetchSales fetches one title's sales (walking back up to SalesWindow or SalesMaxPages pages), publishes
// them as one message and reschedules the title.
func (c *Crawler) fetchSales(ctx context.Context, game, title string) {
	ctx, finish := c.span(ctx, "sales "+game)
	defer finish()
	var all []json.RawMessage
	var first message.Request
	pages := 0
	horizon := c.clock.Now().Add(-c.cfg.SalesWindow)
	var err error
	for pages < c.cfg.SalesMaxPages {
		var p SalesPage
		p, err = c.api.LastSales(ctx, game, title, pages*c.cfg.SalesPageSize, c.cfg.SalesPageSize)
		if err != nil {
			break
		}
		if pages == 0 {
			first = p.Request
		}
		pages++
		for _, s := range p.Sales {
			all = append(all, s)
		}
		if len(p.Sales) < c.cfg.SalesPageSize || (!p.Oldest.IsZero() && p.Oldest.Before(horizon)) {
			break
		}
	}
	key := game + "\x00" + title
	if err == nil {
		var body []byte
		if all == nil {
			all = []json.RawMessage{}
		}
		body, err = json.Marshal(struct {
			Sales []json.RawMessage `json:"sales"`
		}{all})
		if err == nil {
			first.Title, first.Pages = title, pages
			err = c.publish(ctx, message.KindSales, game, Result{Raw: body, Request: first}, nil, nil)
		}
	}
	bg := context.WithoutCancel(ctx)
	if err != nil && ctx.Err() != nil {
		// Shutting down: the title's lease runs out and it becomes due again by itself.
		return
	}
	if err != nil {
		c.mu.Lock()
		c.attempts[key]++
		n := c.attempts[key]
		c.mu.Unlock()
		c.m.salesTitles.WithLabelValues("failed").Inc()
		c.log.Warn("sales not fetched", "game", game, "title", title, "attempt", n, "err", err)
		if ferr := c.sched.Failed(bg, game, title, n); ferr != nil {
			c.log.Warn("sales schedule update failed", "game", game, "err", ferr)
		}
		return
	}
	c.mu.Lock()
	delete(c.attempts, key)
	c.mu.Unlock()
	c.m.salesTitles.WithLabelValues("ok").Inc()
	if derr := c.sched.Done(bg, game, title, c.cfg.SalesRefresh); derr != nil {
		c.log.Warn("sales schedule update failed", "game", game, "err", derr)
	}
}

// errPermanent marks a fetch error that retrying cannot cure.
var errPermanent = errors.New("permanent")
