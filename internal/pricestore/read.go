package pricestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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

type metaJSON struct {
	Title          string `json:"title"`
	GameID         string `json:"game_id"`
	Image          string `json:"image"`
	SuggestedPrice int64  `json:"suggested_price"`
	UpdatedAt      int64  `json:"updated_at"`
}

type fieldJSON struct {
	N    int   `json:"n"`
	Exp  int64 `json:"exp"`
	Days int   `json:"days"`
}

// decodePrices turns a prices hash into Prices as of now, ignoring expired fields. ok is false when no
// live level is left.
func decodePrices(key string, h map[string]string, now time.Time) (Prices, bool, error) {
	var p Prices
	p.Title = strings.TrimPrefix(key, PricesPrefix)
	for f, v := range h {
		if f == FieldMeta {
			var m metaJSON
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return Prices{}, false, fmt.Errorf("%w: %s meta: %w", ErrCorrupt, key, err)
			}
			p.GameID, p.Image, p.SuggestedCents = m.GameID, m.Image, m.SuggestedPrice
			p.UpdatedAt = time.Unix(m.UpdatedAt, 0).UTC()
			continue
		}
		locked := strings.HasPrefix(f, FieldLocked)
		if !locked && !strings.HasPrefix(f, FieldAvailable) {
			continue
		}
		price, err := strconv.ParseInt(f[2:], 10, 64)
		if err != nil {
			return Prices{}, false, fmt.Errorf("%w: %s field %q", ErrCorrupt, key, f)
		}
		var fj fieldJSON
		if err := json.Unmarshal([]byte(v), &fj); err != nil {
			return Prices{}, false, fmt.Errorf("%w: %s field %q: %w", ErrCorrupt, key, f, err)
		}
		if fj.Exp < now.Unix() {
			continue
		}
		l := Level{PriceCents: price, Count: fj.N, LockDays: fj.Days, ExpiresAt: time.Unix(fj.Exp, 0).UTC()}
		if locked {
			p.Locked = append(p.Locked, l)
		} else {
			p.Available = append(p.Available, l)
		}
	}
	byPrice := func(ls []Level) {
		sort.Slice(ls, func(i, j int) bool { return ls[i].PriceCents < ls[j].PriceCents })
	}
	byPrice(p.Available)
	byPrice(p.Locked)
	return p, len(p.Available)+len(p.Locked) > 0, nil
}

// Title reads the live prices of one title; ok is false when it has none.
func (s *Store) Title(ctx context.Context, title string) (Prices, bool, error) {
	key := PricesKey(title)
	h, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return Prices{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	return decodePrices(key, h, s.clock.Now())
}

// scanBatch is the SCAN COUNT hint and the size of one pipelined read.
const scanBatch = 500

// ErrStop may be returned by a Scan callback to end the scan early without error.
var ErrStop = errors.New("stop scan")

// Scan calls fn with the live prices of every title, in no particular order, reading keys with SCAN
// and their hashes with pipelined HGETALLs (never KEYS). A title may be seen twice if it is rewritten
// during the scan. A corrupt key is skipped and reported in the returned error after the scan
// completes; an error from fn other than ErrStop ends the scan and is returned.
func (s *Store) Scan(ctx context.Context, fn func(Prices) error) error {
	var cursor uint64
	var corrupt []error
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, PricesPrefix+"*", scanBatch).Result()
		if err != nil {
			return fmt.Errorf("scan prices: %w", err)
		}
		if len(keys) > 0 {
			pipe := s.rdb.Pipeline()
			cmds := make([]*redis.MapStringStringCmd, len(keys))
			for i, k := range keys {
				cmds[i] = pipe.HGetAll(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("read prices: %w", err)
			}
			now := s.clock.Now()
			for i, k := range keys {
				p, ok, err := decodePrices(k, cmds[i].Val(), now)
				if err != nil {
					corrupt = append(corrupt, err)
					continue
				}
				if !ok {
					continue
				}
				if err := fn(p); err != nil {
					if errors.Is(err, ErrStop) {
						return errors.Join(corrupt...)
					}
					return err
				}
			}
		}
		cursor = next
		if cursor == 0 {
			return errors.Join(corrupt...)
		}
	}
}
