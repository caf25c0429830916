package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

// threeProxies are never dialled: the tests using them only acquire and release.
var threeProxies = []string{
	"http://user:pw1@10.0.0.1:8080",
	"socks5://10.0.0.2:1080",
	"socks4://10.0.0.3:1080",
}

func fakePool(t *testing.T, cfg Config, lines ...string) (*Pool, *clocktest.Fake, *loggingtest.Buffer, func() []string) {
	t.Helper()
	clk := clocktest.NewFake(t0)
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0 }
	}
	if len(lines) > 0 {
		cfg.File = proxytest.WriteFile(t, lines...)
	}
	p, reg, lb := newPool(t, cfg, clk)
	_ = reg
	names := func() []string {
		var out []string
		for _, s := range p.Status() {
			out = append(out, s.Name)
		}
		return out
	}
	return p, clk, lb, names
}

func acquire(t *testing.T, p *Pool, limited bool) *Lease {
	t.Helper()
	l, err := p.Acquire(context.Background(), limited)
	require.NoError(t, err)
	return l
}

func TestNewPoolRejectsBadConfig(t *testing.T) {
	log, _ := newLogger()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative rate", Config{RatePerIP: -1}},
		{"jitter of one", Config{CooldownJitter: 1}},
		{"negative jitter", Config{CooldownJitter: -0.1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPool(tc.cfg, clock.Real{}, log, nil)
			require.Error(t, err)
		})
	}
}

func TestPoolDirect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    func(t *testing.T) string
		wantLog string
	}{
		{name: "no file configured", file: func(*testing.T) string { return "" }, wantLog: "no proxy file configured"},
		{name: "missing file", file: func(t *testing.T) string { return t.TempDir() + "/none.txt" }, wantLog: "proxy file unusable"},
		{name: "only comments", file: func(t *testing.T) string { return proxytest.WriteFile(t, "# nothing", "") }, wantLog: "no valid proxy"},
		{name: "only bad lines", file: func(t *testing.T) string {
			return proxytest.WriteFile(t, "socks4://admin:Hunter2@10.0.0.1:1080", "ftp://10.0.0.1:21")
		}, wantLog: "line 1: socks4 does not support authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, _, _ := upstreams(t)
			p, reg, logs := newPool(t, Config{File: tc.file(t)}, clock.Real{})
			require.True(t, p.Direct())
			u, total := p.Usable()
			require.Equal(t, 1, u)
			require.Equal(t, 1, total)
			require.Contains(t, logs.String(), tc.wantLog)
			require.NotContains(t, logs.String(), "Hunter2")
			require.Equal(t, 2.0, p.Capacity())

			l := acquire(t, p, true)
			require.Equal(t, dmarket.DirectEgressName, l.Name())
			body, err := get(t, l, plain.URL)
			require.NoError(t, err)
			require.Equal(t, "hello from 127.0.0.1", body)
			l.Release(dmarket.EgressFailure)
			u, _ = p.Usable()
			require.Equal(t, 1, u, "the direct connection has no alternative and never cools down")

			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dmarket_proxy_direct 1 when DMarket requests use the direct connection because no valid proxy is configured.
# TYPE dmarket_proxy_direct gauge
dmarket_proxy_direct 1
# HELP dmarket_proxy_configured Configured valid proxies (0 when the direct connection is used).
# TYPE dmarket_proxy_configured gauge
dmarket_proxy_configured 0
# HELP dmarket_proxy_usable Configured proxies that are not cooling down (0 when the direct connection is used).
# TYPE dmarket_proxy_usable gauge
dmarket_proxy_usable 0
`), "dmarket_proxy_direct", "dmarket_proxy_configured", "dmarket_proxy_usable"))
		})
	}
}

func TestPoolBadLinesCountedAndLoggedWithoutCredentials(t *testing.T) {
	file := proxytest.WriteFile(t, "http://ok:Secret1@10.0.0.1:8080", "socks4://admin:Secret2@10.0.0.2:1080", "nope")
	p, reg, logs := newPool(t, Config{File: file}, clock.Real{})
	require.False(t, p.Direct())
	require.Contains(t, logs.String(), "line 2: socks4 does not support authentication")
	require.Contains(t, logs.String(), "line 3: missing scheme")
	require.NotContains(t, logs.String(), "Secret")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dmarket_proxy_file_errors_total Bad lines of the proxy file, skipped.
# TYPE dmarket_proxy_file_errors_total counter
dmarket_proxy_file_errors_total 2
`), "dmarket_proxy_file_errors_total"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		require.NotContains(t, mf.String(), "Secret")
	}
}

