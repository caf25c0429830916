// Package worker owns what a worker does with one consumed message: it decodes the envelope, validates
// and sanitises the DMarket payload it carries, and writes the result to Redis — listings to the prices
// keys (adding the titles seen to the sales schedule), buy orders to the orders keys, sales through the
// sell-history analysis to the history keys and fees to the fees keys. Redis errors are transient; a
// message that can never be handled is marked message.Permanent. Guard tells an unreachable Redis (the
// consumers pause, no attempt is spent) from a message that fails on its own (retried, then
// dead-lettered), and DueAgain makes the title or game of a dead-lettered sales or fees message due again.
// The span, the failure log and the pages and latency metrics of each message are middleware
// (platform/middleware) that New puts around the handler's own logic.
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/middleware"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// Store is the Redis writer the handler uses (implemented by *pricestore.Store). Each write reports the
// titles whose state it changed.
type Store interface {
	ApplyListings(ctx context.Context, p pricestore.ListingsPage) (pricestore.Applied, error)
	WriteOrdersChanged(ctx context.Context, fetchedAt time.Time, orders []validate.Order) (int, []string, error)
	WriteHistoryChanged(ctx context.Context, title string, fetchedAt time.Time, h *market.History) (int, bool, error)
	WriteFees(ctx context.Context, game string, fetchedAt time.Time, f validate.Fees) (int, error)
}

// ChangePublisher publishes change events to a fanout exchange (implemented by *rabbitmq.Publisher).
type ChangePublisher interface {
	PublishExchange(ctx context.Context, exchange string, m message.Outgoing) error
}

// Enqueuer adds titles to the sales schedule (implemented by *salesschedule.Schedule): EnqueueFirst
// makes them due before those Enqueue added.
type Enqueuer interface {
	Enqueue(ctx context.Context, game string, titles []string) (int, error)
	EnqueueFirst(ctx context.Context, game string, titles []string) (int, error)
}

// OrderPrices reads the best buy order's price of titles that have one (implemented by
// *pricestore.Store).
type OrderPrices interface {
	OrderPrices(ctx context.Context, titles []string) (map[string]int64, error)
}

// Analyser computes the sell-history analysis of SPEC §5.3 from a title's sales as of now, with the float
// curves and, on a phased title, the analysis of each phase (SPEC §9.2).
type Analyser func(title string, sales []validate.Sale, now time.Time) market.History

// SellHistory is the Analyser backed by package sellhistory and market.FitFloatCurve. The title-level
// fields analyse every sale of the title. A phased title (market.PhasedTitle) gets no title-level float
// curve but one analysis per phase with sales, each with its own curve (sales without a phase are in no
// phase); other titles get one curve over all their sales.
func SellHistory(title string, sales []validate.Sale, now time.Time) market.History {
	var oldest time.Time
	for _, s := range sales {
		if oldest.IsZero() || s.At.Before(oldest) {
			oldest = s.At
		}
	}
	h := analyseSales(sales, now)
	recent := sellhistory.Recent(sellhistory.Points(sales, now), now)
	h.Points = make([]market.HourPoint, 0, len(recent))
	for i := len(recent) - 1; i >= 0; i-- { // Recent is newest first; charts read oldest first.
		p := recent[i]
		h.Points = append(h.Points, market.HourPoint{Hour: p.Hour, Mean: market.Cents(sellhistory.Cents(p.Mean)), Units: p.Count})
	}
	h.Oldest = oldest
	if !market.PhasedTitle(title) {
		h.Float = market.FitFloatCurve(sales, now)
		return h
	}
	byPhase := map[market.Phase][]validate.Sale{}
	for _, s := range sales {
		if s.Attrs.Phase != market.PhaseNone {
			byPhase[s.Attrs.Phase] = append(byPhase[s.Attrs.Phase], s)
		}
	}
	for p, ps := range byPhase {
		ph := analyseSales(ps, now)
		ph.Float = market.FitFloatCurve(ps, now)
		if h.Phases == nil {
			h.Phases = make(map[market.Phase]*market.History, len(byPhase))
		}
		h.Phases[p] = &ph
	}
	return h
}

