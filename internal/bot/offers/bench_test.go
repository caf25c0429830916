package offers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// realisticMarket returns an in-memory market of n titles with the mix the bot meets: four games (CS2
// 60 %, Dota 2 25 %, TF2 10 %, Rust 5 % without a fees key, so on the fallback fee), log-uniform prices
// from $0.03 to $2,000, a tradable listing on 95 % of titles and a trade-locked one on 30 %, a buy order
// at 75–105 % of the listing on 70 %, a sell history on 60 % (four in five stable with at least 5 sales a
// week, resale at 80–115 %), a reduced fee on 1 % of CS2 titles, and every level expiring within the
// next 1–30 minutes.
func realisticMarket(n int) market.Snapshot {
	r := rand.New(rand.NewPCG(14, 4))
	m := market.Snapshot{
		Fees: map[string]market.FeeSchedule{
			"a8db": {Fraction: offerstest.MustFraction("0.05"), Min: 1, Reduced: map[string][]market.TitleFee{}},
			"9a92": {Fraction: offerstest.MustFraction("0.05"), Min: 1},
			"tf2":  {Fraction: offerstest.MustFraction("0.07"), Min: 1},
		},
		FallbackFee: offerstest.MustFraction("0.05"),
		Titles:      make([]market.TitleState, 0, n),
	}
	pct := func(v market.Cents, from, to int) market.Cents { return v * market.Cents(from+r.IntN(to-from+1)) / 100 }
	for i := range n {
		game := "a8db"
		switch g := r.IntN(100); {
		case g >= 95:
			game = "rust"
		case g >= 85:
			game = "tf2"
		case g >= 60:
			game = "9a92"
		}
		price := market.Cents(math.Exp(math.Log(3) + r.Float64()*(math.Log(200000)-math.Log(3))))
		level := func(p market.Cents) *market.PriceLevel {
			return &market.PriceLevel{Price: p, Count: 1 + r.IntN(4), UpdatedAt: now0.Add(-time.Duration(r.IntN(600)) * time.Second),
				ExpiresAt: now0.Add(time.Minute + time.Duration(r.IntN(29*60))*time.Second)}
		}
		t := market.TitleState{Title: fmt.Sprintf("Weapon %06d | Skin (Field-Tested)", i), GameID: game,
			Image: fmt.Sprintf("https://img.example/%d.png", i)}
		if r.IntN(100) < 95 {
			t.Available = level(price)
		}
		if r.IntN(100) < 30 {
			t.Locked = level(pct(price, 85, 100))
			t.Locked.LockDays = float64(1 + r.IntN(7))
		}
		if r.IntN(100) < 70 {
			t.Order = &market.OrderLevel{Price: max(pct(price, 75, 105), 1), Count: 1 + r.IntN(20)}
		}
		if r.IntN(100) < 60 {
			t.History = &market.ResaleHistory{Stable: r.IntN(5) > 0, SoldPerWeek: 5 + r.IntN(100),
				PriceAtLow: pct(price, 80, 115), PriceAtHigh: pct(price, 80, 110)}
		}
		if game == "a8db" && r.IntN(100) == 0 {
			m.Fees[game].Reduced[t.Title] = []market.TitleFee{{Fraction: offerstest.MustFraction("0.02"), ExpiresAt: now0.Add(24 * time.Hour)}}
		}
		m.Titles = append(m.Titles, t)
	}
	return m
}

