package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
)

// accountListingsRate is the simulator's default per-account limit of signed listings requests.
const accountListingsRate = 10

// observerID is a whitelisted user with notifications off who looks at /offers every few seconds, as a
// trader keeping the list open would.
const observerID = int64(3003)

// movingOpts sizes a moving-market run.
type movingOpts struct {
	// titles × perTitle is the catalogue's size in listings.
	titles, perTitle int
	// egresses test proxies, each allowed rate market-items requests per second by the simulator.
	egresses int
	rate     float64
	// dealEvery, dealLife and churn drive the simulator's Mover.
	dealEvery, dealLife time.Duration
	churn               float64
	// run is how long the market moves; settle how long the run waits after for the last notifications.
	run, settle time.Duration
	// freshShare is PARSER_FRESH_SHARE, empty for the default.
	freshShare string
}

// movingResult is what a run measured.
type movingResult struct {
	// deals are the designed deals listed while the market moved.
	deals []dmarkettest.Deal
	// notified maps a deal's item id to when its first notification reached the fake Bot API.
	notified map[string]time.Time
	// lateNotices lists the deals notified after they were sold.
	lateNotices []string
	// gone maps a sold deal's item id to the time from its sale to the first /offers view without it,
	// for deals some view showed before the sale.
	gone map[string]time.Duration
	// views is the number of /offers views the observer took.
	views int
	// requests and limited are the market-items requests of the parser's egresses and their 429s, by lane.
	requests, limited map[dmarkettest.Lane]int64
	// budget is the egresses' combined request budget over the run, in requests.
	budget float64
}

// latencies returns the notification latencies (createdAt → notification) of the deals notified, sorted,
// and the deals never notified. A deal at the same title and price as an earlier deal notified less than
// 30 minutes before it is left out of both: SPEC §6.4 does not send that offer again.
func (r movingResult) latencies() (lat []time.Duration, missed []dmarkettest.Deal) {
	for i, d := range r.deals {
		at, ok := r.notified[d.ItemID]
		if !ok {
			if !r.repeats(i) {
				missed = append(missed, d)
			}
			continue
		}
		lat = append(lat, at.Sub(d.CreatedAt))
	}
	slices.Sort(lat)
	return lat, missed
}

// repeats reports whether deal i has the title and price of an earlier deal notified within the 30
// minutes before it was listed.
func (r movingResult) repeats(i int) bool {
	d := r.deals[i]
	for _, e := range r.deals[:i] {
		if at, ok := r.notified[e.ItemID]; ok && e.Title == d.Title && e.Price == d.Price && d.CreatedAt.Sub(at) < 30*time.Minute {
			return true
		}
	}
	return false
}

// goneTimes returns the sold-to-gone times measured, sorted.
func (r movingResult) goneTimes() []time.Duration {
	var gone []time.Duration
	for _, g := range r.gone {
		gone = append(gone, g)
	}
	slices.Sort(gone)
	return gone
}

// totals returns the egresses' market-items requests and 429s over every lane.
func (r movingResult) totals() (requests, limited int64) {
	for lane, n := range r.requests {
		requests += n
		limited += r.limited[lane]
	}
	return requests, limited
}

// quantile returns the q-quantile (nearest rank) of sorted durations, 0 when there are none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// offerKey identifies an offer on the page by its title and buy price, as a trader reads it.
func offerKey(title, buy string) string { return title + "|" + buy }

