package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/clock"
	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/offers"
	"github.com/skinflip/dmarket-monitor/internal/redisdb"
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := svc.Offers(ctx, settings)
	if err != nil {
		fmt.Fprintln(stderr, "bot offers:", err)
		return 1
	}
	total := len(list)
	if *rows > 0 && len(list) > *rows {
		list = list[:*rows]
	}
	if err := offers.WriteTable(stdout, list, clk.Now()); err != nil {
		fmt.Fprintln(stderr, "bot offers:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d offers match (min price %s, limit %s, games %s); %d shown\n", total,
		offers.Dollars(settings.MinPriceCents), offers.Percent(settings.LimitBasisPoints),
		strings.Join(settings.Games, ","), len(list))
	return 0
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
