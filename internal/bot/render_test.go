package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

func TestFormatters(t *testing.T) {
	require.Equal(t, "$12.34", market.Cents(1234).Dollars())
	require.Equal(t, "$0.05", market.Cents(5).Dollars())
	require.Equal(t, "-$0.05", market.Cents(-5).Dollars())
	require.Equal(t, "$1000000.00", market.Cents(100000000).Dollars())
	require.Equal(t, "+12.34%", offers.Percent(1234))
	require.Equal(t, "+0.00%", offers.Percent(0))
	require.Equal(t, "-5.07%", offers.Percent(-507))
	require.Equal(t, "0.00%", formatPercent(0))
	require.Equal(t, "-30.00%", formatPercent(-3000))
	require.Equal(t, "5.50%", formatPercent(550))

	ago := []struct {
		d    time.Duration
		want string
	}{{0, "0s ago"}, {45 * time.Second, "45s ago"}, {2*time.Minute + 59*time.Second, "2m ago"}, {3 * time.Hour, "3h ago"}, {49 * time.Hour, "2d ago"}, {-time.Minute, "0s ago"}}
	for _, a := range ago {
		require.Equal(t, a.want, FormatAgo(t0, t0.Add(-a.d)), a.d)
	}
	require.Equal(t, "at an unknown time", FormatAgo(t0, time.Time{}))
}

func TestItemURL(t *testing.T) {
	cases := []struct{ game, want string }{
		{"a8db", "https://dmarket.com/ingame-items/item-list/csgo-skins?title=AK-47+%7C+Redline+%28Field-Tested%29"},
		{"9a92", "https://dmarket.com/ingame-items/item-list/dota2-skins?title=AK-47+%7C+Redline+%28Field-Tested%29"},
		{"tf2", "https://dmarket.com/ingame-items/item-list/team-fortress-2-skins?title=AK-47+%7C+Redline+%28Field-Tested%29"},
		{"rust", "https://dmarket.com/ingame-items/item-list/rust-skins?title=AK-47+%7C+Redline+%28Field-Tested%29"},
		{"zzz", "https://dmarket.com/ingame-items/item-list?title=AK-47+%7C+Redline+%28Field-Tested%29"},
	}
	for _, tc := range cases {
		t.Run(tc.game, func(t *testing.T) {
			require.Equal(t, tc.want, ItemURL(tc.game, "AK-47 | Redline (Field-Tested)"))
		})
	}
}