// BenchmarkUserOffers200k measures one user's offers over a realistic market of 200,000 titles, as
// the bot answers them: from the service's index, which Run keeps up to date in the background, the
// first page (10 offers) and the full list, for the default settings (min price $10, limit 0 %, every
// game) and for everything (min price $0, limit −100 %); beside them, for comparison, the engine's
// computation over the whole snapshot (what every user paid before) and the build of the index (paid
// once per refresh, in the background).
func BenchmarkUserOffers200k(b *testing.B) {
	const titles = 200000
	m := realisticMarket(titles)
	svc := NewService(&fakeSource{market: m}, clocktest.NewFake(now0), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = svc.Run(ctx) }()
	ix, err := svc.Index(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ix.Len()), "indexed-offers")
	users := []struct {
		name     string
		settings Settings
	}{
		{"default", Settings{MinPriceCents: 1000, Games: []string{"a8db", "9a92", "tf2", "rust"}}},
		{"everything", Settings{LimitBasisPoints: -10000}},
	}
	// Each query returns how many offers it got.
	queries := []struct {
		name string
		run  func(Settings) (int, error)
	}{
		{"first-page", func(s Settings) (int, error) { got, err := svc.First(ctx, s, 10); return len(got), err }},
		{"full-list", func(s Settings) (int, error) { got, err := svc.Offers(ctx, s); return len(got), err }},
		{"count", func(s Settings) (int, error) { return svc.Count(ctx, s) }},
		{"engine-compute", func(s Settings) (int, error) { return len(Compute(m, s, now0)), nil }},
	}
	for _, u := range users {
		for _, q := range queries {
			b.Run(q.name+"/"+u.name, func(b *testing.B) {
				var n int
				for b.Loop() {
					if n, err = q.run(u.settings); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n), "offers")
			})
		}
	}
	b.Run("build-index", func(b *testing.B) {
		for b.Loop() {
			BuildIndex(&m, now0)
		}
	})
}

// benchTitles is an in-memory TitleSource over a market whose titles a benchmark changes.
type benchTitles struct {
	mu     sync.Mutex
	m      market.Snapshot
	titles map[string]*market.TitleState
}

func newBenchTitles(m market.Snapshot) *benchTitles {
	src := &benchTitles{m: m, titles: make(map[string]*market.TitleState, len(m.Titles))}
	for i := range m.Titles {
		src.titles[m.Titles[i].Title] = &m.Titles[i]
	}
	return src
}

func (b *benchTitles) Market(context.Context) (market.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.m
	m.Titles = slices.Clone(b.m.Titles)
	return m, nil
}

func (b *benchTitles) Titles(_ context.Context, titles []string) ([]market.TitleState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]market.TitleState, 0, len(titles))
	for _, n := range titles {
		if t, ok := b.titles[n]; ok {
			out = append(out, *t)
		}
	}
	return out, nil
}

// change gives each named title a new cheapest tradable level, 1 % above or below the last.
func (b *benchTitles) change(titles []string, up bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range titles {
		t := b.titles[n]
		if t.Available == nil {
			continue
		}
		l := *t.Available
		if up {
			l.Price += max(l.Price/100, 1)
		} else {
			l.Price -= max(l.Price/100, 1)
		}
		t.Available = &l
	}
}

// BenchmarkApply200k measures what one batch of change events costs the bot over a realistic market of
// 200,000 titles (as BenchmarkUserOffers200k): Apply of 100 changed titles read from an in-memory
// TitleSource (the index update, copy-on-write, with background compactions as the changes pile up),
// then one user's offers of the changed titles (TitleOffers, what notifications need) and the user's
// first page (what /offers shows). Each part's time per batch is reported beside the total, and the
// process's CPU time per batch (cpu-ns/op), which includes the background compactions.
func BenchmarkApply200k(b *testing.B) {
	const titles, batch = 200000, 100
	m := realisticMarket(titles)
	src := newBenchTitles(m)
	svc := NewService(src, clocktest.NewFake(now0), time.Hour)
	ctx := context.Background()
	if err := svc.Resync(ctx); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(200, 100))
	batches := make([][]string, 64)
	for i := range batches {
		for range batch {
			batches[i] = append(batches[i], m.Titles[r.IntN(titles)].Title)
		}
	}
	user := Settings{MinPriceCents: 1000, Games: []string{"a8db", "9a92", "tf2", "rust"}}
	change := func(k int, changed []string) { src.change(changed, k/len(batches)%2 == 0) }
	// cpu-ns/op includes the background compactions.
	offerstest.BenchApplyUser(b, svc, user, now0, batches, change, "cpu-ns/op")
}
