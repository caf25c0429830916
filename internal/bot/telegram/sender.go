// Package telegram owns the bot's connection to the Telegram Bot API: a Sender that sends and edits
// messages, media and albums within Telegram's flood limits (per-chat queues, a global rate, retry_after
// on 429, command replies before notifications), receives updates, checks health and never lets the bot
// token reach logs, errors or metrics.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
)

// DefaultEndpoint is Telegram's Bot API endpoint format (token, method).
const DefaultEndpoint = "https://api.telegram.org/bot%s/%s"

// Priority orders the messages waiting for one chat.
type Priority int

// Priorities.
const (
	// PriorityNotification is for notifications; they wait behind command replies.
	PriorityNotification Priority = iota
	// PriorityCommand is for replies to a user's command or button; they go first.
	PriorityCommand
)

// Config configures a Sender.
type Config struct {
	// Token is the bot token (secret).
	Token string
	// Endpoint is the API endpoint format with %s for the token and the method; default DefaultEndpoint.
	Endpoint string
	// PerChatInterval is the minimum time between two messages to one chat; default 1s.
	PerChatInterval time.Duration
	// GlobalPerSecond is the most messages per second over all chats; default 30.
	GlobalPerSecond float64
	// MaxRetries is how often a message is retried after 429, 5xx or a transport error; default 3.
	MaxRetries int
	// RetryBackoff is the wait before the first retry of a 5xx or transport error; it doubles with every
	// further attempt up to MaxRetries times RetryBackoff; default 1s.
	RetryBackoff time.Duration
	// MaxRetryAfter caps an honoured retry_after; a longer one fails the message; default 5m.
	MaxRetryAfter time.Duration
	// RequestTimeout bounds one request (long polls get their poll timeout on top); default 30s.
	RequestTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.PerChatInterval <= 0 {
		c.PerChatInterval = time.Second
	}
	if c.GlobalPerSecond <= 0 {
		c.GlobalPerSecond = 30
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	} else if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 5 * time.Minute
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
}

// Media is a file to send: a URL Telegram fetches, or bytes uploaded under Name.
type Media struct {
	// URL is an HTTP(S) URL; used when Bytes is empty.
	URL string
	// Name is the upload's file name.
	Name string
	// Bytes is the upload's content.
	Bytes []byte
}

func (m Media) data() tgbotapi.RequestFileData {
	if len(m.Bytes) > 0 {
		name := m.Name
		if name == "" {
			name = "file"
		}
		return tgbotapi.FileBytes{Name: name, Bytes: m.Bytes}
	}
	return tgbotapi.FileURL(m.URL)
}

// AlbumItem is one medium of an album.
type AlbumItem struct {
	// Video marks a video; otherwise a photo.
	Video bool
	// Media is the file.
	Media Media
	// Caption is the item's HTML caption.
	Caption string
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	queued   prometheus.Gauge
	retries  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	f := promauto.With(reg)
	return metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_telegram_requests_total",
			Help: "Telegram Bot API requests by method and outcome."}, []string{"method", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "dmarket_telegram_request_duration_seconds",
			Help:    "Duration of Telegram Bot API requests (long polls included) by method.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"method"}),
		queued: f.NewGauge(prometheus.GaugeOpts{Name: "dmarket_telegram_queued_messages",
			Help: "Messages waiting in per-chat queues."}),
		retries: f.NewCounterVec(prometheus.CounterOpts{Name: "dmarket_telegram_retries_total",
			Help: "Telegram messages retried, by reason (rate_limited, server_error, transport_error)."}, []string{"reason"}),
	}
}

// Sender talks to the Bot API. It is safe for concurrent use.
type Sender struct {
	cfg    Config
	bot    *tgbotapi.BotAPI
	client *http.Client
	log    *slog.Logger
	scrub  scrubber
	m      metrics
	gate   *gate
	// retry is the wait before a 5xx or transport error is retried.
	retry backoff.Policy

	mu    sync.Mutex
	chats map[int64]*chatQueue

	floodMu sync.Mutex
	floods  []time.Time // 429 answers of the last FloodWindow
}

// Flood-storm detection of HealthCheck.
const (
	// FloodWindow is how far back 429 answers count.
	FloodWindow = time.Minute
	// FloodStorm is how many 429 answers within FloodWindow make the component degraded.
	FloodStorm = 5
)

