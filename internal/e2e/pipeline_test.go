package e2e

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

const (
	traderID   = int64(1001)
	strangerID = int64(2002)
)

// shownOffer is one offer as the bot rendered it.
type shownOffer struct {
	profit, buy, sell, net string
	kind, title            string
	locked                 bool
}

func (o shownOffer) key() string {
	return fmt.Sprintf("%s|%s|%t", o.title, o.kind, o.locked)
}

var offerRE = regexp.MustCompile(`<b>([+-]\d+\.\d\d%)</b>  (\$[\d.,]+) → (\$[\d.,]+) \(net (\$[\d.,]+)\)\n(TARGET|HISTORY|FLOAT|STICKERS)[^\n]*\n<a href="[^"]*">([^<]*)</a>\n(LOCKED)?`)

func parseOffers(text string) []shownOffer {
	var out []shownOffer
	for _, m := range offerRE.FindAllStringSubmatch(text, -1) {
		out = append(out, shownOffer{profit: m[1], buy: m[2], sell: m[3], net: m[4], kind: m[5],
			title: html.UnescapeString(m[6]), locked: m[7] != ""})
	}
	return out
}

// expectedTargets recomputes the TARGET offers from the simulator's ground truth with the offers engine:
// the cheapest listing of each status, the best buy order and the game's fees as the catalogue holds
// them, for a user who sees everything with a profit of at least 0 %.
func expectedTargets(cat *dmarkettest.Catalogue) map[string]shownOffer {
	m := market.Snapshot{Fees: map[string]market.FeeSchedule{}, FallbackFee: offerstest.MustFraction("0.05")}
	for _, game := range cat.Games {
		for _, ti := range cat.Titles[game] {
			t := market.TitleState{Title: ti.Name, GameID: game}
			for _, l := range ti.Listings {
				switch {
				case l.Tradable() && t.Available == nil:
					t.Available = &market.PriceLevel{Price: market.Cents(l.PriceCents), Count: 1}
				case !l.Tradable() && t.Locked == nil:
					t.Locked = &market.PriceLevel{Price: market.Cents(l.PriceCents), Count: 1, LockDays: float64(l.LockDays())}
				}
			}
			if ti.BuyOrder != nil {
				t.Order = &market.OrderLevel{Price: market.Cents(ti.BuyOrder.PriceCents), Count: ti.BuyOrder.Count}
			}
			m.Titles = append(m.Titles, t)
		}
		f := cat.Fees[game]
		gf := market.FeeSchedule{Fraction: offerstest.MustFraction(f.DefaultFraction), Min: market.Cents(f.MinAmountCents),
			Reduced: map[string][]market.TitleFee{}}
		for _, r := range f.Reduced {
			lo, hi := market.Cents(r.MinPriceCents), market.Cents(r.MaxPriceCents)
			gf.Reduced[r.Title] = append(gf.Reduced[r.Title], market.TitleFee{Fraction: offerstest.MustFraction(r.Fraction),
				MinPrice: &lo, MaxPrice: &hi, ExpiresAt: r.ExpiresAt})
		}
		m.Fees[game] = gf
	}
	out := map[string]shownOffer{}
	for _, o := range offers.Compute(m, offers.Settings{Games: cat.Games}, time.Now()) {
		if o.Kind != market.KindTarget {
			continue
		}
		s := shownOffer{profit: offers.Percent(o.ProfitBasisPoints), buy: market.Cents(o.Buy).Dollars(), sell: market.Cents(o.Sell).Dollars(),
			net: market.Cents(o.Net).Dollars(), kind: string(o.Kind), title: o.Title, locked: o.Status == market.StatusLocked}
		out[s.key()] = s
	}
	return out
}

// countKeys counts the keys matching pattern with SCAN.
func countKeys(t *testing.T, rdb *redis.Client, pattern string) int {
	t.Helper()
	n := 0
	it := rdb.Scan(context.Background(), 0, pattern, 500).Iterator()
	for it.Next(context.Background()) {
		n++
	}
	require.NoError(t, it.Err())
	return n
}

// textsTo returns the texts and captions the bot sent to chat, in order.
func textsTo(tg *telegramtest.Server, chat int64) []string {
	var out []string
	for _, c := range tg.Sent(chat) {
		if c.Status != 200 {
			continue
		}
		if c.Text != "" {
			out = append(out, c.Text)
		}
		if c.Caption != "" {
			out = append(out, c.Caption)
		}
	}
	return out
}

