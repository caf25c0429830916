package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/worker"
)

// countingMessenger is a Telegram that accepts every message at once and counts them.
type countingMessenger struct{ sent atomic.Int64 }

func (m *countingMessenger) Updates(context.Context, int, time.Duration) ([]tgbotapi.Update, error) {
	return nil, nil
}

func (m *countingMessenger) SendText(context.Context, telegram.Priority, int64, string, *tgbotapi.InlineKeyboardMarkup) (int, error) {
	return int(m.sent.Add(1)), nil
}

func (m *countingMessenger) SendPhoto(context.Context, telegram.Priority, int64, telegram.Media, string, *tgbotapi.InlineKeyboardMarkup) (int, error) {
	return int(m.sent.Add(1)), nil
}

func (m *countingMessenger) EditText(context.Context, telegram.Priority, int64, int, string, *tgbotapi.InlineKeyboardMarkup) error {
	return nil
}

func (m *countingMessenger) AnswerCallback(context.Context, string, string, bool) error { return nil }

func (m *countingMessenger) SetCommands(context.Context, []telegram.Command) error { return nil }

type noCharts struct{}

func (noCharts) Chart(context.Context, string) ([]byte, error) { return nil, nil }

// churnTitle names the i-th title of the churn.
func churnTitle(i int) string { return fmt.Sprintf("Churn item %05d", i) }

// listingsPage is a market-items page with one listing of each title, priced 10.00 to 10.49.
func listingsPage(cycle int, titles []int) []byte {
	var b strings.Builder
	b.WriteString(`{"objects":[`)
	for n, i := range titles {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"itemId":"c%d-%d","title":%q,"gameId":"a8db","price":{"USD":"%d"},"suggestedPrice":{"USD":"2000"},"image":"https://img.example/%d.png","extra":{"tradable":true}}`,
			cycle, i, churnTitle(i), 1000+i%50, i)
	}
	b.WriteString(`],"cursor":""}`)
	return []byte(b.String())
}

// ordersPage is an aggregated-prices answer with a buy order at 15.00 for each title.
func ordersPage(titles []int) []byte {
	var b strings.Builder
	b.WriteString(`{"aggregatedPrices":[`)
	for n, i := range titles {
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"title":%q,"orderBestPrice":{"Currency":"USD","Amount":"1500"},"orderCount":"3","offerBestPrice":{"Currency":"USD","Amount":"%d"},"offerCount":"1"}`,
			churnTitle(i), 1000+i%50)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func churnDelivery(t *testing.T, kind message.Kind, fetched time.Time, payload []byte) message.Delivery {
	t.Helper()
	body, err := message.Encode(message.Envelope{Schema: message.SchemaVersion, Kind: kind, GameID: "a8db", FetchedAt: fetched,
		Request: message.Request{Method: "GET", Path: "/churn"}, Payload: payload})
	require.NoError(t, err)
	return message.Delivery{MessageID: "churn", Body: body, Attempt: 1}
}

// keyStats is what the churn test measures of one database.
type keyStats struct {
	keys    int64            // DBSIZE
	noTTL   []string         // keys without a TTL, sorted
	entries map[string]int64 // members or fields of each bounded key
	bytes   int64            // MEMORY USAGE of the bounded keys together
}

// boundedEntries sums the entries of the bounded keys.
func (s keyStats) boundedEntries() int64 {
	var n int64
	for _, v := range s.entries {
		n += v
	}
	return n
}

// measure checks every key of the database: a key with a TTL must not outlive maxTTL(key); a key without
// one, and the notification dedup set, is measured (entries and bytes).
func measure(t *testing.T, rdb *redis.Client, maxTTL func(key string) time.Duration) keyStats {
	t.Helper()
	ctx := context.Background()
	st := keyStats{entries: map[string]int64{}}
	var err error
	st.keys, err = rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		ttl, err := rdb.PTTL(ctx, key).Result()
		require.NoError(t, err)
		// go-redis reports Redis' -2 (no such key) and -1 (no TTL) as nanoseconds.
		if ttl == -2 { // expired since the SCAN
			continue
		}
		if ttl != -1 {
			require.LessOrEqual(t, ttl, maxTTL(key), "key %q lives longer than its bound", key)
			if !strings.HasPrefix(key, "telegram:sent:") {
				continue
			}
		} else {
			st.noTTL = append(st.noTTL, key)
		}
		var n int64
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "zset":
			n = rdb.ZCard(ctx, key).Val()
		case "hash":
			n = rdb.HLen(ctx, key).Val()
		case "set":
			n = rdb.SCard(ctx, key).Val()
		default:
			n = 1
		}
		st.entries[key] = n
		size, err := rdb.MemoryUsage(ctx, key, 0).Result()
		if errors.Is(err, redis.Nil) { // the dedup set expired since the SCAN
			continue
		}
		require.NoError(t, err)
		st.bytes += size
	}
	require.NoError(t, iter.Err())
	sort.Strings(st.noTTL)
	return st
}

