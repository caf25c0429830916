package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
)

// Accepted ranges of the settings commands (SPEC §6.2), in cents and basis points.
const (
	minPriceMaxCents = 1_000_000 * 100
	limitMinBP       = -100 * 100
	limitMaxBP       = 10_000 * 100
)

const (
	refusalText     = "Sorry, this bot is private. Ask its owner to add your Telegram id %d to the whitelist."
	privateOnlyText = "Please talk to me in a private chat."
	staleButtonText = "This button is no longer valid. Send /offers or /settings again."
	errorText       = "Something went wrong on our side. Please try again in a minute."
)

// knownCommands bounds the command label of the metrics.
var knownCommands = map[string]bool{
	"start": true, "help": true, "offers": true, "set_min_price": true, "set_limit": true, "settings": true,
	"set_quiet_hours": true, "set_timezone": true,
}

// menuCommands are the commands registered with Telegram's "/" menu at start, in menu order.
var menuCommands = []telegram.Command{
	{Name: "offers", Description: "Current offers, best first"},
	{Name: "settings", Description: "Filters, games, notification volume, daily digest"},
	{Name: "set_min_price", Description: "Hide offers cheaper than this, in USD (0 to 1000000)"},
	{Name: "set_limit", Description: "Hide offers with less profit, in % (-100 to 10000)"},
	{Name: "set_quiet_hours", Description: "No notifications between these hours, e.g. 23-8, or off"},
	{Name: "set_timezone", Description: "Your offset from UTC for quiet hours and the digest, e.g. +3"},
	{Name: "help", Description: "What the bot does and your settings"},
}

// registerCommands sets the "/" menu, retrying with a growing pause while Telegram does not take it;
// the bot works without the menu meanwhile.
func (b *Bot) registerCommands(ctx context.Context) {
	err := backoff.Retry(ctx, menuRetry, b.sleep, func(ctx context.Context) error {
		return b.tg.SetCommands(ctx, menuCommands)
	}, func(_ int, err error, wait time.Duration) {
		if ctx.Err() == nil {
			b.log.Warn("command menu not registered", "err", err, "retry_in", wait)
		}
	})
	if err == nil {
		b.log.Debug("command menu registered", "commands", len(menuCommands))
	}
}

// HandleUpdate handles one update: whitelist check, then the command or button.
func (b *Bot) HandleUpdate(ctx context.Context, u tgbotapi.Update) {
	switch {
	case u.Message != nil:
		b.handleMessage(ctx, u.Message)
	case u.CallbackQuery != nil:
		b.handleCallback(ctx, u.CallbackQuery)
	}
}

func (b *Bot) reply(ctx context.Context, chat int64, text string, markup *tgbotapi.InlineKeyboardMarkup) error {
	_, err := b.tg.SendText(ctx, telegram.PriorityCommand, chat, text, markup)
	if err != nil {
		b.log.Warn("reply failed", "chat", chat, "err", err)
	}
	return err
}

func (b *Bot) handleMessage(ctx context.Context, m *tgbotapi.Message) {
	if m.From == nil || m.Chat == nil {
		return
	}
	name := "text"
	if m.IsCommand() {
		name = strings.ToLower(m.Command())
		if !knownCommands[name] {
			name = "unknown"
		}
	}
	ctx, end := b.span(ctx, "command "+name)
	defer end()
	if !b.admitted(m.From.ID, b.m.commands, name) {
		_ = b.reply(ctx, m.Chat.ID, fmt.Sprintf(refusalText, m.From.ID), nil)
		return
	}
	if !m.Chat.IsPrivate() {
		b.m.commands.WithLabelValues(name, "refused").Inc()
		_ = b.reply(ctx, m.Chat.ID, privateOnlyText, nil)
		return
	}
	if err := b.st.markStarted(ctx, m.From.ID, m.Chat.ID); err != nil {
		b.log.Warn("started chat not stored", "user", m.From.ID, "err", err)
	}
	outcome := b.command(ctx, m.From.ID, m.Chat.ID, name, m.CommandArguments())
	b.m.commands.WithLabelValues(name, outcome).Inc()
}

