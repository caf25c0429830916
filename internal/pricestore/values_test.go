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
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

func TestWriteOrders(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
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
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
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
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
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

// chartDay is the start of the k-th UTC day after March 1st, 2026.
func chartDay(k int) time.Time {
	return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k)
}

// hp is the hourly point of hour h of day k.
func hp(k, h int, cents market.Cents, units int) market.HourPoint {
	return market.HourPoint{Hour: chartDay(k).Add(time.Duration(h) * time.Hour), Mean: cents, Units: units}
}

// dp is the daily point of day k.
func dp(k int, cents, units int64) DayPoint { return DayPoint{chartDay(k).Unix(), cents, units} }

// chartMessage is one sales message as the worker writes it.
type chartMessage struct {
	fetched time.Time
	h       *market.History
}

func (m chartMessage) write(t *testing.T, s *Store, clk *clocktest.Fake) {
	t.Helper()
	clk.Set(m.fetched)
	_, err := s.WriteHistory(context.Background(), "A", m.fetched, m.h)
	require.NoError(t, err)
}

func TestChartMergesDailyPoints(t *testing.T) {
	ctx := context.Background()
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		clk := clocktest.NewFake(chartDay(20))
		s, err := New(rdb, clk, Config{})
		require.NoError(t, err)
		read := func() ChartValue {
			t.Helper()
			v, ok, err := s.Chart(ctx, "A")
			require.NoError(t, err)
			require.True(t, ok)
			return v
		}
		raw := func() string { return rdb.Get(ctx, ChartKey("A")).Val() }

		// Message 1 covers the week after day 13 12:00: day 13 is partly covered and has nothing stored yet,
		// so it takes the message's sales; day 15's mean is weighted by units: (2×100 + 1×200) / 3.
		m1 := chartMessage{chartDay(20).Add(12 * time.Hour), &market.History{Points: []market.HourPoint{
			hp(13, 13, 500, 1), hp(15, 10, 100, 2), hp(15, 11, 200, 1), hp(17, 0, 600, 1), hp(20, 1, 300, 4)}}}
		m1.write(t, s, clk)
		v := read()
		require.Equal(t, []DayPoint{dp(13, 500, 1), dp(15, 133, 3), dp(17, 600, 1), dp(20, 300, 4)}, v.Daily)
		require.Equal(t, chartDay(13).Add(12*time.Hour).Unix(), v.Since)
		require.Equal(t, m1.h.Points, v.HourPoints())

		// Message 2 covers the week after day 16 06:00: days 17 on are replaced (day 17 had no sale in it
		// and loses its point, day 20 now holds only the 02:00 sale), day 16 is new, days 13 and 15 lie
		// before its window and stay.
		m2 := chartMessage{chartDay(23).Add(6 * time.Hour), &market.History{Points: []market.HourPoint{
			hp(16, 7, 700, 1), hp(20, 2, 310, 2), hp(22, 5, 320, 1)}}}
		m2.write(t, s, clk)
		v = read()
		require.Equal(t, []DayPoint{dp(13, 500, 1), dp(15, 133, 3), dp(16, 700, 1), dp(20, 310, 2), dp(22, 320, 1)}, v.Daily)
		require.Equal(t, chartDay(13).Add(12*time.Hour).Unix(), v.Since, "the series still starts with message 1's window")
		require.Equal(t, m2.h.Points, v.HourPoints(), "the hourly points are the newest message's")

		// Message 3 was cut short by the page limit: its oldest sale is at day 20 05:00. Day 20 is only
		// partly covered and keeps its stored point; day 22 is fully covered without sales and loses its point.
		m3 := chartMessage{chartDay(24), &market.History{Oldest: chartDay(20).Add(5 * time.Hour), Points: []market.HourPoint{
			hp(20, 6, 999, 9), hp(23, 1, 330, 5)}}}
		m3.write(t, s, clk)
		v = read()
		want3 := []DayPoint{dp(13, 500, 1), dp(15, 133, 3), dp(16, 700, 1), dp(20, 310, 2), dp(23, 330, 5)}
		require.Equal(t, want3, v.Daily)
		after3 := raw()

		// Redelivery changes nothing; an older message is ignored.
		m3.write(t, s, clk)
		require.Equal(t, after3, raw(), "redelivered message")
		m2.write(t, s, clk)
		require.Equal(t, after3, raw(), "older message")

		// A message without sales covers nothing: the days stay, the hourly points go.
		empty := chartMessage{chartDay(25), nil}
		empty.write(t, s, clk)
		v = read()
		require.Equal(t, want3, v.Daily)
		require.Empty(t, v.Points)
		require.Equal(t, chartDay(13).Add(12*time.Hour).Unix(), v.Since)

		// Three weeks later, days before the UTC day of fetch − 30 days (day 15) are dropped, and the
		// series start moves with them.
		m4 := chartMessage{chartDay(45).Add(time.Hour), &market.History{Points: []market.HourPoint{hp(44, 3, 400, 1)}}}
		m4.write(t, s, clk)
		v = read()
		require.Equal(t, []DayPoint{dp(15, 133, 3), dp(16, 700, 1), dp(20, 310, 2), dp(23, 330, 5), dp(44, 400, 1)}, v.Daily)
		require.Equal(t, chartDay(15).Unix(), v.Since)
		pttl := rdb.PTTL(ctx, ChartKey("A")).Val()
		require.LessOrEqual(t, pttl, ChartTTL)
		require.Greater(t, pttl, ChartTTL-time.Minute)
		require.Equal(t, m4.fetched.UnixMilli(), v.T)
		require.Equal(t, m4.fetched.Unix(), v.UpdatedAt)

		// The stored value is plain JSON with "t" first (the compare-and-set reads it).
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw()), &m))
		require.Regexp(t, fmt.Sprintf(`^\{"t":%d,`, m4.fetched.UnixMilli()), raw())
	})
}

