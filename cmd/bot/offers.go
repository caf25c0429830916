package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// offersCommand prints the current offers as a table: `bot offers [-min-price USD] [-limit PERCENT]
// [-games a8db,9a92] [-n ROWS] [-env-file PATH]`. It reads Redis only and needs no Telegram token.
// It returns the process exit code: 0 on success, 2 for bad flags or configuration, 1 when Redis fails.
func offersCommand(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bot offers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "dotenv file with default values for the environment")
	minPrice := fs.String("min-price", "", "hide offers whose buy price is below this many US dollars (default BOT_DEFAULT_MIN_PRICE)")
	limit := fs.String("limit", "", "hide offers whose profit is below this percent (default BOT_DEFAULT_LIMIT)")
	games := fs.String("games", "", "comma list of game ids (default DMARKET_GAME_IDS)")
	rows := fs.Int("n", 50, "print at most this many offers (0: all)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var cfgArgs []string
	if *envFile != "" {
		cfgArgs = []string{"-env-file", *envFile}
	}
	cfg, err := config.LoadBotOffline(cfgArgs, environ)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	settings, err := offerSettings(cfg, *minPrice, *limit, *games)
	if err != nil {
		fmt.Fprintln(stderr, "bot offers:", err)
		return 2
	}
	if *rows < 0 {
		fmt.Fprintln(stderr, "bot offers: -n must be 0 or more")
		return 2
	}
	rdb, err := redisdb.New(cfg.RedisURL, redisdb.WithClientName("bot-offers"))
	if err != nil {
		fmt.Fprintln(stderr, "bot offers:", err)
		return 2
	}
	defer rdb.Close()
	clk := clock.Real{}
	svc, err := marketService(cfg, rdb, clk, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintln(stderr, "bot offers:", err)
		return 2
	}
	addr := redisAddress(cfg.RedisURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snapshot, err := svc.Market(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "bot offers: read Redis %s: %v\n", addr, err)
		return 1
	}
	now := clk.Now()
	list := offers.Compute(*snapshot, settings, now, offers.StickerShare(cfg.StickerShare))
	total := len(list)
	if *rows > 0 && len(list) > *rows {
		list = list[:*rows]
	}
	if err := offers.WriteTable(stdout, list, now); err != nil {
		fmt.Fprintln(stderr, "bot offers:", err)
		return 1
	}
	filters := fmt.Sprintf("min price %s, limit %s, games %s", market.Cents(settings.MinPriceCents).Dollars(),
		offers.Percent(settings.LimitBasisPoints), strings.Join(settings.Games, ","))
	fmt.Fprintf(stdout, "%d offers match (%s); %d shown; read from Redis %s\n", total, filters, len(list), addr)
	if total == 0 {
		fmt.Fprintln(stdout, whyEmpty(*snapshot, settings, now, addr))
	}
	return 0
}

// whyEmpty explains an empty table: no market data in the Redis read, filters hiding offers, or market
// data without anything to compare a listing with.
func whyEmpty(m market.Snapshot, s offers.Settings, now time.Time, addr string) string {
	if len(m.Titles) == 0 {
		return fmt.Sprintf("Why empty: no market data in Redis %s (no %s* keys). Run the parser and a worker "+
			"against this Redis (or make demo), or point REDIS_URL / -env-file at the Redis they write.", addr, pricestore.PricesPrefix)
	}
	all := s
	all.MinPriceCents, all.LimitBasisPoints, all.Games = 0, math.MinInt64, nil
	if hidden := len(offers.Compute(m, all, now)); hidden > 0 {
		return fmt.Sprintf("Why empty: the filters hide all %d offers in this Redis (market data for %d titles). "+
			"Loosen them, e.g. bot offers -min-price 0 -limit -100 -games %s", hidden, len(m.Titles), strings.Join(market.GameIDs(), ","))
	}
	return fmt.Sprintf("Why empty: market data for %d titles but no offer even without filters: no listing has a "+
		"buy order or sell history to compare with yet (buy orders and sales need the parser's DMarket keys; "+
		"sales arrive over several crawls).", len(m.Titles))
}

// redisAddress is the Redis a URL points at, for messages: scheme, host and database, never the user,
// password or query.
func redisAddress(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable REDIS_URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// offerSettings applies the flags over the configured defaults.
func offerSettings(cfg config.Bot, minPrice, limit, games string) (offers.Settings, error) {
	s := offers.Settings{MinPriceCents: int64(cfg.DefaultMinPrice), LimitBasisPoints: cfg.DefaultLimit.BasisPoints(),
		Games: []string(cfg.GameIDs)}
	if minPrice != "" {
		var c config.Cents
		if err := c.UnmarshalText([]byte(minPrice)); err != nil {
			return s, fmt.Errorf("-min-price: %w", err)
		}
		s.MinPriceCents = int64(c)
	}
	if limit != "" {
		var p config.Percent
		if err := p.UnmarshalText([]byte(limit)); err != nil {
			return s, fmt.Errorf("-limit: %w", err)
		}
		s.LimitBasisPoints = p.BasisPoints()
	}
	if games != "" {
		var g config.GameIDs
		if err := g.UnmarshalText([]byte(games)); err != nil {
			return s, fmt.Errorf("-games: %w", err)
		}
		s.Games = []string(g)
	}
	return s, nil
}
