package pricestore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

func TestWriteOrders(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clock.Fake) {
		fetched := t0.Add(-time.Minute)
		n, err := s.WriteOrders(ctx, fetched, []validate.Order{
			{Title: "A", HasOrder: true, PriceCents: 1251, Count: 143},
			{Title: "B"},
		})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		raw := rdb.Get(ctx, "orders:dmarket:A").Val()
		require.JSONEq(t, fmt.Sprintf(`{"t":%d,"price":1251,"count":143,"updated_at":%d}`, fetched.UnixMilli(), fetched.Unix()), raw)
		require.Zero(t, rdb.Exists(ctx, "orders:dmarket:B").Val(), "no buy order, no key")
		require.InDelta(t, (59 * time.Minute).Seconds(), rdb.TTL(ctx, "orders:dmarket:A").Val().Seconds(), 5)

		// Older answers never overwrite newer ones; equal ones are idempotent.
		n, err = s.WriteOrders(ctx, fetched.Add(-time.Second), []validate.Order{{Title: "A", HasOrder: true, PriceCents: 1, Count: 1}, {Title: "A"}})
		require.NoError(t, err)
		require.Zero(t, n)
		o, ok, err := s.Order(ctx, "A")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, int64(1251), o.Price)
		n, err = s.WriteOrders(ctx, fetched, []validate.Order{{Title: "A", HasOrder: true, PriceCents: 1251, Count: 143}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, raw, rdb.Get(ctx, "orders:dmarket:A").Val())

		// A newer answer without order removes the key.
		_, err = s.WriteOrders(ctx, fetched.Add(time.Second), []validate.Order{{Title: "A"}})
		require.NoError(t, err)
		_, ok, err = s.Order(ctx, "A")
		require.NoError(t, err)
		require.False(t, ok)

		// Expired answers write nothing.
		n, err = s.WriteOrders(ctx, t0.Add(-2*time.Hour), []validate.Order{{Title: "C", HasOrder: true, PriceCents: 5}})
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestWriteHistory(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clock.Fake) {
		fetched := t0.Add(-time.Minute)
		h := &market.History{Stable: true, SoldPerWeek: 42, Probability: map[market.Cents]int{1257: 100, 1332: 40}}
		n, err := s.WriteHistory(ctx, "A", fetched, h)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		raw := rdb.Get(ctx, "history:dmarket:A").Val()
		require.JSONEq(t, fmt.Sprintf(`{"t":%d,"stable":true,"sold_per_week":42,"probability":{"1257":100,"1332":40},"updated_at":%d}`,
			fetched.UnixMilli(), fetched.Unix()), raw)
		require.InDelta(t, (24*time.Hour - time.Minute).Seconds(), rdb.TTL(ctx, "history:dmarket:A").Val().Seconds(), 5)
		v, ok, err := s.History(ctx, "A")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 40, v.Probability[1332])

		// Empty probability is an object, not null.
		_, err = s.WriteHistory(ctx, "B", fetched, &market.History{})
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(rdb.Get(ctx, "history:dmarket:B").Val()), &m))
		require.Equal(t, map[string]any{}, m["probability"])

		// No sales: the key goes; an older analysis cannot come back over a newer one.
		_, err = s.WriteHistory(ctx, "A", fetched.Add(time.Second), nil)
		require.NoError(t, err)
		require.Zero(t, rdb.Exists(ctx, "history:dmarket:A").Val())
		_, err = s.WriteHistory(ctx, "B", fetched.Add(-time.Second), nil)
		require.NoError(t, err)
		require.Equal(t, int64(1), rdb.Exists(ctx, "history:dmarket:B").Val())

		n, err = s.WriteHistory(ctx, "C", t0.Add(-25*time.Hour), h)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestWriteFees(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clock.Fake) {
		fetched := t0.Add(-time.Minute)
		lo, hi := int64(500), int64(5000)
		exp := time.Unix(1749600000, 0)
		n, err := s.WriteFees(ctx, "a8db", fetched, validate.Fees{Fraction: "0.05", MinCents: 1, Reduced: []validate.ReducedFee{
			{Title: "A", Fraction: "0.02", MinPriceCents: &lo, MaxPriceCents: &hi, ExpiresAt: exp},
			{Title: "B", Fraction: "0.03"},
		}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		raw := rdb.Get(ctx, "fees:dmarket:a8db").Val()
		require.JSONEq(t, fmt.Sprintf(`{"t":%d,"fraction":"0.05","min":1,"reduced":[
		{"title":"A","fraction":"0.02","min_price":500,"max_price":5000,"expires_at":1749600000},
		{"title":"B","fraction":"0.03","min_price":null,"max_price":null,"expires_at":null}],"updated_at":%d}`,
			fetched.UnixMilli(), fetched.Unix()), raw)
		require.InDelta(t, (48*time.Hour - time.Minute).Seconds(), rdb.TTL(ctx, "fees:dmarket:a8db").Val().Seconds(), 5)

		_, err = s.WriteFees(ctx, "a8db", fetched, validate.Fees{Fraction: "0.07"})
		require.NoError(t, err)
		v, ok, err := s.Fees(ctx, "a8db")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "0.07", v.Fraction)
		require.NotNil(t, v.Reduced)
		require.Empty(t, v.Reduced)

		_, ok, err = s.Fees(ctx, "tf2")
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, rdb.Set(ctx, "fees:dmarket:rust", "nope", 0).Err())
		_, _, err = s.Fees(ctx, "rust")
		require.ErrorIs(t, err, ErrCorrupt)

		n, err = s.WriteFees(ctx, "a8db", t0.Add(-49*time.Hour), validate.Fees{Fraction: "0.01"})
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestValuesConvertToAndFromMarket(t *testing.T) {
	fetched := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	lo := market.Cents(500)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"buy order", func(t *testing.T) {
			o := market.BuyOrder{Title: "A", Price: 1251, Count: 143}
			v := NewOrderValue(o, fetched)
			require.Equal(t, OrderValue{T: fetched.UnixMilli(), Price: 1251, Count: 143, UpdatedAt: fetched.Unix()}, v)
			require.Equal(t, o, v.BuyOrder("A"))
		}},
		{"history", func(t *testing.T) {
			h := market.History{Stable: true, SoldPerWeek: 3, Probability: map[market.Cents]int{990: 100, 1200: 40}}
			v := NewHistoryValue(h, fetched)
			require.Equal(t, HistoryValue{T: fetched.UnixMilli(), Stable: true, SoldPerWeek: 3,
				Probability: map[int64]int{990: 100, 1200: 40}, UpdatedAt: fetched.Unix()}, v)
			require.Equal(t, h, v.History())
			require.Equal(t, map[int64]int{}, NewHistoryValue(market.History{}, fetched).Probability, "never null")
		}},
		{"hour point", func(t *testing.T) {
			p := market.HourPoint{Hour: fetched.Add(-time.Hour), Mean: 1333, Units: 2}
			require.Equal(t, HourPoint{fetched.Add(-time.Hour).Unix(), 1333, 2}, NewHourPoint(p))
			require.Equal(t, p, NewHourPoint(p).Market())
			require.Equal(t, []market.HourPoint{p}, ChartValue{Points: []HourPoint{NewHourPoint(p)}}.HourPoints())
		}},
		{"fees", func(t *testing.T) {
			f := market.Fees{Fraction: "0.05", Min: 1, Reduced: []market.ReducedFee{
				{Title: "A", Fraction: "0.02", MinPrice: &lo, ExpiresAt: time.Unix(1749600000, 0).UTC()},
				{Title: "B", Fraction: "0.03"},
			}}
			v := NewFeesValue(f, fetched)
			b, err := json.Marshal(v)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf(`{"t":%d,"fraction":"0.05","min":1,"reduced":[`+
				`{"title":"A","fraction":"0.02","min_price":500,"max_price":null,"expires_at":1749600000},`+
				`{"title":"B","fraction":"0.03","min_price":null,"max_price":null,"expires_at":null}],"updated_at":%d}`,
				fetched.UnixMilli(), fetched.Unix()), string(b))
			require.Equal(t, f, v.Fees())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
