// Command bot is the Telegram bot: it reads the market state the workers write to Redis, computes
// profitable offers and answers traders' commands and sends them notifications. `bot offers` prints the
// current offers as a table on the terminal without Telegram.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/bot"
	"github.com/skinflip/dmarket-monitor/internal/bot/chart"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/ops"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/watchlist"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "offers" {
		os.Exit(offersCommand(os.Args[2:], os.Environ(), os.Stdout, os.Stderr))
	}
	os.Exit(service.Main("bot", config.LoadBot, run))
}

// run wires the bot in dependency order and runs it until ctx ends.
func run(ctx context.Context, cfg config.Bot, log *slog.Logger) error {
	log.Info("bot starting", "config", cfg)
	warnEmptyWhitelist(log, cfg)
	reg := ops.NewRegistry()
	clk := clock.Real{}

	tracer, rdb, closeAll, err := service.Open("bot", cfg.Common, log)
	if err != nil {
		return err
	}
	defer closeAll()

	// The broker carries the workers' change events in and the re-checked pages out; the bot starts and
	// serves without it (readiness needs Redis only).
	amqpConn, err := rabbitmq.NewConn(cfg.RabbitMQURL, log, reg, rabbitmq.ConnOptions{
		Queues:    []string{message.Queue(message.KindListings), message.Queue(message.KindOrders)},
		Exchanges: []string{message.ChangesExchange}, DeliveryLimit: cfg.DeliveryLimit,
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer amqpConn.Close()
	publisher := rabbitmq.NewPublisher(amqpConn, rabbitmq.PublisherOptions{})
	defer publisher.Close()

	market, err := marketService(cfg, rdb, clk, log, reg)
	if err != nil {
		return err
	}
	dm, verifier, err := newVerifier(cfg, publisher, market, tracer, clk, log, reg)
	if err != nil {
		return err
	}
	store, err := pricestore.New(rdb, clk, pricestore.Config{})
	if err != nil {
		return fmt.Errorf("price store: %w", err)
	}
	sender, err := telegram.New(telegram.Config{Token: cfg.TelegramToken, Endpoint: cfg.TelegramEndpoint},
		&http.Client{Transport: tracing.NewExternalTransport(tracer, nil, "telegram")}, log, reg)
	if err != nil {
		return fmt.Errorf("telegram: %w", err)
	}
	changes := make(chan bot.Change)
	b, err := bot.New(bot.Config{
		Whitelist: cfg.Whitelist, GameIDs: cfg.GameIDs, DefaultMinPriceCents: int64(cfg.DefaultMinPrice),
		DefaultLimitBasisPoints: cfg.DefaultLimit.BasisPoints(), PollInterval: cfg.PollInterval,
		ShutdownTimeout: cfg.ShutdownTimeout,
	}, sender, market, chart.NewSource(store), rdb, log, reg, tracer, clk,
		bot.WithChanges(changes, market), bot.WithVerifier(verifier),
		bot.WithWatchlist(watchlist.New(rdb, clk), cfg.WatchMargin.BasisPoints()),
		bot.WithRenotifyMargin(cfg.RenotifyMargin.BasisPoints()))
	if err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	events := bot.NewEvents(rabbitmq.NewSubscriber(amqpConn, message.ChangesExchange, log, reg), market, amqpConn.Check, log, reg)

	checks := health.NewRegistry(clk)
	checks.Register("redis", redisdb.HealthCheck(rdb), health.Critical())
	checks.Register("telegram", sender.HealthCheck)
	checks.Register("rabbitmq", degrading(rabbitmq.HealthCheck(amqpConn)))
	checks.Register("dmarket", dmarket.HealthCheck(dm, dmarket.HealthCheckConfig{Label: "re-checks"}))
	srv, err := service.Listen(cfg.Common, reg, checks, log)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return lifecycle.IgnoreCanceled(amqpConn.Run(gctx)) })
	g.Go(func() error { return market.Run(gctx) })
	g.Go(func() error { return bot.ForwardUpdates(gctx, market, changes) })
	g.Go(func() error { return verifier.Run(gctx) })
	g.Go(func() error { return lifecycle.IgnoreCanceled(events.Run(gctx)) })
	g.Go(func() error { return lifecycle.IgnoreCanceled(b.Run(gctx)) })
	err = g.Wait()
	log.Info("bot stopped")
	return err
}

// warnEmptyWhitelist warns when nobody may use the bot: with an empty TELEGRAM_WHITELIST every update is
// refused, which otherwise looks like a bot that does not answer.
func warnEmptyWhitelist(log *slog.Logger, cfg config.Bot) {
	if len(cfg.Whitelist) == 0 {
		log.Warn("TELEGRAM_WHITELIST is empty: the bot answers nobody and notifies nobody; add the Telegram " +
			"user ids allowed to use it (comma separated)")
	}
}

// marketService serves every user's offers from an index of the market that its Run (started by run)
// keeps up to date from Redis in the background (whole reads, and the changed titles of change events),
// so no user's call waits for a market read.
func marketService(cfg config.Bot, rdb redis.UniversalClient, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (*offers.Service, error) {
	fee, err := market.ParsePercent(cfg.FeePercent.String())
	if err != nil {
		return nil, fmt.Errorf("DMARKET_FEE_PERCENT: %w", err)
	}
	metrics := bot.NewMarketMetrics(reg)
	src := metrics.Source(pricestore.NewMarketReader(rdb, pricestore.MarketReaderConfig{FallbackFee: fee}, clk, log))
	return offers.NewService(src, clk, min(cfg.PollInterval, 2*time.Second), offers.WithLogger(log), offers.WithObserver(metrics),
		offers.WithResyncInterval(cfg.ResyncInterval), offers.WithPricing(offers.StickerShare(cfg.StickerShare))), nil
}
