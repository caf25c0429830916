// Package verify re-checks offers against DMarket before they are sent and while users are shown them
// (SPEC §9.1): one targeted market-items request per title (the title's cheapest listings, title
// filter, price ascending), and for TARGET offers, when the bot has keys, the buy order through
// aggregated prices; an offer naming an item (FLOAT, STICKERS, per-phase HISTORY, a TARGET showing one)
// stands only while that item is listed at its buy price or below. Every request goes through one Pacer
// at BOT_VERIFY_RATE, re-checks before a notification first. What a check reads is published to the
// parser's queues (the listings page as a scan page, the aggregated prices as an orders answer), so the
// workers correct Redis; an offer found gone is hidden from every user at once (Forgetter) and counted in stale_offers_total.
//
// A check that cannot conclude (network error, 429 after the client's retries, a title whose listings
// cheaper than the offer fill the pages read) returns an error: the caller does not send the offer then
// (SPEC §9.1 sends only re-checked offers) and tries again on the next update or cycle.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

// API is the part of the DMarket client a Verifier calls (*dmarket.Client).
type API interface {
	MarketItems(ctx context.Context, q dmarket.MarketItemsQuery, signed bool) (*dmarket.MarketItemsPage, error)
	AggregatedPrices(ctx context.Context, gameID string, titles []string) (*dmarket.AggregatedPricesResult, error)
}

// Forgetter hides an offer found gone from every user's view (*offers.Service).
type Forgetter interface {
	// Forget hides the (title, status, price) listing level.
	Forget(title string, locked bool, price market.Cents)
	// ForgetOrder hides the title's buy order.
	ForgetOrder(title string)
	// ForgetItem hides the title's kept listing itemID and the offers priced from it.
	ForgetItem(title, itemID string)
}

// Outcome is what a check found.
type Outcome string

// The outcomes of a check.
const (
	// Stands means the offer's listing is still the title's cheapest at its buy price (and, for a checked
	// TARGET offer, the buy order still pays its sell price).
	Stands Outcome = "stands"
	// Gone means the listing (or the buy order) is no longer there: the offer was hidden and counted stale.
	Gone Outcome = "gone"
	// Cheaper means a cheaper listing of the same title and status exists: the offer is not sent, the
	// update that brings the cheaper level brings the better offer.
	Cheaper Outcome = "cheaper"
)

// Errors of a check that could not conclude.
var (
	// ErrInconclusive means the pages read did not reach the offer's price.
	ErrInconclusive = errors.New("re-check inconclusive")
)

// Result is a concluded check.
type Result struct {
	// Outcome is what the check found.
	Outcome Outcome
	// ListedAt is the creation time of the oldest listing still at the offer's price (Stands only; zero
	// when DMarket did not say).
	ListedAt time.Time
	// CheckedAt is when the listings were read.
	CheckedAt time.Time
}

// Config tunes a Verifier.
type Config struct {
	// CheckOrders re-checks the buy order of TARGET offers (needs DMarket keys).
	CheckOrders bool
	// Reuse is how long a title's listings (or buy order) read by one check answer the next checks (the
	// same offer sent to several users at once); default 500ms.
	Reuse time.Duration
	// ReverifyInterval is how often a tracked offer is re-checked in the background; default 10s.
	ReverifyInterval time.Duration
	// MaxPages bounds the pages one listings check reads; default 3.
	MaxPages int
	// PublishQueue bounds the pages waiting to be published; default 256 (more are dropped and counted).
	PublishQueue int
	// Hold is how long a pre-send check that refused an offer (gone, undercut) answers the same for it
	// without asking DMarket again, so that an offer still listed in the bot's market is not re-checked
	// on every cycle until the workers' correction arrives; a failed check holds a fifth of it. Default 10s.
	Hold time.Duration
}

func (c *Config) defaults() {
	if c.Reuse <= 0 {
		c.Reuse = 500 * time.Millisecond
	}
	if c.ReverifyInterval <= 0 {
		c.ReverifyInterval = 10 * time.Second
	}
	if c.MaxPages <= 0 {
		c.MaxPages = 3
	}
	if c.PublishQueue <= 0 {
		c.PublishQueue = 256
	}
	if c.Hold <= 0 {
		c.Hold = 10 * time.Second
	}
}

// Verifier re-checks offers. Run publishes what checks read and re-checks tracked offers; Check works
// without Run (the pages it read are then published by the next Run, or dropped when the queue is full).
type Verifier struct {
	cfg    Config
	api    API
	pub    message.Publisher
	forget Forgetter
	clk    Clock
	log    *slog.Logger
	m      *metrics

	flight   singleflight.Group
	mu       sync.Mutex
	listings map[string]listingsRead // by game + title
	orders   map[string]orderRead    // by game + title
	tracked  map[string]*trackedOffer
	refused  map[string]refusal // by offerKey: recent pre-send checks that refused the offer
	pubq     chan queued
	seq      atomic.Uint64
}

