package bot

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/reporter/recorder"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func TestNewValidates(t *testing.T) {
	rdb := redisdbtest.New(t)
	sender, err := telegram.New(telegram.Config{Token: "1:x"}, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	_, err = New(Config{GameIDs: []string{"a8db"}}, nil, &fakeOffers{}, &fakeCharts{}, rdb, log, prometheus.NewRegistry(), nil, clock.Real{})
	require.Error(t, err)
	_, err = New(Config{}, sender, &fakeOffers{}, &fakeCharts{}, rdb, log, prometheus.NewRegistry(), nil, clock.Real{})
	require.ErrorContains(t, err, "no game ids")
	b, err := New(Config{GameIDs: []string{"a8db"}}, sender, &fakeOffers{}, &fakeCharts{}, rdb, log, prometheus.NewRegistry(), nil, clock.Real{})
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, b.cfg.PollInterval)
	require.Equal(t, 30*time.Minute, b.cfg.DedupWindow)
	require.Equal(t, "telegram:", b.cfg.KeyPrefix)
}

func TestTokenAbsentFromLogs(t *testing.T) {
	token := "555777:AAH-very-secret_token"
	h := newHarness(t, harnessOpts{token: token, noRun: true})
	// Telegram goes away: every poll and send fails with the token in the library's request URL.
	h.srv.Close()
	h.run()
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.bot.m.pollErrors) >= 1 }, 10*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.rdb.HSet(ctx, "telegram:started", "100", "100").Err())
	h.src.set(offersN(1))
	require.NoError(t, h.bot.NotifyOnce(ctx))
	h.stop()
	logs := h.logs.String()
	require.Contains(t, logs, "get updates failed")
	require.Contains(t, logs, "notification failed")
	require.Contains(t, logs, "<token>")
	require.NotContains(t, logs, token)
	require.NotContains(t, logs, "very-secret")
}

func TestRunRecoversFromPollErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{noRun: true})
	h.srv.Fail("getUpdates", 1, 502, "Bad Gateway", 0)
	h.run()
	r := h.say(alice, "/start")
	require.Contains(t, r.Text, "DMarket price monitor")
	awaitCount(t, h.bot.m.pollErrors, 1.0)
}

func TestSpans(t *testing.T) {
	rec := recorder.NewReporter()
	defer rec.Close()
	tracer, err := zipkin.NewTracer(rec)
	require.NoError(t, err)
	h := newHarness(t, harnessOpts{noRun: true})
	h.bot.tracer = tracer
	h.run()
	h.say(alice, "/offers")
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	names := map[string]bool{}
	require.Eventually(t, func() bool {
		for _, s := range rec.Flush() {
			names[s.Name] = true
		}
		return names["command offers"] && names["notification cycle"]
	}, 10*time.Second, 10*time.Millisecond)
}

func TestSerialRunsInOrderAndBounds(t *testing.T) {
	s := newSerial(2)
	release := make(chan struct{})
	var got []int
	require.True(t, s.do(1, func() { <-release; got = append(got, 1) }))
	require.True(t, s.do(1, func() { got = append(got, 2) }))
	require.False(t, s.do(1, func() {}), "queue of key 1 is full")
	other := make(chan struct{})
	require.True(t, s.do(2, func() { close(other) }))
	<-other // key 2 is not blocked by key 1
	close(release)
	s.wait()
	require.Equal(t, []int{1, 2}, got)
}

func TestCorruptSettingsFallBackToDefaults(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	require.NoError(t, h.rdb.Set(context.Background(), "telegram:settings:100", "{not json", 0).Err())
	require.Equal(t, int64(1000), h.settings(alice).MinPriceCents)
	r := h.say(alice, "/set_limit -30")
	require.Contains(t, r.Text, "-30.00%")
	require.True(t, h.settings(alice).Notifications)
}

func TestPollIntervalDrivesNotifications(t *testing.T) {
	rdb := redisdbtest.New(t)
	srv := telegramtest.New(t, telegramtest.Options{PerChatInterval: -1, GlobalLimit: -1})
	log := slog.New(slog.DiscardHandler)
	sender, err := telegram.New(telegram.Config{Token: srv.Token(), Endpoint: srv.Endpoint(), PerChatInterval: time.Millisecond}, nil, log, prometheus.NewRegistry())
	require.NoError(t, err)
	src := &fakeOffers{list: offersN(2)}
	b, err := New(Config{Whitelist: []int64{alice}, GameIDs: []string{"a8db"}, PollInterval: 20 * time.Millisecond, LongPollTimeout: time.Second},
		sender, src, &fakeCharts{}, rdb, log, prometheus.NewRegistry(), nil, clocktest.NewFake(t0))
	require.NoError(t, err)
	stop := lifecycletest.Start(t, 15*time.Second, b.Run)
	srv.SendText(alice, "/start")
	require.Eventually(t, func() bool { return len(srv.Sent(alice)) == 3 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, stop())
}

func TestPanicsAreContained(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/start")
	h.src.mu.Lock()
	h.src.panic = true
	h.src.mu.Unlock()
	h.srv.SendText(alice, "/offers")
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.bot.m.panics) == 2 }, 10*time.Second, 5*time.Millisecond)
	h.src.mu.Lock()
	h.src.panic = false
	h.src.mu.Unlock()
	require.Contains(t, h.say(alice, "/offers").Text, "No offers")
}

func TestRedisDownRepliesPolitely(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	h := newHarness(t, harnessOpts{rdb: down})
	for _, cmd := range []string{"/start", "/set_min_price 5", "/offers"} {
		require.Equal(t, errorText, h.say(alice, cmd).Text, cmd)
	}
	require.Equal(t, errorText, h.press(alice, 1, "s").Text)
	require.Error(t, h.bot.NotifyOnce(context.Background()))
	require.Contains(t, h.say(mallory, "/start").Text, "private", "refusals need no Redis")
	// A command's outcome is counted after its reply went out: await the counts.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(h.bot.m.commands.WithLabelValues("start", "error"))+
			testutil.ToFloat64(h.bot.m.commands.WithLabelValues("set_min_price", "error"))+
			testutil.ToFloat64(h.bot.m.commands.WithLabelValues("offers", "error")) == 3
	}, 10*time.Second, 5*time.Millisecond)
	require.NotContains(t, h.logs.String(), h.srv.Token())
}

func TestCommandMenuRegisteredAtStart(t *testing.T) {
	cases := []struct {
		name     string
		failures int // setMyCommands answers 502 this often first
	}{
		{name: "first try"},
		{name: "after Telegram errors", failures: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{noRun: true})
			if tc.failures > 0 {
				h.srv.Fail("setMyCommands", tc.failures, 502, "Bad Gateway", 0)
			}
			h.run()
			require.Eventually(t, func() bool { return len(h.srv.Commands()) > 0 }, 10*time.Second, 5*time.Millisecond)
			var names []string
			for _, c := range h.srv.Commands() {
				names = append(names, c.Command)
				require.True(t, knownCommands[c.Command], "menu command %q is handled", c.Command)
			}
			require.Equal(t, []string{"offers", "settings", "set_min_price", "set_limit", "set_quiet_hours", "set_timezone", "help"}, names)
			if tc.failures > 0 {
				require.Contains(t, h.logs.String(), "command menu not registered")
			}
		})
	}
}
