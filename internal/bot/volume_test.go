package bot

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func at(hour, minute int) time.Time { return time.Date(2026, 11, 25, hour, minute, 0, 0, time.UTC) }

func TestVolumeQuietHours(t *testing.T) {
	cases := []struct {
		name  string
		v     Volume
		t     time.Time
		quiet bool
	}{
		{"off", Volume{}, at(3, 0), false},
		{"same day inside", Volume{QuietFrom: 1, QuietTo: 6}, at(5, 59), true},
		{"same day end is open", Volume{QuietFrom: 1, QuietTo: 6}, at(6, 0), false},
		{"over midnight late", Volume{QuietFrom: 23, QuietTo: 8}, at(23, 0), true},
		{"over midnight early", Volume{QuietFrom: 23, QuietTo: 8}, at(7, 59), true},
		{"over midnight day", Volume{QuietFrom: 23, QuietTo: 8}, at(12, 0), false},
		{"time zone +3: 21:00 UTC is midnight", Volume{QuietFrom: 23, QuietTo: 8, ZoneMinutes: 180}, at(21, 0), true},
		{"time zone +3: 05:00 UTC is 08:00", Volume{QuietFrom: 23, QuietTo: 8, ZoneMinutes: 180}, at(5, 0), false},
		{"time zone -5:30", Volume{QuietFrom: 0, QuietTo: 1, ZoneMinutes: -330}, at(5, 45), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.quiet, tc.v.quiet(tc.t))
		})
	}
}

func TestVolumeDigestDue(t *testing.T) {
	cases := []struct {
		name string
		v    Volume
		t    time.Time
		date string
	}{
		{"off", Volume{DigestHour: -1}, at(9, 0), ""},
		{"before", Volume{DigestHour: 9}, at(8, 59), ""},
		{"at its hour", Volume{DigestHour: 9}, at(9, 0), "2026-11-25"},
		{"late but within the window", Volume{DigestHour: 9}, at(11, 59), "2026-11-25"},
		{"too late", Volume{DigestHour: 9}, at(12, 0), ""},
		{"local date of a zone ahead", Volume{DigestHour: 7, ZoneMinutes: 600}, at(21, 30), "2026-11-26"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			date, due := tc.v.digestDue(tc.t)
			require.Equal(t, tc.date != "", due)
			require.Equal(t, tc.date, date)
		})
	}
}

func TestVolumeArguments(t *testing.T) {
	quiet := []struct {
		arg      string
		from, to int
		ok       bool
	}{
		{"23-8", 23, 8, true}, {"23:00-08:00", 23, 8, true}, {"0-6", 0, 6, true}, {"off", 0, 0, true}, {"OFF", 0, 0, true},
		{"24-8", 0, 0, false}, {"8-8", 0, 0, false}, {"23", 0, 0, false}, {"23-8-1", 0, 0, false}, {"-1-5", 0, 0, false},
		{"23:30-8", 0, 0, false}, {"nan", 0, 0, false}, {"", 0, 0, false},
	}
	for _, tc := range quiet {
		t.Run("quiet "+tc.arg, func(t *testing.T) {
			from, to, err := parseQuiet(tc.arg)
			require.Equal(t, tc.ok, err == nil)
			require.Equal(t, [2]int{tc.from, tc.to}, [2]int{from, to})
		})
	}
	zones := []struct {
		arg  string
		mins int
		ok   bool
	}{
		{"0", 0, true}, {"+3", 180, true}, {"3", 180, true}, {"-5", -300, true}, {"UTC+5:30", 330, true}, {"utc-3:30", -210, true},
		{"+14", 840, true}, {"-12", -720, true}, {"+15", 0, false}, {"-13", 0, false}, {"+5:20", 0, false}, {"+5:60", 0, false},
		{"abc", 0, false}, {"1e3", 0, false}, {"", 0, false}, {"++3", 0, false},
	}
	for _, tc := range zones {
		t.Run("zone "+tc.arg, func(t *testing.T) {
			mins, err := parseZone(tc.arg)
			require.Equal(t, tc.ok, err == nil)
			require.Equal(t, tc.mins, mins)
			if tc.ok {
				back, err := parseZone(formatZone(mins))
				require.NoError(t, err)
				require.Equal(t, mins, back, "formatZone output parses back")
			}
		})
	}
}

