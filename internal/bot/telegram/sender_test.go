package telegram

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

type fixture struct {
	srv  *telegramtest.Server
	s    *Sender
	reg  *prometheus.Registry
	logs *loggingtest.Buffer
}

func newFixture(t *testing.T, opts telegramtest.Options, cfg Config) *fixture {
	t.Helper()
	srv := telegramtest.New(t, opts)
	logs := &loggingtest.Buffer{}
	reg := prometheus.NewRegistry()
	if cfg.Token == "" {
		cfg.Token = srv.Token()
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = srv.Endpoint()
	}
	if cfg.PerChatInterval == 0 {
		cfg.PerChatInterval = 20 * time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 10 * time.Millisecond
	}
	if cfg.GlobalPerSecond == 0 {
		cfg.GlobalPerSecond = 1000
	}
	s, err := New(cfg, nil, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg)
	require.NoError(t, err)
	return &fixture{srv: srv, s: s, reg: reg, logs: logs}
}

func fastServer() telegramtest.Options {
	return telegramtest.Options{PerChatInterval: 10 * time.Millisecond, GlobalLimit: -1}
}

func markup(data string) *tgbotapi.InlineKeyboardMarkup {
	m := tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData("b", data)))
	return &m
}

func TestNewValidatesConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	_, err := New(Config{}, nil, log, prometheus.NewRegistry())
	require.ErrorContains(t, err, "token is empty")
	for _, ep := range []string{"https://api.telegram.org/bot", "https://x/bot%s", "https://x/bot%s/%s/%d", "https://x/%20bot%s/%s"} {
		_, err = New(Config{Token: "1:x", Endpoint: ep}, nil, log, prometheus.NewRegistry())
		require.ErrorContains(t, err, "endpoint", ep)
	}
	s, err := New(Config{Token: "1:x"}, nil, log, prometheus.NewRegistry())
	require.NoError(t, err)
	require.Equal(t, DefaultEndpoint, s.cfg.Endpoint)
	require.Equal(t, time.Second, s.cfg.PerChatInterval)
	require.InDelta(t, 30.0, s.cfg.GlobalPerSecond, 0)
}

func TestSendKinds(t *testing.T) {
	f := newFixture(t, fastServer(), Config{})
	f.srv.AddChat(1)
	ctx := context.Background()

	id, err := f.s.SendText(ctx, PriorityCommand, 1, "<b>hi</b> &amp;", markup("x"))
	require.NoError(t, err)
	require.NotZero(t, id)
	_, err = f.s.SendPhoto(ctx, PriorityNotification, 1, Media{URL: "https://img.test/a.png"}, "<i>cap</i>", markup("y"))
	require.NoError(t, err)
	_, err = f.s.SendPhoto(ctx, PriorityNotification, 1, Media{Name: "chart.png", Bytes: []byte("PNG")}, "chart", nil)
	require.NoError(t, err)
	_, err = f.s.SendVideo(ctx, PriorityNotification, 1, Media{URL: "https://img.test/v.mp4"}, "v", nil)
	require.NoError(t, err)
	_, err = f.s.SendAnimation(ctx, PriorityNotification, 1, Media{Bytes: []byte("GIF")}, "a", markup("z"))
	require.NoError(t, err)
	ids, err := f.s.SendAlbum(ctx, PriorityNotification, 1, []AlbumItem{
		{Media: Media{URL: "https://img.test/1.png"}, Caption: "<b>one</b>"},
		{Video: true, Media: Media{Name: "2.mp4", Bytes: []byte("MP4")}, Caption: "two"},
	})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	_, err = f.s.SendAlbum(ctx, PriorityNotification, 1, []AlbumItem{{Media: Media{URL: "https://img.test/1.png"}}})
	require.ErrorIs(t, err, ErrBadRequest)

	sent := f.srv.Sent(1)
	require.Len(t, sent, 6)
	require.Equal(t, "sendMessage", sent[0].Method)
	require.Equal(t, "HTML", sent[0].ParseMode)
	require.Equal(t, "x", *sent[0].Markup.InlineKeyboard[0][0].CallbackData)
	require.Equal(t, "https://img.test/a.png", sent[1].Media)
	require.Equal(t, "<i>cap</i>", sent[1].Caption)
	require.Equal(t, "upload:chart.png", sent[2].Media)
	require.Equal(t, []byte("PNG"), sent[2].Upload)
	require.Equal(t, "sendVideo", sent[3].Method)
	require.Equal(t, "sendAnimation", sent[4].Method)
	require.Equal(t, "upload:file", sent[4].Media)
	require.Equal(t, []telegramtest.AlbumItem{
		{Type: "photo", Media: "https://img.test/1.png", Caption: "<b>one</b>"},
		{Type: "video", Media: "upload:2.mp4", Caption: "two"},
	}, sent[5].Album)

	require.NoError(t, f.s.EditText(ctx, PriorityCommand, 1, id, "new", markup("n")))
	require.ErrorIs(t, f.s.EditText(ctx, PriorityCommand, 1, id, "new", markup("n")), ErrNotModified)
	m, ok := f.srv.Message(1, id)
	require.True(t, ok)
	require.Equal(t, "new", m.Text)
	require.Equal(t, "n", *m.Markup.InlineKeyboard[0][0].CallbackData)
	require.NoError(t, f.s.AnswerCallback(ctx, "cb1", "done", false))
	require.Equal(t, "cb1", f.srv.CallsOf("answerCallbackQuery", true)[0].CallbackID)
	require.NoError(t, f.s.Check(ctx))

	require.Equal(t, 1.0, testutil.ToFloat64(f.s.m.requests.WithLabelValues("sendMessage", "ok")))
	require.Equal(t, 1.0, testutil.ToFloat64(f.s.m.requests.WithLabelValues("editMessageText", "not_modified")))
	require.Equal(t, 1.0, testutil.ToFloat64(f.s.m.requests.WithLabelValues("getMe", "ok")))
	n, err := testutil.GatherAndCount(f.reg, "dmarket_telegram_request_duration_seconds")
	require.NoError(t, err)
	require.Positive(t, n)
}

