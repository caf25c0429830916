package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
)

func (b *Bot) notifyLoop(ctx, work context.Context) {
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := b.StartCycle(work); err != nil {
				b.log.Warn("notification cycle failed", "err", err)
			}
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
	key := fmt.Sprint(s.MinPriceCents, s.LimitBasisPoints, s.Games)
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
				b.notifyMu.Lock()
				delete(b.busy, user)
				b.notifyMu.Unlock()
				wg.Done()
				b.notifyWG.Done()
			}()
			defer b.recoverPanic("notifications")
			b.notifyUser(ctx, user, chat, cache)
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
	fresh := b.freshOffers(ctx, user, s, cache, now)
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
	b.deliver(ctx, user, chat, fresh, s.Volume.DedupWindow)
}

// freshOffers returns the offers to notify user of now: not muted, not sent within the dedup window, at
// most MaxPerCycle and within the user's hourly cap. A failed step is logged and yields none.
func (b *Bot) freshOffers(ctx context.Context, user int64, s UserSettings, cache *offerCache, now time.Time) []offers.Offer {
	list, err := cache.get(ctx, b, s)
	if err != nil {
		b.log.Warn("notification offers", "user", user, "err", err)
		return nil
	}
	if len(s.Muted) > 0 {
		list = slices.DeleteFunc(slices.Clone(list), func(o offers.Offer) bool { return slices.Contains(s.Muted, o.Title) })
	}
	fresh, err := b.st.unsent(ctx, user, list, now, s.Volume.DedupWindow)
	if err != nil {
		b.log.Warn("notification dedup", "user", user, "err", err)
		return nil
	}
	limit := b.cfg.MaxPerCycle
	if len(fresh) > 0 {
		room, err := b.st.hourlyRoom(ctx, user, now, s.Volume.MaxPerHour)
		if err != nil {
			b.log.Warn("notification hourly cap", "user", user, "err", err)
			return nil
		}
		if room >= 0 && room < min(len(fresh), limit) {
			b.m.held.WithLabelValues("hourly_cap").Add(float64(min(len(fresh), limit) - room))
			limit = room
		}
	}
	if len(fresh) > limit {
		fresh = fresh[:limit]
	}
	return fresh
}

// deliver sends fresh to the user's chat one by one, recording each sent offer for the dedup window and
// the hourly cap; it stops when the chat is gone or Telegram limits the bot.
func (b *Bot) deliver(ctx context.Context, user, chat int64, fresh []offers.Offer, window time.Duration) {
	for _, o := range fresh {
		outcome, err := b.sendOffer(ctx, telegram.PriorityNotification, chat, o)
		b.m.notifications.WithLabelValues(outcome).Inc()
		switch {
		case err == nil:
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

// offerMarkup is a notification's buttons: open on DMarket, price history, mute.
func offerMarkup(o offers.Offer) *tgbotapi.InlineKeyboardMarkup {
	h := titleHash(o.Title)
	m := tgbotapi.NewInlineKeyboardMarkup(
		tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonURL("Open on DMarket", ItemURL(o.GameID, o.Title))),
		tgbotapi.NewInlineKeyboardRow(
			tgbotapi.NewInlineKeyboardButtonData("📈 History", "h:"+h),
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