func TestStoredVolumeIgnoresValuesOutOfRange(t *testing.T) {
	def := Volume{DedupWindow: 30 * time.Minute, MaxPerHour: 30, DigestHour: -1}
	var st storedVolume
	require.NoError(t, json.Unmarshal([]byte(`{"dedup_minutes":0,"max_per_hour":-1,"quiet_hours":[25,3],"digest_hour":24,"zone_minutes":100000}`), &st))
	require.Equal(t, def, st.resolve(def))
	require.NoError(t, json.Unmarshal([]byte(`{"dedup_minutes":60,"max_per_hour":0,"quiet_hours":[22,7],"digest_hour":9,"zone_minutes":-300}`), &st))
	require.Equal(t, Volume{DedupWindow: time.Hour, MaxPerHour: 0, QuietFrom: 22, QuietTo: 7, DigestHour: 9, ZoneMinutes: -300}, st.resolve(def))
}

// setVolume stores volume fields for user as the buttons and commands do.
func (h *harness) setVolume(user int64, change func(*storedSettings)) {
	h.t.Helper()
	_, err := h.bot.st.update(context.Background(), user, func(st *storedSettings, _ UserSettings) { change(st) })
	require.NoError(h.t, err)
}

func intp(v int) *int { return &v }

func TestVolumeButtonsPersist(t *testing.T) {
	rdb := redisdbtest.New(t)
	h := newHarness(t, harnessOpts{rdb: rdb})
	r := h.say(alice, "/settings")
	steps := []struct {
		data string
		want string // a line of the edited settings message
	}{
		{"v:d", "Repeat an offer after: 1h"},
		{"v:d", "Repeat an offer after: 3h"},
		{"v:n", "At most: 60 per hour"},
		{"v:n", "At most: no limit"},
		{"v:n", "At most: 5 per hour"},
		{"v:q", "Quiet hours: 22:00–07:00"},
		{"v:q", "Quiet hours: 23:00–08:00"},
		{"v:g", "Daily digest: at 07:00"},
		{"v:g", "Daily digest: at 09:00"},
	}
	for _, st := range steps {
		ans := h.press(alice, r.SentID, st.data)
		require.Equal(t, "Saved", ans.Text)
		m, ok := h.srv.Message(alice, r.SentID)
		require.True(t, ok)
		require.Contains(t, m.Text, st.want, st.data)
	}
	want := Volume{DedupWindow: 3 * time.Hour, MaxPerHour: 5, QuietFrom: 23, QuietTo: 8, DigestHour: 9}
	require.Equal(t, want, h.settings(alice).Volume)
	require.Equal(t, h.bot.st.defaults.Volume, h.settings(bob).Volume, "other users keep the defaults")
	h.say(alice, "/set_timezone +3")
	want.ZoneMinutes = 180

	// The settings live in Redis: a restarted bot reads them back.
	raw, err := rdb.Get(context.Background(), "telegram:settings:100").Result()
	require.NoError(t, err)
	require.JSONEq(t, `{"dedup_minutes":180,"max_per_hour":5,"quiet_hours":[23,8],"digest_hour":9,"zone_minutes":180}`, raw)
	h.stop()
	h2 := newHarness(t, harnessOpts{rdb: rdb, noRun: true})
	require.Equal(t, want, h2.settings(alice).Volume)
	require.Contains(t, helpText(h2.settings(alice), []string{"a8db"}), "Quiet hours: 23:00–08:00\nDaily digest: at 09:00\nTime zone: UTC+3")
}

func TestVolumeCommands(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	cases := []struct {
		text  string
		reply string
		check func(Volume) bool
	}{
		{"/set_quiet_hours 22-6", "✅ Quiet hours are now 22:00–06:00 (UTC).", func(v Volume) bool { return v.QuietFrom == 22 && v.QuietTo == 6 }},
		{"/set_quiet_hours 25-6", "❌ “25-6” are not valid quiet hours.", func(v Volume) bool { return v.QuietFrom == 22 && v.QuietTo == 6 }},
		{"/set_quiet_hours", "❌ The value is missing.", func(v Volume) bool { return v.QuietFrom == 22 }},
		{"/set_quiet_hours off", "✅ Quiet hours are now off (UTC).", func(v Volume) bool { return v.QuietFrom == v.QuietTo }},
		{"/set_timezone -5", "✅ Time zone is now UTC-5.", func(v Volume) bool { return v.ZoneMinutes == -300 }},
		{"/set_timezone +99", "❌ “+99” is not a valid offset.", func(v Volume) bool { return v.ZoneMinutes == -300 }},
		{"/set_timezone 1 2", "❌ Send exactly one value.", func(v Volume) bool { return v.ZoneMinutes == -300 }},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			r := h.say(alice, tc.text)
			require.True(t, strings.HasPrefix(r.Text, tc.reply), r.Text)
			if strings.HasPrefix(tc.reply, "❌") {
				require.Contains(t, r.Text, "stay")
			}
			require.True(t, tc.check(h.settings(alice).Volume), "%+v", h.settings(alice).Volume)
		})
	}
}

