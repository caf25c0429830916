package offers

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// The index gives exactly Compute's offers, in Compute's order, for random markets and settings, at the
// build time and at later times when levels have expired and reduced fees have ended since the build.
func TestIndexMatchesCompute(t *testing.T) {
	cases := []struct {
		name string
		cfg  genConfig
	}{
		{"sorted titles", genConfig{titles: 400, span: time.Minute}},
		{"shuffled titles", genConfig{titles: 400, shuffled: true, span: time.Minute}},
		{"many profit ties", genConfig{titles: 600, span: time.Minute, narrow: true}},
		{"nothing expires soon", genConfig{titles: 300, span: 1000 * time.Hour}},
		{"empty market", genConfig{titles: 0, span: time.Minute}},
	}
	offsets := []time.Duration{0, time.Nanosecond, time.Second, 20 * time.Second, 59 * time.Second, 2 * time.Minute}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(8) {
				r := rand.New(rand.NewPCG(seed, uint64(len(c.name))))
				m := genMarket(r, c.cfg, now0)
				ix := BuildIndex(&m, now0)
				for _, off := range offsets {
					at := now0.Add(off)
					for range 12 {
						s := genSettings(r, &m)
						want := Compute(m, s, at)
						got := ix.Offers(s, at)
						require.Equal(t, want, got, "seed %d at +%v settings %+v", seed, off, s)
						require.Equal(t, len(want), ix.Count(s, at))
						for _, n := range []int{1, 10, len(want) + 1} {
							first := ix.First(s, at, n)
							require.Equal(t, orEmpty(want[:min(n, len(want))]), orEmpty(first), "first %d", n)
						}
					}
				}
			}
		})
	}
}

func orEmpty(o []Offer) []Offer {
	if o == nil {
		return []Offer{}
	}
	return o
}

func TestIndexFirstZero(t *testing.T) {
	m := baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)})
	ix := BuildIndex(&m, now0)
	require.Empty(t, ix.First(Settings{}, now0, 0))
	require.Len(t, ix.First(Settings{}, now0, 5), 1)
	require.Equal(t, 1, ix.Len())
}

// A level that expires after the build is skipped from the moment it expires, as Compute skips it, and
// the index reports that a rebuild is due.
func TestIndexSkipsLevelsExpiredSinceTheBuild(t *testing.T) {
	m := cheapHistory(now0.Add(time.Second))
	ix := BuildIndex(&m, now0)
	all := Settings{LimitBasisPoints: -10000}
	require.Equal(t, now0.Add(time.Second+time.Nanosecond).UnixNano(), ix.NextChange().UnixNano())

	at := now0.Add(time.Second)
	require.False(t, ix.NeedsRebuild(at))
	require.Len(t, ix.Offers(all, at), 1, "a level counts up to its expiry")

	at = now0.Add(1500 * time.Millisecond)
	require.True(t, ix.NeedsRebuild(at))
	require.Empty(t, ix.Offers(all, at), "an expired level is never offered")
	require.Zero(t, ix.Count(all, at))
}

// An offer whose reduced fee ends after the build is computed again with the game's fee: its profit
// drops and it moves below an offer it used to lead.
func TestIndexRecomputesEndedReducedFees(t *testing.T) {
	m := baseMarket(
		market.TitleState{Title: "A", GameID: gameCS, Available: avail(1000), Order: order(1100)},
		market.TitleState{Title: "B", GameID: gameCS, Available: avail(1000), Order: order(1100)},
	)
	m.Fees[gameCS] = market.FeeSchedule{Fraction: offerstest.MustFraction("0.05"), Min: 1, Reduced: map[string][]market.TitleFee{
		"B": {{Fraction: offerstest.MustFraction("0.01"), ExpiresAt: now0.Add(time.Minute)}},
	}}
	ix := BuildIndex(&m, now0)
	s := Settings{LimitBasisPoints: -10000}

	got := ix.Offers(s, now0)
	require.Equal(t, []string{"B", "A"}, titlesOf(got))
	require.Equal(t, int64(11), got[0].Fee, "1 % of $11.00")
	require.Equal(t, now0.Add(time.Minute).UnixNano(), ix.NextChange().UnixNano())

	at := now0.Add(time.Minute)
	require.True(t, ix.NeedsRebuild(at))
	got = ix.Offers(s, at)
	require.Equal(t, Compute(m, s, at), got)
	require.Equal(t, []string{"A", "B"}, titlesOf(got), "equal profit again: title order")
	require.Equal(t, int64(55), got[1].Fee, "5 % of $11.00 once the reduced fee ended")
	require.Len(t, ix.Offers(Settings{LimitBasisPoints: 500, Games: []string{gameCS}}, at), 0,
		"the ended fee's profit is filtered by the limit")
}

func titlesOf(list []Offer) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.Title
	}
	return out
}

// Muted titles are left out whether the market's titles are sorted or not.
func TestIndexMuted(t *testing.T) {
	titles := []market.TitleState{
		{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)},
		{Title: "B", GameID: gameZero, Available: avail(100), Order: order(140)},
		{Title: "C", GameID: gameZero, Available: avail(100), Order: order(130)},
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}} {
		var ts []market.TitleState
		for _, i := range order {
			ts = append(ts, titles[i])
		}
		m := baseMarket(ts...)
		ix := BuildIndex(&m, now0)
		s := Settings{Muted: []string{"B", "Z"}}
		require.Equal(t, []string{"A", "C"}, titlesOf(ix.Offers(s, now0)))
		require.Equal(t, Compute(m, s, now0), ix.Offers(s, now0))
	}
}

// The index gives exactly Compute's offers over markets with item attributes (per-phase HISTORY, FLOAT
// and STICKERS offers), with kinds hidden or not, at the build and as items and levels expire.
func TestIndexMatchesComputeWithAttributes(t *testing.T) {
	offsets := []time.Duration{0, time.Second, 20 * time.Second, 2 * time.Minute}
	for _, shuffled := range []bool{false, true} {
		for seed := range uint64(8) {
			r := rand.New(rand.NewPCG(seed, 15))
			m := genAttrMarket(r, genConfig{titles: 300, shuffled: shuffled, span: time.Minute, narrow: seed%2 == 1}, now0)
			share := []int{market.DefaultStickerSharePercent, 0, 100, 35}[seed%4]
			ix := BuildIndex(&m, now0, StickerShare(share))
			kinds := map[market.OfferKind]int{}
			for _, off := range offsets {
				at := now0.Add(off)
				for range 8 {
					s := genSettings(r, &m)
					s.HideFloat, s.HideStickers = r.IntN(3) == 0, r.IntN(3) == 0
					want := Compute(m, s, at, StickerShare(share))
					require.Equal(t, want, ix.Offers(s, at), "seed %d at +%v settings %+v", seed, off, s)
					require.Equal(t, len(want), ix.Count(s, at))
					require.Equal(t, orEmpty(want[:min(10, len(want))]), orEmpty(ix.First(s, at, 10)))
					for _, o := range want {
						kinds[o.Kind]++
					}
				}
			}
			for _, k := range []market.OfferKind{market.KindTarget, market.KindHistory, market.KindFloat, market.KindStickers} {
				require.Positive(t, kinds[k], "seed %d: the market yields %s offers", seed, k)
			}
		}
	}
}
