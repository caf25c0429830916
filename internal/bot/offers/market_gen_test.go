package offers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// genConfig shapes a generated market.
type genConfig struct {
	titles int
	// shuffled leaves titles in random order (pricestore.MarketReader sorts them).
	shuffled bool
	// span is the window around now in which levels expire and reduced fees end.
	span time.Duration
	// narrow draws prices from a small range so that many offers tie on profit.
	narrow bool
}

var genGames = []string{gameCS, "9a92", "tf2", gameNone}

// genMarket returns a random market around now: four games (one without fees, so on the fallback fee),
// listings of both statuses with expiries around now, buy orders above or below the listing, histories
// of every kind, and reduced fees with and without bounds, minimums and ends.
func genMarket(r *rand.Rand, c genConfig, now time.Time) market.Snapshot {
	m := market.Snapshot{
		Fees: map[string]market.FeeSchedule{
			gameCS: {Fraction: offerstest.MustFraction("0.05"), Min: 1, Reduced: map[string][]market.TitleFee{}},
			"9a92": {Fraction: offerstest.MustFraction("0.07"), Min: 2, Reduced: map[string][]market.TitleFee{}},
			"tf2":  {Fraction: offerstest.MustFraction("0.1"), Min: 1},
		},
		FallbackFee: offerstest.MustFraction("0.025"),
	}
	at := func() time.Time {
		switch r.IntN(4) {
		case 0:
			return time.Time{}
		default:
			return now.Add(time.Duration(r.Int64N(int64(2*c.span))) - c.span)
		}
	}
	price := func() market.Cents {
		if c.narrow {
			return market.Cents(90 + r.Int64N(20))
		}
		// Log-uniform from 3 cents to $2,000.
		return market.Cents(math.Exp(math.Log(3) + r.Float64()*(math.Log(200000)-math.Log(3))))
	}
	level := func(locked bool) *market.PriceLevel {
		if r.IntN(3) == 0 {
			return nil
		}
		l := &market.PriceLevel{Price: price(), Count: 1 + r.IntN(5), UpdatedAt: now.Add(-time.Duration(r.IntN(3600)) * time.Second),
			ExpiresAt: at()}
		if r.IntN(50) == 0 {
			l.Price = 0
		}
		if locked {
			l.LockDays = float64(r.IntN(80)) / 10
		}
		return l
	}
	for i := range c.titles {
		t := market.TitleState{Title: fmt.Sprintf("Item %06d | %s", i, []string{"A", "B", "C"}[r.IntN(3)]),
			GameID: genGames[r.IntN(len(genGames))], Image: fmt.Sprintf("https://img.example/%d.png", i),
			Available: level(false), Locked: level(true)}
		base := price()
		if t.Available != nil {
			base = t.Available.Price
		}
		if r.IntN(4) > 0 {
			t.Order = &market.OrderLevel{Price: max(base*market.Cents(70+r.IntN(50))/100, market.Cents(r.IntN(2))), Count: 1 + r.IntN(9)}
		}
		if r.IntN(3) > 0 {
			t.History = &market.ResaleHistory{Stable: r.IntN(5) > 0, SoldPerWeek: r.IntN(40),
				PriceAtLow: base * market.Cents(r.IntN(140)) / 100, PriceAtHigh: base * market.Cents(r.IntN(130)) / 100}
		}
		if gf, ok := m.Fees[t.GameID]; ok && gf.Reduced != nil && r.IntN(8) == 0 {
			var reduced []market.TitleFee
			for range 1 + r.IntN(3) {
				rf := market.TitleFee{Fraction: offerstest.MustFraction([]string{"0.01", "0.02", "0.03"}[r.IntN(3)]), ExpiresAt: at()}
				if r.IntN(2) == 0 {
					rf.Min = ptr(market.Cents(r.IntN(3)))
				}
				if r.IntN(3) == 0 {
					rf.MinPrice = ptr(base / 2)
				}
				if r.IntN(3) == 0 {
					rf.MaxPrice = ptr(base * 2)
				}
				reduced = append(reduced, rf)
			}
			gf.Reduced[t.Title] = reduced
		}
		m.Titles = append(m.Titles, t)
	}
	if c.shuffled {
		r.Shuffle(len(m.Titles), func(i, j int) { m.Titles[i], m.Titles[j] = m.Titles[j], m.Titles[i] })
	}
	return m
}

// genSettings returns random user settings for m: any min price and limit, some games (possibly
// repeated or unknown) and some muted titles.
func genSettings(r *rand.Rand, m *market.Snapshot) Settings {
	s := Settings{LimitBasisPoints: r.Int64N(15000) - 10000}
	if r.IntN(2) == 0 {
		s.MinPriceCents = r.Int64N(5000)
	}
	if r.IntN(3) > 0 {
		for _, g := range append(genGames, "rust") {
			if r.IntN(2) == 0 {
				s.Games = append(s.Games, g)
			}
		}
		if len(s.Games) > 0 && r.IntN(4) == 0 {
			s.Games = append(s.Games, s.Games[0])
		}
	}
	if len(m.Titles) > 0 && r.IntN(3) == 0 {
		for range 1 + r.IntN(5) {
			s.Muted = append(s.Muted, m.Titles[r.IntN(len(m.Titles))].Title)
		}
		s.Muted = append(s.Muted, "Unknown title")
	}
	return s
}
