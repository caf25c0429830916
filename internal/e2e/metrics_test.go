package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// obsPipeline is one run of the DMarket simulator, the parser and the worker against the test's own
// Redis database and RabbitMQ vhost, reached directly (no fault proxies: these tests do not break them).
type obsPipeline struct {
	sim                  *dmarkettest.Handler
	simURL               string
	redisURL, amqpURL    string
	parser, worker       *proc
	parserURL, workerURL string
}

// obsOptions tune startObsPipeline.
type obsOptions struct {
	// wrap, when set, wraps the simulator's handler (to record or alter requests).
	wrap func(http.Handler) http.Handler
	// env is added to both binaries' environment.
	env map[string]string
	// noWorker starts only the parser.
	noWorker bool
	// proxies are the lines of the parser's proxy file; none means the direct connection.
	proxies []string
}

// startObsPipeline starts the simulator (20 titles, signed calls accepted, no rate limits), the parser
// and the worker, and waits until both binaries are ready.
func startObsPipeline(t *testing.T, o obsOptions) *obsPipeline {
	t.Helper()
	pub, _ := dmarkettest.DemoKeys()
	h, err := dmarkettest.NewHandler(dmarkettest.Config{
		Titles: 20, ListingsPerTitle: 4, PublicKeys: []string{pub},
		PublicMarketRate: -1, PublicOtherRate: -1,
	})
	require.NoError(t, err)
	proxies := "/nonexistent"
	if len(o.proxies) > 0 {
		proxies = filepath.Join(t.TempDir(), "proxies.txt")
		require.NoError(t, os.WriteFile(proxies, []byte(strings.Join(o.proxies, "\n")+"\n"), 0o600))
	}
	var handler http.Handler = h
	if o.wrap != nil {
		handler = o.wrap(h)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	p := &obsPipeline{sim: h, simURL: srv.URL, redisURL: redisdbtest.URL(t), amqpURL: rabbitmqtest.NewVhost(t)}
	env := merged(crawlEnv(srv.URL), map[string]string{
		"REDIS_URL": p.redisURL, "RABBITMQ_URL": p.amqpURL,
		"DMARKET_PROXIES_FILE": proxies, "PARSER_CYCLE_INTERVAL": "1s", "PARSER_RATE_PER_IP": "100",
		"SHUTDOWN_TIMEOUT": "5s", "LOG_FORMAT": "text",
	}, o.env)
	p.parser, p.parserURL = serve(t, "parser", env)
	if !o.noWorker {
		p.worker, p.workerURL = serve(t, "worker", env)
		awaitStatus(t, p.worker, p.workerURL+"/readyz", 200, 30*time.Second)
	}
	awaitStatus(t, p.parser, p.parserURL+"/readyz", 200, 30*time.Second)
	return p
}

// obsProxyPassword is the password of the pipeline's working proxy; it must never reach a metric.
const obsProxyPassword = "Pr0xyS3cretPw"

// obsBoundedLabels are the label names a dmarket_ metric may have: each has a value set fixed by the code
// or by the configuration (games, queues, proxies), never by market data or users.
var obsBoundedLabels = map[string]bool{
	"game": true, "kind": true, "outcome": true, "queue": true, "endpoint": true, "egress": true,
	"proxy": true, "reason": true, "family": true, "component": true, "status": true, "result": true,
	"method": true, "command": true, "action": true, "purpose": true, "exchange": true, "lane": true,
}

// specMetricNames are metric names SPEC §9.1 sets outside the dmarket_ namespace.
var specMetricNames = map[string]bool{"deal_latency_seconds": true, "stale_offers_total": true}

// obsMaxSeries bounds the series of one metric family in a small run.
const obsMaxSeries = 64

// workedMetrics are the scrapes of binaries that did real work, keyed by binary name.
type workedMetrics map[string]metricsPage

var (
	workedOnce sync.Once
	worked     workedMetrics
	workedErr  string
)

// scrapeWorkingBinaries runs the pipeline once per test binary (shared by the metrics and dashboard
// tests; the processes belong to the first caller): the parser finishes a crawl cycle, the worker writes
// pages into Redis, the bot (when built) handles a command; each /metrics is then scraped.
func scrapeWorkingBinaries(t *testing.T) workedMetrics {
	t.Helper()
	workedOnce.Do(func() {
		// Stays set when the run fails (t.Fatal ends the function early).
		workedErr = "the shared pipeline run failed in an earlier test"
		worked = workedMetrics{}
		// A working proxy and a refusing one: the parser crawls through the first and cools the
		// second down, so the proxy metrics have series.
		good := proxytest.New(t, proxytest.Options{Kind: proxytest.SOCKS5, User: "crawler", Password: obsProxyPassword})
		bad := proxytest.New(t, proxytest.Options{Kind: proxytest.HTTP})
		bad.SetFail(proxytest.FailRefuse)
		p := startObsPipeline(t, obsOptions{proxies: []string{good.URL(), bad.URL()}})
		// The first cycle publishes listings, the worker schedules their titles' sales, a later
		// cycle fetches them.
		worked["parser"] = awaitMetrics(t, p.parser, p.parserURL, 60*time.Second,
			"a crawl cycle, sales fetched and a proxy cooled down", func(s metricsPage) bool {
				return s.sum("dmarket_crawler_cycles_total") > 0 && s.sum("dmarket_crawler_sales_titles_total") > 0 &&
					s.sum("dmarket_proxy_cooldowns_total") > 0
			})
		worked["worker"] = awaitMetrics(t, p.worker, p.workerURL, 60*time.Second, "items and sales written",
			func(s metricsPage) bool {
				return s.sum("dmarket_worker_items_processed_total") > 0 &&
					s.sum("dmarket_worker_titles_written_total") > 0 &&
					s.sum("dmarket_worker_write_duration_seconds", "kind", "sales") > 0
			})
		if obsBotBuilt() {
			worked["bot"] = runBotForMetrics(t, p)
		}
		workedErr = ""
	})
	if workedErr != "" {
		t.Fatal(workedErr)
	}
	return worked
}

// obsBotBuilt reports whether the bot binary exists (cmd/bot is being written alongside these tests).
func obsBotBuilt() bool {
	_, err := os.Stat(binDir + string(os.PathSeparator) + "bot")
	return err == nil
}

func TestMetricsOfWorkingBinariesPassPromlint(t *testing.T) {
	got := scrapeWorkingBinaries(t)
	for _, name := range slices.Sorted(maps.Keys(got)) {
		t.Run(name, func(t *testing.T) {
			s := got[name]
			problems, err := promlint.New(bytes.NewReader(s.raw)).Lint()
			require.NoError(t, err)
			var lines []string
			for _, p := range problems {
				lines = append(lines, p.Metric+": "+p.Text)
			}
			require.Empty(t, lines, "promlint problems in %s's /metrics", name)
			for fname, f := range s.families {
				require.NotEmpty(t, strings.TrimSpace(f.GetHelp()), "%s has no help", fname)
				if strings.HasPrefix(fname, "go_") || strings.HasPrefix(fname, "process_") ||
					strings.HasPrefix(fname, "promhttp_") {
					continue
				}
				require.True(t, strings.HasPrefix(fname, "dmarket_") || specMetricNames[fname], "%s lacks the dmarket_ namespace", fname)
				require.LessOrEqual(t, len(f.GetMetric()), obsMaxSeries, "%s has too many series", fname)
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						require.True(t, obsBoundedLabels[l.GetName()], "%s has label %q, not a known bounded dimension",
							fname, l.GetName())
					}
				}
			}
			require.NotContains(t, string(s.raw), obsProxyPassword, "a proxy password reached %s's metrics", name)
		})
	}
}

