package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// marketResult is one answer of a scriptedSource.
type marketResult struct {
	market market.Snapshot
	err    error
}

// scriptedSource answers reads in turn.
type scriptedSource struct{ results []marketResult }

func (s *scriptedSource) Market(context.Context) (market.Snapshot, error) {
	r := s.results[0]
	s.results = s.results[1:]
	return r.market, r.err
}

func TestMarketMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMarketMetrics(reg)
	src := m.Source(&scriptedSource{results: []marketResult{
		{market: market.Snapshot{Titles: make([]market.TitleState, 2),
			Malformed: map[string]int{pricestore.MalformedPrices: 7, pricestore.MalformedFees: 4}}},
		{err: errors.New("redis down")},
		{market: market.Snapshot{Titles: make([]market.TitleState, 3), Malformed: map[string]int{pricestore.MalformedOrders: 1}}},
	}})
	ctx := context.Background()
	for _, wantErr := range []bool{false, true, false} {
		_, err := src.Market(ctx)
		require.Equal(t, wantErr, err != nil)
	}
	m.IndexBuilt(time.Second, 12)
	m.IndexFailed()
	m.IndexFailed()

	for _, c := range []struct {
		metric prometheus.Collector
		want   float64
	}{
		{m.reads.WithLabelValues("ok"), 2},
		{m.reads.WithLabelValues("error"), 1},
		{m.titles, 3},
		{m.malformed.WithLabelValues(pricestore.MalformedPrices), 7},
		{m.malformed.WithLabelValues(pricestore.MalformedOrders), 1},
		{m.malformed.WithLabelValues(pricestore.MalformedHistory), 0},
		{m.malformed.WithLabelValues(pricestore.MalformedFees), 4},
		{m.builds.WithLabelValues("ok"), 1},
		{m.builds.WithLabelValues("error"), 2},
		{m.offers, 12},
	} {
		require.InDelta(t, c.want, testutil.ToFloat64(c.metric), 0)
	}
	for name, want := range map[string]int{
		"dmarket_offers_market_reads_total":           2,
		"dmarket_offers_market_read_duration_seconds": 1,
		"dmarket_offers_market_titles":                1,
		"dmarket_offers_malformed_keys_total":         4,
		"dmarket_offers_index_builds_total":           2,
		"dmarket_offers_index_build_duration_seconds": 1,
		"dmarket_offers_index_offers":                 1,
	} {
		n, err := testutil.GatherAndCount(reg, name)
		require.NoError(t, err)
		require.Equal(t, want, n, name)
	}
}

// titleSource reads single titles too.
type titleSource struct {
	scriptedSource
	err error
}

func (s *titleSource) Titles(_ context.Context, titles []string) ([]market.TitleState, error) {
	out := make([]market.TitleState, len(titles))
	for i, t := range titles {
		out[i].Title = t
	}
	return out, s.err
}

func TestMarketMetricsKeepTitleReads(t *testing.T) {
	m := NewMarketMetrics(prometheus.NewRegistry())
	_, ok := m.Source(&scriptedSource{}).(titleReader)
	require.False(t, ok, "a source without title reads stays one")

	inner := &titleSource{}
	src, ok := m.Source(inner).(titleReader)
	require.True(t, ok, "title reads pass through, so the offers service applies changes title by title")
	got, err := src.Titles(context.Background(), []string{"A", "B"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	inner.err = errors.New("redis down")
	_, err = src.Titles(context.Background(), []string{"C"})
	require.Error(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(m.titleReads.WithLabelValues("ok")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.titleReads.WithLabelValues("error")))
	require.Equal(t, 2.0, testutil.ToFloat64(m.titlesRead))
	_, ok = m.Source(inner).(offers.HistorySource)
	require.False(t, ok, "a source without history reads stays one")

	hs, ok := m.Source(&historySource{}).(offers.HistorySource)
	require.True(t, ok, "history reads pass through, so changes value the stickers they bring")
	h, err := hs.StickerHistories(context.Background(), []string{"Sticker | A"})
	require.NoError(t, err)
	require.Equal(t, map[string]*market.ResaleHistory{"Sticker | A": {PriceAtLow: 7}}, h)
}

// historySource reads sticker histories too.
type historySource struct{ titleSource }

func (s *historySource) StickerHistories(_ context.Context, titles []string) (map[string]*market.ResaleHistory, error) {
	out := map[string]*market.ResaleHistory{}
	for _, t := range titles {
		out[t] = &market.ResaleHistory{PriceAtLow: 7}
	}
	return out, nil
}
