package bot

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStartAndHelp(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, cmd := range []string{"/start", "/help", "/help@monitor_bot"} {
		r := h.say(alice, cmd)
		require.Equal(t, "HTML", r.ParseMode)
		for _, want := range []string{"/offers", "/settings", "/set_min_price &lt;usd&gt;", "/set_limit &lt;percent&gt;", "0 to 1000000", "-100 to 10000",
			"Min price: $10.00\nLimit: 0.00%\nGames: CS2, Dota 2\nNotifications: on"} {
			require.Contains(t, r.Text, want)
		}
		require.Equal(t, []string{"📊 Offers=o", "⚙️ Settings=s"}, buttons(r))
	}
	require.Equal(t, map[int64]int64{alice: alice}, h.started())
	r := h.say(alice, "hello")
	require.Contains(t, r.Text, "/help")
	r = h.say(alice, "/frobnicate")
	require.Contains(t, r.Text, "/help")
	awaitCount(t, h.bot.m.commands.WithLabelValues("help", "ok"), 2.0)
	awaitCount(t, h.bot.m.commands.WithLabelValues("unknown", "ok"), 1.0)
	awaitCount(t, h.bot.m.commands.WithLabelValues("text", "ok"), 1.0)
}

func TestWhitelistRefusesWithoutData(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.src.set(offersN(3))
	for _, cmd := range []string{"/start", "/offers", "/settings", "/set_min_price 1", "/set_limit 5", "hi"} {
		r := h.say(mallory, cmd)
		require.Equal(t, "Sorry, this bot is private. Ask its owner to add your Telegram id 999 to the whitelist.", r.Text)
		require.Nil(t, r.Markup)
	}
	// Buttons of a forwarded or old message do not help either.
	for _, data := range []string{"o", "s", "p:0", "t", "g:a8db", "h:" + titleHash("Item 00")} {
		ans := h.press(mallory, 1, data)
		require.Equal(t, "Sorry, this bot is private.", ans.Text)
	}
	for _, c := range h.srv.Calls() {
		require.NotContains(t, c.Text+c.Caption, "Item")
		require.NotContains(t, c.Text+c.Caption, "$")
	}
	require.Empty(t, h.src.settingsCalls(), "no offers were computed for a stranger")
	require.Empty(t, h.started())
	awaitCount(t, h.bot.m.commands.WithLabelValues("offers", "refused"), 1.0)
	awaitCount(t, h.bot.m.refused, 12.0)
}

func TestWhitelistRemovalRevokes(t *testing.T) {
	first := newHarness(t, harnessOpts{whitelist: []int64{alice, bob}})
	first.say(bob, "/start")
	require.Contains(t, first.started(), bob)
	first.stop()

	// The bot restarts with bob removed from TELEGRAM_WHITELIST: same Redis, bob's chat still remembered.
	h := newHarness(t, harnessOpts{whitelist: []int64{alice}, rdb: first.rdb})
	h.src.set(offersN(3))
	r := h.say(bob, "/offers")
	require.Contains(t, r.Text, "Sorry, this bot is private")
	h.say(alice, "/start")
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Len(t, h.sent(alice, 4), 4)
	require.Len(t, h.srv.Sent(bob), 1, "only the refusal; no notifications")
	members, err := h.rdb.SMembers(context.Background(), "telegram:whitelist").Result()
	require.NoError(t, err)
	require.Equal(t, []string{"100"}, members)
}

// badArg is an argument a setting command refuses and the problem its reply names.
type badArg struct{ name, args, problem string }

// requireRefusals sends command with each bad argument and checks that the reply names the problem, the
// accepted values and the setting kept (stays), and that value, the setting, did not change.
func requireRefusals(t *testing.T, h *harness, command string, bad []badArg, accepted, stays string, value func() int64) {
	t.Helper()
	want := value()
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.say(alice, strings.TrimSpace(command+" "+tc.args))
			require.Contains(t, r.Text, tc.problem)
			require.Contains(t, r.Text, accepted)
			require.Contains(t, r.Text, stays)
			require.Equal(t, want, value())
		})
	}
}

// goodArg is an argument a setting command accepts, the value it sets and how the reply shows it.
type goodArg struct {
	args  string
	value int64
	reply string
}

// requireAccepted sends command with each good argument and checks that the reply is confirm followed by
// the value shown, and that value, the setting, took it.
func requireAccepted(t *testing.T, h *harness, command string, good []goodArg, confirm string, value func() int64) {
	t.Helper()
	for _, tc := range good {
		t.Run("ok "+tc.args, func(t *testing.T) {
			r := h.say(alice, command+" "+tc.args)
			require.Equal(t, confirm+tc.reply+".", r.Text)
			require.Equal(t, tc.value, value())
		})
	}
}

