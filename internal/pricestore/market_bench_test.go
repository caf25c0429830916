package pricestore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
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
	src := newMarketReader(rdb, MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.05")})
	every := offers.Settings{LimitBasisPoints: -10000}
	m, err := src.Market(ctx)
	if err != nil || len(m.Titles) != benchTitles {
		b.Fatalf("read %d titles: %v", len(m.Titles), err)
	}

	b.Run("read+compute", func(b *testing.B) {
		var n int
		cpu := processCPU()
		for b.Loop() {
			m, err := src.Market(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n = len(offers.Compute(m, every, now0))
		}
		b.ReportMetric(float64(n), "offers")
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
		settings offers.Settings
	}{{"compute all", every}, {"compute profitable", offers.Settings{}}} {
		b.Run(s.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				n = len(offers.Compute(m, s.settings, now0))
			}
			b.ReportMetric(float64(n), "offers")
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
			it := rdb.Scan(ctx, 0, PricesPrefix+"*", DefaultMarketScanCount).Iterator()
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
			for batch := range slices.Chunk(keys, DefaultMarketBatchSize) {
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
				for batch := range slices.Chunk(keys, DefaultMarketBatchSize) {
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
	src := newMarketReader(rdb, MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.05")})
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
	src := newMarketReader(rdb, MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.05")})
	svc := offers.NewService(src, clocktest.NewFake(now0), time.Hour)
	if _, err := svc.Market(ctx); err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name     string
		settings offers.Settings
	}{
		{"default user", offers.Settings{MinPriceCents: 1000}},
		{"everything", offers.Settings{LimitBasisPoints: -10000}},
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
