package proxy

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// runWatch runs p.Watch until the test ends and checks that it returns nil.
func runWatch(t *testing.T, p *Pool, reload <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Watch(ctx, reload) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Watch did not stop")
		}
	})
}

func rewrite(t *testing.T, path string, lines ...string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

func TestReloadOnSignalKeepsStateOfUnchangedProxies(t *testing.T) {
	p, clk, logs, names := fakePool(t, Config{PollInterval: time.Hour}, threeProxies[:2]...)
	path := p.cfg.File
	acquire(t, p, false).Release(EgressFailure) // cools http://10.0.0.1:8080 down
	coolUntil := p.Status()[0].CoolingUntil
	require.False(t, coolUntil.IsZero())

	reload := make(chan struct{})
	runWatch(t, p, reload)
	rewrite(t, path, threeProxies[0], threeProxies[2], "socks5://10.0.0.4:1080")
	reload <- struct{}{}
	require.Eventually(t, func() bool { return len(names()) == 3 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"http://10.0.0.1:8080", "socks4://10.0.0.3:1080", "socks5://10.0.0.4:1080"}, names())
	require.Equal(t, coolUntil, p.Status()[0].CoolingUntil, "an unchanged proxy keeps its cooldown")
	u, total := p.Usable()
	require.Equal(t, 2, u)
	require.Equal(t, 3, total)
	require.Contains(t, logs.String(), "egresses updated")
	require.NotContains(t, logs.String(), "pw1")
	_ = clk

	// Changed credentials make a new egress, without the old state.
	rewrite(t, path, "http://user:pw2@10.0.0.1:8080")
	reload <- struct{}{}
	require.Eventually(t, func() bool { return len(names()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.True(t, p.Status()[0].CoolingUntil.IsZero())
	require.NotContains(t, logs.String(), "pw2")
}

func TestReloadOnFileChange(t *testing.T) {
	p, _, _, names := fakePool(t, Config{PollInterval: 10 * time.Millisecond}, threeProxies[0])
	runWatch(t, p, nil)
	rewrite(t, p.cfg.File, threeProxies...)
	require.Eventually(t, func() bool { return len(names()) == 3 }, 10*time.Second, 5*time.Millisecond)
	rewrite(t, p.cfg.File, threeProxies[1])
	require.Eventually(t, func() bool { return len(names()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"socks5://10.0.0.2:1080"}, names())
	require.GreaterOrEqual(t, testutil.ToFloat64(p.m.reloads.WithLabelValues("ok")), 3.0)
}

func TestReloadNeverFallsBackToDirectWhileProxiesExist(t *testing.T) {
	p, _, logs, names := fakePool(t, Config{PollInterval: time.Hour}, threeProxies[:2]...)
	for _, tc := range []struct {
		name    string
		change  func()
		wantLog string
	}{
		{"emptied file", func() { rewrite(t, p.cfg.File, "") }, "keeping the current proxies"},
		{"only bad lines", func() { rewrite(t, p.cfg.File, "ftp://x:1") }, "keeping the current proxies"},
		{"deleted file", func() { require.NoError(t, os.Remove(p.cfg.File)) }, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			err := p.Reload()
			if strings.Contains(tc.wantLog, "no such") {
				require.ErrorContains(t, err, tc.wantLog)
			} else {
				require.NoError(t, err)
				require.Contains(t, logs.String(), tc.wantLog)
			}
			require.False(t, p.Direct())
			require.Len(t, names(), 2)
		})
	}
}

func TestWatchLogsReadErrors(t *testing.T) {
	p, _, logs, names := fakePool(t, Config{PollInterval: time.Hour}, threeProxies[:2]...)
	reload := make(chan struct{})
	runWatch(t, p, reload)
	require.NoError(t, os.Remove(p.cfg.File))
	reload <- struct{}{}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "reload proxy file: keeping the current proxies") },
		10*time.Second, 5*time.Millisecond)
	require.Len(t, names(), 2)
}

func TestDirectSwitchesToProxiesWhenFileAppears(t *testing.T) {
	clk := clock.NewFake(t0)
	path := t.TempDir() + "/proxies.txt"
	p, _, _ := newPool(t, Config{File: path}, clk)
	require.True(t, p.Direct())
	rewrite(t, path, threeProxies[1])
	require.NoError(t, p.Reload())
	require.False(t, p.Direct())
	l := acquire(t, p, false)
	require.Equal(t, "socks5://10.0.0.2:1080", l.Name())
	l.Release(Success)
	require.NoError(t, p.Reload(), "reloading an unchanged file changes nothing")
	require.Len(t, p.Status(), 1)
}

func TestWatchWithoutFileAndClosedReloadChannel(t *testing.T) {
	p, _, _ := newPool(t, Config{PollInterval: 5 * time.Millisecond}, clock.Real{})
	reload := make(chan struct{})
	close(reload)
	runWatch(t, p, reload)
	require.NoError(t, p.Reload())
	require.True(t, p.Direct())
}

func TestAcquireWakesWhenProxiesAreAdded(t *testing.T) {
	clk := clock.NewFake(t0)
	log, _ := newLogger()
	path := writeFile(t, threeProxies[0])
	// This sleeper only returns when its context ends: the pool must be woken by the reload.
	p, err := NewPool(Config{File: path, Rand: func() float64 { return 0 }}, scriptedClock{Fake: clk, sleep: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}, log, nil)
	require.NoError(t, err)
	l, err := p.Acquire(context.Background(), false)
	require.NoError(t, err)
	l.Release(EgressFailure)

	got := make(chan string, 1)
	go func() {
		l, err := p.Acquire(context.Background(), false)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- l.Name()
		l.Release(Success)
	}()
	rewrite(t, path, threeProxies[0], threeProxies[2])
	require.NoError(t, p.Reload())
	select {
	case name := <-got:
		require.Equal(t, "socks4://10.0.0.3:1080", name)
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire was not woken by the reload")
	}
}

func TestWatchLogsAPersistingErrorOnce(t *testing.T) {
	p, _, logs := newPool(t, Config{File: t.TempDir() + "/missing.txt", PollInterval: 2 * time.Millisecond}, clock.Real{})
	reload := make(chan struct{})
	runWatch(t, p, reload)
	errorsSeen := func() float64 {
		return testutil.ToFloat64(p.m.reloads.WithLabelValues("error"))
	}
	require.Eventually(t, func() bool { return errorsSeen() >= 5 }, 10*time.Second, time.Millisecond, "the file is polled")
	require.Equal(t, 1, strings.Count(logs.String(), "reload proxy file"), "a missing file is reported once")

	reload <- struct{}{}
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "reload proxy file") == 2 },
		10*time.Second, time.Millisecond, "a requested reload reports the error again")
}
