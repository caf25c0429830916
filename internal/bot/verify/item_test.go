package verify

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

func itemWithID(id string, price int64, locked bool, created time.Time) dmarket.MarketItem {
	it := item(ak, price, locked, created)
	it.ItemID = id
	return it
}

// An offer naming an item stands only while that item is listed at its buy price or below; a FLOAT or
// STICKERS offer ignores cheaper listings of the title, a TARGET offer still needs its level.
func TestCheckItem(t *testing.T) {
	listed := t0.Add(-5 * time.Second)
	tests := []struct {
		name     string
		kind     market.OfferKind
		listings []dmarket.MarketItem
		want     Outcome
		listedAt time.Time
		items    []string
		levels   []string
	}{
		{name: "float item still listed", kind: market.KindFloat,
			listings: []dmarket.MarketItem{itemWithID("x", 900, false, t0), itemWithID("i1", 1200, false, listed)},
			want:     Stands, listedAt: listed},
		{name: "stickers item listed cheaper", kind: market.KindStickers,
			listings: []dmarket.MarketItem{itemWithID("i1", 1100, false, listed)}, want: Stands, listedAt: listed},
		{name: "item repriced above the buy price", kind: market.KindFloat,
			listings: []dmarket.MarketItem{itemWithID("i1", 1201, false, listed)}, want: Gone, items: []string{ak + "/i1"}},
		{name: "item sold, its level stays", kind: market.KindStickers,
			listings: []dmarket.MarketItem{itemWithID("other", 1200, false, listed)}, want: Gone, items: []string{ak + "/i1"}},
		{name: "target: item and level stand", kind: market.KindTarget,
			listings: []dmarket.MarketItem{itemWithID("i1", 1200, false, listed)}, want: Stands, listedAt: listed},
		{name: "target: item gone, level stands", kind: market.KindTarget,
			listings: []dmarket.MarketItem{itemWithID("other", 1200, false, listed)}, want: Gone, items: []string{ak + "/i1"}},
		{name: "target: everything gone", kind: market.KindTarget, want: Gone, items: []string{ak + "/i1"},
			levels: []string{ak + "/false/1200"}},
		{name: "target: a cheaper listing", kind: market.KindTarget,
			listings: []dmarket.MarketItem{itemWithID("x", 1000, false, t0), itemWithID("i1", 1200, false, listed)}, want: Cheaper},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.api.listings[ak] = tc.listings
			o := offer(tc.kind, market.StatusAvailable, 1200, 1500)
			o.Item = &offers.ItemInfo{ID: "i1"}
			res, err := h.v.Check(context.Background(), o)
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Outcome)
			require.True(t, tc.listedAt.Equal(res.ListedAt), "listed at %v", res.ListedAt)
			require.Equal(t, tc.items, h.forget.gotItems())
			levels, _ := h.forget.got()
			require.Equal(t, tc.levels, levels)
			stale := 0.0
			if tc.want == Gone {
				stale = 1
			}
			require.Equal(t, stale, testutil.ToFloat64(h.v.m.stale))
		})
	}
}