// New returns a Sender. client may be nil (a default client). Nothing is sent until the first call, so
// an unreachable Telegram does not fail construction.
func New(cfg Config, client *http.Client, log *slog.Logger, reg prometheus.Registerer) (*Sender, error) {
	cfg.defaults()
	if cfg.Token == "" {
		return nil, errors.New("telegram token is empty")
	}
	if strings.Count(cfg.Endpoint, "%s") != 2 || strings.Count(cfg.Endpoint, "%") != 2 {
		return nil, errors.New("telegram endpoint must be a format with exactly two %s (token, method)")
	}
	if client == nil {
		client = &http.Client{}
	}
	// The library's constructor calls getMe and fails when Telegram is unreachable; build the value
	// directly instead so that the bot starts and reports not ready.
	bot := &tgbotapi.BotAPI{Token: cfg.Token, Client: client, Buffer: 100}
	bot.SetAPIEndpoint(cfg.Endpoint)
	s := &Sender{
		cfg:    cfg,
		bot:    bot,
		client: client,
		log:    log,
		scrub:  newScrubber(cfg.Token),
		gate:   newGate(cfg.GlobalPerSecond),
		retry:  backoff.Policy{Initial: cfg.RetryBackoff, Max: time.Duration(max(cfg.MaxRetries, 1)) * cfg.RetryBackoff},
		chats:  map[int64]*chatQueue{},
		m:      newMetrics(reg),
	}
	return s, nil
}

// doer gives one request a context and remembers the HTTP status, which the library drops for uploads.
type doer struct {
	ctx    context.Context
	client *http.Client
	status int
}

// Do sends req with the doer's context.
func (d *doer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req.WithContext(d.ctx))
	if resp != nil {
		d.status = resp.StatusCode
	}
	return resp, err
}

func methodOf(c tgbotapi.Chattable) string {
	switch c.(type) {
	case tgbotapi.MessageConfig:
		return "sendMessage"
	case tgbotapi.PhotoConfig:
		return "sendPhoto"
	case tgbotapi.VideoConfig:
		return "sendVideo"
	case tgbotapi.AnimationConfig:
		return "sendAnimation"
	case tgbotapi.MediaGroupConfig:
		return "sendMediaGroup"
	case tgbotapi.EditMessageTextConfig:
		return "editMessageText"
	case tgbotapi.EditMessageReplyMarkupConfig:
		return "editMessageReplyMarkup"
	case tgbotapi.DeleteMessageConfig:
		return "deleteMessage"
	case tgbotapi.CallbackConfig:
		return "answerCallbackQuery"
	case tgbotapi.UpdateConfig:
		return "getUpdates"
	case tgbotapi.SetMyCommandsConfig:
		return "setMyCommands"
	}
	return "other"
}

// bound returns a copy of the bot whose HTTP calls carry ctx, and the doer that records their status.
func (s *Sender) bound(ctx context.Context) (*tgbotapi.BotAPI, *doer) {
	d := &doer{ctx: ctx, client: s.client}
	api := *s.bot
	api.Client = d
	return &api, d
}

// request performs one API call with no queueing or retry.
func (s *Sender) request(ctx context.Context, c tgbotapi.Chattable, timeout time.Duration) (json.RawMessage, error) {
	method := methodOf(c)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api, d := s.bound(ctx)
	start := time.Now()
	resp, err := api.Request(c)
	s.m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err == nil {
		s.m.requests.WithLabelValues(method, "ok").Inc()
		return resp.Result, nil
	}
	var out error
	var tgErr *tgbotapi.Error
	switch {
	case errors.As(err, &tgErr):
		out = classify(method, d.status, tgErr.Code, tgErr.Message, tgErr.RetryAfter, s.scrub)
	case d.status >= 400:
		out = classify(method, d.status, 0, fmt.Sprintf("HTTP %d", d.status), 0, s.scrub)
	default:
		te := &transportError{method: method, msg: s.scrub.String(err.Error())}
		if ctxErr := ctx.Err(); ctxErr != nil {
			te.ctxErr = ctxErr
		}
		out = te
	}
	s.m.requests.WithLabelValues(method, outcome(out)).Inc()
	if errors.Is(out, ErrRateLimited) {
		s.noteFlood()
	}
	return nil, out
}

