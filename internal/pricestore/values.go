package pricestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/validate"
)

// OrderValue is the JSON body of an `orders:dmarket:<title>` key.
type OrderValue struct {
	// T is the fetch time of the message that wrote it (unix ms), used to order writes.
	T int64 `json:"t"`
	// Price is the best buy order's price in cents.
	Price int64 `json:"price"`
	// Count is the number of buy orders.
	Count int `json:"count"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
}

// ChartValue is the JSON body of a `chart:dmarket:<title>` key: last week's hourly sale points, oldest
// first, written with the title's history and living as long.
type ChartValue struct {
	// T is the fetch time of the message that wrote it (unix ms).
	T int64 `json:"t"`
	// Points are [hour start unix seconds, mean price cents, units sold].
	Points []HourPoint `json:"points"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
}

// History is the result of a sell-history analysis (SPEC §5.3).
type History struct {
	// Stable says whether last week's price was stable.
	Stable bool
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int
	// Probability maps a price in cents to the percent of last week's units sold at that price or higher.
	Probability map[int64]int
	// Points are last week's hourly sale points, oldest first, for charts.
	Points []HourPoint
}

// HourPoint is one hour of sales: JSON [hour start unix seconds, mean price cents, units sold].
type HourPoint [3]int64

// HistoryValue is the JSON body of a `history:dmarket:<title>` key; probability keys are prices in cents
// written as decimal strings.
type HistoryValue struct {
	// T is the fetch time of the message that wrote it (unix ms).
	T int64 `json:"t"`
	// Stable says whether last week's price was stable.
	Stable bool `json:"stable"`
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int `json:"sold_per_week"`
	// Probability maps a price in cents to a percent.
	Probability map[int64]int `json:"probability"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
	// Points are last week's hourly sale points, oldest first (an addition to SPEC §5.2, for charts).
	Points []HourPoint `json:"points,omitempty"`
}

// FeesValue is the JSON body of a `fees:dmarket:<game>` key.
type FeesValue struct {
	// T is the fetch time of the message that wrote it (unix ms).
	T int64 `json:"t"`
	// Fraction is the default fee share as an exact decimal string.
	Fraction string `json:"fraction"`
	// Min is the default minimum fee in cents.
	Min int64 `json:"min"`
	// Reduced are the per-title reduced fees.
	Reduced []ReducedFeeValue `json:"reduced"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
}

// ReducedFeeValue is one reduced fee inside FeesValue; a null bound is open, a null expiry unknown.
type ReducedFeeValue struct {
	// Title is the sanitised title.
	Title string `json:"title"`
	// Fraction is the fee share as an exact decimal string.
	Fraction string `json:"fraction"`
	// MinPrice is the lowest price in cents the fee applies to, or null.
	MinPrice *int64 `json:"min_price"`
	// MaxPrice is the highest price in cents the fee applies to, or null.
	MaxPrice *int64 `json:"max_price"`
	// ExpiresAt is when the fee ends (unix seconds), or null.
	ExpiresAt *int64 `json:"expires_at"`
}

// casArgs appends one key's arguments of casScript.
func casArgs(args []any, t int64, ttl time.Duration, value []byte) []any {
	return append(args, t, ttl.Milliseconds(), value)
}

// lifetime returns how long a value fetched at fetchedAt with lifetime ttl has left, or false when it
// is already over. A fetch time ahead of the clock (skew within validate.MaxFetchSkew) counts as now, so
// nothing lives longer than ttl.
func (s *Store) lifetime(fetchedAt time.Time, ttl time.Duration) (time.Duration, bool) {
	now := s.clock.Now()
	left := notAfter(fetchedAt, now).Add(ttl).Sub(now)
	return left, left > 0
}

// notAfter returns t, or now when t lies ahead of now.
func notAfter(t, now time.Time) time.Time {
	if t.After(now) {
		return now
	}
	return t
}

// WriteOrders stores the best buy order of every title of one aggregated-prices answer fetched at
// fetchedAt. A title without buy order loses its key. It returns the number of keys changed.
func (s *Store) WriteOrders(ctx context.Context, fetchedAt time.Time, orders []validate.Order) (int, error) {
	ttl, ok := s.lifetime(fetchedAt, s.cfg.PriceTTL)
	if !ok || len(orders) == 0 {
		return 0, nil
	}
	t := fetchedAt.UnixMilli()
	keys := make([]string, 0, len(orders))
	args := make([]any, 0, 3*len(orders))
	for _, o := range orders {
		keys = append(keys, OrdersKey(o.Title))
		var value []byte
		if o.HasOrder {
			var err error
			value, err = json.Marshal(OrderValue{T: t, Price: o.PriceCents, Count: o.Count, UpdatedAt: fetchedAt.Unix()})
			if err != nil {
				return 0, fmt.Errorf("encode order: %w", err)
			}
		}
		args = casArgs(args, t, ttl, value)
	}
	return s.cas(ctx, "orders", keys, args)
}