// command runs a whitelisted user's command and returns its outcome label.
func (b *Bot) command(ctx context.Context, user, chat int64, name, args string) string {
	s, err := b.st.settings(ctx, user)
	if err != nil {
		b.log.Error("read settings", "user", user, "err", err)
		_ = b.reply(ctx, chat, errorText, nil)
		return "error"
	}
	switch name {
	case "start", "help":
		err = b.reply(ctx, chat, helpText(s, b.cfg.GameIDs), menuMarkup())
	case "offers":
		err = b.sendOffersPage(ctx, user, chat, s)
	case "settings":
		err = b.reply(ctx, chat, settingsText(s, b.cfg.GameIDs), settingsMarkup(s, b.cfg.GameIDs))
	case "set_min_price":
		return b.setMinPrice(ctx, user, chat, s, args)
	case "set_limit":
		return b.setLimit(ctx, user, chat, s, args)
	case "set_quiet_hours":
		return b.setQuietHours(ctx, user, chat, s, args)
	case "set_timezone":
		return b.setTimezone(ctx, user, chat, s, args)
	default:
		err = b.reply(ctx, chat, "I don't know that. Send /help for the list of commands.", nil)
	}
	if err != nil {
		return "error"
	}
	return "ok"
}

func helpText(s UserSettings, games []string) string {
	return "<b>DMarket price monitor</b>\n" +
		"I watch DMarket listings and tell you which items can be bought and resold at a profit.\n\n" +
		"/offers — current offers\n" +
		"/settings — your filters and notifications\n" +
		"/set_min_price &lt;usd&gt; — hide offers cheaper than this (0 to 1000000)\n" +
		"/set_limit &lt;percent&gt; — hide offers with less profit (-100 to 10000)\n" +
		"/set_quiet_hours &lt;from-to&gt; — no notifications between these hours (e.g. 23-8, or off)\n" +
		"/set_timezone &lt;offset&gt; — your offset from UTC, e.g. +3\n" +
		"/help — this message\n\n" +
		"<b>Your settings</b>\n" + renderSettings(s, games) + "\n" + renderVolume(s.Volume)
}

func menuMarkup() *tgbotapi.InlineKeyboardMarkup {
	m := tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(
		tgbotapi.NewInlineKeyboardButtonData("📊 Offers", "o"),
		tgbotapi.NewInlineKeyboardButtonData("⚙️ Settings", "s"),
	))
	return &m
}

func settingsText(s UserSettings, games []string) string {
	return "<b>Settings</b>\n" + renderSettings(s, games) + "\n\n<b>Notification volume</b>\n" + renderVolume(s.Volume) +
		"\nThe buttons step through common values; /set_quiet_hours and /set_timezone take exact ones."
}

func settingsMarkup(s UserSettings, games []string) *tgbotapi.InlineKeyboardMarkup {
	var row []tgbotapi.InlineKeyboardButton
	var rows [][]tgbotapi.InlineKeyboardButton
	for _, id := range games {
		mark := "❌ "
		for _, g := range s.Games {
			if g == id {
				mark = "✅ "
			}
		}
		row = append(row, tgbotapi.NewInlineKeyboardButtonData(mark+gameOf(id).Name, "g:"+id))
		if len(row) == 2 {
			rows = append(rows, row)
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	notif := "🔕 Notifications: off"
	if s.Notifications {
		notif = "🔔 Notifications: on"
	}
	rows = append(rows, tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData(notif, "t")))
	rows = append(rows, tgbotapi.NewInlineKeyboardRow(
		tgbotapi.NewInlineKeyboardButtonData(kindSwitch("Float offers", s.FloatOffers), "f"),
		tgbotapi.NewInlineKeyboardButtonData(kindSwitch("Sticker offers", s.StickerOffers), "k"),
	))
	vr := volumeRows(s.Volume)
	for i := 0; i < len(vr); i += 2 {
		rows = append(rows, tgbotapi.NewInlineKeyboardRow(
			tgbotapi.NewInlineKeyboardButtonData(vr[i][0], vr[i][1]),
			tgbotapi.NewInlineKeyboardButtonData(vr[i+1][0], vr[i+1][1]),
		))
	}
	if n := len(s.Muted); n > 0 {
		rows = append(rows, tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData(fmt.Sprintf("Unmute %d items", n), "u")))
	}
	m := tgbotapi.NewInlineKeyboardMarkup(rows...)
	return &m
}

