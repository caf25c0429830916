package offers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

const benchTitles = 50000

// populateBench stores benchTitles titles, each with two live and one expired listing level, a buy order
// and a 40-price sell history carrying chartPoints hourly points, plus the game's fees.
func populateBench(b *testing.B, chartPoints int) *redis.Client {
	b.Helper()
	ctx := context.Background()
	rdb := redisdbtest.New(b)
	nowS := now0.Unix()
	var prob strings.Builder
	prob.WriteString(`{`)
	for i := range 40 {
		if i > 0 {
			prob.WriteString(",")
		}
		fmt.Fprintf(&prob, `"%d":%d`, 1000+i*7, 100-i*2)
	}
	prob.WriteString(`}`)
	var points strings.Builder
	for i := range chartPoints {
		if i > 0 {
			points.WriteString(",")
		}
		fmt.Fprintf(&points, "[%d,%d,%d]", nowS-int64(i)*3600, 1000+i%50, 1+i%7)
	}
	history := fmt.Sprintf(`{"t":1,"stable":true,"sold_per_week":50,"probability":%s,"updated_at":%d,"points":[%s]}`,
		prob.String(), nowS, points.String())
	pipe := rdb.Pipeline()
	for i := range benchTitles {
		title := fmt.Sprintf("Weapon %d | Skin (Field-Tested)", i)
		price := 1000 + i%500
		pipe.HSet(ctx, PricesPrefix+title,
			"meta", fmt.Sprintf(`{"t":1,"title":%q,"game_id":"a8db","image":"https://img.example/%d.png","suggested_price":%d,"updated_at":%d}`, title, i, price, nowS),
			"a:"+strconv.Itoa(price), fmt.Sprintf(`{"n":2,"exp":%d,"t":%d}`, nowS+600, now0.UnixMilli()),
			"a:"+strconv.Itoa(price-10), fmt.Sprintf(`{"n":1,"exp":%d,"t":%d}`, nowS-600, now0.UnixMilli()),
			"l:"+strconv.Itoa(price-50), fmt.Sprintf(`{"n":1,"exp":%d,"days":4,"t":%d}`, nowS+600, now0.UnixMilli()))
		pipe.Set(ctx, OrdersPrefix+title, fmt.Sprintf(`{"t":1,"price":%d,"count":3,"updated_at":%d}`, price+20, nowS), 0)
		pipe.Set(ctx, HistoryPrefix+title, history, 0)
		if pipe.Len() >= 3000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	if err := rdb.Set(ctx, FeesPrefix+"a8db", `{"fraction":"0.05","min":1,"reduced":[]}`, 0).Err(); err != nil {
		b.Fatal(err)
	}
	return rdb
}

// BenchmarkRedisOffers measures one user's offers over 50,000 titles: the whole-market read plus compute
// (the cost when the market is not cached), the read alone, and compute alone (every further user of
// the same poll cycle).
func BenchmarkRedisOffers(b *testing.B) {
	ctx := context.Background()
	rdb := populateBench(b, 0)
	src, _ := newSource(b, rdb, RedisSourceConfig{FallbackFee: MustFraction("0.05")})
	every := Settings{LimitBasisPoints: -10000}
	m, err := src.Market(ctx)
	if err != nil || len(m.Titles) != benchTitles {
		b.Fatalf("read %d titles: %v", len(m.Titles), err)
	}

	b.Run("read+compute", func(b *testing.B) {
		var offers int
		cpu := processCPU()
		for b.Loop() {
			m, err := src.Market(ctx)
			if err != nil {
				b.Fatal(err)
			}
			offers = len(Compute(m, every, now0))
		}
		b.ReportMetric(float64(offers), "offers")
		// CPU time of this process per read (decoding and computing, not Redis's share of the machine),
		// which varies less than wall time on a shared machine.
		b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "client-cpu-ms/op")
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if _, err := src.Market(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, s := range []struct {
		name     string
		settings Settings
	}{{"compute all", every}, {"compute profitable", Settings{}}} {
		b.Run(s.name, func(b *testing.B) {
			var offers int
			for b.Loop() {
				offers = len(Compute(m, s.settings, now0))
			}
			b.ReportMetric(float64(offers), "offers")
		})
	}
}

// processCPU returns the user plus system CPU time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRedisRawRead measures the bare Redis commands of one market read over the same data, issued
// one phase after the other without decoding: the floor the read path is compared with.
func BenchmarkRedisRawRead(b *testing.B) {
	ctx := context.Background()
	rdb := populateBench(b, 0)
	var keys []string
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			keys = keys[:0]
			it := rdb.Scan(ctx, 0, PricesPrefix+"*", DefaultScanCount).Iterator()
			for it.Next(ctx) {
				keys = append(keys, it.Val())
			}
			if it.Err() != nil {
				b.Fatal(it.Err())
			}
		}
	})
	b.Run("hgetall", func(b *testing.B) {
		for b.Loop() {
			for batch := range slices.Chunk(keys, DefaultBatchSize) {
				p := rdb.Pipeline()
				for _, k := range batch {
					p.HGetAll(ctx, k)
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	for _, prefix := range []string{OrdersPrefix, HistoryPrefix} {
		b.Run("mget "+prefix, func(b *testing.B) {
			for b.Loop() {
				for batch := range slices.Chunk(keys, DefaultBatchSize) {
					ks := make([]string, len(batch))
					for i, k := range batch {
						ks[i] = prefix + strings.TrimPrefix(k, PricesPrefix)
					}
					if err := rdb.MGet(ctx, ks...).Err(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRedisReadWithChartPoints measures the market read when every history value also carries a
// full week of hourly chart points (168), as the worker stores them for the price-history chart.
func BenchmarkRedisReadWithChartPoints(b *testing.B) {
	ctx := context.Background()
	rdb := populateBench(b, 168)
	src, _ := newSource(b, rdb, RedisSourceConfig{FallbackFee: MustFraction("0.05")})
	for b.Loop() {
		m, err := src.Market(ctx)
		if err != nil || len(m.Titles) != benchTitles {
			b.Fatalf("read %d titles: %v", len(m.Titles), err)
		}
	}
}

// BenchmarkServiceOffers measures what one user's /offers costs in the bot: the offers of one user's
// settings over 50,000 titles from the service, whose snapshot the poll cycle keeps warm (its read is
// measured by BenchmarkRedisOffers/read).
func BenchmarkServiceOffers(b *testing.B) {
	ctx := context.Background()
	rdb := populateBench(b, 0)
	src, _ := newSource(b, rdb, RedisSourceConfig{FallbackFee: MustFraction("0.05")})
	svc := NewService(src, fixedClock{}, time.Hour)
	if _, err := svc.Market(ctx); err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name     string
		settings Settings
	}{
		{"default user", Settings{MinPriceCents: 1000}},
		{"everything", Settings{LimitBasisPoints: -10000}},
	} {
		b.Run(s.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				got, err := svc.Offers(ctx, s.settings)
				if err != nil {
					b.Fatal(err)
				}
				n = len(got)
			}
			b.ReportMetric(float64(n), "offers")
		})
	}
}

// fixedClock stands still at now0, where the benchmark data is live.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return now0 }

// realisticMarket returns an in-memory market of n titles with the mix the bot meets: four games (CS2
// 60 %, Dota 2 25 %, TF2 10 %, Rust 5 % without a fees key, so on the fallback fee), log-uniform prices
// from $0.03 to $2,000, a tradable listing on 95 % of titles and a trade-locked one on 30 %, a buy order
// at 75–105 % of the listing on 70 %, a sell history on 60 % (four in five stable with at least 5 sales a
// week, resale at 80–115 %), a reduced fee on 1 % of CS2 titles, and every level expiring within the
// next 1–30 minutes.
func realisticMarket(n int) Market {
	r := rand.New(rand.NewPCG(14, 4))
	m := Market{
		Fees: map[string]GameFee{
			"a8db": {Fraction: MustFraction("0.05"), MinCents: 1, Reduced: map[string][]ReducedFee{}},
			"9a92": {Fraction: MustFraction("0.05"), MinCents: 1},
			"tf2":  {Fraction: MustFraction("0.07"), MinCents: 1},
		},
		FallbackFee: MustFraction("0.05"),
		Titles:      make([]Title, 0, n),
	}
	pct := func(v int64, from, to int) int64 { return v * int64(from+r.IntN(to-from+1)) / 100 }
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
		price := int64(math.Exp(math.Log(3) + r.Float64()*(math.Log(200000)-math.Log(3))))
		level := func(p int64) *Listing {
			return &Listing{Price: p, Count: 1 + r.IntN(4), UpdatedAt: now0.Add(-time.Duration(r.IntN(600)) * time.Second),
				ExpiresAt: now0.Add(time.Minute + time.Duration(r.IntN(29*60))*time.Second)}
		}
		t := Title{Title: fmt.Sprintf("Weapon %06d | Skin (Field-Tested)", i), GameID: game,
			Image: fmt.Sprintf("https://img.example/%d.png", i)}
		if r.IntN(100) < 95 {
			t.Available = level(price)
		}
		if r.IntN(100) < 30 {
			t.Locked = level(pct(price, 85, 100))
			t.Locked.LockDays = float64(1 + r.IntN(7))
		}
		if r.IntN(100) < 70 {
			t.Order = &Order{Price: max(pct(price, 75, 105), 1), Count: 1 + r.IntN(20)}
		}
		if r.IntN(100) < 60 {
			t.History = &History{Stable: r.IntN(5) > 0, SoldPerWeek: 5 + r.IntN(100),
				PriceAtLow: pct(price, 80, 115), PriceAtHigh: pct(price, 80, 110)}
		}
		if game == "a8db" && r.IntN(100) == 0 {
			m.Fees[game].Reduced[t.Title] = []ReducedFee{{Fraction: MustFraction("0.02"), ExpiresAt: now0.Add(24 * time.Hour)}}
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
	svc := NewService(&fakeSource{market: m}, fixedClock{}, time.Hour)
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
	for _, u := range users {
		b.Run("first-page/"+u.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				got, err := svc.First(ctx, u.settings, 10)
				if err != nil {
					b.Fatal(err)
				}
				n = len(got)
			}
			b.ReportMetric(float64(n), "offers")
		})
		b.Run("full-list/"+u.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				got, err := svc.Offers(ctx, u.settings)
				if err != nil {
					b.Fatal(err)
				}
				n = len(got)
			}
			b.ReportMetric(float64(n), "offers")
		})
		b.Run("count/"+u.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				if n, err = svc.Count(ctx, u.settings); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "offers")
		})
		b.Run("engine-compute/"+u.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				n = len(Compute(m, u.settings, now0))
			}
			b.ReportMetric(float64(n), "offers")
		})
	}
	b.Run("build-index", func(b *testing.B) {
		for b.Loop() {
			BuildIndex(&m, now0)
		}
	})
}