// analyseSales returns the SPEC §5.3 verdict, weekly volume and sell-probability table of sales.
func analyseSales(sales []validate.Sale, now time.Time) market.History {
	r := sellhistory.Analyse(sales, now)
	prob := make(map[market.Cents]int, len(r.Probability))
	for price, pct := range r.Probability {
		prob[market.Cents(price)] = pct
	}
	return market.History{Stable: r.Stable, SoldPerWeek: r.SoldPerWeek, Probability: prob}
}

// StartSpan starts a span (see middleware.StartSpan).
type StartSpan = middleware.StartSpan

// Sentinel errors (always wrapped in message.Permanent by Handle).
var (
	// ErrNoTitle means a sales message does not name a usable title.
	ErrNoTitle = errors.New("sales message without a valid title")
	// ErrAllInvalid means every item of a non-empty payload was invalid.
	ErrAllInvalid = errors.New("every item is invalid")
	// ErrConfig means the handler's dependencies are incomplete.
	ErrConfig = errors.New("invalid worker config")
)

// DefaultEnqueueCacheSize bounds the in-process set of titles known to be on the sales schedule.
const DefaultEnqueueCacheSize = 100_000

// Config tunes the handler.
type Config struct {
	// EnqueueCacheSize bounds the set of titles already added to the sales schedule, so that titles seen
	// again do not cost a Redis call on every page (0 = DefaultEnqueueCacheSize).
	EnqueueCacheSize int
}

// Deps are the handler's collaborators.
type Deps struct {
	// Store writes Redis (required).
	Store Store
	// Schedule receives the titles seen in listings; nil disables sales scheduling.
	Schedule Enqueuer
	// Changes publishes a change event after each message that changed some title's state; nil
	// publishes none.
	Changes ChangePublisher
	// Orders tells the known buy orders of titles new to the sales schedule (see enqueue); nil leaves
	// only the suggested-price rule.
	Orders OrderPrices
	// Analyse analyses sales (required for sales messages; SellHistory in production).
	Analyse Analyser
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Registerer registers the metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// StartSpan traces; nil disables tracing.
	StartSpan StartSpan
	// Clock measures the pipeline latency; nil is the wall clock.
	Clock clock.Clock
}

// Handler is the message.Handler of the worker.
type Handler struct {
	store     Store
	schedule  Enqueuer
	changes   ChangePublisher
	buyOrders OrderPrices
	analyse   Analyser
	log       *slog.Logger
	span      StartSpan
	seen      *titleSet
	clock     clock.Clock
	m         metrics
	chain     message.Handler
}

var _ message.Handler = (*Handler)(nil)

type metrics struct {
	items    *prometheus.CounterVec
	invalid  *prometheus.CounterVec
	attrs    *prometheus.CounterVec
	titles   *prometheus.CounterVec
	pages    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	latency  *prometheus.HistogramVec
	enqueued prometheus.Counter
	events   *prometheus.CounterVec
	priority prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	f := promauto.With(reg)
	m := metrics{
		items: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_items_processed_total",
			Help: "Valid items (listings, orders, sales, reduced fees) handed to Redis, by message kind."}, []string{"kind"}),
		invalid: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_items_invalid_total",
			Help: "Items dropped by validation, by reason."}, []string{"reason"}),
		attrs: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_attributes_dropped_total",
			Help: "Item attributes left out by validation (the listing or sale is kept), by message kind and reason."},
			[]string{"kind", "reason"}),
		titles: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_titles_written_total",
			Help: "Redis keys (titles, or games for fees) changed by the worker, by message kind."}, []string{"kind"}),
		pages: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_pages_total",
			Help: "Messages handled, by kind and outcome (ok, invalid = dead-lettered, error = retried)."}, []string{"kind", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "dmarket_worker_write_duration_seconds",
			Help:    "Duration of the Redis writes of one message, by kind.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}}, []string{"kind"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "dmarket_worker_pipeline_latency_seconds",
			Help:    "Time from the parser's fetch of an API answer to its data being in Redis, by message kind.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"kind"}),
		enqueued: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_worker_sales_titles_enqueued_total",
			Help: "Titles newly added to the sales schedule."}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_change_events_total",
			Help: "Change events published after a write, by outcome (ok = confirmed by the broker, error = lost: the bot's resync heals it)."},
			[]string{"outcome"}),
		priority: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_worker_sales_titles_prioritised_total",
			Help: "Titles added to the sales schedule ahead of the others because they could become offers."}),
	}
	for _, o := range []string{eventOK, eventError} {
		m.events.WithLabelValues(o)
	}
	for _, k := range message.Kinds {
		m.items.WithLabelValues(string(k))
		m.titles.WithLabelValues(string(k))
		m.duration.WithLabelValues(string(k))
		m.latency.WithLabelValues(string(k))
		for _, o := range middleware.Outcomes {
			m.pages.WithLabelValues(string(k), o)
		}
	}
	m.pages.WithLabelValues(middleware.KindUnknown, middleware.OutcomeInvalid)
	for _, r := range validate.Reasons {
		m.invalid.WithLabelValues(string(r))
	}
	for _, k := range []message.Kind{message.KindListings, message.KindSales} {
		for _, r := range validate.AttrReasons {
			m.attrs.WithLabelValues(string(k), string(r))
		}
	}
	return m
}

