package bot

import (
	"fmt"
	"html"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Telegram's limits in UTF-16 code units of visible text.
const (
	maxTextLen    = 4096
	maxCaptionLen = 1024
)

// gameOf returns the description of a game id; an unknown id is shown as is.
func gameOf(id string) market.Game {
	if g, ok := market.LookupGame(id); ok {
		return g
	}
	return market.Game{ID: id, Name: id}
}

// ItemURL is the DMarket page listing title in game gameID.
func ItemURL(gameID, title string) string {
	base := "https://dmarket.com/ingame-items/item-list"
	if slug := gameOf(gameID).Slug; slug != "" {
		base += "/" + slug
	}
	return base + "?title=" + url.QueryEscape(title)
}

// formatPercent formats basis points as a percentage with a sign only when negative: 0.00%, -30.00%.
func formatPercent(bp int64) string {
	return strings.TrimPrefix(offers.Percent(bp), "+")
}

// FormatAgo says how long ago t was: 45s ago, 2m ago, 3h ago, 2d ago.
func FormatAgo(now, t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// historyHighLevelFrom is the buy price (cents) from which a HISTORY offer sells at the 20 % level
// instead of the 50 % one (SPEC §6.1).
const historyHighLevelFrom = 100_00

// SellLevel is the sell-probability level, in percent, of a HISTORY offer's sell price: the price that
// 50 % of last week's units sold at or above, or 20 % for buys of $100 or more (SPEC §6.1, §9.4).
func SellLevel(buyCents int64) int {
	if buyCents >= historyHighLevelFrom {
		return 20
	}
	return 50
}

// renderOffer renders one offer as the four HTML lines of SPEC §6.3, with line 2 as SPEC §9.2 and §9.4
// word it (the kind's own text, then the item's phase, float, seed and stickers' value when known),
// showing shownTitle as the item's name.
func renderOffer(o offers.Offer, shownTitle string, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<b>%s</b>  %s → %s (net %s)\n", offers.Percent(o.ProfitBasisPoints), market.Cents(o.Buy).Dollars(),
		market.Cents(o.Sell).Dollars(), market.Cents(o.Net).Dollars())
	var item offers.ItemInfo
	if o.Item != nil {
		item = *o.Item
	}
	switch o.Kind {
	case market.KindTarget:
		unit := "buy orders"
		if o.OrderCount == 1 {
			unit = "buy order"
		}
		fmt.Fprintf(&b, "TARGET · %d %s", o.OrderCount, unit)
	case market.KindFloat:
		fmt.Fprintf(&b, "FLOAT · WORTH %s AT ITS FLOAT | %d SALES", market.Cents(o.Sell).Dollars(), item.FloatSales)
	case market.KindStickers:
		fmt.Fprintf(&b, "STICKERS · FLOOR %s + %d %% OF STICKERS", market.Cents(item.Floor).Dollars(), item.StickerShare)
	default:
		fmt.Fprintf(&b, "%s · SELLS AT %s (%d %%) | %d SOLD IN WEEK", html.EscapeString(string(o.Kind)), market.Cents(o.Sell).Dollars(),
			SellLevel(o.Buy), o.SoldPerWeek)
	}
	for _, part := range offers.Details(o) {
		b.WriteString(" · " + html.EscapeString(part))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "<a href=\"%s\">%s</a>\n", html.EscapeString(ItemURL(o.GameID, o.Title)), html.EscapeString(shownTitle))
	if o.Status == market.StatusLocked {
		if o.LockDays < 1 {
			b.WriteString("LOCKED &lt;1d · ")
		} else {
			fmt.Fprintf(&b, "LOCKED %dd · ", o.LockDays)
		}
	}
	fmt.Fprintf(&b, "updated %s", FormatAgo(now, o.UpdatedAt))
	return b.String()
}

// RenderCaption renders an offer within limit visible UTF-16 units, shortening the title with "…" when
// the whole offer does not fit.
func RenderCaption(o offers.Offer, now time.Time, limit int) string {
	s := renderOffer(o, o.Title, now)
	over := VisibleLen(s) - limit
	if over <= 0 {
		return s
	}
	runes := []rune(o.Title)
	keep := len(runes)
	for keep > 0 {
		keep -= max(1, over)
		if keep < 0 {
			keep = 0
		}
		s = renderOffer(o, string(runes[:keep])+"…", now)
		over = VisibleLen(s) - limit
		if over <= 0 {
			return s
		}
	}
	return s
}

// VisibleLen is the length in UTF-16 units of the text Telegram shows for well-formed HTML built by this
// package (tags removed, entities decoded).
func VisibleLen(h string) int {
	var b strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return utf16Len(html.UnescapeString(b.String()))
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if utf16.IsSurrogate(r) || r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// Paginate splits offers into pages of at most perPage offers whose rendered text, with header room,
// stays within Telegram's message limit.
func Paginate(list []offers.Offer, perPage int, now time.Time, headerRoom int) [][]offers.Offer {
	var pages [][]offers.Offer
	var cur []offers.Offer
	size := headerRoom
	for _, o := range list {
		n := VisibleLen(RenderCaption(o, now, maxTextLen-headerRoom)) + 2 // blank line separator
		if len(cur) > 0 && (len(cur) >= perPage || size+n > maxTextLen) {
			pages = append(pages, cur)
			cur, size = nil, headerRoom
		}
		cur = append(cur, o)
		size += n
	}
	if len(cur) > 0 {
		pages = append(pages, cur)
	}
	return pages
}

// renderSettings renders the settings lines of SPEC §6.2 and the switches of the FLOAT and STICKERS
// offers (SPEC §9.2).
func renderSettings(s UserSettings, games []string) string {
	names := make([]string, 0, len(s.Games))
	for _, id := range games {
		if slices.Contains(s.Games, id) {
			names = append(names, gameOf(id).Name)
		}
	}
	gameLine := "none"
	if len(names) > 0 {
		gameLine = strings.Join(names, ", ")
	}
	return fmt.Sprintf("Min price: %s\nLimit: %s\nGames: %s\nNotifications: %s\nFloat offers: %s\nSticker offers: %s",
		market.Cents(s.MinPriceCents).Dollars(), formatPercent(s.LimitBasisPoints), html.EscapeString(gameLine), onOff(s.Notifications),
		onOff(s.FloatOffers), onOff(s.StickerOffers))
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