// WriteHistory stores the sell-history analysis of title made from sales fetched at fetchedAt. A nil h
// (no sales) removes the key.
func (s *Store) WriteHistory(ctx context.Context, title string, fetchedAt time.Time, h *History) (int, error) {
	ttl, ok := s.lifetime(fetchedAt, s.cfg.HistoryTTL)
	if !ok {
		return 0, nil
	}
	t := fetchedAt.UnixMilli()
	var value, chart []byte
	if h != nil {
		prob := h.Probability
		if prob == nil {
			prob = map[int64]int{}
		}
		var err error
		value, err = json.Marshal(HistoryValue{T: t, Stable: h.Stable, SoldPerWeek: h.SoldPerWeek, Probability: prob,
			UpdatedAt: fetchedAt.Unix()})
		if err != nil {
			return 0, fmt.Errorf("encode history: %w", err)
		}
		points := h.Points
		if points == nil {
			points = []HourPoint{}
		}
		if chart, err = json.Marshal(ChartValue{T: t, Points: points, UpdatedAt: fetchedAt.Unix()}); err != nil {
			return 0, fmt.Errorf("encode chart: %w", err)
		}
	}
	n, err := s.cas(ctx, "history", []string{HistoryKey(title)}, casArgs(nil, t, ttl, value))
	if err != nil {
		return n, err
	}
	if _, err := s.cas(ctx, "chart", []string{ChartKey(title)}, casArgs(nil, t, ttl, chart)); err != nil {
		return n, err
	}
	return n, nil
}

// WriteFees stores the fees of game fetched at fetchedAt.
func (s *Store) WriteFees(ctx context.Context, game string, fetchedAt time.Time, f validate.Fees) (int, error) {
	ttl, ok := s.lifetime(fetchedAt, FeesTTL)
	if !ok {
		return 0, nil
	}
	t := fetchedAt.UnixMilli()
	v := FeesValue{T: t, Fraction: f.Fraction, Min: f.MinCents, Reduced: make([]ReducedFeeValue, 0, len(f.Reduced)),
		UpdatedAt: fetchedAt.Unix()}
	for _, r := range f.Reduced {
		rv := ReducedFeeValue{Title: r.Title, Fraction: r.Fraction, MinPrice: r.MinPriceCents, MaxPrice: r.MaxPriceCents}
		if !r.ExpiresAt.IsZero() {
			e := r.ExpiresAt.Unix()
			rv.ExpiresAt = &e
		}
		v.Reduced = append(v.Reduced, rv)
	}
	value, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode fees: %w", err)
	}
	return s.cas(ctx, "fees", []string{FeesKey(game)}, casArgs(nil, t, ttl, value))
}

func (s *Store) cas(ctx context.Context, what string, keys []string, args []any) (int, error) {
	n, err := casScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("write %s of %d keys: %w", what, len(keys), err)
	}
	return n, nil
}

// getJSON reads a string key into v; found is false when the key does not exist.
func (s *Store) getJSON(ctx context.Context, key string, v any) (bool, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrCorrupt, key, err)
	}
	return true, nil
}

// Order reads the best buy order of title.
func (s *Store) Order(ctx context.Context, title string) (OrderValue, bool, error) {
	var v OrderValue
	ok, err := s.getJSON(ctx, OrdersKey(title), &v)
	return v, ok, err
}

// History reads the sell-history analysis of title.
func (s *Store) History(ctx context.Context, title string) (HistoryValue, bool, error) {
	var v HistoryValue
	ok, err := s.getJSON(ctx, HistoryKey(title), &v)
	return v, ok, err
}

// Chart reads the chart points of title.
func (s *Store) Chart(ctx context.Context, title string) (ChartValue, bool, error) {
	var v ChartValue
	ok, err := s.getJSON(ctx, ChartKey(title), &v)
	return v, ok, err
}

// Fees reads the fees of game.
func (s *Store) Fees(ctx context.Context, game string) (FeesValue, bool, error) {
	var v FeesValue
	ok, err := s.getJSON(ctx, FeesKey(game), &v)
	return v, ok, err
}