// obsBotUser is the whitelisted Telegram user of the bot runs.
const obsBotUser = 4242

// startObsBot starts the bot on Redis redisURL against the Telegram endpoint endpoint (a telegramtest
// server's Endpoint, or a proxy in front of it) with token, whitelisting obsBotUser, and waits until it is
// ready, without a broker unless env sets RABBITMQ_URL. It returns the process and its ops base URL.
func startObsBot(t *testing.T, redisURL, endpoint, token string, env map[string]string) (*proc, string) {
	t.Helper()
	b, base := serve(t, "bot", merged(map[string]string{
		"REDIS_URL": redisURL, "TELEGRAM_API_ENDPOINT": endpoint,
		"TELEGRAM_API_TOKEN": token, "TELEGRAM_WHITELIST": fmt.Sprint(obsBotUser), "BOT_POLL_INTERVAL": "200ms",
		"BOT_DEFAULT_MIN_PRICE": "0", "BOT_DEFAULT_LIMIT": "-100", "SHUTDOWN_TIMEOUT": "5s", "LOG_FORMAT": "text",
		// No broker unless env names one: the bot serves without it, and declares nothing on the local one.
		"RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/",
	}, env))
	awaitStatus(t, b, base+"/readyz", 200, 30*time.Second)
	return b, base
}

// runBotForMetrics runs the bot on the pipeline's Redis (which the worker has filled) against the fake
// Bot API, has the user ask for /offers and waits until the command is answered and notifications go
// out.
func runBotForMetrics(t *testing.T, p *obsPipeline) metricsPage {
	t.Helper()
	tg := telegramtest.New(t, telegramtest.Options{PerChatInterval: -1, GlobalLimit: -1})
	// The bot re-checks each offer against the simulator before notifying it, and takes change events.
	b, base := startObsBot(t, p.redisURL, tg.Endpoint(), tg.Token(),
		map[string]string{"DMARKET_API_URL": p.simURL, "RABBITMQ_URL": p.amqpURL})
	tg.SendText(obsBotUser, "/offers")
	return awaitMetrics(t, b, base, 60*time.Second, "/offers answered and notifications sent", func(s metricsPage) bool {
		return s.sum("dmarket_bot_commands_total", "outcome", "ok") > 0 &&
			s.sum("dmarket_bot_notifications_total") > 0 && s.sum("dmarket_offers_market_titles") > 0
	})
}
