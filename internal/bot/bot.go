// Package bot owns the Telegram bot of SPEC §6: the update loop with whitelist checks, the commands and
// inline buttons, per-user settings and started chats in Redis, rendering of offers, and the
// notifications of new offers: at once for the titles a change names (WithChanges), re-checked against
// DMarket before they are sent (WithVerifier), and in a periodic cycle as the safety net. Events applies
// the workers' change events to the offers market; titles near users' limits are kept watched for the
// parsers (WithWatchlist).
//
// Redis keys (prefix "telegram:" by default):
//
//	telegram:whitelist           SET of user ids, replaced from TELEGRAM_WHITELIST at start (informational;
//	                             access is checked against the configuration on every update)
//	telegram:started             HASH user id -> chat id of whitelisted users who wrote to the bot
//	telegram:settings:<user id>  STRING JSON {"min_price" cents, "limit" basis points, "games" [ids],
//	                             "notifications" bool, "muted" [titles], "dedup_minutes", "max_per_hour"
//	                             (0: no cap), "quiet_hours" [from, to] local hours, "digest_hour" (-1: off),
//	                             "zone_minutes" offset from UTC, "float_offers" bool, "sticker_offers"
//	                             bool}; a missing field takes the default (FLOAT and STICKERS offers on)
//	telegram:sent:<user id>      ZSET offer fingerprint -> unix ms sent (the user's dedup window, 30 minutes
//	                             by default)
//	telegram:sentprofit:<user id> HASH offer fingerprint -> profit sent in basis points: an offer sent is
//	                             new again when its profit improved by BOT_RENOTIFY_MARGIN (WithRenotifyMargin)
//	telegram:sendlog:<user id>   ZSET one member per notification -> unix ms sent (the per-hour cap)
//	telegram:digest:<user id>    STRING local date of the last daily digest sent
//	telegram:titles              HASH short title id -> title, for the 📈 and mute buttons; an id not issued
//	                             for 7 days is forgotten, and at most the 50,000 most recent are kept
//	telegram:titles:issued       ZSET short title id -> unix ms last issued (the age of telegram:titles)
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// OfferSource computes the current offers for one user's settings.
type OfferSource interface {
	Offers(ctx context.Context, s offers.Settings) ([]offers.Offer, error)
}

// ChartSource renders the price-history chart of a title as PNG bytes.
type ChartSource interface {
	Chart(ctx context.Context, title string) ([]byte, error)
}

// Messenger is the part of the Telegram API the bot uses (implemented by *telegram.Sender).
type Messenger interface {
	Updates(ctx context.Context, offset int, timeout time.Duration) ([]tgbotapi.Update, error)
	SendText(ctx context.Context, p telegram.Priority, chatID int64, text string, markup *tgbotapi.InlineKeyboardMarkup) (int, error)
	SendPhoto(ctx context.Context, p telegram.Priority, chatID int64, m telegram.Media, caption string, markup *tgbotapi.InlineKeyboardMarkup) (int, error)
	EditText(ctx context.Context, p telegram.Priority, chatID int64, messageID int, text string, markup *tgbotapi.InlineKeyboardMarkup) error
	AnswerCallback(ctx context.Context, callbackID, text string, alert bool) error
	SetCommands(ctx context.Context, cmds []telegram.Command) error
}

// The Telegram sender is the production Messenger.
var _ Messenger = (*telegram.Sender)(nil)

// Config configures the bot.
type Config struct {
	// Whitelist are the Telegram user ids allowed to use the bot (TELEGRAM_WHITELIST).
	Whitelist []int64
	// GameIDs are the DMarket games offered (DMARKET_GAME_IDS); the default games of every user.
	GameIDs []string
	// DefaultMinPriceCents is BOT_DEFAULT_MIN_PRICE in cents.
	DefaultMinPriceCents int64
	// DefaultLimitBasisPoints is BOT_DEFAULT_LIMIT in basis points (percent times 100).
	DefaultLimitBasisPoints int64
	// PollInterval is BOT_POLL_INTERVAL, the time between notification cycles; default 3s.
	PollInterval time.Duration
	// LongPollTimeout is the getUpdates long-poll time; default 30s.
	LongPollTimeout time.Duration
	// KeyPrefix prefixes the bot's Redis keys; default "telegram:".
	KeyPrefix string
	// DedupWindow is how long a sent offer is not sent again; default 30m.
	DedupWindow time.Duration
	// MaxPerCycle is the most notifications per user per cycle; default 10.
	MaxPerCycle int
	// MaxPerHour is the default cap of notifications per user in any 60 minutes (users change theirs in
	// /settings); default 30.
	MaxPerHour int
	// PageSize is the most offers on one /offers page; default 10.
	PageSize int
	// ShutdownTimeout bounds the wait for in-flight replies and notifications at shutdown; default 10s.
	ShutdownTimeout time.Duration
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = 3 * time.Second
	}
	if c.LongPollTimeout <= 0 {
		c.LongPollTimeout = 30 * time.Second
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "telegram:"
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = 30 * time.Minute
	}
	if c.MaxPerCycle <= 0 {
		c.MaxPerCycle = 10
	}
	if c.MaxPerHour <= 0 {
		c.MaxPerHour = 30
	}
	if c.PageSize <= 0 {
		c.PageSize = 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
}