// orDiscard returns log, or a logger that discards when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// orNowhere returns reg, or a registry of its own when reg is nil.
func orNowhere(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.NewRegistry()
	}
	return reg
}

// New returns a Handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if d.Store == nil || d.Analyse == nil {
		return nil, fmt.Errorf("%w: store and analyser are required", ErrConfig)
	}
	if cfg.EnqueueCacheSize < 0 {
		return nil, fmt.Errorf("%w: negative enqueue cache size", ErrConfig)
	}
	cfg.EnqueueCacheSize = cmp.Or(cfg.EnqueueCacheSize, DefaultEnqueueCacheSize)
	clk := d.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	h := &Handler{
		store: d.Store, schedule: d.Schedule, changes: d.Changes, buyOrders: d.Orders, analyse: d.Analyse, log: orDiscard(d.Logger), span: d.StartSpan,
		seen: newTitleSet(cfg.EnqueueCacheSize, enqueueCacheMaxAge, clk), clock: clk, m: newMetrics(orNowhere(d.Registerer)),
	}
	h.chain = middleware.Chain(message.HandlerFunc(h.handle),
		middleware.Span(h.span, "worker.handle"),
		middleware.Log(h.log),
		middleware.Metrics(h.m.pages, h.m.latency, h.clock),
	)
	return h, nil
}

// Handle processes one delivery; see message.Handler for the meaning of its result. The delivery goes
// through the middleware New put around the handler: a span, then the log of failures, then the pages
// and latency metrics.
func (h *Handler) Handle(ctx context.Context, d message.Delivery) error {
	return h.chain.Handle(ctx, d)
}

// handle decodes one delivery, describes it to the middleware and routes it by kind.
func (h *Handler) handle(ctx context.Context, d message.Delivery) error {
	msg, err := validate.DecodeMessage(d.Body)
	if err != nil {
		return err
	}
	env := msg.Envelope
	middleware.Describe(ctx, middleware.Facts{Kind: env.Kind, Game: env.GameID, FetchedAt: env.FetchedAt})
	return h.route(ctx, &msg)
}

func (h *Handler) route(ctx context.Context, msg *validate.Message) error {
	env := msg.Envelope
	if err := validate.CheckGame(env.GameID); err != nil {
		return err
	}
	if err := validate.CheckFetchedAt(env.FetchedAt, h.clock.Now()); err != nil {
		h.countInvalid(validate.Invalid{validate.ReasonFetchedInFuture: 1})
		return err
	}
	var err error
	switch env.Kind {
	case message.KindListings:
		err = h.listings(ctx, msg)
	case message.KindOrders:
		err = h.orders(ctx, env)
	case message.KindSales:
		err = h.sales(ctx, env)
	default: // message.KindFees; Decode rejects unknown kinds.
		err = h.fees(ctx, env)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", env.Kind, err)
	}
	return nil
}

// countInvalid counts dropped items once a message is settled (acked or dead-lettered), so that retries
// of a transient failure do not count them again.
func (h *Handler) countInvalid(inv validate.Invalid) {
	for r, n := range inv {
		h.m.invalid.WithLabelValues(string(r)).Add(float64(n))
	}
}

// countBadAttrs counts the attributes a settled message of kind left out of its kept items.
func (h *Handler) countBadAttrs(kind message.Kind, bad validate.Invalid) {
	for r, n := range bad {
		h.m.attrs.WithLabelValues(string(kind), string(r)).Add(float64(n))
	}
}