func TestPipelineDeliversOffersToTelegram(t *testing.T) {
	pub, sec := dmarkettest.DemoKeys()
	sim := dmarkettest.New(dmarkettest.Config{Titles: 60, ListingsPerTitle: 6, DealShare: 0.4, StableShare: 0.5, Simple: true,
		PublicMarketRate: -1, PublicOtherRate: -1, PublicKeys: []string{pub}})
	t.Cleanup(sim.Close)
	cat := sim.Handler.Catalogue()
	want := expectedTargets(cat)
	require.NotEmpty(t, want, "the catalogue has profitable TARGET offers")

	tg := telegramtest.New(t, telegramtest.Options{})
	d := newDeps(t)
	env := func(extra map[string]string) map[string]string {
		return merged(map[string]string{"REDIS_URL": d.redisURL, "RABBITMQ_URL": d.amqpURL,
			"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "debug"}, extra)
	}
	worker := start(t, "worker", env(nil))
	parser := start(t, "parser", env(map[string]string{"DMARKET_API_URL": sim.URL(), "DMARKET_PUBLIC_KEY": pub,
		"DMARKET_SECRET_KEY": sec, "DMARKET_PROXIES_FILE": "/nonexistent", "PARSER_CYCLE_INTERVAL": "2s"}))
	// The bot re-checks every offer against the simulator before notifying it.
	bot := start(t, "bot", env(map[string]string{"DMARKET_API_URL": sim.URL(), "TELEGRAM_API_ENDPOINT": tg.Endpoint(), "TELEGRAM_API_TOKEN": tg.Token(),
		"TELEGRAM_WHITELIST": fmt.Sprint(traderID), "BOT_DEFAULT_MIN_PRICE": "0", "BOT_DEFAULT_LIMIT": "0",
		"BOT_POLL_INTERVAL": "1s"}))

	// Wait until the pipeline has written every title, every buy order and the fees.
	rdb := redis.NewClient(mustRedisOptions(t, d.redisURL))
	t.Cleanup(func() { _ = rdb.Close() })
	orders := 0
	for _, ti := range cat.Titles["a8db"] {
		if ti.BuyOrder != nil {
			orders++
		}
	}
	require.Eventually(t, func() bool {
		for _, p := range []*proc{worker, parser, bot} {
			p.requireRunning(t)
		}
		return countKeys(t, rdb, "prices:dmarket:*") == len(cat.Titles["a8db"]) &&
			countKeys(t, rdb, "orders:dmarket:*") == orders && countKeys(t, rdb, "fees:dmarket:*") == 1
	}, 60*time.Second, 100*time.Millisecond, "every title, order and fee reaches Redis")

	t.Run("a stranger is refused and sees no offer data", func(t *testing.T) {
		tg.SendText(strangerID, "/offers")
		require.Eventually(t, func() bool { return len(textsTo(tg, strangerID)) > 0 }, 20*time.Second, 20*time.Millisecond)
		for _, text := range textsTo(tg, strangerID) {
			require.NotContains(t, text, "$")
			require.Empty(t, parseOffers(text))
		}
	})

	t.Run("the trader gets notifications with the right profits", func(t *testing.T) {
		tg.SendText(traderID, "/start")
		var got []shownOffer
		require.Eventually(t, func() bool {
			got = got[:0]
			for _, text := range textsTo(tg, traderID) {
				got = append(got, parseOffers(text)...)
			}
			return len(got) >= 3
		}, 60*time.Second, 50*time.Millisecond, "notifications arrive")
		checkTargets(t, got, want)
	})

	t.Run("/offers shows the best offers with the right profits", func(t *testing.T) {
		before := len(tg.Sent(traderID))
		tg.SendText(traderID, "/offers")
		var page []shownOffer
		require.Eventually(t, func() bool {
			for _, c := range tg.Sent(traderID)[before:] {
				if c.Method == "sendMessage" && c.Status == 200 && len(parseOffers(c.Text)) > 0 && c.Markup != nil {
					page = parseOffers(c.Text)
					return true
				}
			}
			return false
		}, 30*time.Second, 50*time.Millisecond, "an /offers page")
		checkTargets(t, page, want)
		require.LessOrEqual(t, len(page), 10)
		// Every expected TARGET offer more profitable than the page's last offer is on the page.
		lowest := page[len(page)-1].profit
		onPage := map[string]bool{}
		for _, o := range page {
			onPage[o.key()] = true
		}
		for k, w := range want {
			if profitBP(t, w.profit) > profitBP(t, lowest) {
				require.True(t, onPage[k], "missing %+v on the first page", w)
			}
		}
	})

	requireNoSecrets(t, parser, sec, d.amqpPass)
	requireNoSecrets(t, worker, d.amqpPass)
	requireNoSecrets(t, bot, tg.Token())
}

// checkTargets requires every TARGET offer shown to be one the ground truth predicts, to the cent.
func checkTargets(t *testing.T, shown []shownOffer, want map[string]shownOffer) {
	t.Helper()
	targets := 0
	for _, o := range shown {
		if o.kind != "TARGET" {
			continue
		}
		targets++
		w, ok := want[o.key()]
		require.True(t, ok, "unexpected TARGET offer %+v", o)
		require.Equal(t, w, o)
	}
	require.Positive(t, targets, "some TARGET offers were shown")
}

func profitBP(t *testing.T, p string) int64 {
	t.Helper()
	var whole, frac int64
	s := strings.TrimSuffix(strings.TrimPrefix(p, "+"), "%")
	neg := strings.HasPrefix(s, "-")
	_, err := fmt.Sscanf(strings.TrimPrefix(s, "-"), "%d.%d", &whole, &frac)
	require.NoError(t, err)
	v := whole*100 + frac
	if neg {
		v = -v
	}
	return v
}

func mustRedisOptions(t testing.TB, url string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(url)
	require.NoError(t, err)
	return o
}
