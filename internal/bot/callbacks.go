package bot

import (
	"context"
	"errors"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

var (
	pageArgRe  = regexp.MustCompile(`^[0-9]{1,4}$`)
	gameArgRe  = regexp.MustCompile(`^[0-9a-z]{1,8}$`)
	titleArgRe = regexp.MustCompile(`^[0-9a-f]{16}$`)
	offerArgRe = regexp.MustCompile(`^[0-9a-f]{24}$`)
	// historyArgRe is a title id, optionally with the offer's phase index and float (historyData).
	historyArgRe = regexp.MustCompile(`^[0-9a-f]{16}(:[0-8](:[01]\.[0-9]{4})?)?$`)
	volArgRe     = regexp.MustCompile(`^[dnqg]$`)
)

var callbackActions = map[string]string{
	"p": "page", "r": "refresh", "n": "noop", "o": "offers", "s": "settings", "t": "notifications",
	"u": "unmute", "g": "game", "h": "history", "m": "mute", "c": "card", "v": "volume", "f": "float_offers",
	"k": "sticker_offers",
}

// parseCallback splits callback data the bot issues into action and argument; ok is false for anything
// else (forged or from an older version).
func parseCallback(data string) (action, arg string, ok bool) {
	action, arg, _ = strings.Cut(data, ":")
	switch action {
	case "n", "o", "s", "t", "u", "f", "k":
		return action, "", data == action
	case "p", "r":
		return action, arg, pageArgRe.MatchString(arg)
	case "g":
		return action, arg, gameArgRe.MatchString(arg)
	case "h":
		return action, arg, historyArgRe.MatchString(arg)
	case "m":
		return action, arg, titleArgRe.MatchString(arg)
	case "c":
		return action, arg, offerArgRe.MatchString(arg)
	case "v":
		return action, arg, volArgRe.MatchString(arg)
	}
	return "", "", false
}

func (b *Bot) answer(ctx context.Context, id, text string) {
	if err := b.tg.AnswerCallback(ctx, id, text, false); err != nil {
		b.log.Debug("answer callback failed", "err", err)
	}
}

func (b *Bot) handleCallback(ctx context.Context, q *tgbotapi.CallbackQuery) {
	if q.From == nil {
		return
	}
	action, arg, ok := parseCallback(q.Data)
	label := callbackActions[action]
	if !ok || label == "" {
		label = "invalid"
	}
	ctx, end := b.span(ctx, "callback "+label)
	defer end()
	if !b.admitted(q.From.ID, b.m.callbacks, label) {
		b.answer(ctx, q.ID, "Sorry, this bot is private.")
		return
	}
	msg := q.Message
	if !ok || label == "invalid" || msg == nil || msg.Chat == nil || !msg.Chat.IsPrivate() {
		b.m.callbacks.WithLabelValues("invalid", "invalid").Inc()
		b.answer(ctx, q.ID, staleButtonText)
		return
	}
	if err := b.st.markStarted(ctx, q.From.ID, msg.Chat.ID); err != nil {
		b.log.Warn("started chat not stored", "user", q.From.ID, "err", err)
	}
	outcome := b.callback(ctx, q, action, arg)
	b.m.callbacks.WithLabelValues(label, outcome).Inc()
}

// callback runs a valid button press of a whitelisted user and returns its outcome label.
func (b *Bot) callback(ctx context.Context, q *tgbotapi.CallbackQuery, action, arg string) string {
	user, chat, msgID := q.From.ID, q.Message.Chat.ID, q.Message.MessageID
	s, err := b.st.settings(ctx, user)
	if err != nil {
		b.log.Error("read settings", "user", user, "err", err)
		b.answer(ctx, q.ID, errorText)
		return "error"
	}
	switch action {
	case "n":
		b.answer(ctx, q.ID, "")
		return "ok"
	case "p", "r":
		page, _ := strconv.Atoi(arg)
		list, err := b.currentOffers(ctx, s)
		if err != nil {
			b.log.Error("offers for page", "user", user, "err", err)
			b.answer(ctx, q.ID, "Offers are not available right now.")
			return "error"
		}
		text, markup, shown := b.offersPage(list, page, b.clk.Now())
		err = b.tg.EditText(ctx, telegram.PriorityCommand, chat, msgID, text, markup)
		switch {
		case err == nil:
			b.m.offersShown.Add(float64(shown))
		case errors.Is(err, telegram.ErrNotModified):
		default:
			b.log.Warn("edit offers page", "user", user, "err", err)
			b.answer(ctx, q.ID, "This message can no longer be changed. Send /offers again.")
			return "error"
		}
		if action == "r" {
			b.answer(ctx, q.ID, "Refreshed")
		} else {
			b.answer(ctx, q.ID, "")
		}
		return "ok"
	case "o":
		b.answer(ctx, q.ID, "")
		if b.sendOffersPage(ctx, user, chat, s) != nil {
			return "error"
		}
		return "ok"
	case "s":
		b.answer(ctx, q.ID, "")
		if b.reply(ctx, chat, settingsText(s, b.cfg.GameIDs), settingsMarkup(s, b.cfg.GameIDs)) != nil {
			return "error"
		}
		return "ok"
	case "g", "t", "u", "v", "f", "k":
		return b.toggle(ctx, q, s, action, arg)
	case "h":
		return b.history(ctx, q, arg)
	case "c":
		return b.card(ctx, q, s, arg)
	case "m":
		title, err := b.st.title(ctx, arg)
		if err != nil {
			return b.unknownTitle(ctx, q, err)
		}
		_, err = b.st.update(ctx, user, func(st *storedSettings, _ UserSettings) {
			if !slices.Contains(st.Muted, title) {
				st.Muted = append(st.Muted, title)
			}
		})
		if err != nil {
			b.log.Error("mute title", "user", user, "err", err)
			b.answer(ctx, q.ID, errorText)
			return "error"
		}
		b.answer(ctx, q.ID, truncateUTF16("Muted: "+title, 200))
		return "ok"
	}
	b.answer(ctx, q.ID, staleButtonText)
	return "invalid"
}

// card sends one offer of the user's current list, found by its fingerprint, as a notification-like
// card with its own buttons (open on DMarket, 📈 chart, mute).
func (b *Bot) card(ctx context.Context, q *tgbotapi.CallbackQuery, s UserSettings, fp string) string {
	user, chat := q.From.ID, q.Message.Chat.ID
	list, err := b.currentOffers(ctx, s)
	if err != nil {
		b.log.Error("offers for card", "user", user, "err", err)
		b.answer(ctx, q.ID, "Offers are not available right now.")
		return "error"
	}
	i := slices.IndexFunc(list, func(o offers.Offer) bool { return fingerprint(o) == fp })
	if i < 0 {
		b.answer(ctx, q.ID, "This offer is gone or its price changed. Press 🔄 for the current list.")
		return "gone"
	}
	o := list[i]
	if err := b.st.rememberTitles(ctx, b.clk.Now(), o.Title); err != nil {
		b.log.Error("card title", "user", user, "err", err)
		b.answer(ctx, q.ID, errorText)
		return "error"
	}
	b.answer(ctx, q.ID, "")
	if _, err := b.sendOffer(ctx, telegram.PriorityCommand, chat, o); err != nil {
		b.log.Warn("send offer card", "user", user, "err", err)
		return "error"
	}
	return "ok"
}

func (b *Bot) unknownTitle(ctx context.Context, q *tgbotapi.CallbackQuery, err error) string {
	if errors.Is(err, errUnknownTitle) {
		b.answer(ctx, q.ID, staleButtonText)
		return "invalid"
	}
	b.log.Error("resolve title", "err", err)
	b.answer(ctx, q.ID, errorText)
	return "error"
}

func (b *Bot) toggle(ctx context.Context, q *tgbotapi.CallbackQuery, s UserSettings, action, arg string) string {
	user, chat, msgID := q.From.ID, q.Message.Chat.ID, q.Message.MessageID
	if action == "g" && !slices.Contains(b.cfg.GameIDs, arg) {
		b.answer(ctx, q.ID, staleButtonText)
		return "invalid"
	}
	ns, err := b.st.update(ctx, user, func(st *storedSettings, cur UserSettings) {
		switch action {
		case "g":
			games := slices.Clone(cur.Games)
			if i := slices.Index(games, arg); i >= 0 {
				games = slices.Delete(games, i, i+1)
			} else {
				games = append(games, arg)
			}
			st.Games = &games
		case "t":
			on := !cur.Notifications
			st.Notifications = &on
		case "f":
			on := !cur.FloatOffers
			st.FloatOffers = &on
		case "k":
			on := !cur.StickerOffers
			st.StickerOffers = &on
		case "u":
			st.Muted = nil
		case "v":
			cycleVolume(st, cur.Volume, arg)
		}
	})
	if err != nil {
		b.log.Error("toggle setting", "user", user, "err", err)
		b.answer(ctx, q.ID, errorText)
		return "error"
	}
	err = b.tg.EditText(ctx, telegram.PriorityCommand, chat, msgID, settingsText(ns, b.cfg.GameIDs), settingsMarkup(ns, b.cfg.GameIDs))
	if err != nil && !errors.Is(err, telegram.ErrNotModified) {
		// The setting changed; show it in a new message instead.
		_ = b.reply(ctx, chat, settingsText(ns, b.cfg.GameIDs), settingsMarkup(ns, b.cfg.GameIDs))
	}
	b.answer(ctx, q.ID, "Saved")
	return "ok"
}

func (b *Bot) history(ctx context.Context, q *tgbotapi.CallbackQuery, arg string) string {
	hash, item := historyItem(arg)
	title, err := b.st.title(ctx, hash)
	if err != nil {
		return b.unknownTitle(ctx, q, err)
	}
	png, err := b.charts.Chart(ctx, title)
	if err != nil || len(png) == 0 {
		b.log.Warn("chart not available", "err", err)
		b.answer(ctx, q.ID, "No price history for this item yet.")
		return "error"
	}
	b.answer(ctx, q.ID, "")
	caption := "📈 " + html.EscapeString(truncate(title, 300)) + html.EscapeString(item) + "\nSales of the last 7 and 30 days, units sold, cheapest listing, best buy order and sell probability"
	_, err = b.tg.SendPhoto(ctx, telegram.PriorityCommand, q.Message.Chat.ID, telegram.Media{Name: "history.png", Bytes: png}, caption, nil)
	if err != nil {
		b.log.Warn("send chart", "err", err)
		return "error"
	}
	return "ok"
}

// historyItem splits a 📈 button's argument (historyArgRe) into the title id and the text naming the
// offer's item: " · Ruby · float 0.0123", or "" when the button names neither.
func historyItem(arg string) (hash, item string) {
	hash, rest, _ := strings.Cut(arg, ":")
	idx, float, _ := strings.Cut(rest, ":")
	if n, err := strconv.Atoi(idx); err == nil && n > 0 && n <= len(market.Phases()) {
		item += " · " + string(market.Phases()[n-1])
	}
	if float != "" {
		item += " · float " + float
	}
	return hash, item
}

// truncateUTF16 shortens s to at most n UTF-16 units, ending with "…" when cut.
func truncateUTF16(s string, n int) string {
	if utf16Len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && utf16Len(string(r))+1 > n {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
