package config

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

const (
	pubKey    = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
	secretKey = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100" + pubKey
	botToken  = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
)

func environ(kv map[string]string) []string {
	out := make([]string, 0, len(kv))
	for k, v := range kv {
		out = append(out, k+"="+v)
	}
	return out
}

func TestParserDefaults(t *testing.T) {
	c, err := LoadParser(nil, nil)
	require.NoError(t, err)
	require.Equal(t, Parser{
		Common: Common{
			RedisURL:         "redis://localhost:6379/0",
			HTTPAddr:         ":8081",
			ZipkinSampleRate: 1,
			LogLevel:         "info",
			LogFormat:        "text",
			ShutdownTimeout:  10 * time.Second,
		},
		Broker:         Broker{RabbitMQURL: "amqp://guest:guest@localhost:5672/", DeliveryLimit: 10},
		DMarketAPIURL:  "https://api.dmarket.com",
		GameIDs:        GameIDs{"a8db"},
		ProxiesFile:    "utils_mount/dmarket_proxies.txt",
		RatePerIP:      2,
		CycleInterval:  60 * time.Second,
		CycleTimeout:   15 * time.Minute,
		MaxRetries:     5,
		RequestTimeout: 15 * time.Second,
		PriceBounds:    CentsList{10, 25, 50, 100, 200, 500, 1000, 2500, 5000, 10000, 25000, 100000},
		SplitPages:     20,
		SalesInterval:  6 * time.Hour,
		FeesInterval:   24 * time.Hour,
		LeaseTTL:       30 * time.Second,
		FreshShare:     0.3,
		WatchShare:     0.2,
		WatchInterval:  5 * time.Second,
	}, c)
	require.False(t, c.HasKeys())
	require.False(t, c.SharedCrawl, "a parser crawls alone unless told to share")
}

func TestWorkerDefaults(t *testing.T) {
	c, err := LoadWorker(nil, nil)
	require.NoError(t, err)
	require.Equal(t, ":8082", c.HTTPAddr)
	require.Equal(t, "amqp://guest:guest@localhost:5672/", c.RabbitMQURL)
	require.Equal(t, time.Hour, c.PriceTTL)
	require.Equal(t, 24*time.Hour, c.HistoryTTL)
	require.Equal(t, 64, c.Prefetch)
	require.Equal(t, 8, c.Concurrency)
	require.Equal(t, 5, c.MaxAttempts)
	require.Equal(t, 10, c.DeliveryLimit)
}

func TestBotDefaults(t *testing.T) {
	c, err := LoadBot(nil, environ(map[string]string{"TELEGRAM_API_TOKEN": botToken}))
	require.NoError(t, err)
	require.Equal(t, ":8083", c.HTTPAddr)
	require.Equal(t, GameIDs{"a8db"}, c.GameIDs)
	require.Equal(t, botToken, c.TelegramToken)
	require.Empty(t, c.Whitelist)
	require.Equal(t, "https://api.telegram.org/bot%s/%s", c.TelegramEndpoint)
	require.Equal(t, 3*time.Second, c.PollInterval)
	require.Equal(t, Cents(1000), c.DefaultMinPrice)
	require.Equal(t, Percent(0), c.DefaultLimit)
	require.Equal(t, Percent(500), c.FeePercent)
	require.Equal(t, "amqp://guest:guest@localhost:5672/", c.RabbitMQURL)
	require.Equal(t, "https://api.dmarket.com", c.DMarketAPIURL)
	require.False(t, c.HasKeys())
	require.InDelta(t, 2.0, c.VerifyRate, 0)
	require.Equal(t, 10*time.Second, c.ReverifyInterval)
	require.Equal(t, 5*time.Minute, c.ResyncInterval)
	require.Equal(t, Percent(500), c.WatchMargin)
	require.Equal(t, Percent(200), c.RenotifyMargin)
	require.Equal(t, market.DefaultStickerSharePercent, c.StickerShare)
}