func TestSetCommands(t *testing.T) {
	cases := []struct {
		name    string
		cmds    []Command
		wantErr error
	}{
		{name: "menu", cmds: []Command{{Name: "offers", Description: "Current offers"}, {Name: "set_limit", Description: "Profit limit in %"}}},
		{name: "invalid name", cmds: []Command{{Name: "Set-Limit", Description: "x"}}, wantErr: ErrBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fastServer(), Config{})
			err := f.s.SetCommands(context.Background(), tc.cmds)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Empty(t, f.srv.Commands())
				require.Equal(t, 1.0, testutil.ToFloat64(f.s.m.requests.WithLabelValues("setMyCommands", "bad_request")))
				return
			}
			require.NoError(t, err)
			got := f.srv.Commands()
			require.Len(t, got, len(tc.cmds))
			for i, c := range tc.cmds {
				require.Equal(t, c.Name, got[i].Command)
				require.Equal(t, c.Description, got[i].Description)
			}
			require.Equal(t, 1.0, testutil.ToFloat64(f.s.m.requests.WithLabelValues("setMyCommands", "ok")))
		})
	}
}

func TestErrorClasses(t *testing.T) {
	f := newFixture(t, fastServer(), Config{MaxRetries: -1})
	f.srv.AddChat(1)
	f.srv.AddChat(2)
	f.srv.Block(2)
	f.srv.RefusePhotoURL("https://img.test/bad.png")
	ctx := context.Background()
	cases := []struct {
		name string
		send func() error
		want error
		desc string
	}{
		{name: "bad html", send: func() error { _, err := f.s.SendText(ctx, PriorityCommand, 1, "a<b", nil); return err }, want: ErrBadRequest, desc: "can't parse entities"},
		{name: "blocked", send: func() error { _, err := f.s.SendText(ctx, PriorityCommand, 2, "x", nil); return err }, want: ErrChatUnavailable},
		{name: "unknown chat", send: func() error { _, err := f.s.SendText(ctx, PriorityCommand, 3, "x", nil); return err }, want: ErrChatUnavailable},
		{name: "refused photo url", send: func() error {
			_, err := f.s.SendPhoto(ctx, PriorityCommand, 1, Media{URL: "https://img.test/bad.png"}, "", nil)
			return err
		}, want: ErrBadMedia},
		{name: "too long", send: func() error {
			_, err := f.s.SendText(ctx, PriorityCommand, 1, strings.Repeat("a", 4097), nil)
			return err
		}, want: ErrBadRequest, desc: "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.send()
			require.ErrorIs(t, err, tc.want)
			require.False(t, Retryable(err))
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			require.Contains(t, apiErr.Description, tc.desc)
		})
	}
}