// listingsRead is what one listings check read of a title.
type listingsRead struct {
	items []dmarket.MarketItem
	// reach is the highest price up to which every listing of the title is in items (-1: all of them).
	reach market.Cents
	// at is when the read began (before its first request): it shows every listing listed before then.
	at time.Time
}

// orderRead is the title's buy order as one check read it.
type orderRead struct {
	order market.BuyOrder
	// at is when the read began.
	at time.Time
}

func (r listingsRead) began() time.Time { return r.at }
func (r orderRead) began() time.Time    { return r.at }

// queued is a page waiting to be published to its kind's queue.
type queued struct {
	queue string
	out   message.Outgoing
}

// refusal is a pre-send check that refused an offer, held until until.
type refusal struct {
	res   Result
	err   error
	until time.Time
}

// New returns a Verifier. pub, forget, clk and log are required; reg receives its metrics.
func New(cfg Config, api API, pub message.Publisher, forget Forgetter, clk Clock, log *slog.Logger,
	reg prometheus.Registerer) (*Verifier, error) {
	if api == nil || pub == nil || forget == nil || clk == nil || log == nil {
		return nil, errors.New("new verifier: a dependency is nil")
	}
	cfg.defaults()
	return &Verifier{
		cfg: cfg, api: api, pub: pub, forget: forget, clk: clk, log: log.With("component", "verify"),
		m:        newMetrics(reg),
		listings: map[string]listingsRead{}, orders: map[string]orderRead{}, tracked: map[string]*trackedOffer{},
		refused: map[string]refusal{},
		pubq:    make(chan queued, cfg.PublishQueue),
	}, nil
}

// Check re-checks o now, before it is sent: its requests are urgent for the pacer. A gone offer is
// forgotten and counted before Check returns. An offer a check refused within Hold (a failed check
// within Hold/5) gets the same answer again without a request.
func (v *Verifier) Check(ctx context.Context, o offers.Offer) (Result, error) {
	k := offerKey(o)
	now := v.clk.Now()
	v.mu.Lock()
	r, held := v.refused[k]
	v.mu.Unlock()
	if held && now.Before(r.until) {
		v.m.checks.WithLabelValues("send", "held").Inc()
		return r.res, r.err
	}
	res, err := v.check(Urgent(ctx), o, "send")
	if ctx.Err() != nil || (err == nil && res.Outcome == Stands) {
		return res, err
	}
	hold := v.cfg.Hold
	if err != nil {
		hold /= 5
	}
	v.mu.Lock()
	v.refused[k] = refusal{res: res, err: err, until: v.clk.Now().Add(hold)}
	v.mu.Unlock()
	return res, err
}

// check re-checks o for purpose (send or background). It judges o only from reads that began at or
// after o's listing price was written (o.UpdatedAt, capped at when the check began, so that a writer's
// clock ahead of this one cannot make it read again and again): a read begun before may predate the
// listing, which it would then call gone.
func (v *Verifier) check(ctx context.Context, o offers.Offer, purpose string) (Result, error) {
	locked := o.Status == market.StatusLocked
	notBefore := v.clk.Now()
	if o.UpdatedAt.Before(notBefore) {
		notBefore = o.UpdatedAt
	}
	lr, err := v.readListings(ctx, o.GameID, o.Title, market.Cents(o.Buy), notBefore)
	if err != nil {
		v.m.checks.WithLabelValues(purpose, "failed").Inc()
		return Result{}, err
	}
	level := judgeListings(lr, o.Title, locked, market.Cents(o.Buy))
	res, itemListed := level, true
	if o.ItemID() != "" {
		res, itemListed = judgeItem(lr, o, level)
	}
	res.CheckedAt = lr.at
	if res.Outcome == Stands && o.Kind == market.KindTarget && v.cfg.CheckOrders {
		or, err := v.readOrder(ctx, o.GameID, o.Title, notBefore)
		if err != nil {
			v.m.checks.WithLabelValues(purpose, "failed").Inc()
			return Result{}, err
		}
		if !or.order.Exists() || or.order.Price < market.Cents(o.Sell) {
			v.forget.ForgetOrder(o.Title)
			v.m.checks.WithLabelValues(purpose, string(Gone)).Inc()
			v.m.stale.Inc()
			return Result{Outcome: Gone, CheckedAt: or.at}, nil
		}
	}
	if res.Outcome == Gone {
		if !itemListed {
			v.forget.ForgetItem(o.Title, o.ItemID())
		}
		if level.Outcome == Gone && (o.ItemID() == "" || o.Kind == market.KindTarget) {
			v.forget.Forget(o.Title, locked, market.Cents(o.Buy))
		}
		v.m.stale.Inc()
	}
	v.m.checks.WithLabelValues(purpose, string(res.Outcome)).Inc()
	return res, nil
}

