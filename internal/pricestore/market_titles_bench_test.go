package pricestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// populateTitlesBench stores n titles of four games: a tradable level on each, a locked one on 30 %, a buy
// order on 70 % and a stable sell history on 60 %, plus the games' fees. It returns the titles' names.
func populateTitlesBench(b *testing.B, rdb redis.UniversalClient, n int) []string {
	b.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(200, 1))
	nowS := now0.Unix()
	games := []string{"a8db", "a8db", "9a92", "tf2"}
	names := make([]string, n)
	pipe := rdb.Pipeline()
	for i := range n {
		title := fmt.Sprintf("Weapon %06d | Skin (Field-Tested)", i)
		names[i] = title
		price := 3 + r.IntN(200000)
		exp := nowS + 600 + int64(r.IntN(1800))
		fields := []any{"meta", fmt.Sprintf(`{"t":1,"title":%q,"game_id":%q,"image":"https://img.example/%d.png","suggested_price":%d,"updated_at":%d}`,
			title, games[r.IntN(len(games))], i, price, nowS),
			"a:" + strconv.Itoa(price), fmt.Sprintf(`{"n":2,"exp":%d,"t":%d}`, exp, now0.UnixMilli())}
		if r.IntN(10) < 3 {
			fields = append(fields, "l:"+strconv.Itoa(max(price*9/10, 1)), fmt.Sprintf(`{"n":1,"exp":%d,"days":4,"t":%d}`, exp, now0.UnixMilli()))
		}
		pipe.HSet(ctx, PricesKey(title), fields...)
		if r.IntN(10) < 7 {
			pipe.Set(ctx, OrdersKey(title), fmt.Sprintf(`{"t":1,"price":%d,"count":3,"updated_at":%d}`, max(price*(75+r.IntN(31))/100, 1), nowS), 0)
		}
		if r.IntN(10) < 6 {
			pipe.Set(ctx, HistoryKey(title), fmt.Sprintf(`{"t":1,"stable":true,"sold_per_week":%d,"probability":{"%d":100,"%d":50,"%d":20},"updated_at":%d}`,
				5+r.IntN(100), price*8/10, price*(80+r.IntN(36))/100, price*(90+r.IntN(30))/100, nowS), 0)
		}
		if pipe.Len() >= 3000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, g := range []string{"a8db", "9a92", "tf2"} {
		pipe.Set(ctx, FeesKey(g), `{"fraction":"0.05","min":1,"reduced":[]}`, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	return names
}

// BenchmarkApply200kRedis is offers' BenchmarkApply200k with the 100 changed titles read from Redis by
// MarketReader.Titles (200,000 titles stored): Apply (the pipelined read plus the index update), then one
// user's offers of the changed titles and the user's first page. Each part's time per batch is reported
// beside the total, and this process's CPU time per batch (Redis's own share of the machine excluded).
func BenchmarkApply200kRedis(b *testing.B) {
	const titles, batch = 200000, 100
	ctx := context.Background()
	rdb := redisdbtest.New(b)
	names := populateTitlesBench(b, rdb, titles)
	src := newMarketReader(rdb, MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.05")})
	svc := offers.NewService(src, clocktest.NewFake(now0), time.Hour)
	if err := svc.Resync(ctx); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(200, 100))
	batches := make([][]string, 64)
	for i := range batches {
		for range batch {
			batches[i] = append(batches[i], names[r.IntN(titles)])
		}
	}
	user := offers.Settings{MinPriceCents: 1000}
	offerstest.BenchApplyUser(b, svc, user, now0, batches, nil, "client-cpu-ns/op")
}