type metrics struct {
	commands      *prometheus.CounterVec
	callbacks     *prometheus.CounterVec
	offersShown   prometheus.Counter
	notifications *prometheus.CounterVec
	held          *prometheus.CounterVec
	refused       prometheus.Counter
	pollErrors    prometheus.Counter
	cycle         prometheus.Histogram
	dropped       prometheus.Counter
	panics        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	f := promauto.With(reg)
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return metrics{
		commands: counterVec("dmarket_bot_commands_total",
			"Bot commands handled, by command and outcome (ok, bad_args, refused, error).", "command", "outcome"),
		callbacks: counterVec("dmarket_bot_callbacks_total",
			"Inline button presses handled, by action and outcome (ok, invalid, gone, refused, error).", "action", "outcome"),
		offersShown: counter("dmarket_bot_offers_shown_total", "Offers shown on /offers pages."),
		notifications: counterVec("dmarket_bot_notifications_total",
			"Offer notifications by outcome (photo, text, text_fallback, failed, chat_unavailable, digest, digest_failed).", "outcome"),
		held: counterVec("dmarket_bot_notifications_held_total",
			"New offers not notified because of a user's volume settings, by reason (hourly_cap; quiet_hours counts held cycles).", "reason"),
		refused:    counter("dmarket_bot_unauthorized_updates_total", "Updates from users not on the whitelist."),
		pollErrors: counter("dmarket_bot_poll_errors_total", "Failed getUpdates long polls."),
		cycle: f.NewHistogram(prometheus.HistogramOpts{Name: "dmarket_bot_notification_cycle_duration_seconds",
			Help: "Time to compute offers and queue notifications in one cycle.", Buckets: prometheus.DefBuckets}),
		panics:  counter("dmarket_bot_panics_total", "Panics recovered while handling an update or sending notifications."),
		dropped: counter("dmarket_bot_dropped_updates_total", "Updates dropped because the user already had too many waiting."),
	}
}

// Bot is the Telegram bot.
type Bot struct {
	cfg    Config
	tg     Messenger
	offers OfferSource
	charts ChartSource
	st     *store
	log    *slog.Logger
	tracer *zipkin.Tracer
	clk    clock.Clock
	// sleep waits between retries of calls to Telegram, on real time whatever clk is.
	sleep     backoff.Sleeper
	m         metrics
	whitelist map[int64]bool
	users     *serial

	notifyMu sync.Mutex
	busy     map[int64]bool // users with a notification run in flight
	// pending are the changed titles each user's run has still to look at (notify at once).
	pending  map[int64]map[string]struct{}
	notifyWG sync.WaitGroup

	// Optional parts (Option).
	changes        <-chan Change
	titleOffers    TitleOffers
	verifier       Verifier
	watch          Watchlist
	watchMargin    int64
	renotifyMargin int64
	lm             liveMetrics
}

// New returns a Bot. tracer may be nil (no spans).
func New(cfg Config, tg Messenger, src OfferSource, charts ChartSource, rdb redis.Cmdable, log *slog.Logger,
	reg prometheus.Registerer, tracer *zipkin.Tracer, clk clock.Clock, opts ...Option) (*Bot, error) {
	cfg.defaults()
	if tg == nil || src == nil || charts == nil || rdb == nil || log == nil || clk == nil {
		return nil, errors.New("new bot: a dependency is nil")
	}
	if len(cfg.GameIDs) == 0 {
		return nil, errors.New("new bot: no game ids")
	}
	wl := make(map[int64]bool, len(cfg.Whitelist))
	for _, id := range cfg.Whitelist {
		wl[id] = true
	}
	b := &Bot{
		cfg: cfg, tg: tg, offers: src, charts: charts, log: log, tracer: tracer, clk: clk, sleep: clock.Real{},
		whitelist: wl,
		users:     newSerial(32),
		busy:      map[int64]bool{},
		pending:   map[int64]map[string]struct{}{},
		st: &store{rdb: rdb, prefix: cfg.KeyPrefix, defaults: UserSettings{
			MinPriceCents:    cfg.DefaultMinPriceCents,
			LimitBasisPoints: cfg.DefaultLimitBasisPoints,
			Games:            slices.Clone(cfg.GameIDs),
			Notifications:    true,
			Volume:           Volume{DedupWindow: cfg.DedupWindow, MaxPerHour: cfg.MaxPerHour, DigestHour: -1},
		}},
		m:  newMetrics(reg),
		lm: newLiveMetrics(reg),
	}
	for _, o := range opts {
		o(b)
	}
	if b.watch != nil && b.titleOffers == nil {
		return nil, errors.New("new bot: a watchlist needs the changes' title offers")
	}
	return b, nil
}

// allowed reports whether user may use the bot; checked on every update.
func (b *Bot) allowed(user int64) bool { return b.whitelist[user] }