func TestRenderOffer(t *testing.T) {
	base := offers.Offer{
		Title: "AK-47 | Redline (Field-Tested)", GameID: "a8db", Kind: market.KindTarget, Status: market.StatusAvailable,
		Buy: 1000, Sell: 1150, Fee: 23, Net: 1127, ProfitBasisPoints: 1234, OrderCount: 3, UpdatedAt: t0.Add(-2 * time.Minute),
	}
	link := `<a href="https://dmarket.com/ingame-items/item-list/csgo-skins?title=AK-47+%7C+Redline+%28Field-Tested%29">AK-47 | Redline (Field-Tested)</a>`
	cases := []struct {
		name   string
		change func(*offers.Offer)
		want   string
	}{
		{name: "target tradable", change: func(*offers.Offer) {},
			want: "<b>+12.34%</b>  $10.00 → $11.50 (net $11.27)\nTARGET · 3 buy orders\n" + link + "\nupdated 2m ago"},
		{name: "one order", change: func(o *offers.Offer) { o.OrderCount = 1 },
			want: "<b>+12.34%</b>  $10.00 → $11.50 (net $11.27)\nTARGET · 1 buy order\n" + link + "\nupdated 2m ago"},
		{name: "history locked", change: func(o *offers.Offer) {
			o.Kind, o.Status, o.LockDays, o.SoldPerWeek = market.KindHistory, market.StatusLocked, 5, 42
		}, want: "<b>+12.34%</b>  $10.00 → $11.50 (net $11.27)\nHISTORY · SELLS AT $11.50 (50 %) | 42 SOLD IN WEEK\n" + link + "\nLOCKED 5d · updated 2m ago"},
		{name: "history just under $100 sells at the 50 % level", change: func(o *offers.Offer) {
			o.Kind, o.SoldPerWeek, o.Buy, o.Sell, o.Net = market.KindHistory, 7, 9999, 12000, 11400
		}, want: "<b>+12.34%</b>  $99.99 → $120.00 (net $114.00)\nHISTORY · SELLS AT $120.00 (50 %) | 7 SOLD IN WEEK\n" + link + "\nupdated 2m ago"},
		{name: "history from $100 sells at the 20 % level", change: func(o *offers.Offer) {
			o.Kind, o.SoldPerWeek, o.Buy, o.Sell, o.Net = market.KindHistory, 7, 10000, 12000, 11400
		}, want: "<b>+12.34%</b>  $100.00 → $120.00 (net $114.00)\nHISTORY · SELLS AT $120.00 (20 %) | 7 SOLD IN WEEK\n" + link + "\nupdated 2m ago"},
		{name: "locked under a day", change: func(o *offers.Offer) { o.Status, o.LockDays = market.StatusLocked, 0 },
			want: "<b>+12.34%</b>  $10.00 → $11.50 (net $11.27)\nTARGET · 3 buy orders\n" + link + "\nLOCKED &lt;1d · updated 2m ago"},
		{name: "zero and negative", change: func(o *offers.Offer) { o.ProfitBasisPoints, o.Net = 0, -3 },
			want: "<b>+0.00%</b>  $10.00 → $11.50 (net -$0.03)\nTARGET · 3 buy orders\n" + link + "\nupdated 2m ago"},
		{name: "escaped title", change: func(o *offers.Offer) { o.Title, o.GameID = `★ <M9> & "Fade"™`, "9a92" },
			want: "<b>+12.34%</b>  $10.00 → $11.50 (net $11.27)\nTARGET · 3 buy orders\n" +
				`<a href="https://dmarket.com/ingame-items/item-list/dota2-skins?title=%E2%98%85+%3CM9%3E+%26+%22Fade%22%E2%84%A2">★ &lt;M9&gt; &amp; &#34;Fade&#34;™</a>` + "\nupdated 2m ago"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.change(&o)
			got := renderOffer(o, o.Title, t0)
			require.Equal(t, tc.want, got)
			_, err := telegramtest.ParseHTML(got)
			require.NoError(t, err, "Telegram accepts the HTML")
			require.Len(t, strings.Split(got, "\n"), 4)
		})
	}
}

func TestRenderCaptionTruncatesTitle(t *testing.T) {
	o := offer(1)
	o.Title = strings.Repeat("😀<", 600) // 1800 UTF-16 units of title alone
	got := RenderCaption(o, t0, maxCaptionLen)
	visible, err := telegramtest.ParseHTML(got)
	require.NoError(t, err)
	require.LessOrEqual(t, telegramtest.UTF16Len(visible), maxCaptionLen)
	require.Equal(t, VisibleLen(got), telegramtest.UTF16Len(visible))
	require.Contains(t, visible, "…")
	require.Contains(t, got, "title=%F0%9F%98%80%3C", "the link keeps the full title")

	short := offer(2)
	require.Equal(t, renderOffer(short, short.Title, t0), RenderCaption(short, t0, maxCaptionLen))
}

func TestPaginateKeepsPagesWithinLimit(t *testing.T) {
	var list []offers.Offer
	for i := range 25 {
		o := offer(i)
		o.Title = strings.Repeat("𝔸", 256) // 256 code points, 512 UTF-16 units
		list = append(list, o)
	}
	pages := Paginate(list, 10, t0, 80)
	total := 0
	for _, p := range pages {
		require.LessOrEqual(t, len(p), 10)
		size := 80
		for _, o := range p {
			size += VisibleLen(renderOffer(o, o.Title, t0)) + 2
		}
		require.LessOrEqual(t, size, maxTextLen)
		total += len(p)
	}
	require.Equal(t, 25, total)
	require.Greater(t, len(pages), 3, "long titles need smaller pages")

	short := Paginate(offersN(25), 10, t0, 80)
	require.Len(t, short, 3)
	require.Len(t, short[2], 5)
	require.Empty(t, Paginate(nil, 10, t0, 80))
}

