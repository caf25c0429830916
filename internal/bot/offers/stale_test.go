package offers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// cheapHistory is a title of a few cents: the cheapest tradable listing was $0.02 (sold, its level
// expiring at expires) and is now $0.03; it resells at $0.03 (price_at(50)) with a 1-cent minimum fee,
// so an offer at the stale $0.02 shows +0.00 % where the truth is −33.33 %.
func cheapHistory(expires time.Time) market.Snapshot {
	m := baseMarket(market.TitleState{Title: "Cheap", GameID: gameCS,
		Available: &market.PriceLevel{Price: 2, Count: 1, ExpiresAt: expires},
		History:   &market.ResaleHistory{Stable: true, SoldPerWeek: 168, PriceAtLow: 3, PriceAtHigh: 3}})
	m.Fees[gameCS] = market.FeeSchedule{Fraction: offerstest.MustFraction("0.05"), Min: 1}
	return m
}

func TestComputeIgnoresLevelsExpiredSinceTheRead(t *testing.T) {
	m := cheapHistory(now0.Add(time.Second))
	got := Compute(m, Settings{LimitBasisPoints: -10000}, now0)
	require.Len(t, got, 1, "the level is live at the read")
	require.Equal(t, int64(2), got[0].Buy)

	got = Compute(m, Settings{LimitBasisPoints: -10000}, now0.Add(1500*time.Millisecond))
	require.Empty(t, got, "a level that expired after the snapshot was read is never offered")
}

// A user's offers come from a snapshot that may be seconds old; a level that expired since the read must
// not be shown (buy $0.02, +0.00 %), and the snapshot is rebuilt at once, so the user sees the real
// cheapest listing ($0.03, −33.33 %): on demand within the snapshot's max age, and while Run runs (the
// guarantee of f14fb0c).
func TestServiceNeverShowsALevelThatExpiredSinceTheRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		run    bool
		maxAge time.Duration
	}{{"on demand", false, 10 * time.Second}, {"while Run runs", true, time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			src := &gatedSource{market: cheapHistory(now0.Add(time.Second))}
			clk := clocktest.NewFake(now0)
			svc := NewService(src, clk, tc.maxAge)
			if tc.run {
				startRun(t, svc)
			}
			ctx := context.Background()
			all := Settings{LimitBasisPoints: -10000}

			got, err := svc.Offers(ctx, all)
			require.NoError(t, err)
			require.Len(t, got, 1)
			require.Equal(t, "+0.00%", Percent(got[0].ProfitBasisPoints))

			fresh := cheapHistory(time.Time{})
			fresh.Titles[0].Available = &market.PriceLevel{Price: 3, Count: 4, ExpiresAt: now0.Add(time.Hour)}
			src.set(fresh)
			clk.Advance(1500 * time.Millisecond) // well within the snapshot's max age
			got, err = svc.Offers(ctx, all)
			require.NoError(t, err)
			for _, o := range got {
				require.NotEqual(t, int64(2), o.Buy, "an expired level was offered: %+v", o)
			}
			require.Eventually(t, func() bool {
				got, err := svc.Offers(ctx, all)
				return err == nil && len(got) == 1 && got[0].Buy == 3 && Percent(got[0].ProfitBasisPoints) == "-33.33%"
			}, 5*time.Second, time.Millisecond, "the snapshot is rebuilt once one of its levels expired")
		})
	}
}
