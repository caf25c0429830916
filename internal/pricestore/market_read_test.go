package pricestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

var now0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func newMarketReader(rdb redis.UniversalClient, cfg MarketReaderConfig) *MarketReader {
	return NewMarketReader(rdb, cfg, clocktest.NewFake(now0), loggingtest.Discard())
}

func meta(game string, updated int64) string {
	return fmt.Sprintf(`{"title":"x","game_id":%q,"image":"https://img/%s","suggested_price":100,"updated_at":%d}`, game, game, updated)
}

func lvl(n int, exp int64) string { return fmt.Sprintf(`{"n":%d,"exp":%d}`, n, exp) }

func sortTitles(m market.Snapshot) {
	sort.Slice(m.Titles, func(i, j int) bool { return m.Titles[i].Title < m.Titles[j].Title })
}

func TestMarketReaderMarket(t *testing.T) {
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
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
		hset(PricesKey("AK <&> ★"), "meta", meta("a8db", nowS-60),
			"a:1000", lvl(2, nowS+100),
			"a:900", lvl(1, nowS-1),
			"a:950", lvl(3, nowS),
			"a:0900", lvl(0, nowS+100), // no listings left at that price
			"l:800", fmt.Sprintf(`{"n":1,"exp":%d,"days":3,"t":%d}`, nowS+100, now0.Add(-2*time.Minute).UnixMilli()),
			"l:850", fmt.Sprintf(`{"n":1,"exp":%d,"days":1}`, nowS+100),
			"x:other", "ignored")
		set(OrdersKey("AK <&> ★"), fmt.Sprintf(`{"t":1,"price":1200,"count":4,"updated_at":%d}`, nowS-30))
		set(HistoryKey("AK <&> ★"), fmt.Sprintf(`{"t":1,"stable":true,"sold_per_week":42,"probability":{"1100":100,"1300":50},"updated_at":%d}`, nowS))

		// Only expired levels: no title.
		hset(PricesKey("Gone"), "meta", meta("a8db", nowS), "a:100", lvl(1, nowS-10))
		// A title without order or history.
		hset(PricesKey("Plain"), "meta", meta("9a92", nowS), "l:500", fmt.Sprintf(`{"n":1,"exp":%d,"days":0.5}`, nowS+5))
		// An orders key of the wrong type is no order.
		require.NoError(t, rdb.HSet(ctx, OrdersKey("Plain"), "x", "y").Err())

		// Malformed data, one title each.
		hset(PricesKey("BadMeta"), "meta", `{"game_id":`, "a:100", lvl(1, nowS+10))
		hset(PricesKey("NoMeta"), "a:100", lvl(1, nowS+10))
		hset(PricesKey("BadPrice"), "meta", meta("a8db", nowS), "a:abc", lvl(1, nowS+10))
		hset(PricesKey("NegPrice"), "meta", meta("a8db", nowS), "a:-5", lvl(1, nowS+10))
		hset(PricesKey("BadLevel"), "meta", meta("a8db", nowS), "a:100", `{"n":"x"}`)
		hset(PricesKey("NoExp"), "meta", meta("a8db", nowS), "a:100", `{"n":1}`)
		hset(PricesKey("BadOrder"), "meta", meta("a8db", nowS), "a:100", lvl(1, nowS+10))
		set(OrdersKey("BadOrder"), `{"price":`)
		hset(PricesKey("BadHistory"), "meta", meta("a8db", nowS), "a:100", lvl(1, nowS+10))
		set(HistoryKey("BadHistory"), `{"probability":{"x":1}}`)
		set(PricesKey("WrongType"), "a string")

		// Fees: CS2 with a reduced fee for the complete title, Dota with bad JSON (skipped), one more game.
		set(FeesKey("a8db"), fmt.Sprintf(`{"t":1,"fraction":"0.05","min":2,"reduced":[`+
			`{"title":"AK <&> ★","fraction":"0.02","min_price":1000,"max_price":null,"expires_at":%d,"min":1},`+
			`{"title":"Other","fraction":0.03,"min_price":null,"max_price":5000,"expires_at":null}],"updated_at":%d}`, nowS+3600, nowS))
		set(FeesKey("9a92"), `{"fraction":"5%"}`)
		set(FeesKey("rust"), `{"fraction":"0.1","min":0,"reduced":[]}`)
		set(FeesKey("nofraction"), `{"min":3}`)
		set(FeesKey("negmin"), `{"fraction":"0.1","min":-1}`)
		set(FeesKey("badreduced"), `{"fraction":"0.1","min":1,"reduced":[{"fraction":"0.01"}]}`)

		var logs bytes.Buffer
		src := NewMarketReader(rdb, MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.025"), ScanCount: 3, BatchSize: 2, Parallel: 2},
			clocktest.NewFake(now0), slog.New(slog.NewTextHandler(&logs, nil)))
		m, err := src.Market(ctx)
		require.NoError(t, err)
		sortTitles(m)

		updated := time.Unix(nowS-60, 0).UTC()
		require.Equal(t, []market.TitleState{
			{
				Title: "AK <&> ★", GameID: "a8db", Image: "https://img/a8db",
				Available: &market.PriceLevel{Price: 950, Count: 3, UpdatedAt: updated, ExpiresAt: time.Unix(nowS, 0).UTC()},
				Locked: &market.PriceLevel{Price: 800, Count: 1, LockDays: 3, UpdatedAt: now0.Add(-2 * time.Minute),
					ExpiresAt: time.Unix(nowS+100, 0).UTC()},
				Order:   &market.OrderLevel{Price: 1200, Count: 4, UpdatedAt: time.Unix(nowS-30, 0).UTC()},
				History: &market.ResaleHistory{Stable: true, SoldPerWeek: 42, PriceAtLow: 1300, PriceAtHigh: 1300},
			},
			{
				Title: "Plain", GameID: "9a92", Image: "https://img/9a92",
				Locked: &market.PriceLevel{Price: 500, Count: 1, LockDays: 0.5, UpdatedAt: now0, ExpiresAt: time.Unix(nowS+5, 0).UTC()},
			},
		}, m.Titles)
		require.Equal(t, map[string]int{MalformedPrices: 7, MalformedOrders: 1, MalformedHistory: 1, MalformedFees: 4}, m.Malformed)
		require.Equal(t, map[string]market.FeeSchedule{
			"a8db": {Fraction: offerstest.MustFraction("0.05"), Min: 2, Reduced: map[string][]market.TitleFee{
				"AK <&> ★": {{Fraction: offerstest.MustFraction("0.02"), Min: ptr[market.Cents](1), MinPrice: ptr[market.Cents](1000), ExpiresAt: now0.Add(time.Hour)}},
				"Other":    {{Fraction: offerstest.MustFraction("0.03"), MaxPrice: ptr[market.Cents](5000)}},
			}},
			"rust": {Fraction: offerstest.MustFraction("0.1")},
		}, m.Fees)
		require.Equal(t, offerstest.MustFraction("0.025"), m.FallbackFee)
		// One summary line for the titles, one line per bad fees key.
		require.Equal(t, 1, strings.Count(logs.String(), `msg="skipped titles with malformed stored data" count=9`), logs.String())
		require.Equal(t, 4, strings.Count(logs.String(), "skip game fees with malformed stored data"))

		// The offers of that market: sell 1200 ≥ 1000 gets the reduced 2 % (24, own minimum 1) on the CS2
		// title; HISTORY sells at price_at(50) = 1300, also reduced: 26. The Dota title has no fees key
		// (malformed) and no order, so nothing.
		list := offers.Compute(m, offers.Settings{LimitBasisPoints: -10000}, now0)
		type key struct {
			kind     market.OfferKind
			status   market.ListingStatus
			buy, fee int64
			bp       int64
		}
		var got []key
		for _, o := range list {
			got = append(got, key{o.Kind, o.Status, o.Buy, o.Fee, o.ProfitBasisPoints})
		}
		require.Equal(t, []key{
			// (1274 − 800) / 800 = 59.25 %
			{market.KindHistory, market.StatusLocked, 800, 26, 5925},
			// (1176 − 800) / 800 = 47 %
			{market.KindTarget, market.StatusLocked, 800, 24, 4700},
			// (1274 − 950) / 950 = 34.105… % → 34.11
			{market.KindHistory, market.StatusAvailable, 950, 26, 3411},
			// (1176 − 950) / 950 = 23.789… % → 23.79
			{market.KindTarget, market.StatusAvailable, 950, 24, 2379},
		}, got)
	})
}