// TestRedisKeysStayBoundedUnderTitleChurn drives the real writers of every per-title key through many
// cycles in which titles appear and leave the market: the worker's listings and orders pages (prices:,
// orders:, the sales schedule), a parser's claims of due sales (sales schedule), and the bot's
// notifications (telegram:titles, telegram:sent:). Every key has a TTL within its bound or is one of the
// documented bounded keys, and those stay flat once warmed up although the titles ever listed keep growing.
func TestRedisKeysStayBoundedUnderTitleChurn(t *testing.T) {
	const (
		live      = 100              // titles on the market at any time
		arrivals  = 20               // titles arriving (and leaving) per cycle
		cycles    = 240              // each title is listed for live/arrivals = 5 cycles
		step      = 2 * time.Hour    // fake time per cycle
		priceTTL  = 5 * time.Second  // so that Redis expires the keys of titles gone within the test
		dedup     = 12 * time.Hour   // a title is notified again every 6 cycles
		warmUp    = 120              // cycles after which every retention (7 days = 84 cycles) has passed
		checkStep = 30               // cycles between two measurements
		user      = int64(1001)      // the one trader
		game      = "a8db"           // the one game
		claimN    = 200              // sales titles a parser claims per cycle
		slack     = 1.05             // allowed growth of the bounded keys' bytes after warm-up
		expiryLag = 10 * time.Second // how late Redis may reclaim an expired key, beyond its TTL
	)
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	clk := clocktest.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)

	store, err := pricestore.New(rdb, clk, pricestore.Config{PriceTTL: priceTTL})
	require.NoError(t, err)
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	require.NoError(t, err)
	h, err := worker.New(worker.Config{}, worker.Deps{Store: store, Schedule: sched, Analyse: worker.SellHistory,
		Logger: log, Registerer: reg, Clock: clk})
	require.NoError(t, err)
	fee, err := market.ParsePercent("5")
	require.NoError(t, err)
	market := offers.NewService(pricestore.NewMarketReader(rdb, pricestore.MarketReaderConfig{FallbackFee: fee}, clk, log), clk, time.Millisecond)
	tg := &countingMessenger{}
	b, err := bot.New(bot.Config{Whitelist: []int64{user}, GameIDs: []string{game}, DedupWindow: dedup, MaxPerCycle: live + arrivals},
		tg, market, noCharts{}, rdb, log, reg, nil, clk)
	require.NoError(t, err)
	// The trader has written to the bot once, so notifications reach them.
	require.NoError(t, rdb.HSet(ctx, "telegram:started", user, user).Err())

	maxTTL := func(key string) time.Duration {
		switch {
		case strings.HasPrefix(key, pricestore.PricesPrefix), strings.HasPrefix(key, pricestore.OrdersPrefix),
			strings.HasPrefix(key, pricestore.BucketPrefix), strings.HasPrefix(key, pricestore.CrawlPrefix):
			return priceTTL + time.Second
		case strings.HasPrefix(key, pricestore.ChartPrefix):
			// Daily chart points are kept for 30 days (unless HISTORY_TTL is longer).
			return max(pricestore.ChartTTL, pricestore.DefaultHistoryTTL)
		case strings.HasPrefix(key, "telegram:sent:"), strings.HasPrefix(key, "telegram:sentprofit:"):
			return 2 * dedup
		case strings.HasPrefix(key, "telegram:sendlog:"):
			return bot.SendLogTTL
		case strings.HasPrefix(key, "telegram:digest:"):
			return bot.DigestMarkTTL
		}
		return 0
	}
	wantNoTTL := []string{"sales:schedule:dmarket:a8db", "sales:seen:dmarket:a8db", "telegram:started", "telegram:titles", "telegram:titles:issued"}
	// Upper bounds of the entries: the schedule holds the titles seen within its retention, the bot's
	// title ids those notified within theirs, the dedup set the notifications of its window.
	seenWithin := func(d time.Duration) int64 { return int64(live + arrivals*int(d/step+1)) }
	bound := map[string]int64{
		"sales:schedule:dmarket:a8db":         seenWithin(salesschedule.DefaultRetention),
		"sales:seen:dmarket:a8db":             seenWithin(salesschedule.DefaultRetention),
		"telegram:titles":                     seenWithin(bot.DefaultTitleRetention),
		"telegram:titles:issued":              seenWithin(bot.DefaultTitleRetention),
		"telegram:started":                    1,
		fmt.Sprintf("telegram:sent:%d", user): seenWithin(dedup),
	}

	var first keyStats
	for c := 0; c < cycles; c++ {
		clk.Advance(step)
		now := clk.Now()
		titles := make([]int, live)
		for i := range titles {
			titles[i] = c*arrivals + i
		}
		require.NoError(t, h.Handle(ctx, churnDelivery(t, message.KindListings, now, listingsPage(c, titles))))
		require.NoError(t, h.Handle(ctx, churnDelivery(t, message.KindOrders, now, ordersPage(titles))))
		due, err := sched.Claim(ctx, game, claimN, 10*time.Minute)
		require.NoError(t, err)
		for _, title := range due {
			require.NoError(t, sched.Done(ctx, game, title, 6*time.Hour))
		}
		notified, err := b.StartCycle(ctx)
		require.NoError(t, err)
		notified.Wait()

		if c+1 < warmUp || (c+1)%checkStep != 0 {
			continue
		}
		st := measure(t, rdb, maxTTL)
		require.Equal(t, wantNoTTL, st.noTTL, "only the documented bounded keys live without a TTL")
		for key, n := range st.entries {
			require.LessOrEqual(t, n, bound[key], "cycle %d: %s", c+1, key)
		}
		t.Logf("cycle %3d: titles ever listed %5d, keys %4d, bounded keys: %v entries, %d bytes",
			c+1, c*arrivals+live, st.keys, st.entries, st.bytes)
		if first.entries == nil {
			first = st
			continue
		}
		require.LessOrEqual(t, st.boundedEntries(), first.boundedEntries()+arrivals, "cycle %d: bounded keys grow", c+1)
		require.LessOrEqual(t, float64(st.bytes), float64(first.bytes)*slack, "cycle %d: bounded keys grow", c+1)
	}
	everListed := int64((cycles-1)*arrivals + live)
	last := measure(t, rdb, maxTTL)
	require.Less(t, last.entries["sales:schedule:dmarket:a8db"]*5, everListed, "the schedule no longer holds every title ever listed")
	require.Less(t, last.entries["telegram:titles"]*2, everListed, "the bot no longer holds every title ever notified")
	require.Greater(t, tg.sent.Load(), int64(cycles*arrivals/2), "the bot notified (and remembered) the arriving titles")

	// Once the churn stops, Redis itself removes every price and order key within PRICE_TTL: what is
	// left is the bounded keys and the user's notification dedup set, the profits sent and hourly send log.
	require.Eventually(t, func() bool {
		n, err := rdb.DBSize(ctx).Result()
		return err == nil && n == int64(len(wantNoTTL)+3)
	}, priceTTL+expiryLag, 50*time.Millisecond, "price and order keys expire by themselves")
}