// kindSwitch is the label of the button that turns an offer kind on or off.
func kindSwitch(name string, on bool) string {
	if on {
		return "✅ " + name + ": on"
	}
	return "❌ " + name + ": off"
}

// maxWholeDigits bounds the digits before the dot of a command's amount.
const maxWholeDigits = 12

// errBadAmount is an argument that is not a plain decimal number.
var errBadAmount = errors.New("not a number")

// parseHundredths parses a plain decimal with at most two decimals and at most maxWholeDigits digits
// before the dot into hundredths (cents or basis points), with market.ParseDollars: exponents, signs
// other than a leading minus, percent signs, NaN and infinities are refused.
func parseHundredths(arg string) (int64, error) {
	if whole, _, _ := strings.Cut(strings.TrimPrefix(arg, "-"), "."); len(whole) > maxWholeDigits {
		return 0, errBadAmount
	}
	v, err := market.ParseDollars(arg)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadAmount, err)
	}
	return int64(v), nil
}

// htmlText escapes text for HTML element content.
var htmlText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// argument returns the single argument of a command, or a description of what is wrong.
func argument(args string) (string, string) {
	fields := strings.Fields(args)
	switch len(fields) {
	case 0:
		return "", "The value is missing."
	case 1:
		return fields[0], ""
	}
	return "", "Send exactly one value."
}

func quoteArg(arg string) string {
	if utf8.RuneCountInString(arg) > 32 {
		arg = string([]rune(arg)[:32]) + "…"
	}
	q := strconv.Quote(arg) // shows control characters as escapes
	return "“" + htmlText.Replace(q[1:len(q)-1]) + "”"
}

// hundredthsArg parses the one argument of a command as a decimal number with at most two decimals, in
// hundredths, from lo to hi; problem says what is wrong with it otherwise (what names the kind of value).
func hundredthsArg(args, what string, lo, hi int64) (v int64, problem string) {
	arg, problem := argument(args)
	if problem != "" {
		return 0, problem
	}
	v, err := parseHundredths(arg)
	switch {
	case err != nil:
		return 0, quoteArg(arg) + " is not a valid " + what + "."
	case v < lo || v > hi:
		return 0, quoteArg(arg) + " is out of range."
	}
	return v, ""
}

// applySetting stores change in the user's settings and confirms it with the text confirm makes of the new
// settings; it returns the command's outcome.
func (b *Bot) applySetting(ctx context.Context, user, chat int64, change func(*storedSettings), confirm func(UserSettings) string) string {
	ns, err := b.st.update(ctx, user, func(st *storedSettings, _ UserSettings) { change(st) })
	if err != nil {
		b.log.Error("write settings", "user", user, "err", err)
		_ = b.reply(ctx, chat, errorText, nil)
		return "error"
	}
	if b.reply(ctx, chat, confirm(ns), nil) != nil {
		return "error"
	}
	return "ok"
}

func (b *Bot) setMinPrice(ctx context.Context, user, chat int64, s UserSettings, args string) string {
	const accepted = "Send a price in US dollars as a number from 0 to 1000000 (dot for decimals, at most 2), e.g. <code>/set_min_price 12.50</code>."
	cents, problem := hundredthsArg(args, "price", 0, minPriceMaxCents)
	if problem != "" {
		_ = b.reply(ctx, chat, fmt.Sprintf("❌ %s %s Min price stays %s.", problem, accepted, market.Cents(s.MinPriceCents).Dollars()), nil)
		return "bad_args"
	}
	return b.applySetting(ctx, user, chat, func(st *storedSettings) { st.MinPrice = &cents },
		func(ns UserSettings) string {
			return "✅ Min price is now " + market.Cents(ns.MinPriceCents).Dollars() + "."
		})
}