func TestServerErrorsRetried(t *testing.T) {
	f := newFixture(t, fastServer(), Config{MaxRetries: 2})
	f.srv.AddChat(1)
	ctx := context.Background()
	f.srv.Fail("sendMessage", 2, 502, "Bad Gateway", 0)
	_, err := f.s.SendText(ctx, PriorityCommand, 1, "x", nil)
	require.NoError(t, err)
	require.Len(t, f.srv.CallsOf("sendMessage", false), 3)

	f.srv.Fail("sendMessage", -1, 500, "Internal Server Error", 0)
	_, err = f.s.SendText(ctx, PriorityCommand, 1, "x", nil)
	require.ErrorIs(t, err, ErrServer)
	require.True(t, Retryable(err))
	require.Len(t, f.srv.CallsOf("sendMessage", false), 6)
	require.Equal(t, 4.0, testutil.ToFloat64(f.s.m.retries.WithLabelValues("server_error")))
}

func TestRetryAfterHonoured(t *testing.T) {
	f := newFixture(t, fastServer(), Config{})
	f.srv.AddChat(1)
	f.srv.Fail("sendMessage", 1, 429, "Too Many Requests: retry after 1", 1)
	_, err := f.s.SendText(context.Background(), PriorityCommand, 1, "x", nil)
	require.NoError(t, err)
	calls := f.srv.CallsOf("sendMessage", false)
	require.Len(t, calls, 2)
	require.Equal(t, 429, calls[0].Status)
	require.Equal(t, 200, calls[1].Status)
	require.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), time.Second)
	require.Equal(t, 1.0, testutil.ToFloat64(f.s.m.retries.WithLabelValues("rate_limited")))
}

func TestRetryAfterTooLongFails(t *testing.T) {
	f := newFixture(t, fastServer(), Config{MaxRetryAfter: time.Second})
	f.srv.AddChat(1)
	f.srv.Fail("sendMessage", 1, 429, "Too Many Requests: retry after 60", 60)
	_, err := f.s.SendText(context.Background(), PriorityCommand, 1, "x", nil)
	require.ErrorIs(t, err, ErrRateLimited)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, time.Minute, apiErr.RetryAfter)
}

func TestFloodLimitsRespected(t *testing.T) {
	// The server allows one message per 50ms per chat and 5 per 200ms overall; the sender (one per 60ms
	// per chat after the previous answer, 5/s overall) stays within both, so no message meets a 429. The
	// per-chat spacing starts after the server's answer, so it holds whatever the load; six messages
	// let through the global gate span a second, so only a delay of 800ms between two of them on their
	// way to the server could put them into one window.
	f := newFixture(t, telegramtest.Options{PerChatInterval: 50 * time.Millisecond, GlobalLimit: 5, GlobalWindow: 200 * time.Millisecond},
		Config{PerChatInterval: 60 * time.Millisecond, GlobalPerSecond: 5})
	var wg sync.WaitGroup
	for chat := int64(1); chat <= 4; chat++ {
		f.srv.AddChat(chat)
		for range 3 {
			wg.Go(func() {
				_, err := f.s.SendText(context.Background(), PriorityNotification, chat, "x", nil)
				require.NoError(t, err)
			})
		}
	}
	wg.Wait()
	for _, c := range f.srv.Calls() {
		require.Equal(t, 200, c.Status, c.Description)
	}
	require.Len(t, f.srv.Calls(), 12)
}