func TestValuesParsed(t *testing.T) {
	p, err := LoadParser(nil, environ(map[string]string{
		"DMARKET_PUBLIC_KEY":  strings.ToUpper(pubKey),
		"DMARKET_SECRET_KEY":  secretKey[:64],
		"DMARKET_GAME_IDS":    "a8db, RUST",
		"DMARKET_API_URL":     "http://sim:8080/",
		"LOG_LEVEL":           "WARNING",
		"LOG_FORMAT":          "JSON",
		"HTTP_ADDR":           "127.0.0.1:0",
		"ZIPKIN_URL":          "http://zipkin:9411/api/v2/spans",
		"ZIPKIN_SAMPLE_RATE":  "0",
		"PARSER_RATE_PER_IP":  "0.5",
		"PARSER_PRICE_BOUNDS": "1,10",
	}))
	require.NoError(t, err)
	require.True(t, p.HasKeys())
	require.Equal(t, pubKey, p.PublicKey)
	require.Equal(t, GameIDs{"a8db", "rust"}, p.GameIDs)
	require.Equal(t, "http://sim:8080", p.DMarketAPIURL)
	require.Equal(t, "warn", p.LogLevel)
	require.Equal(t, "json", p.LogFormat)
	require.Equal(t, 0.5, p.RatePerIP)
	require.Zero(t, p.ZipkinSampleRate)
	require.Equal(t, CentsList{100, 1000}, p.PriceBounds)

	b, err := LoadBot(nil, environ(map[string]string{
		"TELEGRAM_API_TOKEN":    botToken,
		"TELEGRAM_WHITELIST":    "111, 222",
		"BOT_DEFAULT_MIN_PRICE": "0",
		"BOT_DEFAULT_LIMIT":     "-30",
		"DMARKET_FEE_PERCENT":   "2.5",
		"TELEGRAM_API_ENDPOINT": "http://127.0.0.1:9999/bot%s/%s",
	}))
	require.NoError(t, err)
	require.Equal(t, Whitelist{111, 222}, b.Whitelist)
	require.Equal(t, Cents(0), b.DefaultMinPrice)
	require.Equal(t, int64(-3000), b.DefaultLimit.BasisPoints())
	require.Equal(t, int64(250), b.FeePercent.BasisPoints())
}

// problemsOf returns the variable → reason map of a configuration error.
func problemsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalid)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	out := map[string]string{}
	for _, p := range ce.Problems {
		_, dup := out[p.Var]
		require.False(t, dup, "variable %s reported twice", p.Var)
		out[p.Var] = p.Reason
	}
	return out
}

