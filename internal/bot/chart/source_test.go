package chart

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

func TestSourceRendersStoredHistory(t *testing.T) {
	rdb := redisdbtest.New(t)
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	store, err := pricestore.New(rdb, clocktest.NewFake(now), pricestore.Config{})
	require.NoError(t, err)
	var points []market.HourPoint
	for i := range 48 {
		points = append(points, market.HourPoint{Hour: now.Add(time.Duration(i-48) * time.Hour), Mean: market.Cents(1200 + i%7*10), Units: 1 + i%3})
	}
	_, err = store.WriteHistory(context.Background(), "AK-47 | Redline (Field-Tested)", now, &market.History{
		Stable: true, SoldPerWeek: 96, Probability: map[market.Cents]int{1200: 100, 1250: 60, 1260: 20}, Points: points,
	})
	require.NoError(t, err)

	const title = "AK-47 | Redline (Field-Tested)"
	_, err = store.WriteListings(context.Background(), "a8db", now, []validate.Listing{
		{ItemID: "1", Title: title, GameID: "a8db", PriceCents: 1190},
		{ItemID: "2", Title: title, GameID: "a8db", PriceCents: 1250},
	})
	require.NoError(t, err)
	_, err = store.WriteOrders(context.Background(), now, []validate.Order{{Title: title, HasOrder: true, PriceCents: 1130, Count: 4}})
	require.NoError(t, err)

	src := NewSource(store)
	d, err := src.data(context.Background(), title)
	require.NoError(t, err)
	require.Equal(t, int64(1190), d.CheapestCents)
	require.False(t, d.CheapestLocked)
	require.Equal(t, int64(1130), d.BuyOrderCents)
	require.Equal(t, now, d.Now)
	require.Len(t, d.Points, 48)
	require.Equal(t, 12.0, d.Points[0].Mean)
	tests := []struct {
		name    string
		title   string
		wantErr error
	}{
		{name: "stored title", title: "AK-47 | Redline (Field-Tested)"},
		{name: "unknown title", title: "Nope", wantErr: ErrNoHistory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := src.Chart(context.Background(), tc.title)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(b))
			require.NoError(t, err)
			require.Greater(t, img.Bounds().Dx(), 300)
		})
	}
}

type failingReader struct{}

func (failingReader) History(context.Context, string) (pricestore.HistoryValue, bool, error) {
	return pricestore.HistoryValue{}, false, errors.New("redis down")
}

func (failingReader) Chart(context.Context, string) (pricestore.ChartValue, bool, error) {
	return pricestore.ChartValue{}, false, errors.New("redis down")
}

func (failingReader) Title(context.Context, string) (pricestore.Prices, bool, error) {
	return pricestore.Prices{}, false, errors.New("redis down")
}

func (failingReader) Order(context.Context, string) (pricestore.OrderValue, bool, error) {
	return pricestore.OrderValue{}, false, errors.New("redis down")
}

func TestSourcePassesReadErrors(t *testing.T) {
	_, err := NewSource(failingReader{}).Chart(context.Background(), "x")
	require.ErrorContains(t, err, "redis down")
}

func TestSourceReadsDailySeries(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	first := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktest.NewFake(first)
	store, err := pricestore.New(rdb, clk, pricestore.Config{})
	require.NoError(t, err)
	const title = "AWP | Asiimov (Field-Tested)"
	// Three sales messages a week apart, each with one sale a day.
	for w := range 3 {
		fetched := first.Add(time.Duration(w) * sellhistory.Week)
		var points []market.HourPoint
		for d := 6; d >= 0; d-- {
			points = append(points, market.HourPoint{Hour: fetched.Add(time.Duration(-d)*24*time.Hour - time.Hour), Mean: market.Cents(5000 + 100*w), Units: 1})
		}
		clk.Set(fetched)
		_, err := store.WriteHistory(ctx, title, fetched, &market.History{Points: points, Probability: map[market.Cents]int{5000: 100}})
		require.NoError(t, err)
	}
	d, err := NewSource(store).data(ctx, title)
	require.NoError(t, err)
	require.Len(t, d.Days, 21)
	require.Equal(t, first.Add(-sellhistory.Week), d.DaysFrom)
	require.Equal(t, 50.0, d.Days[0].Mean)
	require.Equal(t, 52.0, d.Days[20].Mean)
	require.Len(t, d.Points, 7)
	b, err := NewSource(store).Chart(ctx, title)
	require.NoError(t, err)
	_, err = png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
}
