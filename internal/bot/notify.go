package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

func (b *Bot) notifyLoop(ctx, work context.Context) {
	onTicks(ctx, b.cfg.PollInterval, func() {
		if _, err := b.StartCycle(work); err != nil {
			b.log.Warn("notification cycle failed", "err", err)
		}
	})
}

// onTicks calls fn every d until ctx ends.
func onTicks(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// offerCache computes offers once per distinct settings within one cycle.
type offerCache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	list []offers.Offer
	err  error
}

func (c *offerCache) get(ctx context.Context, b *Bot, s UserSettings) ([]offers.Offer, error) {
	key := fmt.Sprint(s.MinPriceCents, s.LimitBasisPoints, s.Games, s.FloatOffers, s.StickerOffers)
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.list, e.err = b.currentOffers(ctx, s) })
	return e.list, e.err
}

// StartCycle starts one notification cycle: one user's notification run per whitelisted started user that
// has none in flight, so that a user in a long flood wait never delays the others. The WaitGroup it
// returns is done when every run it started has sent its notifications. Run starts a cycle every
// PollInterval without waiting for it; a caller that drives cycles itself waits for each.
func (b *Bot) StartCycle(ctx context.Context) (*sync.WaitGroup, error) {
	ctx, end := b.span(ctx, "notification cycle")
	start := time.Now()
	users, err := b.st.started(ctx)
	if err != nil {
		end()
		return nil, err
	}
	cache := &offerCache{entries: map[string]*cacheEntry{}}
	wg := &sync.WaitGroup{}
	for user, chat := range users {
		if !b.allowed(user) {
			continue
		}
		b.notifyMu.Lock()
		if b.busy[user] {
			b.notifyMu.Unlock()
			continue
		}
		b.busy[user] = true
		b.notifyMu.Unlock()
		wg.Add(1)
		b.notifyWG.Add(1)
		go func() {
			defer func() {
				wg.Done()
				b.notifyWG.Done()
			}()
			func() {
				defer b.recoverPanic("notifications")
				b.notifyUser(ctx, user, chat, cache)
			}()
			// Titles changed meanwhile are looked at before the run ends.
			b.drain(ctx, user, chat)
		}()
	}
	go func() {
		wg.Wait()
		b.m.cycle.Observe(time.Since(start).Seconds())
		end()
	}()
	return wg, nil
}

func (b *Bot) notifyUser(ctx context.Context, user, chat int64, cache *offerCache) {
	s, err := b.st.settings(ctx, user)
	if err != nil {
		b.log.Warn("notification settings", "user", user, "err", err)
		return
	}
	if len(s.Games) == 0 {
		return
	}
	now := b.clk.Now()
	b.sendDigest(ctx, user, chat, s, cache, now)
	if !s.Notifications {
		return
	}
	if s.Volume.quiet(now) {
		b.m.held.WithLabelValues("quiet_hours").Inc()
		return
	}
	list, err := cache.get(ctx, b, s)
	if err != nil {
		b.log.Warn("notification offers", "user", user, "err", err)
		return
	}
	b.notifyFrom(ctx, user, chat, s, list, now)
}

// notifyFrom sends the user the new offers of list (best first), within the user's limits.
func (b *Bot) notifyFrom(ctx context.Context, user, chat int64, s UserSettings, list []offers.Offer, now time.Time) {
	fresh, again, limit := b.freshOffers(ctx, user, s, list, now)
	if len(fresh) == 0 {
		return
	}
	titles := make([]string, len(fresh))
	for i, o := range fresh {
		titles[i] = o.Title
	}
	if err := b.st.rememberTitles(ctx, b.clk.Now(), titles...); err != nil {
		b.log.Warn("notification titles", "user", user, "err", err)
		return
	}
	b.deliver(ctx, user, chat, fresh, again, limit, s.Volume.DedupWindow)
}