func TestPoolRotationIsFair(t *testing.T) {
	p, _, _, names := fakePool(t, Config{}, threeProxies...)
	require.Equal(t, []string{"http://10.0.0.1:8080", "socks5://10.0.0.2:1080", "socks4://10.0.0.3:1080"}, names())
	counts := map[string]int{}
	var order []string
	for i := 0; i < 30; i++ {
		l := acquire(t, p, false)
		counts[l.Name()]++
		order = append(order, l.Name())
		l.Release(dmarket.Success)
	}
	for _, n := range names() {
		require.Equal(t, 10, counts[n], n)
	}
	for i := 3; i < len(order); i++ {
		require.Equal(t, order[i-3], order[i], "round robin among equally available egresses")
	}
}

func TestPoolLimitedPicksEarliestAvailable(t *testing.T) {
	p, clk, _, names := fakePool(t, Config{RatePerIP: 2}, threeProxies...)
	counts := map[string]int{}
	for i := 0; i < 9; i++ {
		l := acquire(t, p, true)
		counts[l.Name()]++
		l.Release(dmarket.APIError)
	}
	require.Equal(t, t0.Add(time.Second), clk.Now(), "9 requests over 3 egresses at 2/s: 0s, 0.5s, 1s")
	for _, n := range names() {
		require.Equal(t, 3, counts[n], n)
	}
	require.Equal(t, 6.0, p.Capacity())

	// A throttled egress slows down; the others take more of the load.
	clk.Advance(10 * time.Second)
	l := acquire(t, p, true)
	slow := l.Name()
	l.Release(dmarket.Throttled)
	counts = map[string]int{}
	for i := 0; i < 20; i++ {
		l := acquire(t, p, true)
		counts[l.Name()]++
		l.Release(dmarket.APIError)
	}
	require.Less(t, counts[slow], counts[names()[1]])
	for _, s := range p.Status() {
		if s.Name == slow {
			require.Equal(t, 1.0, s.Rate)
		} else {
			require.Equal(t, 2.0, s.Rate)
		}
	}
}

func TestPoolCooldownGrowsAndRecovers(t *testing.T) {
	p, clk, logs, _ := fakePool(t, Config{}, threeProxies[:2]...)
	failing := "http://10.0.0.1:8080"
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, d := range want {
		l := acquire(t, p, false)
		require.Equal(t, failing, l.Name(), "step %d: the failing proxy is back and least recently used", i)
		l.Release(dmarket.EgressFailure)
		u, total := p.Usable()
		require.Equal(t, 1, u)
		require.Equal(t, 2, total)
		st := p.Status()[0]
		require.Equal(t, clk.Now().Add(d), st.CoolingUntil, "step %d", i)
		// While cooling, every request goes to the other proxy.
		for j := 0; j < 3; j++ {
			o := acquire(t, p, false)
			require.NotEqual(t, failing, o.Name())
			o.Release(dmarket.Success)
		}
		clk.Advance(d - time.Millisecond)
		u, _ = p.Usable()
		require.Equal(t, 1, u)
		clk.Advance(time.Millisecond)
		u, _ = p.Usable()
		require.Equal(t, 2, u, "step %d: back after its cooldown", i)
		// Make the other proxy the most recently used so that the failing one is picked next.
		o := acquire(t, p, false)
		require.Equal(t, failing, o.Name())
		o.Release(dmarket.APIError)
		acquire(t, p, false).Release(dmarket.Success)
	}
	// A success resets the backoff.
	l := acquire(t, p, false)
	require.Equal(t, failing, l.Name())
	l.Release(dmarket.Success)
	acquire(t, p, false).Release(dmarket.Success)
	l = acquire(t, p, false)
	l.Release(dmarket.EgressFailure)
	require.Equal(t, clk.Now().Add(5*time.Second), p.Status()[0].CoolingUntil)
	require.Contains(t, logs.String(), "proxy cooling down")
	require.Contains(t, logs.String(), "proxy back in rotation")
	require.Contains(t, logs.String(), "proxy=http://10.0.0.1:8080")
	require.NotContains(t, logs.String(), "pw1")
	require.Equal(t, 9.0, testutil.ToFloat64(p.m.cooldowns.WithLabelValues(failing)))
}

func TestPoolConcurrentFailuresCoolDownOnce(t *testing.T) {
	p, clk, _, _ := fakePool(t, Config{}, threeProxies[:2]...)
	a := acquire(t, p, false)
	b := acquire(t, p, false)
	a2 := acquire(t, p, false)
	require.Equal(t, a.Name(), a2.Name())
	require.NotEqual(t, a.Name(), b.Name())
	a.Release(dmarket.EgressFailure)
	a2.Release(dmarket.EgressFailure)
	require.Equal(t, clk.Now().Add(5*time.Second), p.Status()[0].CoolingUntil, "in-flight failures do not escalate")
	require.Zero(t, p.Status()[0].InFlight)
	require.Equal(t, 1, p.Status()[1].InFlight)
	b.Release(dmarket.Success)
	b.Release(dmarket.EgressFailure) // a second release is ignored
	require.Zero(t, p.Status()[1].InFlight)
	require.True(t, p.Status()[1].CoolingUntil.IsZero())
	require.Equal(t, 1.0, testutil.ToFloat64(p.m.requests.WithLabelValues(b.Name(), "success")))
}