func (s *Sender) noteFlood() {
	s.floodMu.Lock()
	defer s.floodMu.Unlock()
	s.floods = append(s.pruneFloods(time.Now()), time.Now())
}

// pruneFloods needs floodMu held.
func (s *Sender) pruneFloods(now time.Time) []time.Time {
	i := 0
	for i < len(s.floods) && now.Sub(s.floods[i]) > FloodWindow {
		i++
	}
	s.floods = s.floods[i:]
	return s.floods
}

// HealthCheck is the "telegram" component of /health (SPEC §7): degraded when getMe fails or at least
// FloodStorm requests met flood control within FloodWindow, else healthy. Telegram alone never makes
// the bot unhealthy or not ready.
func (s *Sender) HealthCheck(ctx context.Context) (health.Status, error) {
	if err := s.Check(ctx); err != nil {
		return health.StatusDegraded, err
	}
	s.floodMu.Lock()
	n := len(s.pruneFloods(time.Now()))
	s.floodMu.Unlock()
	if n >= FloodStorm {
		return health.StatusDegraded, fmt.Errorf("%d flood-control answers in the last %s", n, FloodWindow)
	}
	return health.StatusHealthy, nil
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrChatUnavailable):
		return "chat_unavailable"
	case errors.Is(err, ErrNotModified):
		return "not_modified"
	case errors.Is(err, ErrBadMedia):
		return "bad_media"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, ErrServer):
		return "server_error"
	case errors.Is(err, ErrTransport):
		return "transport_error"
	}
	return "bad_request"
}

// Check reports whether Telegram is reachable with this token (getMe).
func (s *Sender) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	api, d := s.bound(ctx)
	start := time.Now()
	_, err := api.GetMe()
	s.m.duration.WithLabelValues("getMe").Observe(time.Since(start).Seconds())
	if err != nil {
		var tgErr *tgbotapi.Error
		var out error
		if errors.As(err, &tgErr) {
			out = classify("getMe", d.status, tgErr.Code, tgErr.Message, tgErr.RetryAfter, s.scrub)
		} else {
			out = &transportError{method: "getMe", msg: s.scrub.String(err.Error()), ctxErr: ctx.Err()}
		}
		s.m.requests.WithLabelValues("getMe", outcome(out)).Inc()
		return out
	}
	s.m.requests.WithLabelValues("getMe", "ok").Inc()
	return nil
}

// Updates long-polls for updates from offset, waiting up to timeout (whole seconds) for one.
func (s *Sender) Updates(ctx context.Context, offset int, timeout time.Duration) ([]tgbotapi.Update, error) {
	cfg := tgbotapi.NewUpdate(offset)
	cfg.Timeout = int(timeout / time.Second)
	cfg.AllowedUpdates = []string{"message", "callback_query"}
	raw, err := s.request(ctx, cfg, s.cfg.RequestTimeout+timeout)
	if err != nil {
		return nil, err
	}
	var ups []tgbotapi.Update
	if err := json.Unmarshal(raw, &ups); err != nil {
		return nil, fmt.Errorf("decode updates: %w", err)
	}
	return ups, nil
}

// Command is one entry of the bot's "/" command menu.
type Command struct {
	// Name is the command without its slash: 1 to 32 lowercase letters, digits and underscores.
	Name string
	// Description is what the menu shows beside it (1 to 256 characters).
	Description string
}

// SetCommands registers the bot's command list (setMyCommands, default scope), which Telegram shows as
// the "/" menu of every chat with the bot.
func (s *Sender) SetCommands(ctx context.Context, cmds []Command) error {
	list := make([]tgbotapi.BotCommand, len(cmds))
	for i, c := range cmds {
		list[i] = tgbotapi.BotCommand{Command: c.Name, Description: c.Description}
	}
	_, err := s.request(ctx, tgbotapi.NewSetMyCommands(list...), s.cfg.RequestTimeout)
	return err
}

// AnswerCallback answers a callback query (stops the button's spinner, shows text as a toast).
func (s *Sender) AnswerCallback(ctx context.Context, callbackID, text string, alert bool) error {
	c := tgbotapi.NewCallback(callbackID, text)
	c.ShowAlert = alert
	_, err := s.request(ctx, c, s.cfg.RequestTimeout)
	return err
}

