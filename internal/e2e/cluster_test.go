package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// TestGroundTruthOnRedisCluster runs the real binaries on the local Redis Cluster (SPEC §9.3): a parser
// crawls an adversarial simulator catalogue of two games into RabbitMQ's quorum queues, two workers write
// it to the cluster, and the bot reads it back. Every title's Redis state, the fees, the keys' lifetimes
// and the offers the bot computes and shows must equal what the simulator's catalogue says they must be,
// with no difference at all. The catalogue holds every adversarial and attribute title and 10 ordinary
// titles a game: the wait for every title's sales (the parser's signed sales budget is 6 requests/s) is
// most of the test's time.
func TestGroundTruthOnRedisCluster(t *testing.T) {
	sim, games, total := truthSim(t, 10)
	cat := sim.Catalogue()
	t.Logf("catalogue: %d titles, %d listings, %d games", total, cat.ListingCount(), len(games))

	redisURL := redisdbtest.ClusterURL(t)
	require.True(t, redisdb.IsClusterURL(redisURL))
	rdb, err := redisdb.New(redisURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	tg := telegramtest.New(t, telegramtest.Options{})
	env := merged(crawlEnv(sim.URL()), map[string]string{"REDIS_URL": redisURL, "RABBITMQ_URL": rabbitmqtest.NewVhost(t),
		"LOG_LEVEL": "info", "DMARKET_GAME_IDS": strings.Join(games, ","), "PARSER_RATE_PER_IP": "1000",
		"PARSER_CYCLE_INTERVAL": "1h", "PRICE_TTL": "1h", "HISTORY_TTL": "24h",
		// No fresh or watch lane: at their default shares of this test's 1000 requests/s they would poll
		// the newest listings some 300 times a second and publish every page, flooding the broker and
		// the workers while the test waits for the sales (and nothing more is to be published after the
		// crawl, below).
		"PARSER_FRESH_SHARE": "0", "PARSER_WATCH_SHARE": "0"})
	var workers []string
	for range 2 {
		p, base := serve(t, "worker", env)
		awaitStatus(t, p, base+"/healthz", 200, 20*time.Second)
		workers = append(workers, base)
	}
	parser, parserBase := serve(t, "parser", env)

	// The first cycle crawls every range once; the sales of every title and the fees follow. Nothing
	// more is published until the next cycle, an hour later.
	done := awaitMetrics(t, parser, parserBase, 3*time.Minute, "a complete crawl with every title's sales", func(m metricsPage) bool {
		require.Zero(t, m.sum("dmarket_crawler_cycles_total", "outcome", "partial"), "a crawl cycle left ranges unfinished")
		return m.sum("dmarket_crawler_cycles_total", "outcome", "complete") >= 1 &&
			m.sum("dmarket_crawler_sales_titles_total", "outcome", "ok") >= float64(salesTitleCount(cat, games))
	})
	published := done.sum("dmarket_crawler_pages_published_total")
	handled := func(outcome string) float64 {
		n := 0.0
		for _, base := range workers {
			m, err := scrapeMetrics(base)
			require.NoError(t, err)
			n += m.sum("dmarket_worker_pages_total", "outcome", outcome)
		}
		return n
	}
	require.Eventually(t, func() bool {
		parser.requireRunning(t)
		return handled("ok")+handled("invalid") >= published
	}, time.Minute, 50*time.Millisecond, "the workers handle the %v messages published", published)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now, d := time.Now(), newDiffs()
	tm := expectTruth(cat, games, now)
	for _, g := range games {
		compareFees(ctx, t, rdb, g, tm.m.fees[g], d)
	}
	compareRedis(ctx, t, rdb, tm.want, now, d)
	compareTTLs(ctx, t, rdb, tm.want, d)
	compareAttrRedis(ctx, t, rdb, tm.all, now, d)
	if n := handled("invalid"); n > 0 {
		d.add("(worker)", "worker: messages dead-lettered", "%v messages", n)
	}

	// The bot's read of the whole market, as the bot binary makes it, walks every master.
	snap := readMarket(ctx, t, rdb)
	require.Len(t, snap.Titles, listedTitleCount(cat, games), "titles read back from the cluster")
	stateDiffers := d.titles()
	zeroLimit := userSettings{name: "min price $0, limit 0 %", minPrice: 0, limitBP: 0}
	for _, s := range []userSettings{{name: "min price $0, limit -100 %", minPrice: 0, limitBP: -10000}, zeroLimit} {
		exp := tm.compareOffersFor(snap, s, d, stateDiffers)
		require.NotEmpty(t, exp, "the truth has offers for %s", s.name)
	}
	require.True(t, d.empty(), d.report())

	// The bot binary on the cluster shows the trader the best offers, each as the truth has it.
	bot, botBase := serve(t, "bot", merged(env, map[string]string{"TELEGRAM_API_ENDPOINT": tg.Endpoint(),
		"TELEGRAM_API_TOKEN": tg.Token(), "TELEGRAM_WHITELIST": fmt.Sprint(traderID), "BOT_DEFAULT_MIN_PRICE": "0",
		"BOT_DEFAULT_LIMIT": "0", "BOT_POLL_INTERVAL": "1s"}))
	awaitStatus(t, bot, botBase+"/healthz", 200, 20*time.Second)
	// A page shows no phase: the offers of one title, kind and status (a phased title's HISTORY offers of
	// each phase) share a key.
	truth := map[string][]wantOffer{}
	for _, o := range expectAttrOffers(tm.all, tm.m, zeroLimit) {
		k := o.title + "|" + o.kind + "|" + fmt.Sprint(o.status == string(market.StatusLocked))
		truth[k] = append(truth[k], o.wantOffer)
	}
	tg.SendText(traderID, "/offers")
	var page []shownOffer
	require.Eventually(t, func() bool {
		bot.requireRunning(t)
		for _, c := range tg.Sent(traderID) {
			if c.Method == "sendMessage" && c.Status == 200 {
				if page = parseOffers(c.Text); len(page) > 0 {
					return true
				}
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "an /offers page")
	for _, o := range page {
		ws, ok := truth[o.key()]
		require.True(t, ok, "offer %+v is not in the truth", o)
		shown := make([]shownOffer, len(ws))
		for i, w := range ws {
			shown[i] = shownOffer{profit: offers.Percent(w.bp), buy: market.Cents(w.buy).Dollars(),
				sell: market.Cents(w.sell).Dollars(), net: market.Cents(w.net).Dollars(), kind: w.kind, title: w.title,
				locked: o.locked}
		}
		require.Contains(t, shown, o)
	}
}
