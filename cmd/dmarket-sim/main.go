// Command dmarket-sim serves the DMarket API simulator on a local address for demos and manual tests.
// It prints its base URL (and the demo key pair it accepts) on start and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dmarket-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dmarket-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	seed := fs.Int64("seed", 1, "catalogue seed")
	games := fs.String("games", "a8db", "comma-separated game ids")
	titles := fs.Int("titles", 200, "titles per game")
	listings := fs.Int("listings", 10, "mean listings per title")
	deals := fs.Float64("deal-share", 0.1, "share of titles whose cheapest listing is far below the suggested price (0..1)")
	stable := fs.Float64("stable-share", 0.3, "share of titles with frequent, steady sales (0..1)")
	publicRate := fs.Float64("public-rate", 2, "unsigned market-items requests/s per client IP (negative: unlimited)")
	otherRate := fs.Float64("public-other-rate", 6, "unsigned other requests/s per client IP (negative: unlimited)")
	keys := fs.String("public-keys", "", "comma-separated hex public keys accepted for signed calls")
	demoKey := fs.Bool("demo-key", true, "also accept the fixed demo key pair and print it")
	simple := fs.Bool("simple", false, "serve only the ordinary catalogue, without the adversarial titles and fees")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := dmarkettest.Config{
		Seed: *seed, Titles: *titles, ListingsPerTitle: *listings, DealShare: *deals, StableShare: *stable,
		PublicMarketRate: *publicRate, PublicOtherRate: *otherRate, Simple: *simple,
	}
	for _, g := range strings.Split(*games, ",") {
		if g = strings.TrimSpace(g); g != "" {
			cfg.Games = append(cfg.Games, g)
		}
	}
	for _, k := range strings.Split(*keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.PublicKeys = append(cfg.PublicKeys, k)
		}
	}
	demoPub, demoSecret := dmarkettest.DemoKeys()
	if *demoKey {
		cfg.PublicKeys = append(cfg.PublicKeys, demoPub)
	}
	h, err := dmarkettest.NewHandler(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "DMARKET_API_URL=http://%s\n", ln.Addr())
	if *demoKey {
		fmt.Fprintf(stdout, "DMARKET_PUBLIC_KEY=%s\nDMARKET_SECRET_KEY=%s\n", demoPub, demoSecret)
	}
	logger.Info("dmarket simulator serving", "addr", ln.Addr().String(), "listings", h.Catalogue().ListingCount())

	ctx, stop := service.SignalContext(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
