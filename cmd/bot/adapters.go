package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/verify"
	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/health"
)

// newVerifier returns the DMarket client of the re-checks (the host's own connection, every attempt
// paced at BOT_VERIFY_RATE, signing when both keys are set) and the verifier over it.
func newVerifier(cfg config.Bot, pub message.Publisher, market *offers.Service, tracer *zipkin.Tracer, clk clock.Real,
	log *slog.Logger, reg prometheus.Registerer) (*dmarket.Client, *verify.Verifier, error) {
	pacer, err := verify.NewPacer(cfg.VerifyRate, clk)
	if err != nil {
		return nil, nil, fmt.Errorf("BOT_VERIFY_RATE: %w", err)
	}
	opts := []dmarket.Option{dmarket.WithTracer(tracer)}
	if cfg.HasKeys() {
		signer, err := dmarket.NewSigner(cfg.PublicKey, cfg.SecretKey)
		if err != nil {
			return nil, nil, fmt.Errorf("dmarket keys: %w", err)
		}
		opts = append(opts, dmarket.WithSigner(signer))
	}
	// A check waits at most a few seconds: a notification is better late by one update than held up.
	client, err := dmarket.New(dmarket.Config{BaseURL: cfg.DMarketAPIURL, MaxAttempts: 3, MaxRetryAfter: 5 * time.Second},
		verify.NewEgress(&http.Client{}, pacer), log, reg, clk, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("dmarket client: %w", err)
	}
	v, err := verify.New(verify.Config{CheckOrders: cfg.HasKeys(), ReverifyInterval: cfg.ReverifyInterval},
		client, pub, market, clk, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("verifier: %w", err)
	}
	return client, v, nil
}

// degrading turns a check's unhealthy into degraded: the component cannot make the bot unready.
func degrading(check health.CheckFunc) health.CheckFunc {
	return func(ctx context.Context) (health.Status, error) {
		st, err := check(ctx)
		if err != nil || st == health.StatusUnhealthy {
			return health.StatusDegraded, err
		}
		return st, nil
	}
}
