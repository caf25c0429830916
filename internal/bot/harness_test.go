package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// Whitelisted test users (private chat id = user id).
const (
	alice   int64 = 100
	bob     int64 = 200
	mallory int64 = 999
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fakeOffers filters a fixed list like the engine does: min price, limit, games.
type fakeOffers struct {
	mu    sync.Mutex
	list  []offers.Offer
	calls []offers.Settings
	err   error
	panic bool
}

func (f *fakeOffers) Offers(_ context.Context, s offers.Settings) ([]offers.Offer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	if f.panic {
		panic("offers engine bug")
	}
	if f.err != nil {
		return nil, f.err
	}
	var out []offers.Offer
	for _, o := range f.list {
		hidden := (s.HideFloat && o.Kind == market.KindFloat) || (s.HideStickers && o.Kind == market.KindStickers)
		if !hidden && o.Buy >= s.MinPriceCents && o.ProfitBasisPoints >= s.LimitBasisPoints && (len(s.Games) == 0 || slices.Contains(s.Games, o.GameID)) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (f *fakeOffers) set(list []offers.Offer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = list
}

func (f *fakeOffers) settingsCalls() []offers.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type fakeCharts struct {
	mu     sync.Mutex
	titles []string
	err    error
}

func (f *fakeCharts) Chart(_ context.Context, title string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.titles = append(f.titles, title)
	if f.err != nil {
		return nil, f.err
	}
	return []byte("\x89PNG chart of " + title), nil
}

type harness struct {
	t      *testing.T
	srv    *telegramtest.Server
	sender *telegram.Sender
	bot    *Bot
	rdb    *redis.Client
	clk    *clocktest.Fake
	src    *fakeOffers
	charts *fakeCharts
	logs   *loggingtest.Buffer
	reg    *prometheus.Registry
	stop   func()
}

type harnessOpts struct {
	whitelist []int64
	rdb       *redis.Client
	server    telegramtest.Options
	noRun     bool
	token     string
	// sendInterval is the sender's spacing of messages to one chat; default 15ms.
	sendInterval time.Duration
	// src is the offers source (default an empty fakeOffers); opts are the bot's options.
	src  *fakeOffers
	opts []Option
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.whitelist == nil {
		o.whitelist = []int64{alice, bob}
	}
	if o.rdb == nil {
		o.rdb = redisdbtest.New(t)
	}
	if o.server.PerChatInterval == 0 {
		o.server.PerChatInterval = 10 * time.Millisecond
	}
	if o.server.GlobalLimit == 0 {
		o.server.GlobalLimit = -1
	}
	if o.token != "" {
		o.server.Token = o.token
	}
	if o.sendInterval == 0 {
		o.sendInterval = 15 * time.Millisecond
	}
	srv := telegramtest.New(t, o.server)
	logs := &loggingtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	sender, err := telegram.New(telegram.Config{
		Token: srv.Token(), Endpoint: srv.Endpoint(), PerChatInterval: o.sendInterval,
		GlobalPerSecond: 1000, RetryBackoff: 10 * time.Millisecond,
	}, nil, log, reg)
	require.NoError(t, err)
	if o.src == nil {
		o.src = &fakeOffers{}
	}
	h := &harness{t: t, srv: srv, sender: sender, rdb: o.rdb, clk: clocktest.NewFake(t0), src: o.src,
		charts: &fakeCharts{}, logs: logs, reg: reg, stop: func() {}}
	h.bot, err = New(Config{
		Whitelist:               o.whitelist,
		GameIDs:                 []string{"a8db", "9a92"},
		DefaultMinPriceCents:    1000,
		DefaultLimitBasisPoints: 0,
		PollInterval:            time.Hour, // cycles are driven by NotifyOnce
		LongPollTimeout:         time.Second,
		ShutdownTimeout:         5 * time.Second,
	}, sender, h.src, h.charts, o.rdb, log, reg, nil, h.clk, o.opts...)
	require.NoError(t, err)
	if !o.noRun {
		h.run()
	}
	return h
}

// run starts the bot until the test ends.
// startedHarness returns a default harness whose users have sent /start, in order, and whose market
// holds list.
func startedHarness(t *testing.T, list []offers.Offer, users ...int64) *harness {
	t.Helper()
	h := newHarness(t, harnessOpts{})
	for _, u := range users {
		h.say(u, "/start")
	}
	h.src.set(list)
	return h
}

func (h *harness) run() {
	stop := lifecycletest.Start(h.t, 15*time.Second, h.bot.Run)
	h.stop = func() { require.NoError(h.t, stop()) }
	h.t.Cleanup(h.stop)
}

// sent waits until chat received at least n messages and returns them.
func (h *harness) sent(chat int64, n int) []telegramtest.Call {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return len(h.srv.Sent(chat)) >= n }, 10*time.Second, 5*time.Millisecond,
		"chat %d: want %d messages, have %d", chat, n, len(h.srv.Sent(chat)))
	return h.srv.Sent(chat)
}

// say sends text as user and returns the reply (the next message to the user's chat).
func (h *harness) say(user int64, text string) telegramtest.Call {
	h.t.Helper()
	before := len(h.srv.Sent(user))
	h.srv.SendText(user, text)
	return h.sent(user, before+1)[before]
}

// press presses a button and waits for its callback answer, which it returns.
func (h *harness) press(user int64, msgID int, data string) telegramtest.Call {
	h.t.Helper()
	id := h.srv.PressButton(user, msgID, data)
	var ans telegramtest.Call
	require.Eventually(h.t, func() bool {
		for _, c := range h.srv.CallsOf("answerCallbackQuery", true) {
			if c.CallbackID == id {
				ans = c
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "callback %q not answered", data)
	return ans
}

func (h *harness) settings(user int64) UserSettings {
	h.t.Helper()
	s, err := h.bot.st.settings(context.Background(), user)
	require.NoError(h.t, err)
	return s
}

func (h *harness) started() map[int64]int64 {
	h.t.Helper()
	m, err := h.bot.st.started(context.Background())
	require.NoError(h.t, err)
	return m
}

// buttons flattens a keyboard into "text=data" (callback) or "text->url" strings.
func buttons(c telegramtest.Call) []string {
	if c.Markup == nil {
		return nil
	}
	var out []string
	for _, row := range c.Markup.InlineKeyboard {
		for _, b := range row {
			switch {
			case b.CallbackData != nil:
				out = append(out, b.Text+"="+*b.CallbackData)
			case b.URL != nil:
				out = append(out, b.Text+"->"+*b.URL)
			}
		}
	}
	return out
}

// offer builds a test offer; i orders them by profit (higher i, lower profit).
func offer(i int) offers.Offer {
	return offers.Offer{
		Title: fmt.Sprintf("Item %02d", i), GameID: "a8db", Image: fmt.Sprintf("https://img.test/%d.png", i),
		Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 2000, Sell: 2500, Fee: 125, Net: 2375,
		ProfitBasisPoints: int64(3000 - 10*i), OrderCount: 3, UpdatedAt: t0.Add(-2 * time.Minute),
	}
}

func offersN(n int) []offers.Offer {
	out := make([]offers.Offer, n)
	for i := range out {
		out[i] = offer(i)
	}
	return out
}

var errBoom = errors.New("boom")

func titlesOf(calls []telegramtest.Call) []string {
	var out []string
	for _, c := range calls {
		text := c.Caption
		if c.Method == "sendMessage" {
			text = c.Text
		}
		i := strings.Index(text, "Item ")
		if i >= 0 {
			out = append(out, text[i:i+7])
		}
	}
	return out
}

// awaitCount waits until the metric c reads want. Handlers count an outcome after their answer went out, so
// a test that has seen the answer must still await the count.
func awaitCount(t *testing.T, c prometheus.Collector, want float64) {
	t.Helper()
	require.Eventually(t, func() bool { return testutil.ToFloat64(c) == want }, 10*time.Second, 5*time.Millisecond,
		"metric: want %v, have %v", want, testutil.ToFloat64(c))
}

// NotifyOnce runs one notification cycle and waits until every user's notifications of it are sent, as
// the tests drive cycles one by one.
func (b *Bot) NotifyOnce(ctx context.Context) error {
	wg, err := b.StartCycle(ctx)
	if wg != nil {
		wg.Wait()
	}
	return err
}
