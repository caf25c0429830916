package bot

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

func TestOffersPaging(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.src.set(offersN(25))
	r := h.say(alice, "/offers")
	require.True(t, strings.HasPrefix(r.Text, "<b>Offers</b> · 25 found · page 1/3\n\n<b>+30.00%</b>  $20.00 → $25.00 (net $23.75)\nTARGET · 3 buy orders\n"))
	require.Equal(t, 10, strings.Count(r.Text, "TARGET ·"))
	require.Equal(t, 9, strings.Count(r.Text, "\n\n<b>")-1)
	require.Equal(t, []string{"1/3=n", "▶=p:1", "🔄=r:0"}, buttons(r)[10:])
	for i, b := range buttons(r)[:10] {
		require.Equal(t, fmt.Sprintf("%d · %s · Item %02d=c:%s", i+1, offers.Percent(offer(i).ProfitBasisPoints), i, fingerprint(offer(i))), b)
	}
	id := r.SentID

	ans := h.press(alice, id, "p:1")
	require.Empty(t, ans.Text)
	m, _ := h.srv.Message(alice, id)
	require.Contains(t, m.Text, "page 2/3")
	require.Contains(t, m.Text, "Item 10")
	require.NotContains(t, m.Text, "Item 09")

	h.press(alice, id, "p:2")
	m, _ = h.srv.Message(alice, id)
	require.Contains(t, m.Text, "page 3/3")
	require.Equal(t, 5, strings.Count(m.Text, "TARGET ·"))
	last := h.srv.CallsOf("editMessageText", true)
	require.Equal(t, []string{"◀=p:1", "3/3=n", "🔄=r:2"}, buttons(last[len(last)-1])[5:])
	require.True(t, strings.HasPrefix(buttons(last[len(last)-1])[0], "21 · "), "entries are numbered across pages")

	// Refresh with nothing changed: Telegram says "not modified", the user still gets an answer.
	ans = h.press(alice, id, "r:2")
	require.Equal(t, "Refreshed", ans.Text)
	require.Equal(t, 400, h.srv.CallsOf("editMessageText", false)[2].Status)

	// Offers shrank meanwhile: a stale page number shows the last page.
	h.src.set(offersN(12))
	h.press(alice, id, "p:2")
	m, _ = h.srv.Message(alice, id)
	require.Contains(t, m.Text, "12 found · page 2/2")
	ans = h.press(alice, id, "n")
	require.Empty(t, ans.Text)

	require.Len(t, h.srv.Sent(alice), 1, "pages are edited in place")
	awaitCount(t, h.bot.m.offersShown, 10.0+10+5+2)

	// The menu button sends a new offers message.
	h.press(alice, id, "o")
	require.Contains(t, h.sent(alice, 2)[1].Text, "12 found · page 1/2")
	h.press(alice, id, "s")
	require.Contains(t, h.sent(alice, 3)[2].Text, "Notifications: on")
}

func TestOffersEmptyAndFailing(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.say(alice, "/offers")
	require.Equal(t, "No offers match your settings right now. See /settings.", r.Text)
	require.Equal(t, []string{"🔄=r:0"}, buttons(r))
	h.src.mu.Lock()
	h.src.err = errBoom
	h.src.mu.Unlock()
	r = h.say(alice, "/offers")
	require.Contains(t, r.Text, "not available right now")
	require.NotContains(t, r.Text, "boom")
	ans := h.press(alice, r.SentID, "r:0")
	require.Contains(t, ans.Text, "not available")
}

func TestOffersWithLongTitlesStayWithinLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	var list []offers.Offer
	for i := range 20 {
		o := offer(i)
		o.Title = strings.Repeat("𝔸&<", 85) + string(rune('a'+i)) // 256 code points, escaped and astral
		list = append(list, o)
	}
	h.src.set(list)
	r := h.say(alice, "/offers")
	require.Equal(t, 200, r.Status, "Telegram accepted the page")
	require.Less(t, strings.Count(r.Text, "TARGET ·"), 10, "long titles make smaller pages")
	for _, c := range h.srv.Calls() {
		require.Equal(t, 200, c.Status, c.Description)
	}
}

