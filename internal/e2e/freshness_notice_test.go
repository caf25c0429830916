package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
)

// TestNoticeNamesTheDealListedLast checks how a moving-market run reads the trader's notifications: a
// notification shows the last deal of its title and price listed before it, so a second deal at the
// same title and price, listed after the first was sold, is not a late notice of the first.
func TestNoticeNamesTheDealListedLast(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	first := dmarkettest.Deal{Title: "★ Karambit | Doppler (Factory New)", ItemID: "a", Price: 12345, CreatedAt: at(0), SoldAt: at(20)}
	again := dmarkettest.Deal{Title: first.Title, ItemID: "b", Price: first.Price, CreatedAt: at(25), SoldAt: at(45)}
	other := dmarkettest.Deal{Title: "AK-47 | Redline (Field-Tested)", ItemID: "c", Price: 999, CreatedAt: at(5), SoldAt: at(25)}
	type notice struct {
		at    int
		title string
		buy   string
	}
	tests := []struct {
		name     string
		notices  []notice
		notified map[string]time.Time
		late     int
	}{
		{name: "each deal notified while listed",
			notices:  []notice{{2, first.Title, "$123.45"}, {27, first.Title, "$123.45"}, {6, other.Title, "$9.99"}},
			notified: map[string]time.Time{"a": at(2), "b": at(27), "c": at(6)}},
		{name: "a notice between the sale and the next listing is late",
			notices:  []notice{{2, first.Title, "$123.45"}, {22, first.Title, "$123.45"}},
			notified: map[string]time.Time{"a": at(2)}, late: 1},
		{name: "a notice after the last sale is late for the last deal",
			notices:  []notice{{50, first.Title, "$123.45"}},
			notified: map[string]time.Time{"b": at(50)}, late: 1},
		{name: "another price or a notice before any listing names no deal",
			notices:  []notice{{2, first.Title, "$123.46"}, {1, other.Title, "$9.99"}},
			notified: map[string]time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := movingResult{deals: []dmarkettest.Deal{first, other, again}, notified: map[string]time.Time{}}
			for _, n := range tt.notices {
				r.notice(at(n.at), n.title, n.buy)
			}
			require.Equal(t, tt.notified, r.notified)
			require.Len(t, r.lateNotices, tt.late)
		})
	}
}

// TestGoneStopsAtTheNextDealOfTheSamePrice checks that the sold-to-gone time of a deal is not measured on
// views taken after a deal of the same title and price was listed again (they show the new one).
func TestGoneStopsAtTheNextDealOfTheSamePrice(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	first := dmarkettest.Deal{Title: "P250 | Sand Dune (Field-Tested)", ItemID: "a", Price: 150, CreatedAt: at(0), SoldAt: at(20)}
	again := dmarkettest.Deal{Title: first.Title, ItemID: "b", Price: first.Price, CreatedAt: at(21), SoldAt: at(41)}
	key := offerKey(first.Title, "$1.50")
	view := func(s int, shown bool) offersView { return offersView{at: at(s), shown: map[string]bool{key: shown}} }
	tests := []struct {
		name  string
		deals []dmarkettest.Deal
		views []offersView
		gone  map[string]time.Duration
	}{
		{name: "gone two views after the sale", deals: []dmarkettest.Deal{first},
			views: []offersView{view(10, true), view(22, true), view(24, false)},
			gone:  map[string]time.Duration{"a": 4 * time.Second}},
		{name: "listed again before it was seen gone", deals: []dmarkettest.Deal{first, again},
			views: []offersView{view(10, true), view(22, true), view(24, true), view(44, false)},
			gone:  map[string]time.Duration{"b": 3 * time.Second}},
		{name: "never shown before the sale", deals: []dmarkettest.Deal{first},
			views: []offersView{view(10, false), view(24, false)},
			gone:  map[string]time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := movingResult{deals: tt.deals, gone: map[string]time.Duration{}}
			r.collectGone(tt.views)
			require.Equal(t, tt.gone, r.gone)
		})
	}
}