func TestChartWithoutDaysIsRemoved(t *testing.T) {
	ctx := context.Background()
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		fetched := chartDay(10)
		clk := clocktest.NewFake(fetched)
		s, err := New(rdb, clk, Config{})
		require.NoError(t, err)
		// A value written before the daily series existed is read and merged.
		old := fmt.Sprintf(`{"t":%d,"points":[[%d,100,1]],"updated_at":%d}`, fetched.Add(-time.Hour).UnixMilli(),
			chartDay(9).Unix(), fetched.Add(-time.Hour).Unix())
		require.NoError(t, rdb.Set(ctx, ChartKey("A"), old, time.Hour).Err())
		_, err = s.WriteHistory(ctx, "A", fetched, &market.History{Points: []market.HourPoint{hp(9, 2, 150, 2)}})
		require.NoError(t, err)
		v, ok, err := s.Chart(ctx, "A")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []DayPoint{dp(9, 150, 2)}, v.Daily)

		// A newer message without sales in its week removes a key without days.
		_, err = s.WriteHistory(ctx, "B", fetched, &market.History{Points: []market.HourPoint{}})
		require.NoError(t, err)
		require.Zero(t, rdb.Exists(ctx, ChartKey("B")).Val())
		_, err = s.WriteHistory(ctx, "A", fetched.Add(time.Second), &market.History{})
		require.NoError(t, err)
		require.Zero(t, rdb.Exists(ctx, ChartKey("A")).Val(), "the week's sales are gone and nothing older is stored")
	})
}

func TestDailyPoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []market.HourPoint
		want []DayPoint
	}{
		{"none", nil, []DayPoint{}},
		{"weighted mean rounds half up", []market.HourPoint{hp(1, 0, 100, 1), hp(1, 5, 101, 1)}, []DayPoint{dp(1, 101, 2)}},
		{"unsorted input, hours without units skipped", []market.HourPoint{hp(2, 1, 50, 1), hp(1, 23, 10, 3), hp(1, 22, 999, 0)},
			[]DayPoint{dp(1, 10, 3), dp(2, 50, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, dailyPoints(hourPoints(tc.in)))
		})
	}
}