// runMovingMarket runs the three binaries against a simulator whose market moves (designed deals listed
// and sold, ordinary listings churning) through o.egresses test proxies, with a trader who gets
// notifications and an observer who looks at /offers every two seconds, and returns what it measured.
func runMovingMarket(tb testing.TB, o movingOpts) movingResult {
	tb.Helper()
	pub, sec := dmarkettest.DemoKeys()
	sim := dmarkettest.New(dmarkettest.Config{Titles: o.titles, ListingsPerTitle: o.perTitle, DealShare: -1,
		BuyOrderShare: 0.6, PublicMarketRate: o.rate, PublicKeys: []string{pub}})
	tb.Cleanup(sim.Close)

	dir := tb.TempDir()
	var lines, ips []string
	for i := range o.egresses {
		ip := fmt.Sprintf("127.0.60.%d", i+1)
		lines = append(lines, proxytest.New(tb, proxytest.Options{SourceIP: ip}).URL())
		ips = append(ips, ip)
	}
	proxies := filepath.Join(dir, "proxies.txt")
	proxytest.Rewrite(tb, proxies, lines...)

	tg := telegramtest.New(tb, telegramtest.Options{})
	d := newDeps(tb)
	base := map[string]string{"REDIS_URL": d.redisURL, "RABBITMQ_URL": d.amqpURL, "LOG_LEVEL": "info",
		"DMARKET_API_URL": sim.URL(), "DMARKET_PUBLIC_KEY": pub, "DMARKET_SECRET_KEY": sec}
	worker, _ := serve(tb, "worker", base)
	parserEnv := map[string]string{"DMARKET_PROXIES_FILE": proxies,
		"PARSER_RATE_PER_IP": strconv.FormatFloat(o.rate, 'f', -1, 64), "PARSER_CYCLE_INTERVAL": "10s"}
	if o.freshShare != "" {
		parserEnv["PARSER_FRESH_SHARE"] = o.freshShare
	}
	parser, parserBase := serve(tb, "parser", merged(base, parserEnv))
	bot, botBase := serve(tb, "bot", merged(base, map[string]string{"TELEGRAM_API_ENDPOINT": tg.Endpoint(),
		"TELEGRAM_API_TOKEN": tg.Token(), "TELEGRAM_WHITELIST": fmt.Sprintf("%d,%d", traderID, observerID),
		"BOT_DEFAULT_MIN_PRICE": "0", "BOT_DEFAULT_LIMIT": "20", "BOT_POLL_INTERVAL": "3s"}))
	running := func() {
		for _, p := range []*proc{worker, parser, bot} {
			p.requireRunning(tb)
		}
	}

	// The market is known once the first crawl cycle and the buy orders behind it are in.
	require.Eventually(tb, func() bool {
		running()
		m, err := scrapeMetrics(parserBase)
		return err == nil && m.sum("dmarket_crawler_cycles_total") >= 1
	}, 10*time.Minute, 200*time.Millisecond, "the parser never finished its first crawl cycle")
	// The trader takes every notification (no hourly cap); the observer only looks (notifications off).
	rdb := redis.NewClient(mustRedisOptions(tb, d.redisURL))
	tb.Cleanup(func() { _ = rdb.Close() })
	for user, settings := range map[int64]string{traderID: `{"max_per_hour":0}`, observerID: `{"notifications":false}`} {
		require.NoError(tb, rdb.Set(context.Background(), fmt.Sprintf("telegram:settings:%d", user), settings, 0).Err())
	}
	tg.SendText(observerID, "/start")
	requireBotReply(tb, tg, observerID, 0, false)
	tg.SendText(traderID, "/start")
	quiet(tb, tg, traderID, 5*time.Second, 2*time.Minute)

	mover := dmarkettest.NewMover(sim.Handler, dmarkettest.MoverConfig{DealEvery: o.dealEvery, DealLife: o.dealLife, ExistingOrders: true,
		ChurnPerSecond: o.churn})
	before := sim.Stats()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = mover.Run(ctx) })
	start := time.Now()
	res := movingResult{notified: map[string]time.Time{}, gone: map[string]time.Duration{}}
	var views []offersView
	for time.Since(start) < o.run+o.settle {
		running()
		if time.Since(start) >= o.run {
			cancel()
		}
		views = append(views, lookAtOffers(tb, tg))
		time.Sleep(time.Until(views[len(views)-1].at.Add(2 * time.Second)))
	}
	cancel()
	wg.Wait()
	after := sim.Stats()
	elapsed := time.Since(start)

	for _, dl := range mover.Deals() {
		if dl.CreatedAt.Before(start.Add(-time.Second)) || dl.CreatedAt.After(start.Add(o.run)) {
			continue
		}
		res.deals = append(res.deals, dl)
	}
	// The bot's own account of the run, for whoever reads a failure.
	if _, page, err := get(botBase+"/metrics", ""); err == nil {
		for _, line := range strings.Split(string(page), "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			for _, name := range []string{"rechecks_total", "notifications_total", "stale_offers", "change_events_total"} {
				if strings.Contains(line, name) {
					tb.Log("bot: ", line)
				}
			}
		}
	}
	res.collectNotices(tg)
	res.collectGone(views)
	res.views = len(views)
	res.requests, res.limited = map[dmarkettest.Lane]int64{}, map[dmarkettest.Lane]int64{}
	for lane, st := range after.Lanes {
		for _, ip := range ips {
			res.requests[lane] += st.RequestsByIP[ip] - before.Lanes[lane].RequestsByIP[ip]
			res.limited[lane] += st.RateLimitedByIP[ip] - before.Lanes[lane].RateLimitedByIP[ip]
		}
	}
	// The parser has keys: besides the egresses' budget its signed chains spend the account's listings
	// budget.
	res.budget = (float64(o.egresses)*o.rate + accountListingsRate) * elapsed.Seconds()
	return res
}

