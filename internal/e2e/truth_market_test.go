package e2e

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// truthMarket is what a catalogue's games must be in Redis and offer at one time, computed from the
// catalogue alone.
type truthMarket struct {
	all        []*attrTitle
	want       []*wantTitle // every title's state, all's in order
	plain      []*wantTitle // the titles without attributes
	attributed []*attrTitle // the others
	isPlain    map[string]bool
	m          *attrMarket // the titles by game and name, and each game's fees
}

// expectTruth computes the truth of the catalogue's games at now.
func expectTruth(cat *dmarkettest.Catalogue, games []string, now time.Time) *truthMarket {
	all, byName := expectAttrMarket(cat, games, now)
	tm := &truthMarket{all: all, want: make([]*wantTitle, len(all)), m: &attrMarket{byName: byName, fees: map[string]*wantFees{}}}
	for i, a := range all {
		tm.want[i] = a.wantTitle
	}
	tm.plain, tm.attributed, tm.isPlain = splitPlain(all)
	for _, g := range games {
		tm.m.fees[g] = expectFees(cat.Fees[g], now)
	}
	return tm
}

// readMarket reads the whole market from Redis as the bot does.
func readMarket(ctx context.Context, t *testing.T, rdb redis.UniversalClient) market.Snapshot {
	t.Helper()
	snap, err := pricestore.NewMarketReader(rdb, pricestore.MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.05")},
		clock.Real{}, slog.New(slog.NewTextHandler(io.Discard, nil))).Market(ctx)
	require.NoError(t, err)
	return snap
}

// titles returns the set of titles that differ so far.
func (d *diffs) titles() map[string]bool {
	out := map[string]bool{}
	for title := range d.byTitle {
		out[title] = true
	}
	return out
}
