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

	"github.com/skinflip/dmarket-monitor/internal/offers"
	"github.com/skinflip/dmarket-monitor/internal/telegram"
)

func (b *Bot) notifyLoop(ctx, work context.Context) {
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := b.startCycle(work); err != nil {
				b.log.Warn("notification cycle failed", "err", err)
			}
		}
	}
}

// NotifyOnce runs one notification cycle and waits until every user's notifications of it are sent.
func (b *Bot) NotifyOnce(ctx context.Context) error {
	wg, err := b.startCycle(ctx)
	if wg != nil {
		wg.Wait()
	}
	return err
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

// startCycle starts one user's notification run per whitelisted started user that has none in flight,
// so that a user in a long flood wait never delays the others.
func (b *Bot) startCycle(ctx context.Context) (*sync.WaitGroup, error) {
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
	if !s.Notifications || len(s.Games) == 0 {
		return
	}
	list, err := cache.get(ctx, b, s)
	if err != nil {
		b.log.Warn("notification offers", "user", user, "err", err)
		return
	}
	if len(s.Muted) > 0 {
		list = slices.DeleteFunc(slices.Clone(list), func(o offers.Offer) bool { return slices.Contains(s.Muted, o.Title) })
	}
	fresh, err := b.st.unsent(ctx, user, list, b.clk.Now(), b.cfg.DedupWindow)
	if err != nil {
		b.log.Warn("notification dedup", "user", user, "err", err)
		return
	}
	if len(fresh) > b.cfg.MaxPerCycle {
		fresh = fresh[:b.cfg.MaxPerCycle]
	}
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
	for _, o := range fresh {
		outcome, err := b.sendOffer(ctx, telegram.PriorityNotification, chat, o)
		b.m.notifications.WithLabelValues(outcome).Inc()
		switch {
		case err == nil:
			if err := b.st.markSent(ctx, user, o, b.clk.Now(), b.cfg.DedupWindow); err != nil {
				b.log.Warn("notification not recorded", "user", user, "err", err)
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
			if err := b.st.markSent(ctx, user, o, b.clk.Now(), b.cfg.DedupWindow); err != nil {
				b.log.Warn("notification not recorded", "user", user, "err", err)
			}
		}
		b.log.Warn("notification failed", "user", user, "err", err)
	}
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
