package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
)

func TestNotificationsDedupAndCap(t *testing.T) {
	h := startedHarness(t, offersN(13), alice)
	ctx := context.Background()

	require.NoError(t, h.bot.NotifyOnce(ctx))
	sent := h.sent(alice, 11)[1:]
	require.Len(t, sent, 10, "at most 10 per user per cycle")
	require.Equal(t, []string{"Item 00", "Item 01", "Item 02", "Item 03", "Item 04", "Item 05", "Item 06", "Item 07", "Item 08", "Item 09"}, titlesOf(sent))
	for i, c := range sent {
		require.Equal(t, "sendPhoto", c.Method)
		require.Equal(t, offer(i).Image, c.Media)
		require.Equal(t, renderOffer(offer(i), offer(i).Title, t0), c.Caption)
		h := titleHash(offer(i).Title)
		require.Equal(t, []string{"Open on DMarket->" + ItemURL("a8db", offer(i).Title), "📈 History=h:" + h, "🔕 Mute item=m:" + h}, buttons(c))
	}

	// The next cycle sends only the three not sent yet, then nothing is new.
	h.clk.Advance(time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 10", "Item 11", "Item 12"}, titlesOf(h.sent(alice, 14)[11:]))
	h.clk.Advance(time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.srv.Sent(alice), 14)

	// A new buy price is a new offer.
	list := offersN(13)
	list[5].Buy = 1999
	h.src.set(list)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 05"}, titlesOf(h.sent(alice, 15)[14:]))

	// After 30 minutes the same offers are new again.
	h.clk.Advance(27 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.srv.Sent(alice), 15, "29 minutes after the first: still deduplicated")
	h.clk.Advance(2 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	// Items 00-09 of the first cycle are new again except Item 05, whose new price was sent 29 minutes
	// ago; Items 10-12 were sent exactly 30 minutes ago and are still known.
	again := h.sent(alice, 24)[15:]
	require.Equal(t, []string{"Item 00", "Item 01", "Item 02", "Item 03", "Item 04", "Item 06", "Item 07", "Item 08", "Item 09"}, titlesOf(again))
	require.Len(t, h.srv.Sent(alice), 24)
	awaitCount(t, h.bot.m.notifications.WithLabelValues("photo"), 23.0)
	require.Empty(t, h.srv.Sent(bob), "bob never started the bot")
}

func TestNotificationsRespectSettings(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	list := offersN(4)
	list[1].GameID = "9a92"
	list[2].Buy = 500 // below the default $10 minimum
	h.src.set(list)
	r := h.say(alice, "/settings")
	ctx := context.Background()

	h.press(alice, r.SentID, "t") // notifications off
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.srv.Sent(alice), 1)

	h.press(alice, r.SentID, "t")
	h.press(alice, r.SentID, "g:9a92") // CS2 only
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 00", "Item 03"}, titlesOf(h.sent(alice, 3)[1:]))
}

func TestNotificationButtons(t *testing.T) {
	h := startedHarness(t, offersN(2), alice)
	ctx := context.Background()
	require.NoError(t, h.bot.NotifyOnce(ctx))
	notes := h.sent(alice, 3)[1:]

	ans := h.press(alice, notes[0].SentID, "h:"+titleHash("Item 00"))
	require.Empty(t, ans.Text)
	chart := h.sent(alice, 4)[3]
	require.Equal(t, "sendPhoto", chart.Method)
	require.Equal(t, []byte("\x89PNG chart of Item 00"), chart.Upload)
	require.Equal(t, "upload:history.png", chart.Media)
	require.Contains(t, chart.Caption, "Item 00")

	h.charts.mu.Lock()
	h.charts.err = errBoom
	h.charts.mu.Unlock()
	ans = h.press(alice, notes[1].SentID, "h:"+titleHash("Item 01"))
	require.Equal(t, "No price history for this item yet.", ans.Text)

	ans = h.press(alice, notes[1].SentID, "m:"+titleHash("Item 01"))
	require.Equal(t, "Muted: Item 01", ans.Text)
	h.press(alice, notes[1].SentID, "m:"+titleHash("Item 01"))
	require.Equal(t, []string{"Item 01"}, h.settings(alice).Muted)

	h.clk.Advance(31 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 00"}, titlesOf(h.sent(alice, 5)[4:]), "the muted item is not notified")

	r := h.say(alice, "/settings")
	require.Contains(t, buttons(r), "Unmute 1 items=u")
	h.press(alice, r.SentID, "u")
	require.Empty(t, h.settings(alice).Muted)
}

func TestNotificationPhotoFallback(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/start")
	list := offersN(3)
	list[1].Image = ""
	list[2].Image = "not a url"
	h.src.set(list)
	h.srv.RefusePhotoURL(list[0].Image)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	sent := h.sent(alice, 4)[1:]
	for i, c := range sent {
		require.Equal(t, "sendMessage", c.Method, i)
		require.Equal(t, renderOffer(list[i], list[i].Title, t0), c.Text)
		require.Len(t, buttons(c), 3)
	}
	refused := h.srv.CallsOf("sendPhoto", false)
	require.Len(t, refused, 1)
	require.Contains(t, refused[0].Description, "wrong file identifier/HTTP URL specified")
	awaitCount(t, h.bot.m.notifications.WithLabelValues("text_fallback"), 1.0)
	awaitCount(t, h.bot.m.notifications.WithLabelValues("text"), 2.0)

	// A Telegram 5xx on photos falls back to text too (after the sender's retries).
	h.srv.Fail("sendPhoto", -1, 502, "Bad Gateway", 0)
	h.clk.Advance(31 * time.Minute)
	h.src.set(offersN(1)[:1])
	list0 := offersN(1)[0]
	list0.Image = "https://img.test/other.png"
	h.src.set(append(list[:0:0], list0))
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	last := h.sent(alice, 5)[4]
	require.Equal(t, "sendMessage", last.Method)
	awaitCount(t, h.bot.m.notifications.WithLabelValues("text_fallback"), 2.0)
}

func TestNotificationRetryAfterHonoured(t *testing.T) {
	h := startedHarness(t, offersN(1), alice)
	h.srv.Fail("sendPhoto", 1, 429, "Too Many Requests: retry after 1", 1)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	calls := h.srv.CallsOf("sendPhoto", false)
	require.Len(t, calls, 2)
	require.Equal(t, 429, calls[0].Status)
	require.Equal(t, 200, calls[1].Status)
	require.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), time.Second)
}

