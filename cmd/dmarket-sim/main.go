// Command dmarket-sim serves the DMarket API simulator on a local address for demos and manual tests.
// It prints its base URL (and the demo key pair it accepts) on start and stops on SIGINT or SIGTERM.
// With -deal-every or -churn the market moves: designed deals are listed (one line each on stdout) and
// sold -deal-life later, and ordinary listings come and go.
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
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dmarket-sim:", err)
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	addr       string
	demoKey    bool
	cfg        dmarkettest.Config
	dealEvery  time.Duration
	dealLife   time.Duration
	churnPerS  float64
	demoPublic string
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("dmarket-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "listen address")
	seed := fs.Int64("seed", 1, "catalogue seed")
	games := fs.String("games", "a8db", "comma-separated game ids")
	titles := fs.Int("titles", 200, "titles per game")
	listings := fs.Int("listings", 10, "mean listings per title")
	deals := fs.Float64("deal-share", 0.1, "share of titles whose cheapest listing is far below the suggested price (0..1)")
	stable := fs.Float64("stable-share", 0.3, "share of titles with frequent, steady sales (0..1)")
	publicRate := fs.Float64("public-rate", 2, "unsigned market-items requests/s per client IP (negative: unlimited)")
	otherRate := fs.Float64("public-other-rate", 6, "unsigned other requests/s per client IP (negative: unlimited)")
	keys := fs.String("public-keys", "", "comma-separated hex public keys accepted for signed calls")
	fs.BoolVar(&o.demoKey, "demo-key", true, "also accept the fixed demo key pair and print it")
	simple := fs.Bool("simple", false, "serve only the ordinary catalogue, without the adversarial titles and fees")
	fs.DurationVar(&o.dealEvery, "deal-every", 0, "move the market: list a designed deal (one listing below its title's cheapest whose TARGET offer makes 25-40 % after fee) this often, e.g. 3s, printing one line per deal (0: no deals)")
	fs.DurationVar(&o.dealLife, "deal-life", 20*time.Second, "move the market: how long a deal stays listed before it is sold (jittered by a quarter)")
	fs.Float64Var(&o.churnPerS, "churn", 0, "move the market: ordinary listings added, and as many sold, per second (0: none)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if o.dealEvery < 0 || o.dealLife <= 0 || o.churnPerS < 0 {
		return options{}, errors.New("-deal-every and -churn must not be negative, -deal-life must be positive")
	}
	o.cfg = dmarkettest.Config{
		Seed: *seed, Titles: *titles, ListingsPerTitle: *listings, DealShare: *deals, StableShare: *stable,
		PublicMarketRate: *publicRate, PublicOtherRate: *otherRate, Simple: *simple,
	}
	for _, g := range strings.Split(*games, ",") {
		if g = strings.TrimSpace(g); g != "" {
			o.cfg.Games = append(o.cfg.Games, g)
		}
	}
	for _, k := range strings.Split(*keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			o.cfg.PublicKeys = append(o.cfg.PublicKeys, k)
		}
	}
	if o.demoKey {
		o.demoPublic, _ = dmarkettest.DemoKeys()
		o.cfg.PublicKeys = append(o.cfg.PublicKeys, o.demoPublic)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	h, err := dmarkettest.NewHandler(o.cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "DMARKET_API_URL=http://%s\n", ln.Addr())
	if o.demoKey {
		_, demoSecret := dmarkettest.DemoKeys()
		fmt.Fprintf(stdout, "DMARKET_PUBLIC_KEY=%s\nDMARKET_SECRET_KEY=%s\n", o.demoPublic, demoSecret)
	}
	logger.Info("dmarket simulator serving", "addr", ln.Addr().String(), "listings", h.Catalogue().ListingCount())

	ctx, stop := service.SignalContext(ctx)
	defer stop()
	if o.dealEvery > 0 || o.churnPerS > 0 {
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		m := newMover(h, o.dealEvery, o.dealLife, o.churnPerS, stdout)
		go func() { defer close(done); _ = m.Run(mctx) }()
		logger.Info("market moving", "deal_every", o.dealEvery, "deal_life", o.dealLife, "churn_per_second", o.churnPerS)
	}
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

// newMover returns the mover of h's market; every deal is printed on out as it is listed.
func newMover(h *dmarkettest.Handler, every, life time.Duration, churn float64, out io.Writer) *dmarkettest.Mover {
	if every <= 0 {
		every = -1
	}
	var mu sync.Mutex
	return dmarkettest.NewMover(h, dmarkettest.MoverConfig{DealEvery: every, DealLife: life, ChurnPerSecond: churn,
		OnDeal: func(d dmarkettest.Deal) {
			mu.Lock()
			defer mu.Unlock()
			status := "tradable"
			if d.Locked {
				status = "locked"
			}
			fmt.Fprintf(out, "deal game=%s title=%q item=%s price=%s order=%s profit=%.2f%% status=%s created=%d sells_in=%s\n",
				d.Game, d.Title, d.ItemID, market.Cents(d.Price).Dollars(), market.Cents(d.OrderPrice).Dollars(), d.ProfitPercent, status,
				d.CreatedAt.Unix(), d.SellAt.Sub(d.CreatedAt).Round(time.Second))
		}})
}
