package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// ErrNoHistory means a title has no stored sell history to chart.
var ErrNoHistory = errors.New("no sell history")

// MarketReader reads what a chart shows of a title: its stored sell history and chart points, its live
// listings and its best buy order.
type MarketReader interface {
	History(ctx context.Context, title string) (pricestore.HistoryValue, bool, error)
	Chart(ctx context.Context, title string) (pricestore.ChartValue, bool, error)
	Title(ctx context.Context, title string) (pricestore.Prices, bool, error)
	Order(ctx context.Context, title string) (pricestore.OrderValue, bool, error)
}

// Source renders a title's price-history chart from the market state in Redis.
type Source struct {
	r MarketReader
}

// NewSource returns a Source reading from r.
func NewSource(r MarketReader) *Source { return &Source{r: r} }

// Chart returns the PNG chart of title. Its views end when the chart points were written: the 7-day
// view shows the hourly points of the newest sales message, the 30-day view the stored daily series.
func (s *Source) Chart(ctx context.Context, title string) ([]byte, error) {
	d, err := s.data(ctx, title)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	return buf.Bytes(), nil
}

func (s *Source) data(ctx context.Context, title string) (Data, error) {
	h, ok, err := s.r.History(ctx, title)
	if err != nil {
		return Data{}, err
	}
	c, _, err := s.r.Chart(ctx, title)
	if err != nil {
		return Data{}, err
	}
	if len(c.Points) == 0 && len(c.Daily) == 0 && (!ok || len(h.Probability) == 0) {
		return Data{}, ErrNoHistory
	}
	d := Data{Title: title, Probability: h.Probability, Stored: sellhistory.Week}
	for _, p := range c.Points {
		d.Points = append(d.Points, sellhistory.Point{Hour: time.Unix(p[0], 0).UTC(), Mean: float64(p[1]) / 100, Count: int(p[2])})
	}
	if c.Since > 0 || len(c.Daily) > 0 {
		d.Days = make([]sellhistory.Point, 0, len(c.Daily))
		for _, p := range c.Daily {
			d.Days = append(d.Days, sellhistory.Point{Hour: time.Unix(p[0], 0).UTC(), Mean: float64(p[1]) / 100, Count: int(p[2])})
		}
		if c.Since > 0 {
			d.DaysFrom = time.Unix(c.Since, 0).UTC()
		}
	}
	switch {
	case c.UpdatedAt > 0:
		d.Now = time.Unix(c.UpdatedAt, 0).UTC()
	case h.UpdatedAt > 0:
		d.Now = time.Unix(h.UpdatedAt, 0).UTC()
	}
	prices, ok, err := s.r.Title(ctx, title)
	if err != nil {
		return Data{}, err
	}
	if ok {
		if l, found := prices.Cheapest(false); found {
			d.CheapestCents = l.PriceCents
		} else if l, found := prices.Cheapest(true); found {
			d.CheapestCents, d.CheapestLocked = l.PriceCents, true
		}
	}
	o, ok, err := s.r.Order(ctx, title)
	if err != nil {
		return Data{}, err
	}
	if ok && o.Price > 0 {
		d.BuyOrderCents = o.Price
	}
	return d, nil
}