func TestPoolCooldownJitter(t *testing.T) {
	p, clk, _, _ := fakePool(t, Config{Rand: func() float64 { return 0.5 }, CooldownJitter: 0.2}, threeProxies[:1]...)
	acquire(t, p, false).Release(dmarket.EgressFailure)
	require.Equal(t, clk.Now().Add(4500*time.Millisecond), p.Status()[0].CoolingUntil)
}

func TestPoolRepeatedThrottlesCoolDown(t *testing.T) {
	p, clk, _, _ := fakePool(t, Config{ThrottleStreak: 3}, threeProxies[:1]...)
	throttle := func() {
		clk.Advance(time.Second)
		acquire(t, p, true).Release(dmarket.Throttled)
	}
	throttle()
	throttle()
	acquire(t, p, false).Release(dmarket.Success)
	throttle()
	throttle()
	u, _ := p.Usable()
	require.Equal(t, 1, u, "a success in between resets the streak")
	require.InDelta(t, 2.0/16, p.Status()[0].Rate, 1e-9, "each 429 a second apart halves the rate down to the floor")
	throttle()
	u, _ = p.Usable()
	require.Zero(t, u, "three 429s in a row cool the proxy down")
	require.Equal(t, 5.0, testutil.ToFloat64(p.m.requests.WithLabelValues("http://10.0.0.1:8080", "throttled")))

	// 429s to signed calls (unlimited leases) are the account's, not the egress's.
	clk.Advance(time.Hour)
	acquire(t, p, true).Release(dmarket.Success)
	rate := p.Status()[0].Rate
	for i := 0; i < 5; i++ {
		clk.Advance(time.Second)
		acquire(t, p, false).Release(dmarket.Throttled)
	}
	u, _ = p.Usable()
	require.Equal(t, 1, u)
	require.Equal(t, rate, p.Status()[0].Rate)
	require.Equal(t, 1.0, testutil.ToFloat64(p.m.cooldowns.WithLabelValues("http://10.0.0.1:8080")))
}

func TestPoolWaitsWhenEveryProxyCools(t *testing.T) {
	p, clk, _, _ := fakePool(t, Config{}, threeProxies[:1]...)
	acquire(t, p, false).Release(dmarket.EgressFailure)
	start := clk.Now()
	l := acquire(t, p, true)
	require.Equal(t, start.Add(5*time.Second), clk.Now(), "waited for the cooldown, never fell back to direct")
	require.Equal(t, "http://10.0.0.1:8080", l.Name())
	l.Release(dmarket.Success)
}

func TestPoolAcquireHonoursContext(t *testing.T) {
	p, _, _, _ := fakePool(t, Config{}, threeProxies[:1]...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Acquire(ctx, false)
	require.ErrorIs(t, err, context.Canceled)

	// A cancelled wait on the limiter gives the token back.
	clk := clocktest.NewFake(t0)
	log, _ := newLogger()
	blocked, err := NewPool(Config{File: proxytest.WriteFile(t, threeProxies[0])}, scriptedClock{Fake: clk, sleep: func(context.Context) error {
		return context.DeadlineExceeded
	}}, log, nil)
	require.NoError(t, err)
	l, err := blocked.Acquire(context.Background(), true)
	require.NoError(t, err)
	l.Release(dmarket.Success)
	_, err = blocked.Acquire(context.Background(), true)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, blocked.Status()[0].InFlight)
	clk.Advance(500 * time.Millisecond)
	l, err = blocked.Acquire(context.Background(), true)
	require.NoError(t, err, "the token of the cancelled wait was returned")
	l.Release(dmarket.Success)

	// A wait for a cooling proxy ends with the context.
	acquireFail := func() {
		l, err := blocked.Acquire(context.Background(), false)
		require.NoError(t, err)
		l.Release(dmarket.EgressFailure)
	}
	acquireFail()
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = blocked.Acquire(ctx, false)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestClassify(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name string
		code int
		err  error
		want dmarket.Outcome
	}{
		{"ok", 200, nil, dmarket.Success},
		{"redirect", 302, nil, dmarket.Success},
		{"too many requests", 429, nil, dmarket.Throttled},
		{"not found", 404, nil, dmarket.APIError},
		{"forbidden answer", 403, nil, dmarket.APIError},
		{"server error", 503, nil, dmarket.APIError},
		{"dial error", 0, &DialError{Proxy: "http://h:1", Err: ErrProxyRefused}, dmarket.EgressFailure},
		{"network error", 0, netErr, dmarket.EgressFailure},
		{"timeout", 0, context.DeadlineExceeded, dmarket.EgressFailure},
		{"cancelled by caller", 0, context.Canceled, dmarket.APIError},
		{"no response", -1, nil, dmarket.APIError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.err == nil && tc.code >= 0 {
				resp = &http.Response{StatusCode: tc.code}
			}
			require.Equal(t, tc.want, Classify(resp, tc.err))
		})
	}
}