// write runs one Redis write with its span, duration and titles metrics.
func (h *Handler) write(ctx context.Context, kind message.Kind, fn func(ctx context.Context) (int, error)) (err error) {
	if h.span != nil {
		var end func(error)
		ctx, end = h.span(ctx, "redis.write "+string(kind), nil)
		defer func() { end(err) }()
	}
	start := time.Now()
	n, err := fn(ctx)
	h.m.duration.WithLabelValues(string(kind)).Observe(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	h.m.titles.WithLabelValues(string(kind)).Add(float64(n))
	return nil
}

// allInvalid returns a permanent error (counting the dropped items) when no item of a non-empty payload
// is valid.
func (h *Handler) allInvalid(valid int, inv validate.Invalid) error {
	if valid == 0 && inv.Total() > 0 {
		h.countInvalid(inv)
		return message.Permanent(fmt.Errorf("%w: %d items", ErrAllInvalid, inv.Total()))
	}
	return nil
}

// settled counts a written message's valid items and the items it dropped.
func (h *Handler) settled(kind message.Kind, valid int, inv validate.Invalid) {
	h.countInvalid(inv)
	h.m.items.WithLabelValues(string(kind)).Add(float64(valid))
}

// apply writes a decoded payload of kind with valid items, unless it had items and none was valid,
// and counts its items once written.
func (h *Handler) apply(ctx context.Context, kind message.Kind, valid int, inv validate.Invalid,
	fn func(ctx context.Context) (int, error)) error {
	if err := h.allInvalid(valid, inv); err != nil {
		return err
	}
	if err := h.write(ctx, kind, fn); err != nil {
		return err
	}
	h.settled(kind, valid, inv)
	return nil
}

func (h *Handler) listings(ctx context.Context, msg *validate.Message) error {
	env := msg.Envelope
	page, err := msg.Listings()
	if err != nil {
		return err
	}
	if err := h.allInvalid(len(page.Items), page.Invalid); err != nil {
		return err
	}
	var changed []string
	err = h.write(ctx, message.KindListings, func(ctx context.Context) (int, error) {
		a, err := h.store.ApplyListings(ctx, pricestore.ListingsPage{Game: env.GameID, FetchedAt: env.FetchedAt,
			Crawl: env.Crawl, Scan: env.Scan, Items: page.Items})
		changed = a.Changed
		return a.Titles, err
	})
	if err != nil {
		return err
	}
	if err := h.enqueue(ctx, env.GameID, page.Items); err != nil {
		return err
	}
	h.publishChanges(ctx, env.GameID, message.ChangedPrices, changed)
	h.settled(message.KindListings, len(page.Items), page.Invalid)
	h.countBadAttrs(message.KindListings, page.BadAttrs)
	return nil
}

// enqueue adds the page's titles that are not known to be scheduled to the sales schedule. Those that
// could become offers go first (EnqueueFirst), so their sell histories are fetched before the others':
// a title whose cheapest listing on the page is at most PriorityShare percent of DMarket's suggested
// price, or at or below the title's known best buy order.
func (h *Handler) enqueue(ctx context.Context, game string, items []validate.Listing) error {
	if h.schedule == nil {
		return nil
	}
	var fresh []string
	cheapest := map[string]*validate.Listing{}
	for i := range items {
		it := &items[i]
		if h.seen.has(game, it.Title) {
			continue
		}
		c, ok := cheapest[it.Title]
		if !ok {
			fresh = append(fresh, it.Title)
		}
		if !ok || it.PriceCents < c.PriceCents || (c.SuggestedCents == 0 && it.SuggestedCents > 0) {
			cheapest[it.Title] = it
		}
	}
	stickers := h.unseenStickers(game, items, cheapest)
	if len(fresh) == 0 && len(stickers) == 0 {
		return nil
	}
	first, rest, err := h.rank(ctx, fresh, cheapest)
	if err != nil {
		return err
	}
	rest = append(rest, stickers...)
	fresh = append(fresh, stickers...)
	for _, part := range []struct {
		titles []string
		add    func(context.Context, string, []string) (int, error)
		first  bool
	}{{first, h.schedule.EnqueueFirst, true}, {rest, h.schedule.Enqueue, false}} {
		if len(part.titles) == 0 {
			continue
		}
		n, err := part.add(ctx, game, part.titles)
		if err != nil {
			return err
		}
		h.m.enqueued.Add(float64(n))
		if part.first {
			h.m.priority.Add(float64(n))
		}
	}
	for _, t := range fresh {
		h.seen.add(game, t)
	}
	return nil
}

// unseenStickers returns the market titles of the stickers the items carry that are neither known to be
// scheduled nor titles of the page (cheapest holds those), each once. A sticker is valued by its title's
// listings or, with none, by its sell history, so a sticker title that is never listed must still reach
// the sales schedule: only the items carrying it name it.
func (h *Handler) unseenStickers(game string, items []validate.Listing, cheapest map[string]*validate.Listing) []string {
	var out []string
	var checked map[string]struct{} // names already looked at: many items carry the same stickers
	for i := range items {
		for _, name := range items[i].Attrs.Stickers {
			if _, ok := checked[name]; ok {
				continue
			}
			if checked == nil {
				checked = make(map[string]struct{})
			}
			checked[name] = struct{}{}
			st := market.StickerTitle(name)
			if _, onPage := cheapest[st]; onPage || slices.Contains(out, st) || h.seen.has(game, st) {
				continue
			}
			out = append(out, st)
		}
	}
	return out
}

// PriorityShare is the share of DMarket's suggested price (percent) at or below which a title's
// listing makes its sell history be fetched first.
const PriorityShare = 80

// rank splits titles into those that could become offers (see enqueue) and the rest, in the order
// given. cheapest holds each title's cheapest listing on the page.
func (h *Handler) rank(ctx context.Context, titles []string, cheapest map[string]*validate.Listing) (first, rest []string, err error) {
	var orders map[string]int64
	for _, t := range titles {
		if l := cheapest[t]; l.SuggestedCents > 0 && l.PriceCents*100 <= l.SuggestedCents*PriorityShare {
			first = append(first, t)
		} else {
			rest = append(rest, t)
		}
	}
	if h.buyOrders == nil || len(rest) == 0 {
		return first, rest, nil
	}
	if orders, err = h.buyOrders.OrderPrices(ctx, rest); err != nil {
		return nil, nil, err
	}
	others := rest[:0:0]
	for _, t := range rest {
		if o, ok := orders[t]; ok && cheapest[t].PriceCents <= o {
			first = append(first, t)
		} else {
			others = append(others, t)
		}
	}
	return first, others, nil
}

func (h *Handler) orders(ctx context.Context, env message.Envelope) error {
	orders, err := validate.DecodeOrders(env.Payload)
	if err != nil {
		return err
	}
	var changed []string
	err = h.apply(ctx, message.KindOrders, len(orders.Items), orders.Invalid, func(ctx context.Context) (n int, err error) {
		n, changed, err = h.store.WriteOrdersChanged(ctx, env.FetchedAt, orders.Items)
		return n, err
	})
	if err != nil {
		return err
	}
	h.publishChanges(ctx, env.GameID, message.ChangedOrder, changed)
	return nil
}

func (h *Handler) sales(ctx context.Context, env message.Envelope) error {
	title, reason := validate.SanitizeTitle(env.Request.Title)
	if reason != "" {
		return message.Permanent(fmt.Errorf("%w: %s", ErrNoTitle, reason))
	}
	sales, err := validate.DecodeSales(env.Payload)
	if err != nil {
		return err
	}
	var hist *market.History
	if len(sales.Items) > 0 {
		r := h.analyse(title, sales.Items, env.FetchedAt)
		hist = &r
	}
	changed := false
	err = h.apply(ctx, message.KindSales, len(sales.Items), sales.Invalid, func(ctx context.Context) (n int, err error) {
		n, changed, err = h.store.WriteHistoryChanged(ctx, title, env.FetchedAt, hist)
		return n, err
	})
	if err != nil {
		return err
	}
	h.countBadAttrs(message.KindSales, sales.BadAttrs)
	if changed {
		h.publishChanges(ctx, env.GameID, message.ChangedHistory, []string{title})
	}
	return nil
}

func (h *Handler) fees(ctx context.Context, env message.Envelope) error {
	fees, err := validate.DecodeFees(env.Payload)
	if err != nil {
		return err
	}
	err = h.write(ctx, message.KindFees, func(ctx context.Context) (int, error) {
		return h.store.WriteFees(ctx, env.GameID, env.FetchedAt, fees)
	})
	if err != nil {
		return err
	}
	h.settled(message.KindFees, len(fees.Reduced), fees.Invalid)
	return nil
}