// freshOffers returns the candidates to notify user of now: not muted, not sent within the dedup window
// (or sent but improved by the renotify margin: again), at most twice limit so that offers the re-check
// refuses can be replaced; limit is MaxPerCycle within the user's hourly cap. A failed step is logged and
// yields none.
func (b *Bot) freshOffers(ctx context.Context, user int64, s UserSettings, list []offers.Offer,
	now time.Time) (fresh []offers.Offer, again map[string]bool, limit int) {
	if len(s.Muted) > 0 {
		list = slices.DeleteFunc(slices.Clone(list), func(o offers.Offer) bool { return slices.Contains(s.Muted, o.Title) })
	}
	fresh, again, err := b.st.unsentOrBetter(ctx, user, list, now, s.Volume.DedupWindow, b.renotifyMargin)
	if err != nil {
		b.log.Warn("notification dedup", "user", user, "err", err)
		return nil, nil, 0
	}
	limit = b.cfg.MaxPerCycle
	if len(fresh) > 0 {
		room, err := b.st.hourlyRoom(ctx, user, now, s.Volume.MaxPerHour)
		if err != nil {
			b.log.Warn("notification hourly cap", "user", user, "err", err)
			return nil, nil, 0
		}
		if room >= 0 && room < min(len(fresh), limit) {
			b.m.held.WithLabelValues("hourly_cap").Add(float64(min(len(fresh), limit) - room))
			limit = room
		}
	}
	if b.verifier == nil && len(fresh) > limit {
		fresh = fresh[:limit]
	}
	if len(fresh) > 2*limit {
		fresh = fresh[:2*limit]
	}
	return fresh, again, limit
}

// deliver re-checks the offers of fresh and sends the ones that stand to the user's chat one by one, at
// most limit, recording each sent offer for the dedup window, the hourly cap and the background re-check;
// it stops when the chat is gone or Telegram limits the bot. An offer the re-check refuses is not
// recorded: a later update or cycle looks at it again.
func (b *Bot) deliver(ctx context.Context, user, chat int64, fresh []offers.Offer, again map[string]bool, limit int,
	window time.Duration) {
	sent := 0
	for _, o := range fresh {
		if sent >= limit {
			return
		}
		listedAt, ok := b.recheck(ctx, user, o)
		if !ok {
			continue
		}
		outcome, err := b.sendOffer(ctx, telegram.PriorityNotification, chat, o)
		b.m.notifications.WithLabelValues(outcome).Inc()
		switch {
		case err == nil:
			sent++
			now := b.clk.Now()
			if !listedAt.IsZero() && !again[fingerprint(o)] {
				b.lm.dealLatency.Observe(max(now.Sub(listedAt), 0).Seconds())
			}
			b.track([]offers.Offer{o}, now, window)
			if err := b.st.markSent(ctx, user, o, b.clk.Now(), window); err != nil {
				b.log.Warn("notification not recorded", "user", user, "err", err)
			}
			if err := b.st.logSend(ctx, user, b.clk.Now(), fingerprint(o)); err != nil {
				b.log.Warn("notification not counted", "user", user, "err", err)
			}
			continue
		case errors.Is(err, telegram.ErrChatUnavailable):
			b.log.Info("chat unavailable; user must write to the bot again", "user", user, "err", err)
			if err := b.st.forget(ctx, user); err != nil {
				b.log.Warn("forget user", "user", user, "err", err)
			}
			return
		case ctx.Err() != nil, errors.Is(err, telegram.ErrRateLimited):
			return
		case !telegram.Retryable(err):
			// Telegram will refuse this notification every time; do not retry it every cycle.
			if err := b.st.markSent(ctx, user, o, b.clk.Now(), window); err != nil {
				b.log.Warn("notification not recorded", "user", user, "err", err)
			}
		}
		b.log.Warn("notification failed", "user", user, "err", err)
	}
}