func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		binary string // parser, worker or bot
		env    map[string]string
		want   map[string]string // variable -> fragment of the reason
	}{
		{name: "redis scheme", binary: "worker", env: map[string]string{"REDIS_URL": "http://:pw1234@h/0"},
			want: map[string]string{"REDIS_URL": `has scheme "http", want redis or rediss or unix`}},
		{name: "redis unparsable", binary: "worker", env: map[string]string{"REDIS_URL": "redis://:pw1234@h:port/0"},
			want: map[string]string{"REDIS_URL": "is not a URL"}},
		{name: "redis no host", binary: "worker", env: map[string]string{"REDIS_URL": "redis:///0"},
			want: map[string]string{"REDIS_URL": "has no host"}},
		{name: "redis cluster database", binary: "worker", env: map[string]string{"REDIS_URL": "redis://:pw1234@h1:7000/2?addr=h2:7001"},
			want: map[string]string{"REDIS_URL": `a cluster has only database 0, not "2"`}},
		{name: "redis cluster unix", binary: "worker", env: map[string]string{"REDIS_URL": "unix:///tmp/r.sock?addr=h2:7001"},
			want: map[string]string{"REDIS_URL": "scheme of a cluster must be redis or rediss"}},
		{name: "redis cluster addr", binary: "parser", env: map[string]string{"REDIS_URL": "redis://:pw1234@h1:7000?addr=pw1234"},
			want: map[string]string{"REDIS_URL": "unable to parse addr param"}},
		{name: "http addr", binary: "worker", env: map[string]string{"HTTP_ADDR": "8082"},
			want: map[string]string{"HTTP_ADDR": `"8082" is not host:port`}},
		{name: "http port", binary: "worker", env: map[string]string{"HTTP_ADDR": ":99999"},
			want: map[string]string{"HTTP_ADDR": "is not 0..65535"}},
		{name: "zipkin scheme", binary: "worker", env: map[string]string{"ZIPKIN_URL": "zipkin:9411"},
			want: map[string]string{"ZIPKIN_URL": "want http or https"}},
		{name: "sample rate above 1", binary: "worker", env: map[string]string{"ZIPKIN_SAMPLE_RATE": "1.5"},
			want: map[string]string{"ZIPKIN_SAMPLE_RATE": "1.5 is outside 0..1"}},
		{name: "sample rate negative", binary: "worker", env: map[string]string{"ZIPKIN_SAMPLE_RATE": "-0.1"},
			want: map[string]string{"ZIPKIN_SAMPLE_RATE": "outside 0..1"}},
		{name: "sample rate NaN", binary: "worker", env: map[string]string{"ZIPKIN_SAMPLE_RATE": "NaN"},
			want: map[string]string{"ZIPKIN_SAMPLE_RATE": "outside 0..1"}},
		{name: "sample rate text", binary: "worker", env: map[string]string{"ZIPKIN_SAMPLE_RATE": "half"},
			want: map[string]string{"ZIPKIN_SAMPLE_RATE": `"half" is not a number`}},
		{name: "log level", binary: "worker", env: map[string]string{"LOG_LEVEL": "verbose"},
			want: map[string]string{"LOG_LEVEL": `"verbose" is not debug, info, warn or error`}},
		{name: "log format", binary: "worker", env: map[string]string{"LOG_FORMAT": "xml"},
			want: map[string]string{"LOG_FORMAT": `"xml" is not text or json`}},
		{name: "shutdown unparsable", binary: "worker", env: map[string]string{"SHUTDOWN_TIMEOUT": "10"},
			want: map[string]string{"SHUTDOWN_TIMEOUT": `"10" is not a duration`}},
		{name: "shutdown zero", binary: "worker", env: map[string]string{"SHUTDOWN_TIMEOUT": "0s"},
			want: map[string]string{"SHUTDOWN_TIMEOUT": "0s must be above 0"}},
		{name: "rabbit scheme", binary: "worker", env: map[string]string{"RABBITMQ_URL": "http://guest:guest@h/"},
			want: map[string]string{"RABBITMQ_URL": "want amqp or amqps"}},
		{name: "worker ranges", binary: "worker", env: map[string]string{
			"PRICE_TTL": "-1h", "HISTORY_TTL": "soon", "WORKER_PREFETCH": "0", "WORKER_CONCURRENCY": "2000",
			"WORKER_MAX_ATTEMPTS": "x", "WORKER_ITEM_CACHE_TITLES": "-1"},
			want: map[string]string{
				"PRICE_TTL": "-1h0m0s must be above 0", "HISTORY_TTL": `"soon" is not a duration`,
				"WORKER_PREFETCH": "0 is outside 1..65535", "WORKER_CONCURRENCY": "2000 is outside 1..1024",
				"WORKER_MAX_ATTEMPTS": `"x" is not an integer`, "WORKER_ITEM_CACHE_TITLES": "-1 is outside 0..10000000"}},
		{name: "delivery limit", binary: "parser", env: map[string]string{"RABBITMQ_DELIVERY_LIMIT": "0"},
			want: map[string]string{"RABBITMQ_DELIVERY_LIMIT": "0 is outside 1..1000"}},
		{name: "integer out of range", binary: "worker", env: map[string]string{"WORKER_PREFETCH": "99999999999999999999"},
			want: map[string]string{"WORKER_PREFETCH": "out of range"}},
		{name: "parser api url", binary: "parser", env: map[string]string{"DMARKET_API_URL": "ftp://api.dmarket.com"},
			want: map[string]string{"DMARKET_API_URL": "want http or https"}},
		{name: "parser api url credentials", binary: "parser", env: map[string]string{"DMARKET_API_URL": "https://u:pw1234@api"},
			want: map[string]string{"DMARKET_API_URL": "must not carry credentials"}},
		{name: "unknown game", binary: "parser", env: map[string]string{"DMARKET_GAME_IDS": "a8db,csgo"},
			want: map[string]string{"DMARKET_GAME_IDS": `unknown game id "csgo"`}},
		{name: "key lengths", binary: "parser", env: map[string]string{"DMARKET_PUBLIC_KEY": pubKey[:10], "DMARKET_SECRET_KEY": secretKey[:100]},
			want: map[string]string{"DMARKET_PUBLIC_KEY": "has 10 hex digits, want 64", "DMARKET_SECRET_KEY": "has 100 hex digits, want 128 or 64"}},
		{name: "key not hex", binary: "parser", env: map[string]string{"DMARKET_PUBLIC_KEY": strings.Repeat("zz", 32), "DMARKET_SECRET_KEY": secretKey},
			want: map[string]string{"DMARKET_PUBLIC_KEY": "is not hex"}},
		{name: "only public key", binary: "parser", env: map[string]string{"DMARKET_PUBLIC_KEY": pubKey},
			want: map[string]string{"DMARKET_SECRET_KEY": "set both or neither"}},
		{name: "only secret key", binary: "parser", env: map[string]string{"DMARKET_SECRET_KEY": secretKey},
			want: map[string]string{"DMARKET_PUBLIC_KEY": "set both or neither"}},
		{name: "parser ranges", binary: "parser", env: map[string]string{
			"PARSER_RATE_PER_IP": "-2", "PARSER_CYCLE_INTERVAL": "0", "PARSER_CYCLE_TIMEOUT": "-1s",
			"PARSER_MAX_RETRIES": "-1", "PARSER_REQUEST_TIMEOUT": "fast", "PARSER_SPLIT_PAGES": "0",
			"PARSER_SALES_INTERVAL": "0s", "PARSER_FEES_INTERVAL": "-5m", "PARSER_PRICE_BOUNDS": "5,1",
			"DMARKET_PROXIES_FILE": " ", "PARSER_LEASE_TTL": "500ms", "PARSER_SHARED_CRAWL": "maybe"},
			want: map[string]string{
				"PARSER_RATE_PER_IP": "-2 is outside (0, 1000]", "PARSER_CYCLE_INTERVAL": "must be above 0",
				"PARSER_CYCLE_TIMEOUT": "must be above 0", "PARSER_MAX_RETRIES": "-1 is outside 0..100",
				"PARSER_REQUEST_TIMEOUT": `"fast" is not a duration`, "PARSER_SPLIT_PAGES": "outside 1..100000",
				"PARSER_SALES_INTERVAL": "must be above 0", "PARSER_FEES_INTERVAL": "must be above 0",
				"PARSER_PRICE_BOUNDS": "bounds must increase", "PARSER_LEASE_TTL": "500ms is outside 1s..10m",
				"PARSER_SHARED_CRAWL": "maybe"}},
		{name: "missing token", binary: "bot", env: map[string]string{},
			want: map[string]string{"TELEGRAM_API_TOKEN": "required"}},
		{name: "malformed token", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": "abc:def ghi"},
			want: map[string]string{"TELEGRAM_API_TOKEN": "not a bot token"}},
		{name: "whitelist", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken, "TELEGRAM_WHITELIST": "1,x"},
			want: map[string]string{"TELEGRAM_WHITELIST": `"x" is not a Telegram user id`}},
		{name: "endpoint placeholders", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken, "TELEGRAM_API_ENDPOINT": "https://api.telegram.org/bot%s"},
			want: map[string]string{"TELEGRAM_API_ENDPOINT": "must contain %s exactly twice"}},
		{name: "endpoint scheme", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken, "TELEGRAM_API_ENDPOINT": "tg://x/bot%s/%s"},
			want: map[string]string{"TELEGRAM_API_ENDPOINT": "want http or https"}},
		{name: "bot money and percent", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken,
			"BOT_DEFAULT_MIN_PRICE": "10.015", "BOT_DEFAULT_LIMIT": "5%", "DMARKET_FEE_PERCENT": "100", "BOT_POLL_INTERVAL": "0s"},
			want: map[string]string{"BOT_DEFAULT_MIN_PRICE": "more than two decimal places",
				"BOT_DEFAULT_LIMIT": `"5%" is not a percentage`, "DMARKET_FEE_PERCENT": "100.00 is outside 0..99.99",
				"BOT_POLL_INTERVAL": "must be above 0"}},
		{name: "bot ranges", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken,
			"BOT_DEFAULT_MIN_PRICE": "1000000.01", "BOT_DEFAULT_LIMIT": "-100.01", "DMARKET_FEE_PERCENT": "-1"},
			want: map[string]string{"BOT_DEFAULT_MIN_PRICE": "1000000.01 is outside 0..1000000",
				"BOT_DEFAULT_LIMIT": "-100.01 is outside -100..10000", "DMARKET_FEE_PERCENT": "-1.00 is outside"}},
		{name: "parser lane shares", binary: "parser", env: map[string]string{
			"PARSER_FRESH_SHARE": "1.5", "PARSER_WATCH_SHARE": "-0.1", "PARSER_WATCH_INTERVAL": "0s"},
			want: map[string]string{"PARSER_FRESH_SHARE": "1.5 is outside 0..1", "PARSER_WATCH_SHARE": "-0.1 is outside 0..1",
				"PARSER_WATCH_INTERVAL": "must be above 0"}},
		{name: "parser lanes leave the crawl nothing", binary: "parser", env: map[string]string{
			"PARSER_FRESH_SHARE": "0.6", "PARSER_WATCH_SHARE": "0.4"},
			want: map[string]string{"PARSER_WATCH_SHARE": "above 0.9"}},
		{name: "bot freshness", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken,
			"RABBITMQ_URL": "http://x", "DMARKET_API_URL": "https://u:p@api", "DMARKET_PUBLIC_KEY": pubKey,
			"BOT_VERIFY_RATE": "0", "BOT_REVERIFY_INTERVAL": "0s", "BOT_RESYNC_INTERVAL": "-1m",
			"BOT_WATCH_MARGIN": "-1", "BOT_RENOTIFY_MARGIN": "10000.01", "BOT_STICKER_SHARE": "101"},
			want: map[string]string{"RABBITMQ_URL": "want amqp or amqps", "DMARKET_API_URL": "must not carry credentials",
				"DMARKET_SECRET_KEY": "set both or neither", "BOT_VERIFY_RATE": "0 is outside (0, 1000]",
				"BOT_REVERIFY_INTERVAL": "must be above 0", "BOT_RESYNC_INTERVAL": "must be above 0",
				"BOT_WATCH_MARGIN": "-1.00 is outside 0..10000", "BOT_RENOTIFY_MARGIN": "10000.01 is outside 0..10000",
				"BOT_STICKER_SHARE": "101 is outside 0..100"}},
		{name: "negative money", binary: "bot", env: map[string]string{"TELEGRAM_API_TOKEN": botToken, "BOT_DEFAULT_MIN_PRICE": "-5"},
			want: map[string]string{"BOT_DEFAULT_MIN_PRICE": "must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			switch tt.binary {
			case "parser":
				_, err = LoadParser(nil, environ(tt.env))
			case "worker":
				_, err = LoadWorker(nil, environ(tt.env))
			case "bot":
				_, err = LoadBot(nil, environ(tt.env))
			}
			got := problemsOf(t, err)
			require.Len(t, got, len(tt.want), "problems: %v", got)
			for v, frag := range tt.want {
				require.Contains(t, got[v], frag, "variable %s", v)
			}
			for _, secret := range []string{"pw1234", secretKey, secretKey[:100], botToken, "def ghi"} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestRedisClusterURLAccepted(t *testing.T) {
	const cluster = "redis://:pw1234@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"
	w, err := LoadWorker(nil, environ(map[string]string{"REDIS_URL": cluster}))
	require.NoError(t, err)
	require.Equal(t, cluster, w.RedisURL)
}

func TestOneErrorListsEveryVariable(t *testing.T) {
	_, err := LoadBot(nil, environ(map[string]string{
		"REDIS_URL":             "redis://:hunter2@:bad/0",
		"LOG_LEVEL":             "loud",
		"ZIPKIN_SAMPLE_RATE":    "2",
		"BOT_POLL_INTERVAL":     "3",
		"DMARKET_GAME_IDS":      "nope",
		"BOT_DEFAULT_MIN_PRICE": "abc",
	}))
	msg := err.Error()
	require.True(t, strings.HasPrefix(msg, "invalid configuration (7 problems):\n"), msg)
	for _, v := range []string{"REDIS_URL", "LOG_LEVEL", "ZIPKIN_SAMPLE_RATE", "BOT_POLL_INTERVAL",
		"DMARKET_GAME_IDS", "BOT_DEFAULT_MIN_PRICE", "TELEGRAM_API_TOKEN"} {
		require.Contains(t, msg, "\n  "+v+": ")
	}
	require.NotContains(t, msg, "hunter2")
	require.Less(t, strings.Index(msg, "REDIS_URL"), strings.Index(msg, "LOG_LEVEL"), "declaration order")
	require.Less(t, strings.Index(msg, "TELEGRAM_API_TOKEN"), strings.Index(msg, "BOT_POLL_INTERVAL"), "declaration order")
	require.Less(t, strings.Index(msg, "BOT_POLL_INTERVAL"), strings.Index(msg, "BOT_DEFAULT_MIN_PRICE"), "declaration order")

	_, err = LoadWorker(nil, environ(map[string]string{"LOG_LEVEL": "loud"}))
	require.True(t, strings.HasPrefix(err.Error(), "invalid configuration (1 problem):\n  LOG_LEVEL: "), err.Error())
}

func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test.env")
	require.NoError(t, os.WriteFile(path, []byte(
		"# comment\nLOG_LEVEL=debug\nHTTP_ADDR=:9000\nTELEGRAM_API_TOKEN="+botToken+"\nexport BOT_POLL_INTERVAL=\"5s\"\n"), 0o600))

	c, err := LoadBot([]string{"-env-file", path}, environ(map[string]string{"HTTP_ADDR": ":9100"}))
	require.NoError(t, err)
	require.Equal(t, "debug", c.LogLevel, "from the file")
	require.Equal(t, ":9100", c.HTTPAddr, "the real environment wins over the file")
	require.Equal(t, botToken, c.TelegramToken)
	require.Equal(t, 5*time.Second, c.PollInterval)

	// An empty value in the environment lets the file fill it in.
	c, err = LoadBot([]string{"-env-file=" + path}, environ(map[string]string{"LOG_LEVEL": ""}))
	require.NoError(t, err)
	require.Equal(t, "debug", c.LogLevel)

	// Empty in both: the default.
	empty := filepath.Join(dir, "empty.env")
	require.NoError(t, os.WriteFile(empty, []byte("LOG_LEVEL=\nTELEGRAM_API_TOKEN="+botToken+"\n"), 0o600))
	c, err = LoadBot([]string{"-env-file", empty}, environ(map[string]string{"LOG_LEVEL": ""}))
	require.NoError(t, err)
	require.Equal(t, "info", c.LogLevel)
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
		msg     string
	}{
		{name: "missing file", args: []string{"-env-file", "/nonexistent/x.env"}, wantErr: ErrUsage, msg: "read -env-file"},
		{name: "unknown flag", args: []string{"-verbose"}, wantErr: ErrUsage, msg: "flag provided but not defined"},
		{name: "stray argument", args: []string{"extra"}, wantErr: ErrUsage, msg: `unexpected argument "extra"`},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadWorker(tt.args, nil)
			require.ErrorIs(t, err, tt.wantErr)
			require.ErrorContains(t, err, tt.msg)
		})
	}
	require.Contains(t, Usage("worker"), "usage: worker [-env-file PATH]")
}