func TestDedupWindowPerUser(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/start")
	h.say(bob, "/start")
	h.setVolume(alice, func(st *storedSettings) { st.DedupMinutes = intp(60) })
	h.src.set(offersN(2))
	ctx := context.Background()

	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.sent(alice, 3), 3)
	require.Len(t, h.sent(bob, 3), 3)
	h.clk.Advance(31 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.sent(bob, 5), 5, "bob's default window of 30 minutes has passed")
	require.Len(t, h.srv.Sent(alice), 3, "alice's window of an hour has not")
	h.clk.Advance(30 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 00", "Item 01"}, titlesOf(h.sent(alice, 5)[3:]))
}

func TestHourlyCap(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/start")
	h.setVolume(alice, func(st *storedSettings) { st.MaxPerHour, st.DedupMinutes = intp(5), intp(24*60) })
	h.src.set(offersN(8))
	ctx := context.Background()

	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 00", "Item 01", "Item 02", "Item 03", "Item 04"}, titlesOf(h.sent(alice, 6)[1:]))
	awaitCount(t, h.bot.m.held.WithLabelValues("hourly_cap"), 3.0)

	h.clk.Advance(59 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.srv.Sent(alice), 6, "still within the hour")

	h.clk.Advance(2 * time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 05", "Item 06", "Item 07"}, titlesOf(h.sent(alice, 9)[6:]))

	// No cap: everything new goes out (up to the per-cycle bound).
	h.setVolume(alice, func(st *storedSettings) { st.MaxPerHour = intp(0) })
	h.src.set(offersN(12))
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 08", "Item 09", "Item 10", "Item 11"}, titlesOf(h.sent(alice, 13)[9:]))
}

func TestQuietHoursInUsersTimeZone(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/start")
	h.say(alice, "/set_timezone +3")
	h.say(alice, "/set_quiet_hours 23-8")
	h.src.set(offersN(1))
	ctx := context.Background()

	h.clk.Set(at(21, 0)) // 00:00 at UTC+3
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.srv.Sent(alice), 3, "nothing during quiet hours")
	awaitCount(t, h.bot.m.held.WithLabelValues("quiet_hours"), 1.0)

	h.clk.Set(at(4, 59).Add(24 * time.Hour)) // 07:59 local
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Len(t, h.srv.Sent(alice), 3)

	h.clk.Set(at(5, 0).Add(24 * time.Hour)) // 08:00 local
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Equal(t, []string{"Item 00"}, titlesOf(h.sent(alice, 4)[3:]))
}

func TestDailyDigest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.say(alice, "/start")
	h.setVolume(alice, func(st *storedSettings) { st.DigestHour = intp(9) })
	off := false
	_, err := h.bot.st.update(context.Background(), alice, func(st *storedSettings, _ UserSettings) { st.Notifications = &off })
	require.NoError(t, err)
	h.src.set(offersN(12))
	ctx := context.Background()
	day2 := at(9, 30).Add(24 * time.Hour)

	steps := []struct {
		name   string
		now    time.Time
		digest bool
	}{
		{"not its hour", at(12, 0), false},
		{"its hour", day2, true},
		{"once a day", day2.Add(10 * time.Minute), false},
		{"next day", day2.Add(24 * time.Hour), true},
	}
	for _, st := range steps {
		before := len(h.srv.Sent(alice))
		h.clk.Set(st.now)
		require.NoError(t, h.bot.NotifyOnce(ctx))
		if !st.digest {
			require.Len(t, h.srv.Sent(alice), before, st.name)
			continue
		}
		d := h.sent(alice, before+1)[before]
		require.Equal(t, "sendMessage", d.Method)
		require.True(t, strings.HasPrefix(d.Text, "📰 <b>Daily digest</b> · "+st.now.Format(time.DateOnly)+"\n<b>Offers</b> · 12 found · page 1/2"), d.Text)
		require.Equal(t, 10, strings.Count(d.Text, "TARGET ·"))
		require.Contains(t, buttons(d), "▶=p:1", "the digest pages like /offers")
		require.Len(t, h.srv.Sent(alice), before+1, "notifications are off: only the digest")
	}
	awaitCount(t, h.bot.m.notifications.WithLabelValues("digest"), 2.0)

	// A digest Telegram refuses is tried again in the next cycle.
	h.srv.Fail("sendMessage", 1, 400, "Bad Request: something", 0)
	h.clk.Set(day2.Add(48 * time.Hour))
	require.NoError(t, h.bot.NotifyOnce(ctx))
	before := len(h.srv.Sent(alice))
	awaitCount(t, h.bot.m.notifications.WithLabelValues("digest_failed"), 1.0)
	h.clk.Advance(time.Minute)
	require.NoError(t, h.bot.NotifyOnce(ctx))
	require.Contains(t, h.sent(alice, before+1)[before].Text, "Daily digest")
}
