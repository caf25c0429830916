package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// awaitComponent waits until /health reports component in state want and checks, on that answer, that
// the binary stays ready (/health 200, /readyz 200, overall status degraded or better). It returns the
// component's error text.
func awaitComponent(t *testing.T, p *proc, base, component, want string, within time.Duration) string {
	t.Helper()
	var errText string
	var last string
	ok := assert.Eventually(t, func() bool {
		p.requireRunning(t)
		code, h, body := health(t, base)
		last = body
		if code == 0 {
			return false
		}
		st, e := h.component(component)
		if st != want {
			return false
		}
		require.Equal(t, 200, code, "a %s %s must not make %s unhealthy: %s", want, component, p.name, body)
		require.Contains(t, []string{"healthy", "degraded"}, h.Status, body)
		if want == "degraded" {
			require.Equal(t, "degraded", h.Status, body)
			require.NotEmpty(t, e, "a degraded component says why")
		}
		for _, c := range h.Components {
			require.NotNil(t, c.LatencyMS, "%s has no latency_ms", c.Name)
			_, err := time.Parse(time.RFC3339, c.CheckedAt)
			require.NoError(t, err, "%s checked_at", c.Name)
		}
		errText = e
		return true
	}, within, 50*time.Millisecond)
	if !ok {
		t.Fatalf("%s never reported %s %s; last /health: %s", p.name, component, want, last)
	}
	code, _ := status(base + "/readyz")
	require.Equal(t, 200, code, "%s stays ready while %s is %s", p.name, component, want)
	return errText
}

func TestParserDegradesOnDMarketStormsAndStaysReady(t *testing.T) {
	tests := []struct {
		name  string
		fault dmarkettest.Fault
	}{
		{name: "429 storm", fault: dmarkettest.Fault{Status: 429}},
		{name: "server errors", fault: dmarkettest.Fault{ServerErrorRate: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startObsPipeline(t, obsOptions{noWorker: true})
			awaitComponent(t, p.parser, p.parserURL, "dmarket", "healthy", 30*time.Second)
			p.sim.SetFault(dmarkettest.EndpointMarketItems, tc.fault)
			e := awaitComponent(t, p.parser, p.parserURL, "dmarket", "degraded", 30*time.Second)
			require.Contains(t, e, "market_items")
			t.Logf("dmarket degraded: %s", e)
		})
	}
}

func TestParserDegradesWhileProxiesCoolDown(t *testing.T) {
	good := proxytest.New(t, proxytest.Options{Kind: proxytest.SOCKS5})
	bad := proxytest.New(t, proxytest.Options{Kind: proxytest.HTTP})
	bad.SetFail(proxytest.FailRefuse)
	p := startObsPipeline(t, obsOptions{noWorker: true, proxies: []string{good.URL(), bad.URL()}})

	e := awaitComponent(t, p.parser, p.parserURL, "proxies", "degraded", 30*time.Second)
	require.Equal(t, "1 of 2 proxies usable", e)

	// Once the proxy works again, its next turn after the cooldown brings it back for good.
	bad.SetFail(proxytest.FailNone)
	awaitComponent(t, p.parser, p.parserURL, "proxies", "healthy", 60*time.Second)
}

func TestBotDegradesWhileTelegramIsUnreachable(t *testing.T) {
	tg := telegramtest.New(t, telegramtest.Options{})
	u, err := url.Parse(tg.URL())
	require.NoError(t, err)
	front, err := netfaulttest.New(u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = front.Close() })

	b, base := startObsBot(t, redisdbtest.URL(t), "http://"+front.Addr()+"/bot%s/%s", tg.Token(), nil)
	awaitComponent(t, b, base, "telegram", "healthy", 30*time.Second)

	front.SetRefuse(true)
	front.CutAll()
	e := awaitComponent(t, b, base, "telegram", "degraded", 30*time.Second)
	require.NotContains(t, e, tg.Token(), "the token stays out of the health report")
	require.False(t, strings.Contains(b.out.String(), strings.SplitN(tg.Token(), ":", 2)[1]), "the token stays out of the logs")

	front.SetRefuse(false)
	awaitComponent(t, b, base, "telegram", "healthy", 30*time.Second)
}

func TestBotIsNotReadyWithoutRedisAndRecovers(t *testing.T) {
	tg := telegramtest.New(t, telegramtest.Options{})
	ru, err := url.Parse(redisdbtest.URL(t))
	require.NoError(t, err)
	front, err := netfaulttest.New(ru.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = front.Close() })
	ru.Host = front.Addr()

	b, base := startObsBot(t, ru.String(), tg.Endpoint(), tg.Token(), nil)
	front.SetRefuse(true)
	front.CutAll()
	h := awaitUnready(t, b, base, "redis")
	_, e := h.component("redis")
	require.NotEmpty(t, e)
	tgStatus, _ := h.component("telegram")
	require.Equal(t, "healthy", tgStatus, "Telegram is still reachable")

	front.SetRefuse(false)
	awaitStatus(t, b, base+"/readyz", 200, 30*time.Second)
	_, exit := b.stop(t, 15*time.Second)
	require.Zero(t, exit)
}