// offersView is what the observer's /offers page showed at a time.
type offersView struct {
	at    time.Time
	shown map[string]bool
}

// lookAtOffers sends /offers as the observer and returns the first page it gets back.
func lookAtOffers(tb testing.TB, tg *telegramtest.Server) offersView {
	tb.Helper()
	n := len(tg.Sent(observerID))
	tg.SendText(observerID, "/offers")
	c := requireBotReply(tb, tg, observerID, n, true)
	v := offersView{at: c.At, shown: map[string]bool{}}
	for _, o := range parseOffers(c.Text) {
		v.shown[offerKey(o.title, o.buy)] = true
	}
	return v
}

// requireBotReply waits for the bot's first successful text message to chat after the first n (one with
// inline buttons when buttons is set, as an /offers page has) and returns it.
func requireBotReply(tb testing.TB, tg *telegramtest.Server, chat int64, n int, buttons bool) telegramtest.Call {
	tb.Helper()
	var got telegramtest.Call
	require.Eventually(tb, func() bool {
		sent := tg.Sent(chat)
		for _, c := range sent[min(n, len(sent)):] {
			if c.Status == 200 && c.Method == "sendMessage" && (!buttons || c.Markup != nil) {
				got = c
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the bot never answered chat %d", chat)
	return got
}

// quiet waits until chat has received nothing for gap (the start-up notifications are out), at most
// within.
func quiet(tb testing.TB, tg *telegramtest.Server, chat int64, gap, within time.Duration) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		sent := tg.Sent(chat)
		return len(sent) > 0 && time.Since(sent[len(sent)-1].At) >= gap
	}, within, 100*time.Millisecond, "notifications to %d never paused for %s", chat, gap)
}

// collectNotices records, for every deal, the first notification to the trader showing its title at its
// price, and the notifications sent after the deal was sold. A notification shows the last deal of its
// title and price listed before it: the Mover can list a title's deal again at the same price after the
// first was sold, and a notification after that is not a late one of the first.
func (r *movingResult) collectNotices(tg *telegramtest.Server) {
	for _, c := range tg.Sent(traderID) {
		if c.Status != 200 {
			continue
		}
		for _, o := range parseOffers(c.Text + c.Caption) {
			r.notice(c.At, o.title, o.buy)
		}
	}
}

// notice records a notification, at a time, of an offer of title at buy (as an offer shows it: "$1.50").
func (r *movingResult) notice(at time.Time, title, buy string) {
	dl, ok := r.lastDealBefore(title, buy, at)
	if !ok {
		return
	}
	if _, seen := r.notified[dl.ItemID]; !seen {
		r.notified[dl.ItemID] = at
	}
	if !dl.SoldAt.IsZero() && at.After(dl.SoldAt) {
		r.lateNotices = append(r.lateNotices, fmt.Sprintf("%s at %s, sold %s before",
			dl.Title, market.Cents(dl.Price), at.Sub(dl.SoldAt).Round(time.Millisecond)))
	}
}

// lastDealBefore returns the deal of title at buy (as an offer shows it) listed last at or before at.
func (r *movingResult) lastDealBefore(title, buy string, at time.Time) (dmarkettest.Deal, bool) {
	var last dmarkettest.Deal
	found := false
	for _, dl := range r.deals {
		if dl.Title == title && market.Cents(dl.Price).Dollars() == buy && !at.Before(dl.CreatedAt) &&
			(!found || dl.CreatedAt.After(last.CreatedAt)) {
			last, found = dl, true
		}
	}
	return last, found
}

// collectGone records, for each sold deal that some view showed before its sale, the time from the sale
// to the first later view without it (not measured when a deal of the same title and price was listed
// again before that view).
func (r *movingResult) collectGone(views []offersView) {
	for _, dl := range r.deals {
		if dl.SoldAt.IsZero() {
			continue
		}
		key := offerKey(dl.Title, market.Cents(dl.Price).Dollars())
		shownBefore := false
		for _, v := range views {
			if !v.at.After(dl.SoldAt) {
				shownBefore = shownBefore || v.shown[key]
				continue
			}
			// A view after a later deal of the same title and price was listed shows that one.
			if next, ok := r.lastDealBefore(dl.Title, market.Cents(dl.Price).Dollars(), v.at); !shownBefore ||
				(ok && next.ItemID != dl.ItemID) {
				break
			}
			if !v.shown[key] {
				r.gone[dl.ItemID] = v.at.Sub(dl.SoldAt)
				break
			}
		}
	}
}

// requireFreshness checks a run against the goals that hold on any machine: every deal notified,
// none after its sale, and the egresses' 429 share at most 1 %; it logs the latency figures.
func requireFreshness(t *testing.T, res movingResult) {
	t.Helper()
	lat, missed := res.latencies()
	gone := res.goneTimes()
	reqs, limited := res.totals()
	t.Logf("deals %d, notified %d (p50 %s, p95 %s, max %s), sold and gone from /offers %d (p95 %s) in %d views; "+
		"requests by lane %v, 429s %v, budget used %.1f %%", len(res.deals), len(lat), quantile(lat, 0.5),
		quantile(lat, 0.95), quantile(lat, 1), len(gone), quantile(gone, 0.95), res.views, res.requests, res.limited,
		100*float64(reqs)/res.budget)
	require.NotEmpty(t, res.deals, "the market moved")
	assert.Empty(t, res.lateNotices, "no listing is notified after it was sold")
	never := make([]string, 0, len(missed))
	for _, d := range missed {
		never = append(never, fmt.Sprintf("%s at %s (order %s, %+.2f %%) listed %s, sold %s", d.Title, market.Cents(d.Price),
			market.Cents(d.OrderPrice), d.ProfitPercent, d.CreatedAt.Format(time.StampMilli), d.SoldAt.Format(time.StampMilli)))
	}
	assert.Empty(t, never, "deals never notified")
	require.Positive(t, reqs)
	require.LessOrEqual(t, float64(limited)/float64(reqs), 0.01, "429 share of the egresses' requests")
}

// TestMovingMarket runs the pipeline on an 8,000-listing market that moves while it runs (a designed deal
// every 3 s, each sold 20 s later, ordinary listings added and sold) through 5 egresses of 2 requests/s:
// every deal reaches the trader, none after its sale, the 429 share stays at most 1 %.
func TestMovingMarket(t *testing.T) {
	res := runMovingMarket(t, movingOpts{titles: 800, perTitle: 10, egresses: 5, rate: 2,
		dealEvery: 3 * time.Second, dealLife: 20 * time.Second, churn: 2, run: 33 * time.Second, settle: 15 * time.Second})
	requireFreshness(t, res)
}

// BenchmarkMovingMarket measures the goals on an 80,000-listing moving market (5 egresses at
// 2 requests/s, a deal every 3 s sold 20 s later, 2 ordinary listings added and sold a second) over two
// minutes: deal → notification p50/p95, sold → gone from /offers p95, 429 share and budget used, for
// the default PARSER_FRESH_SHARE (default) and other shares of the budget for the fresh lane. Run it with
// -benchtime 1x (one sub-benchmark: -bench 'MovingMarket/fresh=default').
func BenchmarkMovingMarket(b *testing.B) {
	for _, share := range []string{"default", "0.1", "0.5"} {
		b.Run("fresh="+share, func(b *testing.B) {
			o := movingOpts{titles: 8000, perTitle: 10, egresses: 5, rate: 2, dealEvery: 3 * time.Second,
				dealLife: 20 * time.Second, churn: 2, run: 2 * time.Minute, settle: 20 * time.Second}
			if share != "default" {
				o.freshShare = share
			}
			for range b.N {
				reportMoving(b, runMovingMarket(b, o))
			}
		})
	}
}

// reportMoving reports a run's figures as benchmark metrics.
func reportMoving(b *testing.B, res movingResult) {
	lat, missed := res.latencies()
	gone := res.goneTimes()
	reqs, limited := res.totals()
	b.ReportMetric(float64(len(res.deals)), "deals")
	b.ReportMetric(float64(len(missed)), "missed")
	b.ReportMetric(float64(len(res.lateNotices)), "late-notices")
	b.ReportMetric(quantile(lat, 0.5).Seconds(), "p50-notify-s")
	b.ReportMetric(quantile(lat, 0.95).Seconds(), "p95-notify-s")
	b.ReportMetric(quantile(gone, 0.95).Seconds(), "p95-gone-s")
	b.ReportMetric(float64(len(gone)), "gone-measured")
	b.ReportMetric(100*float64(limited)/float64(max(reqs, 1)), "%429")
	b.ReportMetric(100*float64(reqs)/res.budget, "%budget")
	b.ReportMetric(100*float64(res.requests[dmarkettest.LaneRange])/float64(max(reqs, 1)), "%range")
}