// SendText sends an HTML message (link previews off) and returns its message id.
func (s *Sender) SendText(ctx context.Context, p Priority, chatID int64, text string, markup *tgbotapi.InlineKeyboardMarkup) (int, error) {
	c := tgbotapi.NewMessage(chatID, text)
	c.ParseMode = tgbotapi.ModeHTML
	c.DisableWebPagePreview = true
	if markup != nil {
		c.ReplyMarkup = markup
	}
	return s.sendOne(ctx, p, chatID, c)
}

// SendPhoto sends a photo with an HTML caption and returns its message id.
func (s *Sender) SendPhoto(ctx context.Context, p Priority, chatID int64, m Media, caption string, markup *tgbotapi.InlineKeyboardMarkup) (int, error) {
	c := tgbotapi.NewPhoto(chatID, m.data())
	setCaption(&c.BaseChat, &c.Caption, &c.ParseMode, caption, markup)
	return s.sendOne(ctx, p, chatID, c)
}

// SendVideo sends a video with an HTML caption and returns its message id.
func (s *Sender) SendVideo(ctx context.Context, p Priority, chatID int64, m Media, caption string, markup *tgbotapi.InlineKeyboardMarkup) (int, error) {
	c := tgbotapi.NewVideo(chatID, m.data())
	setCaption(&c.BaseChat, &c.Caption, &c.ParseMode, caption, markup)
	return s.sendOne(ctx, p, chatID, c)
}

// SendAnimation sends an animation (GIF or silent video) with an HTML caption and returns its id.
func (s *Sender) SendAnimation(ctx context.Context, p Priority, chatID int64, m Media, caption string, markup *tgbotapi.InlineKeyboardMarkup) (int, error) {
	c := tgbotapi.NewAnimation(chatID, m.data())
	setCaption(&c.BaseChat, &c.Caption, &c.ParseMode, caption, markup)
	return s.sendOne(ctx, p, chatID, c)
}

// setCaption gives a media message its HTML caption and, when set, its keyboard.
func setCaption(base *tgbotapi.BaseChat, caption, parseMode *string, text string, markup *tgbotapi.InlineKeyboardMarkup) {
	*caption, *parseMode = text, tgbotapi.ModeHTML
	if markup != nil {
		base.ReplyMarkup = markup
	}
}

// SendAlbum sends 2 to 10 photos and videos as one album and returns their message ids.
func (s *Sender) SendAlbum(ctx context.Context, p Priority, chatID int64, items []AlbumItem) ([]int, error) {
	if len(items) < 2 || len(items) > 10 {
		return nil, fmt.Errorf("send album: %w: %d items, want 2 to 10", ErrBadRequest, len(items))
	}
	media := make([]any, 0, len(items))
	for _, it := range items {
		if it.Video {
			v := tgbotapi.NewInputMediaVideo(it.Media.data())
			v.Caption, v.ParseMode = it.Caption, tgbotapi.ModeHTML
			media = append(media, v)
			continue
		}
		ph := tgbotapi.NewInputMediaPhoto(it.Media.data())
		ph.Caption, ph.ParseMode = it.Caption, tgbotapi.ModeHTML
		media = append(media, ph)
	}
	raw, err := s.enqueue(ctx, p, chatID, tgbotapi.NewMediaGroup(chatID, media))
	if err != nil {
		return nil, err
	}
	var msgs []tgbotapi.Message
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, fmt.Errorf("decode album result: %w", err)
	}
	ids := make([]int, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MessageID
	}
	return ids, nil
}

// EditText replaces a message's HTML text and keyboard.
func (s *Sender) EditText(ctx context.Context, p Priority, chatID int64, messageID int, text string, markup *tgbotapi.InlineKeyboardMarkup) error {
	c := tgbotapi.NewEditMessageText(chatID, messageID, text)
	c.ParseMode = tgbotapi.ModeHTML
	c.DisableWebPagePreview = true
	c.ReplyMarkup = markup
	_, err := s.enqueue(ctx, p, chatID, c)
	return err
}

func (s *Sender) sendOne(ctx context.Context, p Priority, chatID int64, c tgbotapi.Chattable) (int, error) {
	raw, err := s.enqueue(ctx, p, chatID, c)
	if err != nil {
		return 0, err
	}
	var m tgbotapi.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, fmt.Errorf("decode %s result: %w", methodOf(c), err)
	}
	return m.MessageID, nil
}