func (b *Bot) setLimit(ctx context.Context, user, chat int64, s UserSettings, args string) string {
	const accepted = "Send a profit limit in percent as a number from -100 to 10000 (dot for decimals, at most 2, no % sign), e.g. <code>/set_limit 5.5</code>."
	bp, problem := hundredthsArg(args, "percentage", limitMinBP, limitMaxBP)
	if problem != "" {
		_ = b.reply(ctx, chat, fmt.Sprintf("❌ %s %s Limit stays %s.", problem, accepted, formatPercent(s.LimitBasisPoints)), nil)
		return "bad_args"
	}
	return b.applySetting(ctx, user, chat, func(st *storedSettings) { st.Limit = &bp },
		func(ns UserSettings) string { return "✅ Limit is now " + formatPercent(ns.LimitBasisPoints) + "." })
}

// offersPage renders page (clamped) of list and its buttons.
func (b *Bot) offersPage(list []offers.Offer, page int, now time.Time) (string, *tgbotapi.InlineKeyboardMarkup, int) {
	if len(list) == 0 {
		m := tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData("🔄", "r:0")))
		return "No offers match your settings right now. See /settings.", &m, 0
	}
	const headerRoom = 80
	pages := Paginate(list, b.cfg.PageSize, now, headerRoom)
	page = min(max(page, 0), len(pages)-1)
	var sb strings.Builder
	fmt.Fprintf(&sb, "<b>Offers</b> · %d found · page %d/%d", len(list), page+1, len(pages))
	first := 0
	for _, p := range pages[:page] {
		first += len(p)
	}
	var rows [][]tgbotapi.InlineKeyboardButton
	for i, o := range pages[page] {
		sb.WriteString("\n\n")
		sb.WriteString(RenderCaption(o, now, maxTextLen-headerRoom))
		rows = append(rows, tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData(entryLabel(first+i+1, o), "c:"+fingerprint(o))))
	}
	var row []tgbotapi.InlineKeyboardButton
	if page > 0 {
		row = append(row, tgbotapi.NewInlineKeyboardButtonData("◀", "p:"+strconv.Itoa(page-1)))
	}
	row = append(row, tgbotapi.NewInlineKeyboardButtonData(fmt.Sprintf("%d/%d", page+1, len(pages)), "n"))
	if page < len(pages)-1 {
		row = append(row, tgbotapi.NewInlineKeyboardButtonData("▶", "p:"+strconv.Itoa(page+1)))
	}
	row = append(row, tgbotapi.NewInlineKeyboardButtonData("🔄", "r:"+strconv.Itoa(page)))
	m := tgbotapi.NewInlineKeyboardMarkup(append(rows, row)...)
	b.track(pages[page], now, shownFor)
	return sb.String(), &m, len(pages[page])
}

// entryLabel is the button that opens the n-th offer of a list as its own card: "3 · +12.34% · AK-47 | …".
func entryLabel(n int, o offers.Offer) string {
	const maxLabel = 48 // runes; longer titles are cut with "…"
	head := fmt.Sprintf("%d · %s · ", n, offers.Percent(o.ProfitBasisPoints))
	return head + truncate(o.Title, max(maxLabel-len([]rune(head)), 8))
}

func (b *Bot) sendOffersPage(ctx context.Context, user, chat int64, s UserSettings) error {
	list, err := b.currentOffers(ctx, s)
	if err != nil {
		b.log.Error("offers for command", "user", user, "err", err)
		return b.reply(ctx, chat, "Offers are not available right now. Please try again in a minute.", nil)
	}
	text, markup, shown := b.offersPage(list, 0, b.clk.Now())
	if err := b.reply(ctx, chat, text, markup); err != nil {
		return err
	}
	b.m.offersShown.Add(float64(shown))
	return nil
}