func TestSettingsLines(t *testing.T) {
	s := UserSettings{MinPriceCents: 1000, LimitBasisPoints: 0, Games: []string{"9a92", "a8db"}, Notifications: true}
	s.FloatOffers = true
	require.Equal(t, "Min price: $10.00\nLimit: 0.00%\nGames: CS2, Dota 2\nNotifications: on\nFloat offers: on\nSticker offers: off",
		renderSettings(s, []string{"a8db", "9a92"}))
	s = UserSettings{MinPriceCents: 0, LimitBasisPoints: -3000, Games: []string{"rust"}, Notifications: false, StickerOffers: true}
	require.Equal(t, "Min price: $0.00\nLimit: -30.00%\nGames: Rust\nNotifications: off\nFloat offers: off\nSticker offers: on",
		renderSettings(s, []string{"a8db", "rust"}))
	s.Games = nil
	require.Contains(t, renderSettings(s, []string{"a8db"}), "Games: none")
}

func TestParseCallback(t *testing.T) {
	cases := []struct {
		data, action, arg string
		ok                bool
	}{
		{"p:3", "p", "3", true}, {"r:0", "r", "0", true}, {"n", "n", "", true}, {"g:a8db", "g", "a8db", true},
		{"h:0123456789abcdef", "h", "0123456789abcdef", true}, {"t", "t", "", true},
		{"f", "f", "", true}, {"k", "k", "", true}, {"f:1", "f", "1", false},
		{"h:0123456789abcdef:5", "h", "0123456789abcdef:5", true}, {"h:0123456789abcdef:0:0.0123", "h", "0123456789abcdef:0:0.0123", true},
		{"h:0123456789abcdef:9", "h", "0123456789abcdef:9", false}, {"h:0123456789abcdef:1:0.12", "h", "0123456789abcdef:1:0.12", false},
		{"", "", "", false}, {"p:-1", "p", "-1", false}, {"p:12345", "p", "12345", false}, {"t:1", "t", "1", false},
		{"h:XYZ", "h", "XYZ", false}, {"g:../x", "g", "../x", false}, {"zz", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.data, func(t *testing.T) {
			a, arg, ok := parseCallback(tc.data)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.action, a)
				require.Equal(t, tc.arg, arg)
			}
		})
	}
}

func TestParseHundredths(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"12", 1200, true}, {"12.5", 1250, true}, {"12.05", 1205, true}, {"-30", -3000, true},
		{"1000000", 100000000, true}, {"007", 700, true},
		{"abc", 0, false}, {"nan", 0, false}, {"NaN", 0, false}, {"inf", 0, false}, {"+Inf", 0, false},
		{"1e999", 0, false}, {"--5", 0, false}, {"5%", 0, false}, {"1,5", 0, false}, {"1.234", 0, false},
		{".5", 0, false}, {"5.", 0, false}, {"+5", 0, false}, {"0x10", 0, false}, {"", 0, false},
		{"9999999999999", 0, false}, {"999999999999", 99999999999900, true}, {"-0.05", -5, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseHundredths(tc.in)
			if !tc.ok {
				require.ErrorIs(t, err, errBadAmount)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTruncate(t *testing.T) {
	require.Equal(t, "abc", truncateUTF16("abc", 3))
	require.Equal(t, "ab…", truncateUTF16("abcd", 3))
	got := truncateUTF16(strings.Repeat("𝔸", 150), 200)
	require.LessOrEqual(t, utf16Len(got), 200)
	require.True(t, strings.HasSuffix(got, "…"))
	require.Equal(t, "ab…", truncate("abcd", 3))
	require.Equal(t, "abcd", truncate("abcd", 4))
}

func BenchmarkPaginateAndRender(b *testing.B) {
	list := offersN(200)
	for i := range list {
		list[i].Title = strings.Repeat("★ StatTrak™ AK-47 | Redline <Field-Tested> & ", 5)
	}
	bot := &Bot{cfg: Config{PageSize: 10}}
	b.ReportAllocs()
	for b.Loop() {
		text, _, _ := bot.offersPage(list, 3, t0)
		if len(text) == 0 {
			b.Fatal("empty page")
		}
	}
}