func TestBlockedChatDoesNotBlockOthers(t *testing.T) {
	f := newFixture(t, fastServer(), Config{})
	f.srv.AddChat(1)
	f.srv.AddChat(2)
	// Chat 1 is in a long flood wait; chat 2 is served meanwhile.
	f.srv.Fail("sendPhoto", 1, 429, "Too Many Requests: retry after 30", 30)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := make(chan error, 1)
	go func() {
		_, err := f.s.SendPhoto(ctx, PriorityNotification, 1, Media{URL: "https://img.test/a.png"}, "", nil)
		waiting <- err
	}()
	require.Eventually(t, func() bool { return len(f.srv.CallsOf("sendPhoto", false)) == 1 }, 10*time.Second, 5*time.Millisecond)
	f.srv.Block(3)
	f.srv.AddChat(3)
	_, err := f.s.SendText(context.Background(), PriorityNotification, 3, "x", nil)
	require.ErrorIs(t, err, ErrChatUnavailable)
	for range 3 {
		_, err := f.s.SendText(context.Background(), PriorityNotification, 2, "x", nil)
		require.NoError(t, err)
	}
	cancel()
	require.ErrorIs(t, <-waiting, context.Canceled)
}

func TestCommandRepliesGoFirst(t *testing.T) {
	// The interval is the time the test has, between seeing two notifications queued and queueing its
	// reply, before a third notification goes out: generous for a loaded machine.
	f := newFixture(t, fastServer(), Config{PerChatInterval: 300 * time.Millisecond})
	f.srv.AddChat(1)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			_, err := f.s.SendText(context.Background(), PriorityNotification, 1, "note "+string(rune('a'+i)), nil)
			require.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool {
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
		q := f.s.chats[1]
		return q != nil && len(q.low) >= 2 && int(testutil.ToFloat64(f.s.m.queued))+len(f.srv.Sent(1)) == 4
	}, 10*time.Second, time.Millisecond)
	_, err := f.s.SendText(context.Background(), PriorityCommand, 1, "reply", nil)
	require.NoError(t, err)
	wg.Wait()
	sent := f.srv.Sent(1)
	require.Len(t, sent, 5)
	idx := -1
	for i, c := range sent {
		if c.Text == "reply" {
			idx = i
		}
	}
	require.GreaterOrEqual(t, idx, 0)
	require.LessOrEqual(t, idx, 2, "the reply overtakes the queued notifications")
}

func TestGlobalGatePrefersCommands(t *testing.T) {
	g := newGate(20)
	ctx := context.Background()
	require.NoError(t, g.wait(ctx, PriorityNotification)) // takes the only token
	order := make(chan Priority, 2)
	go func() {
		require.NoError(t, g.wait(ctx, PriorityCommand))
		order <- PriorityCommand
	}()
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.high == 1
	}, 5*time.Second, time.Millisecond)
	go func() {
		require.NoError(t, g.wait(ctx, PriorityNotification))
		order <- PriorityNotification
	}()
	require.Equal(t, PriorityCommand, <-order)
	require.Equal(t, PriorityNotification, <-order)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, g.wait(cctx, PriorityNotification))
}

func TestUpdatesLongPoll(t *testing.T) {
	f := newFixture(t, fastServer(), Config{})
	f.srv.SendText(5, "/start")
	ups, err := f.s.Updates(context.Background(), 0, time.Second)
	require.NoError(t, err)
	require.Len(t, ups, 1)
	require.Equal(t, "start", ups[0].Message.Command())

	// A long poll with nothing pending returns when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.s.Updates(ctx, ups[0].UpdateID+1, 50*time.Second)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, ErrTransport)
	case <-time.After(5 * time.Second):
		t.Fatal("long poll ignored cancellation")
	}
}