// admitted reports whether user may use the bot, counting a refused update (in outcomes under label,
// and in the refused total) when not.
func (b *Bot) admitted(user int64, outcomes *prometheus.CounterVec, label string) bool {
	if b.allowed(user) {
		return true
	}
	b.m.refused.Inc()
	outcomes.WithLabelValues(label, "refused").Inc()
	return false
}

func (b *Bot) span(ctx context.Context, name string) (context.Context, func()) {
	if b.tracer == nil {
		return ctx, func() {}
	}
	sp, ctx := b.tracer.StartSpanFromContext(ctx, name)
	return ctx, sp.Finish
}

// Run polls updates and sends notifications until ctx ends, then waits (bounded) for in-flight work.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.st.syncWhitelist(ctx, b.cfg.Whitelist); err != nil {
		b.log.Warn("whitelist not stored in redis", "err", err)
	}
	// Work started before shutdown may finish within ShutdownTimeout.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var loops sync.WaitGroup
	loops.Go(func() { b.registerCommands(ctx) })
	loops.Go(func() { b.notifyLoop(ctx, work) })
	if b.changes != nil {
		loops.Go(func() { b.changeLoop(ctx, work) })
	}
	if b.watch != nil {
		loops.Go(func() { b.watchLoop(ctx, work) })
	}
	b.pollLoop(ctx, work)
	loops.Wait()

	done := make(chan struct{})
	go func() {
		b.users.wait()
		b.notifyWG.Wait()
		close(done)
	}()
	timer := time.NewTimer(b.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		b.log.Warn("bot shutdown timed out; cancelling in-flight replies and notifications")
		cancelWork()
		<-done
	}
	return nil
}

// Pauses between retries of the calls to Telegram that the bot repeats until they succeed.
var (
	// pollRetry spaces failed getUpdates calls.
	pollRetry = backoff.Policy{Initial: time.Second, Max: 30 * time.Second}
	// menuRetry spaces failed attempts to set the command menu.
	menuRetry = backoff.Policy{Initial: time.Second, Max: time.Minute}
)

func (b *Bot) pollLoop(ctx, work context.Context) {
	offset := 0
	failures := 0
	for ctx.Err() == nil {
		ups, err := b.tg.Updates(ctx, offset, b.cfg.LongPollTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait := pollRetry.Delay(failures)
			b.m.pollErrors.Inc()
			b.log.Warn("get updates failed", "err", err, "retry_in", wait)
			if b.sleep.Sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		failures = 0
		for _, u := range ups {
			offset = max(offset, u.UpdateID+1)
			b.dispatch(work, u)
		}
	}
}

// dispatch hands u to its user's serial queue, so one user's updates run in order and never wait for
// another user's.
func (b *Bot) dispatch(ctx context.Context, u tgbotapi.Update) {
	user := u.SentFrom()
	if user == nil {
		return
	}
	if !b.users.do(user.ID, func() {
		defer b.recoverPanic("update")
		b.HandleUpdate(ctx, u)
	}) {
		b.m.dropped.Inc()
	}
}

// recoverPanic keeps one bad update or notification run from taking the bot down.
func (b *Bot) recoverPanic(what string) {
	if r := recover(); r != nil {
		b.m.panics.Inc()
		b.log.Error("recovered from a panic", "in", what, "panic", fmt.Sprint(r))
	}
}

// serial runs functions one at a time per key, each key on its own goroutine while it has work.
type serial struct {
	mu     sync.Mutex
	limit  int
	queues map[int64][]func()
	wg     sync.WaitGroup
}

func newSerial(limit int) *serial { return &serial{limit: limit, queues: map[int64][]func(){}} }

func (s *serial) do(key int64, f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, running := s.queues[key]
	if len(q) >= s.limit {
		return false
	}
	s.queues[key] = append(q, f)
	if !running {
		s.wg.Add(1)
		go s.run(key)
	}
	return true
}

func (s *serial) run(key int64) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		q := s.queues[key]
		if len(q) == 0 {
			delete(s.queues, key)
			s.mu.Unlock()
			return
		}
		f := q[0]
		s.mu.Unlock()
		f()
		s.mu.Lock()
		s.queues[key] = s.queues[key][1:]
		s.mu.Unlock()
	}
}

func (s *serial) wait() { s.wg.Wait() }

// settingsFor converts user settings to the offers engine's filter; ok is false when the user selected
// no game (the engine reads an empty list as every game).
func settingsFor(s UserSettings) (offers.Settings, bool) {
	return offers.Settings{MinPriceCents: s.MinPriceCents, LimitBasisPoints: s.LimitBasisPoints, Games: slices.Clone(s.Games),
		HideFloat: !s.FloatOffers, HideStickers: !s.StickerOffers}, len(s.Games) > 0
}

// currentOffers returns the user's offers now.
func (b *Bot) currentOffers(ctx context.Context, s UserSettings) ([]offers.Offer, error) {
	fs, ok := settingsFor(s)
	if !ok {
		return nil, nil
	}
	list, err := b.offers.Offers(ctx, fs)
	if err != nil {
		return nil, fmt.Errorf("compute offers: %w", err)
	}
	return list, nil
}
