package offers

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// An index with changes, and its compaction, give exactly Compute's offers over the market they show,
// at the time of the changes and later (levels expired, reduced fees ended since), over sorted and
// unsorted titles.
func TestCompactedMatchesCompute(t *testing.T) {
	eachSeed(t, genMarket, compactedMatchesCompute)
}

// The same holds over markets with item attributes, with sticker histories learned between builds.
func TestCompactedMatchesComputeWithAttributes(t *testing.T) {
	eachSeed(t, genAttrMarket, compactedMatchesCompute)
}

func compactedMatchesCompute(t *testing.T, seed uint64, gen marketGen) {
	r := rand.New(rand.NewPCG(seed, 31))
	cfg := genConfig{titles: 300, span: time.Minute, shuffled: seed%3 == 2, narrow: seed%2 == 1}
	m := gen(r, cfg, now0)
	pool := gen(r, genConfig{titles: 100, span: time.Minute, narrow: cfg.narrow}, now0).Titles
	ix := BuildIndex(&m, now0)
	at := now0
	for range 4 {
		at = at.Add(time.Duration(r.IntN(20)) * time.Second)
		changes := map[string]*market.TitleState{}
		for range 1 + r.IntN(40) {
			name := m.Titles[r.IntN(len(m.Titles))].Title
			if r.IntN(4) == 0 {
				name = fmt.Sprintf("Item %06d | N", r.IntN(400))
			}
			changes[name] = nil
			if r.IntN(5) > 0 {
				changes[name] = &pool[r.IntN(len(pool))]
			}
		}
		// Sometimes a sticker's sales are learned too (nil: read, none), re-pricing the titles carrying it.
		var learned map[string]*market.ResaleHistory
		if r.IntN(2) == 0 {
			name := market.StickerTitlePrefix + genStickers[r.IntN(len(genStickers))]
			learned = map[string]*market.ResaleHistory{name: nil}
			if r.IntN(3) > 0 {
				learned[name] = &market.ResaleHistory{PriceAtLow: market.Cents(40 + r.IntN(3000))}
			}
		}
		ix = ix.with(changes, learned, at)
	}
	for _, next := range []*Index{ix, ix.compacted(at)} {
		snap := *next.Market()
		require.Equal(t, ix.Len(), next.Len())
		for _, off := range []time.Duration{0, time.Second, 30 * time.Second, 2 * time.Minute} {
			for range 6 {
				s := genSettings(r, &snap)
				want := Compute(snap, s, at.Add(off))
				require.Equal(t, want, next.Offers(s, at.Add(off)), "at +%v settings %+v", off, s)
				require.Equal(t, len(want), next.Count(s, at.Add(off)))
				require.Equal(t, orEmpty(want[:min(10, len(want))]), orEmpty(next.First(s, at.Add(off), 10)))
			}
		}
	}
	require.Nil(t, ix.compacted(at).delta)
	require.Equal(t, ix.Market().Titles, ix.compacted(at).Market().Titles)
}