func TestSummaryMasksSecrets(t *testing.T) {
	p, err := LoadParser(nil, environ(map[string]string{
		"REDIS_URL":          "redis://:redispw99@redis:6379/0",
		"RABBITMQ_URL":       "amqp://user:rabbitpw99@rabbit:5672/",
		"ZIPKIN_URL":         "https://zu:zipkinpw99@zipkin/api/v2/spans",
		"DMARKET_PUBLIC_KEY": pubKey,
		"DMARKET_SECRET_KEY": secretKey,
	}))
	require.NoError(t, err)
	w, err := LoadWorker(nil, environ(map[string]string{"RABBITMQ_URL": "amqp://user:rabbitpw99@rabbit:5672/"}))
	require.NoError(t, err)
	b, err := LoadBot(nil, environ(map[string]string{"TELEGRAM_API_TOKEN": botToken, "TELEGRAM_WHITELIST": "42,43",
		"REDIS_URL": "redis://redispw99@redis/1", "RABBITMQ_URL": "amqp://bot:botrabbitpw99@rabbit:5672/",
		"DMARKET_PUBLIC_KEY": pubKey, "DMARKET_SECRET_KEY": secretKey}))
	require.NoError(t, err)

	for _, tt := range []struct {
		name string
		v    slog.LogValuer
		want []string
	}{
		{name: "parser", v: p, want: []string{"REDIS_URL=redis://:****@redis:6379/0", "RABBITMQ_URL=amqp://user:****@rabbit:5672/",
			"DMARKET_SECRET_KEY=****", "DMARKET_PUBLIC_KEY=****", "PARSER_PRICE_BOUNDS=0.10,0.25", "DMARKET_GAME_IDS=a8db"}},
		{name: "worker", v: w, want: []string{"WORKER_PREFETCH=64", "RABBITMQ_URL=amqp://user:****@"}},
		{name: "bot", v: b, want: []string{"TELEGRAM_API_TOKEN=****", "TELEGRAM_WHITELIST=42,43", "BOT_DEFAULT_MIN_PRICE=$10.00",
			"BOT_DEFAULT_LIMIT=0.00%", "DMARKET_FEE_PERCENT=5.00%", "REDIS_URL=redis://****@redis/1",
			"RABBITMQ_URL=amqp://bot:****@rabbit:5672/", "DMARKET_SECRET_KEY=****", "BOT_VERIFY_RATE=2", "BOT_RENOTIFY_MARGIN=2.00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			// A plain handler: the summary must be safe even without the redacting one.
			slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", tt.v)
			out := buf.String()
			for _, s := range []string{"redispw99", "rabbitpw99", "zipkinpw99", pubKey, secretKey, botToken, "botrabbitpw99"} {
				require.NotContains(t, out, s)
			}
			for _, s := range tt.want {
				require.Contains(t, out, s)
			}
		})
	}

	require.ElementsMatch(t, []string{"redispw99", "zipkinpw99", "rabbitpw99", secretKey, pubKey}, p.Secrets())
	require.ElementsMatch(t, []string{"rabbitpw99"}, w.Secrets())
	require.ElementsMatch(t, []string{"redispw99", "botrabbitpw99", botToken, secretKey, pubKey}, b.Secrets())
}

func TestErrorsIs(t *testing.T) {
	err := &Error{Problems: []Problem{{Var: "X", Reason: "bad"}}}
	require.ErrorIs(t, err, ErrInvalid)
	require.False(t, errors.Is(err, ErrUsage))
}

func TestParserProxiesDir(t *testing.T) {
	c, err := LoadParser(nil, []string{"DMARKET_PROXIES_DIR=/app/utils_mount/proxies"})
	require.NoError(t, err)
	require.Equal(t, "/app/utils_mount/proxies", c.ProxiesDir)
	require.Equal(t, "utils_mount/dmarket_proxies.txt", c.ProxiesFile, "the file setting keeps its default")
	require.Contains(t, c.LogValue().String(), "DMARKET_PROXIES_DIR=/app/utils_mount/proxies")
}
