package offers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSource(t testing.TB, rdb *redis.Client, cfg RedisSourceConfig) (*RedisSource, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return NewRedisSource(rdb, cfg, clock.NewFake(now0), discardLogger(), reg), reg
}

func meta(game string, updated int64) string {
	return fmt.Sprintf(`{"title":"x","game_id":%q,"image":"https://img/%s","suggested_price":100,"updated_at":%d}`, game, game, updated)
}

func lvl(n int, exp int64) string { return fmt.Sprintf(`{"n":%d,"exp":%d}`, n, exp) }

func sortTitles(m Market) {
	sort.Slice(m.Titles, func(i, j int) bool { return m.Titles[i].Title < m.Titles[j].Title })
}

func TestRedisSourceMarket(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	nowS := now0.Unix()
	set := func(key string, value string) { require.NoError(t, rdb.Set(ctx, key, value, 0).Err()) }
	hset := func(key string, kv ...string) {
		args := make([]any, 0, len(kv))
		for _, s := range kv {
			args = append(args, s)
		}
		require.NoError(t, rdb.HSet(ctx, key, args...).Err())
	}

	// A complete title: the cheapest live tradable level is a:950 (a:900 expired a second ago, a:950
	// expires exactly now and still counts); the cheapest locked one l:800.
	hset(PricesPrefix+"AK <&> ★", "meta", meta("a8db", nowS-60),
		"a:1000", lvl(2, nowS+100),
		"a:900", lvl(1, nowS-1),
		"a:950", lvl(3, nowS),
		"a:0900", lvl(0, nowS+100), // no listings left at that price
		"l:800", fmt.Sprintf(`{"n":1,"exp":%d,"days":3,"t":%d}`, nowS+100, now0.Add(-2*time.Minute).UnixMilli()),
		"l:850", fmt.Sprintf(`{"n":1,"exp":%d,"days":1}`, nowS+100),
		"x:other", "ignored")
	set(OrdersPrefix+"AK <&> ★", fmt.Sprintf(`{"t":1,"price":1200,"count":4,"updated_at":%d}`, nowS-30))
	set(HistoryPrefix+"AK <&> ★", fmt.Sprintf(`{"t":1,"stable":true,"sold_per_week":42,"probability":{"1100":100,"1300":50},"updated_at":%d}`, nowS))

	// Only expired levels: no title.
	hset(PricesPrefix+"Gone", "meta", meta("a8db", nowS), "a:100", lvl(1, nowS-10))
	// A title without order or history.
	hset(PricesPrefix+"Plain", "meta", meta("9a92", nowS), "l:500", fmt.Sprintf(`{"n":1,"exp":%d,"days":0.5}`, nowS+5))
	// An orders key of the wrong type is no order.
	require.NoError(t, rdb.HSet(ctx, OrdersPrefix+"Plain", "x", "y").Err())

	// Malformed data, one title each.
	hset(PricesPrefix+"BadMeta", "meta", `{"game_id":`, "a:100", lvl(1, nowS+10))
	hset(PricesPrefix+"NoMeta", "a:100", lvl(1, nowS+10))
	hset(PricesPrefix+"BadPrice", "meta", meta("a8db", nowS), "a:abc", lvl(1, nowS+10))
	hset(PricesPrefix+"NegPrice", "meta", meta("a8db", nowS), "a:-5", lvl(1, nowS+10))
	hset(PricesPrefix+"BadLevel", "meta", meta("a8db", nowS), "a:100", `{"n":"x"}`)
	hset(PricesPrefix+"NoExp", "meta", meta("a8db", nowS), "a:100", `{"n":1}`)
	hset(PricesPrefix+"BadOrder", "meta", meta("a8db", nowS), "a:100", lvl(1, nowS+10))
	set(OrdersPrefix+"BadOrder", `{"price":`)
	hset(PricesPrefix+"BadHistory", "meta", meta("a8db", nowS), "a:100", lvl(1, nowS+10))
	set(HistoryPrefix+"BadHistory", `{"probability":{"x":1}}`)
	set(PricesPrefix+"WrongType", "a string")

	// Fees: CS2 with a reduced fee for the complete title, Dota with bad JSON (skipped), one more game.
	set(FeesPrefix+"a8db", fmt.Sprintf(`{"t":1,"fraction":"0.05","min":2,"reduced":[`+
		`{"title":"AK <&> ★","fraction":"0.02","min_price":1000,"max_price":null,"expires_at":%d,"min":1},`+
		`{"title":"Other","fraction":0.03,"min_price":null,"max_price":5000,"expires_at":null}],"updated_at":%d}`, nowS+3600, nowS))
	set(FeesPrefix+"9a92", `{"fraction":"5%"}`)
	set(FeesPrefix+"rust", `{"fraction":"0.1","min":0,"reduced":[]}`)
	set(FeesPrefix+"nofraction", `{"min":3}`)
	set(FeesPrefix+"negmin", `{"fraction":"0.1","min":-1}`)
	set(FeesPrefix+"badreduced", `{"fraction":"0.1","min":1,"reduced":[{"fraction":"0.01"}]}`)

	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	src := NewRedisSource(rdb, RedisSourceConfig{FallbackFee: MustFraction("0.025"), ScanCount: 3, BatchSize: 2, Parallel: 2},
		clock.NewFake(now0), slog.New(slog.NewTextHandler(&logs, nil)), reg)
	m, err := src.Market(ctx)
	require.NoError(t, err)
	sortTitles(m)

	updated := time.Unix(nowS-60, 0).UTC()
	require.Equal(t, []Title{
		{
			Title: "AK <&> ★", GameID: "a8db", Image: "https://img/a8db",
			Available: &Listing{Price: 950, Count: 3, UpdatedAt: updated, ExpiresAt: time.Unix(nowS, 0).UTC()},
			Locked: &Listing{Price: 800, Count: 1, LockDays: 3, UpdatedAt: now0.Add(-2 * time.Minute),
				ExpiresAt: time.Unix(nowS+100, 0).UTC()},
			Order:   &Order{Price: 1200, Count: 4, UpdatedAt: time.Unix(nowS-30, 0).UTC()},
			History: &History{Stable: true, SoldPerWeek: 42, PriceAtLow: 1300, PriceAtHigh: 1300},
		},
		{
			Title: "Plain", GameID: "9a92", Image: "https://img/9a92",
			Locked: &Listing{Price: 500, Count: 1, LockDays: 0.5, UpdatedAt: now0, ExpiresAt: time.Unix(nowS+5, 0).UTC()},
		},
	}, m.Titles)
	require.Equal(t, 7+1+1+4, m.Malformed)
	require.Equal(t, map[string]GameFee{
		"a8db": {Fraction: MustFraction("0.05"), MinCents: 2, Reduced: map[string][]ReducedFee{
			"AK <&> ★": {{Fraction: MustFraction("0.02"), MinCents: ptr[int64](1), MinPrice: ptr[int64](1000), ExpiresAt: now0.Add(time.Hour)}},
			"Other":    {{Fraction: MustFraction("0.03"), MaxPrice: ptr[int64](5000)}},
		}},
		"rust": {Fraction: MustFraction("0.1")},
	}, m.Fees)
	require.Equal(t, MustFraction("0.025"), m.FallbackFee)
	// One summary line for the titles, one line per bad fees key.
	require.Equal(t, 1, strings.Count(logs.String(), `msg="skipped titles with malformed stored data" count=9`), logs.String())
	require.Equal(t, 4, strings.Count(logs.String(), "skip game fees with malformed stored data"))

	require.InDelta(t, 2, testutil.ToFloat64(src.titles), 0)
	require.InDelta(t, 1, testutil.ToFloat64(src.reads.WithLabelValues("ok")), 0)
	require.InDelta(t, 7, testutil.ToFloat64(src.malformed.WithLabelValues("prices")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(src.malformed.WithLabelValues("orders")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(src.malformed.WithLabelValues("history")), 0)
	require.InDelta(t, 4, testutil.ToFloat64(src.malformed.WithLabelValues("fees")), 0)
	n, err := testutil.GatherAndCount(reg, "dmarket_offers_market_read_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// The offers of that market: sell 1200 ≥ 1000 gets the reduced 2 % (24, own minimum 1) on the CS2
	// title; HISTORY sells at price_at(50) = 1300, also reduced: 26. The Dota title has no fees key
	// (malformed) and no order, so nothing.
	offers := Compute(m, Settings{LimitBasisPoints: -10000}, now0)
	type key struct {
		kind     Kind
		status   Status
		buy, fee int64
		bp       int64
	}
	var got []key
	for _, o := range offers {
		got = append(got, key{o.Kind, o.Status, o.Buy, o.Fee, o.ProfitBasisPoints})
	}
	require.Equal(t, []key{
		// (1274 − 800) / 800 = 59.25 %
		{KindHistory, StatusLocked, 800, 26, 5925},
		// (1176 − 800) / 800 = 47 %
		{KindTarget, StatusLocked, 800, 24, 4700},
		// (1274 − 950) / 950 = 34.105… % → 34.11
		{KindHistory, StatusAvailable, 950, 26, 3411},
		// (1176 − 950) / 950 = 23.789… % → 23.79
		{KindTarget, StatusAvailable, 950, 24, 2379},
	}, got)
}

func TestRedisSourceManyTitles(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	const titles = 2500
	exp := strconv.FormatInt(now0.Unix()+600, 10)
	pipe := rdb.Pipeline()
	for i := range titles {
		title := fmt.Sprintf("T%05d", i)
		pipe.HSet(ctx, PricesPrefix+title, "meta", meta("a8db", now0.Unix()), "a:"+strconv.Itoa(100+i), `{"n":1,"exp":`+exp+`}`)
		if i%2 == 0 {
			pipe.Set(ctx, OrdersPrefix+title, `{"price":`+strconv.Itoa(200+i)+`,"count":1}`, 0)
		}
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)

	for _, cfg := range []RedisSourceConfig{{}, {ScanCount: 7, BatchSize: 13, Parallel: 3}} {
		t.Run(fmt.Sprintf("scan %d batch %d", cfg.ScanCount, cfg.BatchSize), func(t *testing.T) {
			src, _ := newSource(t, rdb, cfg)
			m, err := src.Market(ctx)
			require.NoError(t, err)
			require.Len(t, m.Titles, titles)
			sortTitles(m)
			orders := 0
			for i, ti := range m.Titles {
				require.Equal(t, fmt.Sprintf("T%05d", i), ti.Title)
				require.Equal(t, int64(100+i), ti.Available.Price)
				if ti.Order != nil {
					orders++
					require.Equal(t, int64(200+i), ti.Order.Price)
				}
			}
			require.Equal(t, titles/2, orders)
			require.Zero(t, m.Malformed)
		})
	}
}

func TestRedisSourceErrors(t *testing.T) {
	rdb := redisdbtest.New(t)
	require.NoError(t, rdb.HSet(context.Background(), PricesPrefix+"A", "meta", meta("g", 1)).Err())

	t.Run("cancelled context", func(t *testing.T) {
		src, _ := newSource(t, rdb, RedisSourceConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := src.Market(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.InDelta(t, 1, testutil.ToFloat64(src.reads.WithLabelValues("error")), 0)
	})
	t.Run("closed client", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		require.NoError(t, c.Close())
		src, _ := newSource(t, c, RedisSourceConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "scan fees")
	})
	t.Run("pipeline of prices fails", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(failHook{cmd: "hgetall"})
		src, _ := newSource(t, c, RedisSourceConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "read prices batch")
	})
	t.Run("scan of prices fails", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(failHook{cmd: "scan", arg: PricesPrefix + "*"})
		src, _ := newSource(t, c, RedisSourceConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "scan prices")
	})
	t.Run("mget of fees fails", func(t *testing.T) {
		require.NoError(t, rdb.Set(context.Background(), FeesPrefix+"g", `{"fraction":"0.1"}`, 0).Err())
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(failHook{cmd: "mget"})
		src, _ := newSource(t, c, RedisSourceConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "read fees")
	})
}

// failHook fails the commands named cmd (with first argument arg when set), inside pipelines too.
type failHook struct{ cmd, arg string }

func (h failHook) matches(c redis.Cmder) bool {
	if c.Name() != h.cmd {
		return false
	}
	if h.arg == "" {
		return true
	}
	for _, a := range c.Args() {
		if a == h.arg {
			return true
		}
	}
	return false
}

func (h failHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h failHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		if h.matches(c) {
			err := fmt.Errorf("injected %s failure", h.cmd)
			c.SetErr(err)
			return err
		}
		return next(ctx, c)
	}
}

func (h failHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if h.matches(c) {
				err := fmt.Errorf("injected %s failure", h.cmd)
				c.SetErr(err)
				return err
			}
		}
		return next(ctx, cmds)
	}
}