// judgeListings decides o's fate from the listings read of its title.
func judgeListings(lr listingsRead, title string, locked bool, buy market.Cents) Result {
	var cheapest market.Cents = -1
	var listedAt time.Time
	for _, it := range lr.items {
		if it.Title != title || it.Locked() != locked {
			continue
		}
		switch {
		case cheapest < 0 || it.PriceCents < cheapest:
			cheapest, listedAt = it.PriceCents, it.CreatedAt
		case it.PriceCents == cheapest && !it.CreatedAt.IsZero() && (listedAt.IsZero() || it.CreatedAt.Before(listedAt)):
			listedAt = it.CreatedAt
		}
	}
	switch {
	case cheapest >= 0 && cheapest < buy:
		return Result{Outcome: Cheaper}
	case cheapest == buy:
		return Result{Outcome: Stands, ListedAt: listedAt}
	}
	return Result{Outcome: Gone}
}

// judgeItem decides the fate of an offer naming an item from the listings read of its title and the
// judgement of its level (level), and reports whether the item is still listed at a price no higher than
// the offer's buy price, which every such offer requires. A TARGET offer is priced from its level, which
// must stand as well; the other kinds are priced from the item alone.
func judgeItem(lr listingsRead, o offers.Offer, level Result) (Result, bool) {
	for _, it := range lr.items {
		if it.ItemID != o.ItemID() || it.Title != o.Title || it.PriceCents > market.Cents(o.Buy) {
			continue
		}
		if o.Kind == market.KindTarget {
			return level, true
		}
		return Result{Outcome: Stands, ListedAt: it.CreatedAt}, true
	}
	return Result{Outcome: Gone}, false
}

func titleKey(game, title string) string { return game + "\x00" + title }

// readListings returns the title's listings read within Reuse and begun at or after notBefore, or reads
// them: the first page, and the next ones (up to MaxPages) while the pages end below buy (see
// sharedRead).
func (v *Verifier) readListings(ctx context.Context, game, title string, buy market.Cents, notBefore time.Time) (listingsRead, error) {
	reaches := func(lr listingsRead) bool { return lr.reach < 0 || lr.reach >= buy }
	lr, ok, err := sharedRead(ctx, v, v.listings, "l", titleKey(game, title), notBefore, reaches,
		func() (listingsRead, error) { return v.fetchListings(ctx, game, title, buy) }, "re-check", title)
	if err != nil {
		return listingsRead{}, err
	}
	if !ok {
		return listingsRead{}, fmt.Errorf("%w: %d pages of %q end below %s", ErrInconclusive, v.cfg.MaxPages, title, buy)
	}
	return lr, nil
}

// timedRead is a read of DMarket that knows when it began.
type timedRead interface{ began() time.Time }

// sharedRead returns the read of key in cache if it began within Reuse, at or after notBefore and usable
// accepts it; otherwise it runs fetch, stored in cache once it succeeds. Concurrent checks of a key share
// one fetch (flight key prefix+key); a check that joined a fetch begun before notBefore, or one usable
// refuses, fetches again. ok is false when the check's own fetch is not usable. op and title name the
// read in errors.
func sharedRead[T timedRead](ctx context.Context, v *Verifier, cache map[string]T, prefix, key string, notBefore time.Time,
	usable func(T) bool, fetch func() (T, error), op, title string) (_ T, ok bool, _ error) {
	for {
		v.mu.Lock()
		r, ok := cache[key]
		v.mu.Unlock()
		if ok && v.clk.Now().Sub(r.began()) < v.cfg.Reuse && !r.began().Before(notBefore) && usable(r) {
			return r, true, nil
		}
		ch := v.flight.DoChan(prefix+key, func() (any, error) {
			r, err := fetch()
			if err == nil {
				v.mu.Lock()
				cache[key] = r
				v.mu.Unlock()
			}
			return r, err
		})
		r, shared, err := awaitRead[T](ctx, ch, op, title)
		if err != nil {
			return r, false, err
		}
		if shared && (r.began().Before(notBefore) || !usable(r)) {
			continue // another check's read began before this offer's listing was written, or does not serve it
		}
		return r, usable(r), nil
	}
}

