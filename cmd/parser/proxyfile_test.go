package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// proxyDir returns a new directory holding an empty file of each name.
func proxyDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	return dir
}

func TestProxyFilesAreTheDirectorysVisibleFiles(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  []string
	}{
		{name: "sorted", files: []string{"b.txt", "a.txt", "c"}, want: []string{"a.txt", "b.txt", "c"}},
		{name: "hidden files and examples skipped", files: []string{".a.txt.swp", "x.txt.example", "p1.txt"}, want: []string{"p1.txt"}},
		{name: "none", files: []string{".hidden"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := proxyDir(t, tc.files...)
			require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
			got, err := proxyFiles(dir)
			if tc.want == nil {
				require.ErrorIs(t, err, errNoProxyFile)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := proxyFiles(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestParsersTakeDistinctProxyFiles: each parser takes a file no other holds; one more waits until a
// file is released, and a parser releases its file when it stops.
func TestParsersTakeDistinctProxyFiles(t *testing.T) {
	rdb := redisdbtest.New(t)
	store, err := lease.New(rdb, 300*time.Millisecond, clock.Real{})
	require.NoError(t, err)
	dir := proxyDir(t, "p2.txt", "p1.txt")
	log := loggingtest.Discard()
	ctx := t.Context()

	first, l1, err := claimProxyFile(ctx, dir, store, clock.Real{}, log)
	require.NoError(t, err)
	second, l2, err := claimProxyFile(ctx, dir, store, clock.Real{}, log)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "p1.txt"), filepath.Join(dir, "p2.txt")}, []string{first, second})

	hold1, stop1 := context.WithCancel(ctx)
	held1 := make(chan error, 1)
	go func() { held1 <- holdProxyFile(hold1, first, l1, store, clock.Real{}, log) }()
	hold2, stop2 := context.WithCancel(ctx)
	defer stop2()
	go func() { _ = holdProxyFile(hold2, second, l2, store, clock.Real{}, log) }()

	waiting, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, _, err = claimProxyFile(waiting, dir, store, clock.Real{}, log)
	require.ErrorIs(t, err, context.DeadlineExceeded, "both files stay held past their TTL while renewed")
	stopped, stop := context.WithCancel(ctx)
	stop()
	_, _, err = claimProxyFile(stopped, dir, store, clock.Real{}, log)
	require.ErrorIs(t, err, context.Canceled, "a stop while waiting for a file is told as such, for a clean exit")

	third := make(chan string, 1)
	go func() {
		path, _, err := claimProxyFile(ctx, dir, store, clock.Real{}, log)
		if err == nil {
			third <- path
		}
	}()
	stop1()
	require.NoError(t, <-held1, "a parser that stops releases its file")
	require.Equal(t, first, <-third)
}

func TestHoldProxyFileStopsWhenTheLeaseIsLost(t *testing.T) {
	rdb := redisdbtest.New(t)
	store, err := lease.New(rdb, 300*time.Millisecond, clock.Real{})
	require.NoError(t, err)
	dir := proxyDir(t, "p1.txt")
	path, l, err := claimProxyFile(t.Context(), dir, store, clock.Real{}, loggingtest.Discard())
	require.NoError(t, err)
	require.NoError(t, rdb.Set(t.Context(), proxyFileKey("p1.txt"), "another parser", time.Minute).Err())

	err = holdProxyFile(t.Context(), path, l, store, clock.Real{}, loggingtest.Discard())
	require.ErrorIs(t, err, lease.ErrLost)
	v, err := rdb.Get(t.Context(), proxyFileKey("p1.txt")).Result()
	require.NoError(t, err)
	require.Equal(t, "another parser", v, "the other parser's lease is left alone")
}

func TestNewProxyPoolReadsTheFileItTook(t *testing.T) {
	rdb := redisdbtest.New(t)
	dir := proxyDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p1.txt"), []byte("http://127.0.0.1:1\nhttp://127.0.0.1:2\n"), 0o600))
	cfg := config.Parser{ProxiesFile: filepath.Join(dir, "unused.txt"), ProxiesDir: dir, RatePerIP: 2, LeaseTTL: time.Second}
	pool, hold, err := newProxyPool(t.Context(), cfg, rdb, clock.Real{}, loggingtest.Discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	_, total := pool.Usable()
	require.Equal(t, 2, total, "the pool reads the file of the directory")
	require.Positive(t, rdb.Exists(t.Context(), proxyFileKey("p1.txt")).Val())

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, hold(ctx))
	require.Zero(t, rdb.Exists(t.Context(), proxyFileKey("p1.txt")).Val(), "released when the parser stops")

	cfg.ProxiesDir = ""
	pool, hold, err = newProxyPool(t.Context(), cfg, rdb, clock.Real{}, loggingtest.Discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	_, total = pool.Usable()
	require.Equal(t, 1, total, "without a directory the pool reads DMARKET_PROXIES_FILE (missing here: the direct connection)")
	require.NoError(t, hold(t.Context()))
}