func TestTokenNeverLeaks(t *testing.T) {
	token := "987654:SECRET-token_value"
	f := newFixture(t, telegramtest.Options{Token: token, PerChatInterval: -1, GlobalLimit: -1}, Config{})
	f.srv.AddChat(1)
	ctx := context.Background()

	// Transport errors: the library puts the token into the request URL, which net/http quotes.
	deadURL := f.srv.URL()
	f.srv.Close()
	dead, err := New(Config{Token: token, Endpoint: deadURL + "/bot%s/%s", RetryBackoff: time.Millisecond, MaxRetries: 1},
		nil, slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	require.NoError(t, err)
	var errs []error
	_, err = dead.SendText(ctx, PriorityCommand, 1, "x", nil)
	errs = append(errs, err)
	errs = append(errs, dead.Check(ctx))
	_, err = dead.Updates(ctx, 0, 0)
	errs = append(errs, err)
	errs = append(errs, dead.AnswerCallback(ctx, "id", "", false))
	_, err = dead.SendPhoto(ctx, PriorityCommand, 1, Media{Bytes: []byte("x")}, "", nil)
	errs = append(errs, err)

	// API errors from a server that rejects the token.
	other := telegramtest.New(t, telegramtest.Options{})
	wrong, err := New(Config{Token: token, Endpoint: other.Endpoint()}, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	err = wrong.Check(ctx)
	require.ErrorIs(t, err, ErrUnauthorized)
	errs = append(errs, err)
	_, err = wrong.SendPhoto(ctx, PriorityCommand, 1, Media{Bytes: []byte("x")}, "", nil)
	require.ErrorIs(t, err, ErrUnauthorized)
	errs = append(errs, err)

	for _, err := range errs {
		require.Error(t, err)
		require.NotContains(t, err.Error(), token)
		require.NotContains(t, err.Error(), "SECRET")
		f.logs.Write([]byte(err.Error() + "\n"))
	}
	require.ErrorIs(t, errs[0], ErrTransport)
	require.True(t, Retryable(errs[0]))
	require.Contains(t, f.logs.String(), "<token>")
	require.NotContains(t, f.logs.String(), "SECRET")
	require.Contains(t, f.logs.String(), "telegram request will be retried")
}

func TestScrubberSpellings(t *testing.T) {
	s := newScrubber("1:a b/c")
	require.Equal(t, "x <token> <token> <token>", s.String("x 1:a b/c 1:a%20b%2Fc 1%3Aa+b%2Fc"))
	require.Equal(t, "x", newScrubber("").String("x"))
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name   string
		status int
		desc   string
		want   error
	}{
		{name: "flood", status: 429, desc: "Too Many Requests", want: ErrRateLimited},
		{name: "blocked", status: 403, desc: "Forbidden: bot was blocked by the user", want: ErrChatUnavailable},
		{name: "deactivated", status: 400, desc: "Bad Request: user is deactivated", want: ErrChatUnavailable},
		{name: "token", status: 401, desc: "Unauthorized", want: ErrUnauthorized},
		{name: "gateway", status: 502, desc: "Bad Gateway", want: ErrServer},
		{name: "not modified", status: 400, desc: "Bad Request: message is not modified", want: ErrNotModified},
		{name: "url", status: 400, desc: "Bad Request: failed to get HTTP URL content", want: ErrBadMedia},
		{name: "other", status: 400, desc: "Bad Request: something", want: ErrBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("sendMessage", tc.status, 0, tc.desc, 0, newScrubber("42:secret"))
			require.True(t, errors.Is(err, tc.want))
		})
	}
	require.Equal(t, "canceled", outcome(context.Canceled))
	require.Equal(t, "ok", outcome(nil))
	require.Equal(t, http.StatusTooManyRequests, classify("m", 429, 0, "x", 0, newScrubber("")).Code)
}

func TestHealthCheck(t *testing.T) {
	f := newFixture(t, fastServer(), Config{MaxRetries: -1})
	f.srv.AddChat(1)
	ctx := context.Background()
	st, err := f.s.HealthCheck(ctx)
	require.NoError(t, err)
	require.Equal(t, health.StatusHealthy, st)

	f.srv.Fail("sendMessage", FloodStorm, 429, "Too Many Requests: retry after 1", 1)
	for range FloodStorm {
		_, err := f.s.SendText(ctx, PriorityCommand, 1, "x", nil)
		require.ErrorIs(t, err, ErrRateLimited)
	}
	st, err = f.s.HealthCheck(ctx)
	require.Equal(t, health.StatusDegraded, st)
	require.ErrorContains(t, err, "flood-control answers")

	f.srv.Fail("getMe", 1, 502, "Bad Gateway", 0)
	st, err = f.s.HealthCheck(ctx)
	require.Equal(t, health.StatusDegraded, st)
	require.ErrorIs(t, err, ErrServer)
}

func BenchmarkSendText(b *testing.B) {
	srv := telegramtest.NewServer(telegramtest.Options{PerChatInterval: -1, GlobalLimit: -1})
	defer srv.Close()
	srv.AddChat(1)
	s, err := New(Config{Token: srv.Token(), Endpoint: srv.Endpoint(), PerChatInterval: time.Nanosecond, GlobalPerSecond: 1e9},
		nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SendText(ctx, PriorityCommand, 1, "<b>x</b>", nil); err != nil {
			b.Fatal(err)
		}
	}
}