// awaitRead waits for the shared read on ch: its value and whether another check shared it, or the
// read's error, or ctx's. op and title name the read in the error of a value that is not a T.
func awaitRead[T any](ctx context.Context, ch <-chan singleflight.Result, op, title string) (T, bool, error) {
	var zero T
	select {
	case <-ctx.Done():
		return zero, false, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return zero, false, r.Err
		}
		val, ok := r.Val.(T)
		if !ok {
			return zero, false, fmt.Errorf("%s %q: unexpected read %T", op, title, r.Val)
		}
		return val, r.Shared, nil
	}
}

// fetchListings reads the title's cheapest listings and queues the pages for publishing.
func (v *Verifier) fetchListings(ctx context.Context, game, title string, buy market.Cents) (listingsRead, error) {
	out := listingsRead{reach: -1, at: v.clk.Now()}
	cursor := ""
	for page := 0; page < v.cfg.MaxPages; page++ {
		p, err := v.api.MarketItems(ctx, dmarket.MarketItemsQuery{GameID: game, Title: title, Cursor: cursor,
			OrderBy: dmarket.OrderByPrice, OrderDir: dmarket.OrderAsc, Limit: dmarket.MaxMarketItemsLimit}, false)
		if err != nil {
			return listingsRead{}, fmt.Errorf("re-check %q: %w", title, err)
		}
		var scan *message.Scan
		if page == 0 {
			scan = &message.Scan{Title: title, Complete: p.Cursor == ""}
		}
		v.enqueue(message.KindListings, game, p.Request, p.Raw, scan)
		out.items = append(out.items, p.Items...)
		if p.Cursor == "" {
			out.reach = -1
			return out, nil
		}
		out.reach = p.MaxPriceCents
		if p.MaxPriceCents >= buy || len(p.Items) == 0 {
			return out, nil
		}
		cursor = p.Cursor
	}
	return out, nil
}

// readOrder returns the title's buy order read within Reuse and begun at or after notBefore, or reads
// it (see sharedRead).
func (v *Verifier) readOrder(ctx context.Context, game, title string, notBefore time.Time) (orderRead, error) {
	always := func(orderRead) bool { return true }
	or, _, err := sharedRead(ctx, v, v.orders, "o", titleKey(game, title), notBefore, always, func() (orderRead, error) {
		or := orderRead{at: v.clk.Now()}
		r, err := v.api.AggregatedPrices(ctx, game, []string{title})
		if err != nil {
			return orderRead{}, fmt.Errorf("re-check buy order of %q: %w", title, err)
		}
		for _, row := range r.Orders {
			if row.Order.Title == title {
				or.order = row.Order
			}
		}
		v.enqueue(message.KindOrders, game, r.Request, r.Raw, nil)
		return or, nil
	}, "re-check buy order of", title)
	return or, err
}

// enqueue queues an answer for publishing to its kind's queue; a full queue drops it (counted).
func (v *Verifier) enqueue(kind message.Kind, game string, req message.Request, raw []byte, scan *message.Scan) {
	now := v.clk.Now().UTC()
	body, err := message.Encode(message.Envelope{Schema: message.SchemaVersion, Kind: kind, GameID: game,
		FetchedAt: now, Request: req, Payload: raw, Scan: scan})
	if err != nil {
		v.m.published.WithLabelValues("invalid").Inc()
		v.log.Warn("re-checked page not published: invalid envelope", "kind", kind, "err", err)
		return
	}
	out := message.Outgoing{
		MessageID: "verify-" + string(kind) + "-" + game + "-" + strconv.FormatInt(now.UnixNano(), 36) + "-" +
			strconv.FormatUint(v.seq.Add(1), 36),
		Body: body, Headers: map[string]any{},
	}
	select {
	case v.pubq <- queued{queue: message.Queue(kind), out: out}:
	default:
		v.m.published.WithLabelValues("dropped").Inc()
	}
}

// publishLoop publishes queued pages until ctx ends; a failed publish is logged and counted (the
// parsers' lanes bring the same data later).
func (v *Verifier) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-v.pubq:
			if err := v.pub.Publish(ctx, q.queue, q.out); err != nil {
				if ctx.Err() != nil {
					return
				}
				v.m.published.WithLabelValues("failed").Inc()
				v.log.Warn("re-checked page not published", "queue", q.queue, "err", err)
				continue
			}
			v.m.published.WithLabelValues("ok").Inc()
		}
	}
}

// Run publishes the pages checks read and re-checks tracked offers until ctx ends; it returns nil then.
func (v *Verifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { v.publishLoop(ctx) })
	v.reverifyLoop(ctx)
	wg.Wait()
	return nil
}
