package e2e

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
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

// settledTruth starts the truth pipeline on sim's games, waits until it has crawled them twice (the
// second crawl over the first one's state, as a running parser does) and returns it with the truth at
// the time it settled.
func settledTruth(t *testing.T, sim *dmarkettest.Server, games []string, within time.Duration) (*truthPipeline, *truthMarket, time.Time) {
	t.Helper()
	p := startTruthPipeline(t, sim, games)
	p.awaitSettled(t, 2, salesTitleCount(sim.Catalogue(), games), within)
	now := time.Now()
	return p, expectTruth(sim.Catalogue(), games, now), now
}

// salesTitleCount is how many titles the parser fetches the sales of once the catalogue is crawled: its
// titles, and the sticker titles its items carry that are no title of the catalogue (the worker
// schedules every sticker an item carries, so that a sticker never listed is valued by its sales).
func salesTitleCount(cat *dmarkettest.Catalogue, games []string) int {
	n := 0
	for _, g := range games {
		titles := map[string]bool{}
		for _, t := range cat.Titles[g] {
			titles[t.Name] = true
			for _, l := range t.Listings {
				for _, s := range validAttrs(&l.Attrs).stickers {
					titles[stickerTitleOf(s)] = true
				}
			}
		}
		n += len(titles)
	}
	return n
}

// listedTitleCount is how many titles of the catalogue have listings: those the market read returns.
func listedTitleCount(cat *dmarkettest.Catalogue, games []string) int {
	n := 0
	for _, g := range games {
		for _, t := range cat.Titles[g] {
			if t.Listed() {
				n++
			}
		}
	}
	return n
}

// compareOffersFor compares the offers the bot computes from snap for s with the truth's: the titles
// without attributes by SPEC §6.1's rules (offers and their rendering), the others with the attribute
// rules too. It returns the truth's offers of the titles without attributes.
func (tm *truthMarket) compareOffersFor(snap market.Snapshot, s userSettings, d *diffs, stateDiffers map[string]bool) []wantOffer {
	exp := expectOffers(tm.plain, tm.m.fees, s)
	computed := offers.Compute(snap, offers.Settings{MinPriceCents: s.minPrice, LimitBasisPoints: s.limitBP}, time.Now())
	got := offersOf(computed, tm.isPlain, true)
	compareOffers(s.name, exp, got, d, stateDiffers)
	compareRendered(exp, got, d, stateDiffers)
	compareAttrOffers(s.name, expectAttrOffers(tm.attributed, tm.m, s), offersOf(computed, tm.isPlain, false), d)
	return exp
}