func TestSetMinPrice(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	bad := []badArg{
		{"empty", "", "The value is missing."},
		{"spaces only", "   ", "The value is missing."},
		{"too many", "1 2", "Send exactly one value."},
		{"word", "abc", `“abc” is not a valid price.`},
		{"nan", "nan", `“nan” is not a valid price.`},
		{"inf", "inf", `“inf” is not a valid price.`},
		{"huge exponent", "1e999", `“1e999” is not a valid price.`},
		{"double minus", "--5", `“--5” is not a valid price.`},
		{"percent", "5%", `“5%” is not a valid price.`},
		{"comma", "1,5", `“1,5” is not a valid price.`},
		{"three decimals", "1.005", `“1.005” is not a valid price.`},
		{"negative", "-1", `“-1” is out of range.`},
		{"above max", "1000000.01", `“1000000.01” is out of range.`},
		{"html", "<b>", `“&lt;b&gt;” is not a valid price.`},
	}
	requireRefusals(t, h, "/set_min_price", bad, "a number from 0 to 1000000", "Min price stays $10.00.",
		func() int64 { return h.settings(alice).MinPriceCents })
	good := []goodArg{{"0", 0, "$0.00"}, {"12.5", 1250, "$12.50"}, {"1000000", 100000000, "$1000000.00"}, {"0.01", 1, "$0.01"}}
	requireAccepted(t, h, "/set_min_price", good, "✅ Min price is now ", func() int64 { return h.settings(alice).MinPriceCents })
	// An explicit 0 is a value, not "unset".
	h.say(alice, "/set_min_price 0")
	r := h.say(alice, "/settings")
	require.Contains(t, r.Text, "Min price: $0.00")
	h.say(alice, "/offers")
	calls := h.src.settingsCalls()
	require.Equal(t, int64(0), calls[len(calls)-1].MinPriceCents)
	awaitCount(t, h.bot.m.commands.WithLabelValues("set_min_price", "bad_args"), float64(len(bad)))
	require.Equal(t, int64(1000), h.settings(bob).MinPriceCents, "other users keep the default")
}

func TestSetLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/set_limit 3")
	bad := []badArg{
		{"empty", "", "The value is missing."},
		{"too many", "5 6", "Send exactly one value."},
		{"word", "abc", `“abc” is not a valid percentage.`},
		{"nan", "nan", `“nan” is not a valid percentage.`},
		{"inf", "inf", `“inf” is not a valid percentage.`},
		{"huge exponent", "1e999", `“1e999” is not a valid percentage.`},
		{"double minus", "--5", `“--5” is not a valid percentage.`},
		{"percent sign", "5%", `“5%” is not a valid percentage.`},
		{"below min", "-100.01", `“-100.01” is out of range.`},
		{"above max", "10000.01", `“10000.01” is out of range.`},
		{"long", strings.Repeat("9", 40), "…"},
	}
	requireRefusals(t, h, "/set_limit", bad, "a number from -100 to 10000", "Limit stays 3.00%.",
		func() int64 { return h.settings(alice).LimitBasisPoints })
	good := []goodArg{{"-100", -10000, "-100.00%"}, {"-30", -3000, "-30.00%"}, {"0", 0, "0.00%"}, {"5.5", 550, "5.50%"},
		{"10000", 1000000, "10000.00%"}}
	requireAccepted(t, h, "/set_limit", good, "✅ Limit is now ", func() int64 { return h.settings(alice).LimitBasisPoints })
	r := h.say(alice, "/settings")
	require.Contains(t, r.Text, "Limit: 10000.00%")
}

func TestSettingsToggles(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.src.set(offersN(2))
	r := h.say(alice, "/settings")
	require.Equal(t, "<b>Settings</b>\nMin price: $10.00\nLimit: 0.00%\nGames: CS2, Dota 2\nNotifications: on\n"+
		"Float offers: on\nSticker offers: on\n\n"+
		"<b>Notification volume</b>\nRepeat an offer after: 30m\nAt most: 30 per hour\nQuiet hours: off\nDaily digest: off\nTime zone: UTC\n"+
		"The buttons step through common values; /set_quiet_hours and /set_timezone take exact ones.", r.Text)
	require.Equal(t, []string{"✅ CS2=g:a8db", "✅ Dota 2=g:9a92", "🔔 Notifications: on=t",
		"✅ Float offers: on=f", "✅ Sticker offers: on=k", "🔁 Repeat after 30m=v:d", "📶 30/hour=v:n", "🌙 Quiet: off=v:q", "📰 Digest: off=v:g"}, buttons(r))
	msgID := r.SentID
	require.NotZero(t, msgID)

	steps := []struct {
		data, games, notif, float, stickers string
	}{
		{"g:9a92", "CS2", "on", "on", "on"},
		{"t", "CS2", "off", "on", "on"},
		{"g:a8db", "none", "off", "on", "on"},
		{"g:9a92", "Dota 2", "off", "on", "on"},
		{"t", "Dota 2", "on", "on", "on"},
		{"f", "Dota 2", "on", "off", "on"},
		{"k", "Dota 2", "on", "off", "off"},
		{"k", "Dota 2", "on", "off", "on"},
	}
	for _, st := range steps {
		ans := h.press(alice, msgID, st.data)
		require.Equal(t, "Saved", ans.Text)
		m, ok := h.srv.Message(alice, msgID)
		require.True(t, ok)
		require.Contains(t, m.Text, "Games: "+st.games+"\nNotifications: "+st.notif+"\nFloat offers: "+st.float+
			"\nSticker offers: "+st.stickers, st.data)
	}
	require.Len(t, h.srv.Sent(alice), 1, "toggles edit the message in place")
	s := h.settings(alice)
	require.Equal(t, []string{"9a92"}, s.Games)
	require.True(t, s.Notifications)
	require.False(t, s.FloatOffers)
	require.True(t, s.StickerOffers)

	// With no game selected there are no offers (an empty list must not mean "every game").
	h.press(alice, msgID, "g:9a92")
	r = h.say(alice, "/offers")
	require.Contains(t, r.Text, "No offers match your settings")

	// A game that is not configured is refused.
	ans := h.press(alice, msgID, "g:tf2")
	require.Equal(t, staleButtonText, ans.Text)
}