func TestAbortedRequestsCountAsAPIErrors(t *testing.T) {
	p, _, _, _ := fakePool(t, Config{}, threeProxies[:1]...)
	l := acquire(t, p, true)
	l.Release(dmarket.Aborted)
	u, _ := p.Usable()
	require.Equal(t, 1, u, "an aborted request leaves the egress as it was")
	require.Equal(t, 1.0, testutil.ToFloat64(p.m.requests.WithLabelValues(l.Name(), "api_error")))
	require.Zero(t, testutil.ToFloat64(p.m.requests.WithLabelValues(l.Name(), "aborted")))
}

func TestLeaseClientReachesServer(t *testing.T) {
	plain, _, _ := upstreams(t)
	p, _, _ := newPool(t, Config{}, clock.Real{})
	l := acquire(t, p, false)
	resp, err := l.Client().Get(plain.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, dmarket.Success, Classify(resp, nil))
	l.Release(dmarket.Success)
}

// runWatch runs p.Watch until the test ends, which waits for it to return nil.
func runWatch(t *testing.T, p *Pool, reload <-chan struct{}) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, p.Watch(t.Context(), reload)) })
	t.Cleanup(wg.Wait)
}

func TestReloadOnSignalKeepsStateOfUnchangedProxies(t *testing.T) {
	p, clk, logs, names := fakePool(t, Config{PollInterval: time.Hour}, threeProxies[:2]...)
	path := p.cfg.File
	acquire(t, p, false).Release(dmarket.EgressFailure) // cools http://10.0.0.1:8080 down
	coolUntil := p.Status()[0].CoolingUntil
	require.False(t, coolUntil.IsZero())

	reload := make(chan struct{})
	runWatch(t, p, reload)
	proxytest.Rewrite(t, path, threeProxies[0], threeProxies[2], "socks5://10.0.0.4:1080")
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
	proxytest.Rewrite(t, path, "http://user:pw2@10.0.0.1:8080")
	reload <- struct{}{}
	require.Eventually(t, func() bool { return len(names()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.True(t, p.Status()[0].CoolingUntil.IsZero())
	require.NotContains(t, logs.String(), "pw2")
}

func TestReloadOnFileChange(t *testing.T) {
	p, _, _, names := fakePool(t, Config{PollInterval: 10 * time.Millisecond}, threeProxies[0])
	runWatch(t, p, nil)
	proxytest.Rewrite(t, p.cfg.File, threeProxies...)
	require.Eventually(t, func() bool { return len(names()) == 3 }, 10*time.Second, 5*time.Millisecond)
	proxytest.Rewrite(t, p.cfg.File, threeProxies[1])
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
		{"emptied file", func() { proxytest.Rewrite(t, p.cfg.File, "") }, "keeping the current proxies"},
		{"only bad lines", func() { proxytest.Rewrite(t, p.cfg.File, "ftp://x:1") }, "keeping the current proxies"},
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
	clk := clocktest.NewFake(t0)
	path := t.TempDir() + "/proxies.txt"
	p, _, _ := newPool(t, Config{File: path}, clk)
	require.True(t, p.Direct())
	proxytest.Rewrite(t, path, threeProxies[1])
	require.NoError(t, p.Reload())
	require.False(t, p.Direct())
	l := acquire(t, p, false)
	require.Equal(t, "socks5://10.0.0.2:1080", l.Name())
	l.Release(dmarket.Success)
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
	clk := clocktest.NewFake(t0)
	log, _ := newLogger()
	path := proxytest.WriteFile(t, threeProxies[0])
	// This sleeper only returns when its context ends: the pool must be woken by the reload.
	p, err := NewPool(Config{File: path, Rand: func() float64 { return 0 }}, scriptedClock{Fake: clk, sleep: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}, log, nil)
	require.NoError(t, err)
	l, err := p.Acquire(context.Background(), false)
	require.NoError(t, err)
	l.Release(dmarket.EgressFailure)

	got := make(chan string, 1)
	go func() {
		l, err := p.Acquire(context.Background(), false)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- l.Name()
		l.Release(dmarket.Success)
	}()
	proxytest.Rewrite(t, path, threeProxies[0], threeProxies[2])
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