// sendDigest sends the user's daily digest (the first page of their offers, with the /offers buttons)
// when its hour has come and it was not sent yet today, whether or not notifications are on.
func (b *Bot) sendDigest(ctx context.Context, user, chat int64, s UserSettings, cache *offerCache, now time.Time) {
	date, due := s.Volume.digestDue(now)
	if !due {
		return
	}
	claimed, err := b.st.claimDigest(ctx, user, date)
	if err != nil {
		b.log.Warn("digest claim", "user", user, "err", err)
		return
	}
	if !claimed {
		return
	}
	unclaim := func() {
		if err := b.st.unclaimDigest(ctx, user); err != nil {
			b.log.Warn("digest unclaim", "user", user, "err", err)
		}
	}
	list, err := cache.get(ctx, b, s)
	if err != nil {
		b.log.Warn("digest offers", "user", user, "err", err)
		unclaim()
		return
	}
	text, markup, shown := b.offersPage(list, 0, now)
	text = "📰 <b>Daily digest</b> · " + date + "\n" + text
	if _, err := b.tg.SendText(ctx, telegram.PriorityNotification, chat, text, markup); err != nil {
		b.m.notifications.WithLabelValues("digest_failed").Inc()
		b.log.Warn("digest not sent", "user", user, "err", err)
		if !errors.Is(err, telegram.ErrChatUnavailable) {
			unclaim()
		}
		return
	}
	b.m.notifications.WithLabelValues("digest").Inc()
	b.m.offersShown.Add(float64(shown))
}

// historyData is what the 📈 button of o adds to the title id so that the chart's caption names the
// offer's phase and float: ":<phase index>" and ":<float with 4 decimals>", or nothing.
func historyData(o offers.Offer) string {
	in := o.Item
	if in == nil || (in.Phase == market.PhaseNone && !in.HasFloat) {
		return ""
	}
	s := ":" + strconv.Itoa(in.Phase.Index())
	if in.HasFloat {
		s += ":" + strconv.FormatFloat(in.Float, 'f', 4, 64)
	}
	return s
}

// offerMarkup is a notification's buttons: open on DMarket, price history, mute.
func offerMarkup(o offers.Offer) *tgbotapi.InlineKeyboardMarkup {
	h := titleHash(o.Title)
	m := tgbotapi.NewInlineKeyboardMarkup(
		tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonURL("Open on DMarket", ItemURL(o.GameID, o.Title))),
		tgbotapi.NewInlineKeyboardRow(
			tgbotapi.NewInlineKeyboardButtonData("📈 History", "h:"+h+historyData(o)),
			tgbotapi.NewInlineKeyboardButtonData("🔕 Mute item", "m:"+h),
		),
	)
	return &m
}

// sendOffer sends one offer card (a notification, or an /offers entry opened with its button): the item
// image with the offer as caption, or plain text when there is no image or Telegram does not take it. It
// returns the outcome label.
func (b *Bot) sendOffer(ctx context.Context, p telegram.Priority, chat int64, o offers.Offer) (string, error) {
	now := b.clk.Now()
	markup := offerMarkup(o)
	fallback := false
	if strings.HasPrefix(o.Image, "https://") || strings.HasPrefix(o.Image, "http://") {
		_, err := b.tg.SendPhoto(ctx, p, chat, telegram.Media{URL: o.Image},
			RenderCaption(o, now, maxCaptionLen), markup)
		switch {
		case err == nil:
			return "photo", nil
		case errors.Is(err, telegram.ErrChatUnavailable):
			return "chat_unavailable", err
		case ctx.Err() != nil, errors.Is(err, telegram.ErrRateLimited):
			return "failed", err
		}
		b.log.Info("offer image not sent; falling back to text", "chat", chat, "err", err)
		fallback = true
	}
	_, err := b.tg.SendText(ctx, p, chat, RenderCaption(o, now, maxTextLen), markup)
	switch {
	case errors.Is(err, telegram.ErrChatUnavailable):
		return "chat_unavailable", err
	case err != nil:
		return "failed", err
	case fallback:
		return "text_fallback", nil
	}
	return "text", nil
}
