package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// errNoProxyFile means DMARKET_PROXIES_DIR holds no proxy file.
var errNoProxyFile = errors.New("no proxy file")

// proxyFileKey is the Redis key of the lease on the proxy file name of DMARKET_PROXIES_DIR.
func proxyFileKey(name string) string { return "parser:proxies:" + name }

// proxyFiles returns the names of the proxy files in dir, sorted: its regular files, except hidden ones
// and *.example.
func proxyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy files: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".example") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%w in %s", errNoProxyFile, dir)
	}
	return names, nil
}

// claimProxyFile takes the lease on the first proxy file of dir that no other live parser holds and
// returns the file's path with the held lease. While every file is held, or the directory or Redis is
// unavailable, it tries again every renewal period of store until ctx ends.
func claimProxyFile(ctx context.Context, dir string, store *lease.Store, clk lease.Clock, log *slog.Logger) (string, *lease.Lease, error) {
	for {
		names, err := proxyFiles(dir)
		for _, n := range names {
			l, aerr := store.Acquire(ctx, proxyFileKey(n))
			if aerr == nil {
				log.Info("proxy file taken", "file", filepath.Join(dir, n))
				return filepath.Join(dir, n), l, nil
			}
			if !errors.Is(aerr, lease.ErrHeld) {
				err = aerr
				break
			}
		}
		if err == nil {
			err = fmt.Errorf("every proxy file in %s is held by another parser", dir)
		}
		log.Warn("no proxy file free yet: waiting", "dir", dir, "err", err)
		if serr := clk.Sleep(ctx, store.RenewEvery()); serr != nil {
			return "", nil, fmt.Errorf("claim a proxy file in %s: %w", dir, serr)
		}
	}
}

// holdProxyFile renews the lease on the proxy file at path every renewal period of store until ctx ends,
// then releases it, so that another parser can take the file at once. A renewal that fails for another
// reason than the lease being lost is tried again next period; a lost lease (it expired and may have
// been taken) returns an error wrapping lease.ErrLost, so that the parser stops rather than share its
// proxies with another.
func holdProxyFile(ctx context.Context, path string, l *lease.Lease, store *lease.Store, clk lease.Clock, log *slog.Logger) error {
	defer func() {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn("proxy file lease not released; it expires by itself", "file", path, "err", err)
		}
	}()
	for clk.Sleep(ctx, store.RenewEvery()) == nil {
		err := l.Renew(ctx)
		switch {
		case errors.Is(err, lease.ErrLost):
			return fmt.Errorf("proxy file %s: %w", path, err)
		case err != nil && ctx.Err() == nil:
			log.Warn("proxy file lease not renewed; trying again", "file", path, "err", err)
		}
	}
	return nil
}

// newProxyPool returns the proxy pool on DMARKET_PROXIES_FILE or, with DMARKET_PROXIES_DIR, on a file of
// that directory taken under a lease, and the function that holds the lease until its context ends (a
// no-op without DMARKET_PROXIES_DIR).
func newProxyPool(ctx context.Context, cfg config.Parser, rdb lease.Client, clk clock.Real, log *slog.Logger,
	reg prometheus.Registerer) (*proxy.Pool, func(context.Context) error, error) {
	file, hold := cfg.ProxiesFile, func(context.Context) error { return nil }
	if cfg.ProxiesDir != "" {
		store, err := lease.New(rdb, cfg.LeaseTTL, clk)
		if err != nil {
			return nil, nil, fmt.Errorf("proxy file lease: %w", err)
		}
		path, l, err := claimProxyFile(ctx, cfg.ProxiesDir, store, clk, log)
		if err != nil {
			return nil, nil, err
		}
		file = path
		hold = func(ctx context.Context) error { return holdProxyFile(ctx, path, l, store, clk, log) }
	}
	pool, err := proxy.NewPool(proxy.Config{File: file, RatePerIP: cfg.RatePerIP}, clk, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("proxies: %w", err)
	}
	return pool, hold, nil
}