func TestMarketReaderManyTitles(t *testing.T) {
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
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

		for _, cfg := range []MarketReaderConfig{{}, {ScanCount: 7, BatchSize: 13, Parallel: 3}} {
			t.Run(fmt.Sprintf("scan %d batch %d", cfg.ScanCount, cfg.BatchSize), func(t *testing.T) {
				src := newMarketReader(rdb, cfg)
				m, err := src.Market(ctx)
				require.NoError(t, err)
				require.Len(t, m.Titles, titles)
				sortTitles(m)
				orders := 0
				for i, ti := range m.Titles {
					require.Equal(t, fmt.Sprintf("T%05d", i), ti.Title)
					require.Equal(t, market.Cents(100+i), ti.Available.Price)
					if ti.Order != nil {
						orders++
						require.Equal(t, market.Cents(200+i), ti.Order.Price)
					}
				}
				require.Equal(t, titles/2, orders)
				require.Empty(t, m.Malformed)
			})
		}
	})
}

func TestMarketReaderErrors(t *testing.T) {
	rdb := redisdbtest.New(t)
	require.NoError(t, rdb.HSet(context.Background(), PricesKey("A"), "meta", meta("g", 1)).Err())

	t.Run("cancelled context", func(t *testing.T) {
		src := newMarketReader(rdb, MarketReaderConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := src.Market(ctx)
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("closed client", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		require.NoError(t, c.Close())
		src := newMarketReader(c, MarketReaderConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "scan fees")
	})
	t.Run("pipeline of prices fails", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(failHook{cmd: "hgetall"})
		src := newMarketReader(c, MarketReaderConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "read prices batch")
	})
	t.Run("scan of prices fails", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(failHook{cmd: "scan", arg: PricesPrefix + "*"})
		src := newMarketReader(c, MarketReaderConfig{})
		_, err := src.Market(context.Background())
		require.ErrorContains(t, err, "scan prices")
	})
	t.Run("mget of fees fails", func(t *testing.T) {
		require.NoError(t, rdb.Set(context.Background(), FeesKey("g"), `{"fraction":"0.1"}`, 0).Err())
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(failHook{cmd: "mget"})
		src := newMarketReader(c, MarketReaderConfig{})
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

// With the market read from Redis: once the service runs and the index is built, users' calls send no command to Redis.
func TestMarketReaderServiceUserCallsSendNoRedisCommand(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	nowS := now0.Unix()
	require.NoError(t, rdb.HSet(ctx, PricesKey("A"), "meta", meta("a8db", nowS), "a:1000", lvl(1, nowS+3600)).Err())
	require.NoError(t, rdb.Set(ctx, OrdersKey("A"), `{"t":1,"price":1200,"count":2,"updated_at":1}`, 0).Err())
	counter := &commandCounter{}
	rdb.AddHook(counter)
	src := newMarketReader(rdb, MarketReaderConfig{FallbackFee: offerstest.MustFraction("0.05")})
	clk := clocktest.NewFake(now0)
	built := make(firstBuild)
	svc := offers.NewService(src, clk, time.Hour, offers.WithObserver(built))
	lifecycletest.Run(t, 10*time.Second, svc.Run)
	select {
	case <-built:
	case <-time.After(10 * time.Second):
		t.Fatal("Run built no index")
	}

	got, err := svc.Offers(ctx, offers.Settings{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	sent := counter.n.Load()
	require.Positive(t, sent)
	for range 20 {
		clk.Advance(time.Minute)
		got, err = svc.First(ctx, offers.Settings{Games: []string{"a8db"}}, 10)
		require.NoError(t, err)
		require.Len(t, got, 1)
	}
	require.Equal(t, sent, counter.n.Load(), "a user's call sent a Redis command")
}

// firstBuild is closed by the first index build it observes.
type firstBuild chan struct{}

func (f firstBuild) IndexBuilt(time.Duration, int) {
	select {
	case <-f:
	default:
		close(f)
	}
}

func (firstBuild) IndexFailed() {}

// commandCounter counts the commands sent to Redis, alone or in pipelines.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// A field expired a fraction of a second ago is expired: the read compares exp with the exact time, not
// with the time truncated to whole seconds.
func TestMarketReaderIgnoresAFieldExpiredWithinTheCurrentSecond(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	at := now0.Add(700 * time.Millisecond)
	nowS := now0.Unix()
	require.NoError(t, rdb.HSet(ctx, PricesKey("Cheap"), "meta", meta("a8db", nowS-60),
		"a:2", lvl(1, nowS), // expired 0.7 s ago
		"a:3", lvl(4, nowS+3600)).Err())
	src := NewMarketReader(rdb, MarketReaderConfig{}, clocktest.NewFake(at), loggingtest.Discard())
	m, err := src.Market(ctx)
	require.NoError(t, err)
	require.Len(t, m.Titles, 1)
	require.Equal(t, market.Cents(3), m.Titles[0].Available.Price, fmt.Sprintf("%+v", *m.Titles[0].Available))
	require.Equal(t, time.Unix(nowS+3600, 0).UTC(), m.Titles[0].Available.ExpiresAt.UTC())
}

// Title decodes a title's prices as the market read does: corrupt fields are an error, expired and
// unknown fields are ignored.
func TestTitleDecodesAsTheMarketRead(t *testing.T) {
	ctx := context.Background()
	s, rdb, _ := newStore(t)
	exp := t0.Unix() + 60
	require.NoError(t, rdb.HSet(ctx, PricesKey("bad"), "a:1", "not json").Err())
	require.NoError(t, rdb.HSet(ctx, PricesKey("bad2"), "a:x", "{}").Err())
	require.NoError(t, rdb.HSet(ctx, PricesKey("bad3"), "meta", "[").Err())
	require.NoError(t, rdb.HSet(ctx, PricesKey("old"), "a:1", `{"n":1,"exp":1}`, "x:y", "ignored").Err())
	require.NoError(t, rdb.HSet(ctx, PricesKey("ok"), "meta", meta("a8db", t0.Unix()), "x:y", "ignored",
		"a:7", lvl(1, exp), "a:5", lvl(2, exp), "l:3", fmt.Sprintf(`{"n":1,"exp":%d,"days":2}`, exp)).Err())
	for _, title := range []string{"bad", "bad2", "bad3"} {
		_, _, err := s.Title(ctx, title)
		require.ErrorIs(t, err, ErrCorrupt, title)
	}
	_, ok, err := s.Title(ctx, "old")
	require.NoError(t, err)
	require.False(t, ok)
	p, ok, err := s.Title(ctx, "ok")
	require.NoError(t, err)
	require.True(t, ok)
	at := time.Unix(exp, 0).UTC()
	require.Equal(t, Prices{Title: "ok", GameID: "a8db", Image: "https://img/a8db", SuggestedCents: 100, UpdatedAt: t0,
		Available: []Level{{PriceCents: 5, Count: 2, ExpiresAt: at}, {PriceCents: 7, Count: 1, ExpiresAt: at}},
		Locked:    []Level{{PriceCents: 3, Count: 1, LockDays: 2, ExpiresAt: at}}}, p)
}

// A sticker that kept items carry but whose title has no live listing is valued from its sell history:
// the market read reads the `history:` keys of exactly those sticker titles (bare or market names) into
// StickerHistory; live sticker titles keep their history in Titles, unreferenced ones are not read, and a
// malformed one is counted and left out.
func TestMarketReaderReadsStickerHistory(t *testing.T) {
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		nowS := now0.Unix()
		set := func(key, value string) { require.NoError(t, rdb.Set(ctx, key, value, 0).Err()) }
		hist := func(low int) string {
			return fmt.Sprintf(`{"stable":true,"sold_per_week":3,"probability":{"%d":60},"updated_at":%d}`, low, nowS)
		}
		items := func(price int, stickers ...string) string {
			st, err := json.Marshal(stickers)
			require.NoError(t, err)
			return fmt.Sprintf(`[{"id":"i%d","p":%d,"exp":%d,"t":%d,"st":%s}]`, price, price, nowS+100, now0.UnixMilli(), st)
		}
		require.NoError(t, rdb.HSet(ctx, PricesKey("AK-47 | Redline (Field-Tested)"), "meta", meta("a8db", nowS),
			"a:1000", lvl(1, nowS+100), "x:a", items(1000, "Crown (Foil)", "Sticker | Sold Out (Holo)", "Titan", "Bad")).Err())
		require.NoError(t, rdb.HSet(ctx, PricesKey("M4A4 | Howl (Minimal Wear)"), "meta", meta("a8db", nowS),
			"a:2000", lvl(1, nowS+100), "x:a", items(2000, "Sold Out (Holo)")).Err())
		require.NoError(t, rdb.HSet(ctx, PricesKey("Sticker | Crown (Foil)"), "meta", meta("a8db", nowS),
			"a:300", lvl(1, nowS+100)).Err())
		set(HistoryKey("Sticker | Crown (Foil)"), hist(350))
		set(HistoryKey("Sticker | Sold Out (Holo)"), hist(7000))
		set(HistoryKey("Sticker | Bad"), `{"probability":{"x":1}}`)
		set(HistoryKey("Sticker | Unreferenced"), hist(10))

		m, err := newMarketReader(rdb, MarketReaderConfig{BatchSize: 1}).Market(ctx)
		require.NoError(t, err)
		require.Len(t, m.Titles, 3)
		require.Equal(t, map[string]*market.ResaleHistory{
			"Sticker | Sold Out (Holo)": {Stable: true, SoldPerWeek: 3, PriceAtLow: 7000, PriceAtHigh: 7000},
		}, m.StickerHistory)
		require.Equal(t, map[string]int{MalformedHistory: 1}, m.Malformed)

		// The STICKERS offer of the Redline values its stickers at 300 (listing) + 7000 (history).
		var got []offers.Offer
		for _, o := range offers.Compute(m, offers.Settings{LimitBasisPoints: -10000}, now0, offers.StickerShare(10)) {
			if o.Kind == market.KindStickers && o.Title == "AK-47 | Redline (Field-Tested)" {
				got = append(got, o)
			}
		}
		require.Len(t, got, 1)
		require.Equal(t, int64(7300), got[0].Item.StickersValue)

		// The same keys read by name, as the bot does for the sticker titles a change brings: a malformed
		// or missing history is left out, a name given twice is read once.
		r := newMarketReader(rdb, MarketReaderConfig{BatchSize: 2})
		h, err := r.StickerHistories(ctx, []string{"Sticker | Unreferenced", "Sticker | Bad", "Sticker | Sold Out (Holo)",
			"Sticker | Missing", "Sticker | Unreferenced"})
		require.NoError(t, err)
		require.Equal(t, map[string]*market.ResaleHistory{
			"Sticker | Sold Out (Holo)": {Stable: true, SoldPerWeek: 3, PriceAtLow: 7000, PriceAtHigh: 7000},
			"Sticker | Unreferenced":    {Stable: true, SoldPerWeek: 3, PriceAtLow: 10, PriceAtHigh: 10},
		}, h)
		h, err = r.StickerHistories(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, h)
		var _ offers.HistorySource = r // the bot's offers service reads them through it
	})
}