func TestBlockedChatDoesNotBlockOthers(t *testing.T) {
	h := startedHarness(t, offersN(5), alice, bob)
	h.srv.Block(alice)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Len(t, h.sent(bob, 6), 6)
	require.Len(t, h.srv.Sent(alice), 1)
	require.Equal(t, map[int64]int64{bob: bob}, h.started(), "the blocked chat is forgotten until the user writes again")
	awaitCount(t, h.bot.m.notifications.WithLabelValues("chat_unavailable"), 1.0)
}

func TestFloodWaitOfOneUserDoesNotDelayOthers(t *testing.T) {
	h := startedHarness(t, offersN(2), alice, bob)
	// Alice's chat is in a long flood wait; bob is served meanwhile, in this cycle and the next.
	h.srv.FailChat(alice, "sendPhoto", 1, 429, "Too Many Requests: retry after 30", 30)
	ctx, cancel := context.WithCancel(context.Background())
	first, err := h.bot.StartCycle(ctx)
	require.NoError(t, err)
	require.Len(t, h.sent(bob, 3), 3, "bob is served while alice waits")
	require.Eventually(t, func() bool {
		h.bot.notifyMu.Lock()
		defer h.bot.notifyMu.Unlock()
		return len(h.srv.CallsOf("sendPhoto", false)) == 3 && !h.bot.busy[bob] && h.bot.busy[alice]
	}, 10*time.Second, 5*time.Millisecond, "bob's run is over, alice's waits")

	h.src.set(offersN(3))
	require.NoError(t, h.bot.NotifyOnce(context.Background()), "the next cycle does not wait for alice")
	require.Equal(t, []string{"Item 02"}, titlesOf(h.sent(bob, 4)[3:]))
	require.Len(t, h.srv.Sent(alice), 1, "alice got only the /start reply so far")
	require.Len(t, h.srv.CallsOf("sendPhoto", false), 4, "no second run for alice while one is in flight")

	cancel()
	first.Wait()
}

func TestCommandReplyBeforeQueuedNotifications(t *testing.T) {
	// The notifications are spaced widely enough that the reply's way (long poll, handler, queue) is
	// shorter than the rest of them even on a loaded machine.
	h := newHarness(t, harnessOpts{server: telegramtest.Options{PerChatInterval: 10 * time.Millisecond},
		sendInterval: 100 * time.Millisecond})
	h.say(alice, "/start")
	h.src.set(offersN(10))
	done := make(chan error, 1)
	go func() { done <- h.bot.NotifyOnce(context.Background()) }()
	h.sent(alice, 2) // notifications have started
	h.srv.SendText(alice, "/settings")
	require.NoError(t, <-done)
	sent := h.sent(alice, 12)
	pos := -1
	for i, c := range sent {
		if strings.HasPrefix(c.Text, "<b>Settings</b>") {
			pos = i
		}
	}
	require.Positive(t, pos)
	require.Less(t, pos, 11, "the reply did not wait for every queued notification")
}

func TestRejectedNotificationIsNotRetriedEveryCycle(t *testing.T) {
	h := startedHarness(t, offersN(1), alice)
	h.srv.Fail("sendPhoto", 1, 400, "Bad Request: wrong file identifier/HTTP URL specified", 0)
	h.srv.Fail("sendMessage", 1, 400, "Bad Request: can't parse entities: something", 0)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Len(t, h.srv.Sent(alice), 1)
	require.Len(t, h.srv.CallsOf("sendMessage", false), 2, "the /start reply and one rejected attempt")
	awaitCount(t, h.bot.m.notifications.WithLabelValues("failed"), 1.0)

	// A server error is retried in the next cycle.
	h.clk.Advance(31 * time.Minute)
	h.srv.Fail("sendPhoto", -1, 500, "Internal Server Error", 0)
	h.srv.Fail("sendMessage", 4, 500, "Internal Server Error", 0)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Len(t, h.srv.Sent(alice), 1)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Len(t, h.sent(alice, 2), 2)
}

func TestUnconfiguredGamesAreDropped(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	require.NoError(t, h.rdb.Set(context.Background(), "telegram:settings:100", `{"games":["rust","9a92"]}`, 0).Err())
	require.Equal(t, []string{"9a92"}, h.settings(alice).Games)
	require.Contains(t, h.say(alice, "/settings").Text, "Games: Dota 2\n")
}
