package pricestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Level is one live (status, price) field of a title.
type Level struct {
	// PriceCents is the listing price.
	PriceCents int64
	// Count is the number of listings at that price in the newest crawl of its price range (or, for
	// pages without crawl identity, on the newest page that showed it).
	Count int
	// LockDays is the lowest lock in whole days (locked levels only).
	LockDays int
	// ExpiresAt is when the level stops counting unless seen again.
	ExpiresAt time.Time
}

// Prices is the live listing state of one title.
type Prices struct {
	// Title is the sanitised title.
	Title string
	// GameID is the title's game.
	GameID string
	// Image is the image URL, possibly empty.
	Image string
	// SuggestedCents is DMarket's reference price.
	SuggestedCents int64
	// UpdatedAt is the fetch time of the newest page that wrote meta.
	UpdatedAt time.Time
	// Available are the live tradable levels, cheapest first.
	Available []Level
	// Locked are the live trade-locked levels, cheapest first.
	Locked []Level
}

// Cheapest returns the cheapest live level of the given status.
func (p Prices) Cheapest(locked bool) (Level, bool) {
	levels := p.Available
	if locked {
		levels = p.Locked
	}
	if len(levels) == 0 {
		return Level{}, false
	}
	return levels[0], true
}

// Title reads the live prices of one title, decoded as the market read decodes them; ok is false when it
// has none.
func (s *Store) Title(ctx context.Context, title string) (Prices, bool, error) {
	key := PricesKey(title)
	h, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return Prices{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	p := Prices{Title: title}
	if raw, ok := h[FieldMeta]; ok {
		m, err := decodeMeta(raw)
		if err != nil {
			return Prices{}, false, fmt.Errorf("%s: %w", key, err)
		}
		p.GameID, p.Image, p.SuggestedCents, p.UpdatedAt = m.gameID, m.image, m.suggested, unixSeconds(m.updatedAt)
	}
	nowUnix := unixNow(s.clock.Now())
	for field, raw := range h {
		lv, ok, err := liveLevel(field, raw, nowUnix)
		if err != nil {
			return Prices{}, false, fmt.Errorf("%s: %w", key, err)
		}
		if !ok {
			continue
		}
		l := Level{PriceCents: lv.price, Count: int(lv.n), LockDays: int(lv.days), ExpiresAt: unixSeconds(lv.exp)}
		if lv.locked {
			p.Locked = append(p.Locked, l)
		} else {
			p.Available = append(p.Available, l)
		}
	}
	byPrice := func(a, b Level) int { return cmp.Compare(a.PriceCents, b.PriceCents) }
	slices.SortFunc(p.Available, byPrice)
	slices.SortFunc(p.Locked, byPrice)
	return p, len(p.Available)+len(p.Locked) > 0, nil
}