func TestForgedCallbacks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.src.set(offersN(3))
	r := h.say(alice, "/offers")
	cases := []struct{ name, data string }{
		{"empty", ""},
		{"unknown action", "x"},
		{"negative page", "p:-1"},
		{"page not a number", "p:abc"},
		{"extra field", "p:1:2"},
		{"argument on a flag", "t:1"},
		{"bad hash", "h:zz"},
		{"unknown title", "h:0123456789abcdef"},
		{"unknown title mute", "m:0123456789abcdef"},
		{"path in game", "g:../"},
		{"unconfigured game", "g:rust"},
		{"long", strings.Repeat("p", 64)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ans := h.press(alice, r.SentID, tc.data)
			require.Equal(t, staleButtonText, ans.Text)
		})
	}
	// A button of an inline message (no chat message) is refused politely too.
	ans := h.press(alice, 0, "p:0")
	require.Equal(t, staleButtonText, ans.Text)
	// Pressing a page button on a message that is gone.
	ans = h.press(alice, 424242, "p:1")
	require.Contains(t, ans.Text, "no longer be changed")
	// The bot still works.
	require.Contains(t, h.say(alice, "/settings").Text, "Min price")
	awaitCount(t, h.bot.m.callbacks.WithLabelValues("invalid", "invalid"), 10.0)
	awaitCount(t, h.bot.m.callbacks.WithLabelValues("history", "invalid"), 1.0)
	awaitCount(t, h.bot.m.callbacks.WithLabelValues("game", "invalid"), 1.0)
}

func TestOffersEntryOpensItsCard(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	list := offersN(3)
	list[1].Image = "" // no image: the card is text
	list[2].Kind, list[2].SoldPerWeek, list[2].Title = market.KindHistory, 42, "★ Karambit | Doppler <FN> & co"
	h.src.set(list)
	r := h.say(alice, "/offers")
	entries := buttons(r)[:3]

	cases := []struct {
		name   string
		offer  offers.Offer
		method string
	}{
		{name: "photo card", offer: list[0], method: "sendPhoto"},
		{name: "text card without image", offer: list[1], method: "sendMessage"},
		{name: "history offer with an escaped title", offer: list[2], method: "sendPhoto"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.srv.Sent(alice))
			_, data, _ := strings.Cut(entries[i], "=")
			ans := h.press(alice, r.SentID, data)
			require.Empty(t, ans.Text)
			card := h.sent(alice, before+1)[before]
			require.Equal(t, tc.method, card.Method)
			text := card.Caption
			if tc.method == "sendMessage" {
				text = card.Text
			}
			require.Equal(t, renderOffer(tc.offer, tc.offer.Title, t0), text)
			hash := titleHash(tc.offer.Title)
			require.Equal(t, []string{"Open on DMarket->" + ItemURL("a8db", tc.offer.Title), "📈 History=h:" + hash, "🔕 Mute item=m:" + hash}, buttons(card))

			// Its buttons work: the chart of this title, then muting it.
			h.press(alice, card.SentID, "h:"+hash)
			chart := h.sent(alice, before+2)[before+1]
			require.Equal(t, []byte("\x89PNG chart of "+tc.offer.Title), chart.Upload)
			ans = h.press(alice, card.SentID, "m:"+hash)
			require.Equal(t, truncateUTF16("Muted: "+tc.offer.Title, 200), ans.Text)
			require.Contains(t, h.settings(alice).Muted, tc.offer.Title)
		})
	}

	// The offer's price changed since the list was shown: the button says so and sends nothing.
	changed := offersN(3)
	changed[0].Buy = 1900
	h.src.set(changed)
	before := len(h.srv.Sent(alice))
	_, data, _ := strings.Cut(entries[0], "=")
	ans := h.press(alice, r.SentID, data)
	require.Contains(t, ans.Text, "gone")
	require.Len(t, h.srv.Sent(alice), before)
	awaitCount(t, h.bot.m.callbacks.WithLabelValues("card", "gone"), 1.0)
	awaitCount(t, h.bot.m.callbacks.WithLabelValues("card", "ok"), 3.0)

	// A forged card id is refused like any stale button.
	ans = h.press(alice, r.SentID, "c:xyz")
	require.Equal(t, staleButtonText, ans.Text)
}
