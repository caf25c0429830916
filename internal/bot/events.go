package bot

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// Market is the bot's market state that change events keep up to date (*offers.Service).
type Market interface {
	// Apply re-reads the named titles.
	Apply(ctx context.Context, titles []string) error
	// Resync re-reads the whole market.
	Resync(ctx context.Context) error
	// SetEventsLive says whether change events arrive (the market then relies on Apply between resyncs).
	SetEventsLive(live bool)
}

// Subscription delivers the bodies of the change events published on message.ChangesExchange
// (*rabbitmq.Subscriber): onSubscribed runs after every (re)subscription, before its first message.
type Subscription interface {
	Run(ctx context.Context, handle func(ctx context.Context, body []byte) error, onSubscribed func(ctx context.Context)) error
}

// eventsCheckEvery is how often Events asks whether the broker connection is still up.
const eventsCheckEvery = time.Second

// Events applies the workers' change events to the bot's market: every event's titles are re-read at
// once; after every (re)subscription the whole market is re-read (what was published meanwhile is lost)
// and events are declared live; while the connection is down they are not, and the market falls back to
// its periodic full reads. The bot starts and serves whether or not the broker is up.
type Events struct {
	sub    Subscription
	market Market
	alive  func(ctx context.Context) error
	log    *slog.Logger
	events *prometheus.CounterVec
	titles prometheus.Counter
	live   prometheus.Gauge
}

// NewEvents returns the change-event consumer of market. alive reports whether the subscription's
// broker connection is up (rabbitmq.Conn.Check).
func NewEvents(sub Subscription, market Market, alive func(ctx context.Context) error, log *slog.Logger,
	reg prometheus.Registerer) *Events {
	f := promauto.With(reg)
	e := &Events{sub: sub, market: market, alive: alive, log: log.With("component", "change-events"),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_bot_change_events_total",
			Help: "Change events from the workers, by outcome (received; applied: their titles re-read; bad: undecodable, dropped; failed: the re-read failed, the next resync heals it)."},
			[]string{"outcome"}),
		titles: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_bot_changed_titles_total",
			Help: "Titles re-read because a change event named them."}),
		live: f.NewGauge(prometheus.GaugeOpts{Name: "dmarket_bot_change_events_live",
			Help: "1 while the bot is subscribed to change events and relies on them between full reads, else 0."}),
	}
	for _, o := range []string{"received", "applied", "bad", "failed"} {
		e.events.WithLabelValues(o)
	}
	return e
}

// Run consumes change events until ctx ends; it returns nil then, or the subscription's error.
func (e *Events) Run(ctx context.Context) error {
	defer e.setLive(false)
	watch, stop := context.WithCancel(ctx)
	defer stop()
	go e.watchConnection(watch)
	return e.sub.Run(ctx, e.handle, e.subscribed)
}

// subscribed resyncs the whole market and declares events live; a failed resync leaves them off (the
// market keeps reading in full) until the next subscription.
func (e *Events) subscribed(ctx context.Context) {
	if err := e.market.Resync(ctx); err != nil {
		e.log.Warn("market not re-read after subscribing to change events; full reads go on", "err", err)
		return
	}
	e.setLive(true)
	e.log.Info("subscribed to change events; market re-read")
}

// handle applies one change event.
func (e *Events) handle(ctx context.Context, body []byte) error {
	e.events.WithLabelValues("received").Inc()
	c, err := message.DecodeChanges(body)
	if err != nil {
		e.events.WithLabelValues("bad").Inc()
		e.log.Warn("bad change event dropped", "err", err)
		return nil
	}
	titles := make([]string, 0, len(c.Changes))
	for _, ch := range c.Changes {
		titles = append(titles, ch.Title)
	}
	slices.Sort(titles)
	titles = slices.Compact(titles)
	if err := e.market.Apply(ctx, titles); err != nil {
		e.events.WithLabelValues("failed").Inc()
		return err
	}
	e.events.WithLabelValues("applied").Inc()
	e.titles.Add(float64(len(titles)))
	return nil
}

// watchConnection turns events off as soon as the connection is found down; the next subscription
// turns them on again.
func (e *Events) watchConnection(ctx context.Context) {
	onTicks(ctx, eventsCheckEvery, func() {
		if err := e.alive(ctx); err != nil && ctx.Err() == nil {
			e.setLive(false)
		}
	})
}

func (e *Events) setLive(live bool) {
	e.market.SetEventsLive(live)
	if live {
		e.live.Set(1)
	} else {
		e.live.Set(0)
	}
}
