package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// attrOffer is a FLOAT offer of a Doppler's Ruby with every attribute.
func attrOffer() offers.Offer {
	return offers.Offer{Title: "★ Karambit | Doppler (Factory New)", GameID: "a8db", Kind: market.KindFloat,
		Status: market.StatusAvailable, Buy: 100000, Sell: 115000, Fee: 2875, Net: 112125, ProfitBasisPoints: 1213,
		Image: "https://img.test/k.png", UpdatedAt: t0.Add(-time.Minute), Item: &offers.ItemInfo{ID: "i1", Phase: market.PhaseRuby,
			Float: 0.01234, HasFloat: true, Wear: "FN", TopPercent: 18, PaintSeed: 661, HasSeed: true, StickersValue: 4510, FloatSales: 24}}
}

func TestRenderAttributeOffers(t *testing.T) {
	link := `<a href="https://dmarket.com/ingame-items/item-list/csgo-skins?title=%E2%98%85+Karambit+%7C+Doppler+%28Factory+New%29">` +
		`★ Karambit | Doppler (Factory New)</a>`
	cases := []struct {
		name   string
		change func(*offers.Offer)
		line2  string
	}{
		{"float", func(*offers.Offer) {}, "FLOAT · WORTH $1150.00 AT ITS FLOAT | 24 SALES · Ruby · float 0.0123 (top 18 %) · seed 661 · stickers $45.10"},
		{"stickers", func(o *offers.Offer) {
			o.Kind, o.Item.Floor, o.Item.StickerShare, o.Item.HasFloat, o.Item.HasSeed, o.Item.Phase = market.KindStickers, 110490, 10, false, false, ""
		}, "STICKERS · FLOOR $1104.90 + 10 % OF STICKERS · stickers $45.10"},
		{"per-phase history", func(o *offers.Offer) {
			o.Kind, o.SoldPerWeek, o.Item.HasFloat, o.Item.StickersValue = market.KindHistory, 42, false, 0
		}, "HISTORY · SELLS AT $1150.00 (20 %) | 42 SOLD IN WEEK · Ruby · seed 661"},
		{"target with its item, float without an exterior", func(o *offers.Offer) {
			o.Kind, o.OrderCount, o.Item.Wear, o.Item.HasSeed, o.Item.StickersValue, o.Item.Phase = market.KindTarget, 1, "", false, 0, ""
		}, "TARGET · 1 buy order · float 0.0123"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := attrOffer()
			c.change(&o)
			want := "<b>+12.13%</b>  $1000.00 → $1150.00 (net $1121.25)\n" + c.line2 + "\n" + link + "\nupdated 1m ago"
			require.Equal(t, want, renderOffer(o, o.Title, t0))
		})
	}
}

// A caption with every attribute and a title at the length limit still fits Telegram's caption limit.
func TestAttributeCaptionWithinLimit(t *testing.T) {
	o := attrOffer()
	o.Kind, o.Status, o.LockDays = market.KindStickers, market.StatusLocked, 7
	o.Title = strings.Repeat("🔥<&>", 400)
	got := RenderCaption(o, t0, maxCaptionLen)
	require.LessOrEqual(t, VisibleLen(got), maxCaptionLen)
	require.Contains(t, got, "· stickers $45.10")
	require.NotContains(t, got, "<&>", "the title is escaped")
}

// Users who turned FLOAT or STICKERS offers off are not notified of them, in the same cycle as users
// who did not; offers of two phases at the same price are two notifications.
func TestNotificationsRespectKindSwitches(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	float := attrOffer()
	ruby2 := attrOffer()
	ruby2.Item = &offers.ItemInfo{ID: "i2", Phase: market.Phase2, StickersValue: 1}
	stickers := offer(0)
	stickers.Title, stickers.Kind = "Item 50", market.KindStickers
	h.src.set([]offers.Offer{float, ruby2, stickers})
	r := h.say(alice, "/settings")
	h.press(alice, r.SentID, "f")
	h.say(bob, "/start")
	require.NoError(t, h.bot.NotifyOnce(context.Background()))

	aliceGot := h.sent(alice, 2)[1:]
	require.Equal(t, []string{"Item 50"}, titlesOf(aliceGot))
	bobGot := h.sent(bob, 4)[1:]
	require.Contains(t, bobGot[0].Caption, "FLOAT · WORTH $1150.00 AT ITS FLOAT | 24 SALES · Ruby ·")
	require.Contains(t, bobGot[1].Caption, "· Phase 2 ·")
	require.Contains(t, bobGot[2].Caption, "STICKERS")
	require.NotEqual(t, fingerprint(float), fingerprint(ruby2), "the phase is part of the dedup key")
	noPhase := offer(1)
	require.Equal(t, fingerprint(noPhase), fingerprint(offers.Offer{Title: noPhase.Title, Kind: noPhase.Kind, Status: noPhase.Status,
		Buy: noPhase.Buy}), "offers without a phase keep their key")
}

// The 📈 button of an offer with a phase or float names them in the chart's caption.
func TestChartCaptionNamesTheItem(t *testing.T) {
	o := attrOffer()
	h := startedHarness(t, []offers.Offer{o}, alice)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	note := h.sent(alice, 2)[1]
	data := "h:" + titleHash(o.Title) + ":5:0.0123"
	require.Contains(t, buttons(note), "📈 History="+data)
	h.press(alice, note.SentID, data)
	chart := h.sent(alice, 3)[2]
	require.True(t, strings.HasPrefix(chart.Caption, "📈 ★ Karambit | Doppler (Factory New) · Ruby · float 0.0123\n"), chart.Caption)

	hash, item := historyItem(titleHash(o.Title) + ":0")
	require.Equal(t, titleHash(o.Title), hash)
	require.Empty(t, item, "phase 0 is none")
	require.Empty(t, historyData(offer(0)))
}
