package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/sellhistory"
)

// ErrNoHistory means a title has no stored sell history to chart.
var ErrNoHistory = errors.New("no sell history")

// HistoryReader reads a title's stored sell history and chart points.
type HistoryReader interface {
	History(ctx context.Context, title string) (pricestore.HistoryValue, bool, error)
	Chart(ctx context.Context, title string) (pricestore.ChartValue, bool, error)
}

// Source renders a title's price-history chart from its stored sell history.
type Source struct {
	r HistoryReader
}

// NewSource returns a Source reading from r.
func NewSource(r HistoryReader) *Source { return &Source{r: r} }

// Chart returns the PNG chart of title's last week.
func (s *Source) Chart(ctx context.Context, title string) ([]byte, error) {
	h, ok, err := s.r.History(ctx, title)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	c, _, err := s.r.Chart(ctx, title)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	if !ok || (len(c.Points) == 0 && len(h.Probability) == 0) {
		return nil, fmt.Errorf("chart %q: %w", title, ErrNoHistory)
	}
	points := make([]sellhistory.Point, 0, len(c.Points))
	for _, p := range c.Points {
		points = append(points, sellhistory.Point{Hour: time.Unix(p[0], 0).UTC(), Mean: float64(p[1]) / 100, Count: int(p[2])})
	}
	var buf bytes.Buffer
	if err := Render(&buf, title, points, h.Probability); err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	return buf.Bytes(), nil
}
