// Package config owns the environment configuration of the three binaries (SPEC §2): one struct per
// binary sharing Common, loaded from the environment and an optional -env-file, validated as a whole so
// that a bad start-up names every bad variable at once, and summarised for the start-up log with secrets
// masked.
//
// Precedence: a variable set to a non-empty value in the real environment wins over the same variable in
// the -env-file; the file supplies what the environment leaves unset or empty. A variable that is empty
// in both counts as unset and takes its default. A value that still contains the prod.env placeholder
// (Placeholder) is refused, naming the variable but never its value.
//
// Command line: -env-file PATH, -version (ErrVersion) and -h (flag.ErrHelp); Exit turns these into the
// binary's output and exit code, Usage being the help with every variable, its default and meaning (the
// `help` tag of its field).
//
// Variables (defaults in brackets; money in US dollars with at most two decimals, kept as integer cents;
// percentages with at most two decimals, kept as hundredths of a percent; durations in Go syntax: 500ms,
// 30s, 5m, 1h):
//
// All binaries:
//   - REDIS_URL [redis://localhost:6379/0]: redis://, rediss:// or unix:// URL, or a Redis Cluster:
//     redis://host:port?addr=host2:port2&addr=host3:port3 (no database part but 0).
//   - HTTP_ADDR [:8081 parser, :8082 worker, :8083 bot]: host:port of the ops server.
//   - ZIPKIN_URL [empty = tracing off]: http(s) URL of the Zipkin v2 span endpoint.
//   - ZIPKIN_SAMPLE_RATE [1.0]: share of traces sampled, 0..1.
//   - LOG_LEVEL [info]: debug, info, warn or error. LOG_FORMAT [text]: text or json.
//   - SHUTDOWN_TIMEOUT [10s]: bound of the graceful shutdown, > 0.
//
// Parser and worker:
//   - RABBITMQ_URL [amqp://guest:guest@localhost:5672/]: amqp:// or amqps:// URL.
//   - RABBITMQ_DELIVERY_LIMIT [10]: x-delivery-limit of the quorum queues, 1..1000 (applies when a queue
//     is created; parser and workers set the same value).
//
// Parser:
//   - DMARKET_API_URL [https://api.dmarket.com]: http(s) base URL (http for simulators).
//   - DMARKET_GAME_IDS [a8db]: comma list of a8db, 9a92, tf2, rust (also read by the bot).
//   - DMARKET_PUBLIC_KEY, DMARKET_SECRET_KEY [empty]: hex API keys, both or neither; the public key has
//     64 hex digits, the secret key 128 (seed and public key) or 64 (seed only).
//   - DMARKET_PROXIES_FILE [utils_mount/dmarket_proxies.txt]: proxy list (a missing file means direct).
//   - PARSER_RATE_PER_IP [2]: requests per second per egress IP for unsigned calls, > 0 and ≤ 1000.
//   - PARSER_CYCLE_INTERVAL [60s]: minimum time between the starts of full crawls, > 0.
//   - PARSER_CYCLE_TIMEOUT [15m]: deadline of one crawl cycle (ranges unfinished by then go first in
//     the next cycle), > 0.
//   - PARSER_MAX_RETRIES [5]: retries of one failed request before its task backs off, 0..100.
//   - PARSER_REQUEST_TIMEOUT [15s]: timeout of one HTTP request, > 0.
//   - PARSER_PRICE_BOUNDS [0.10,0.25,0.50,1,2,5,10,25,50,100,250,1000]: dollar bounds, strictly
//     increasing, that split each game's listings into the initial price ranges [0, b1), [b1, b2), …,
//     [bn, ∞) crawled in parallel.
//   - PARSER_SPLIT_PAGES [20]: a range whose cursor chain reaches this many pages is split in two, ≥ 1.
//   - PARSER_SALES_INTERVAL [6h]: how long a title's sales are postponed after a successful fetch, > 0.
//   - PARSER_FEES_INTERVAL [24h]: how often the fees of each game are fetched, > 0.
//   - PARSER_SHARED_CRAWL [false]: share each crawl cycle with the other parsers on the same Redis
//     through expiring leases (each listings page fetched once in total); on in every parser of a
//     scaled-out deployment, off (each parser crawls alone, as a single parser always did) by default.
//   - PARSER_LEASE_TTL [30s]: lifetime of a shared range lease unless renewed; a dead parser's ranges are
//     taken over this long after it died, 1s..10m.
//
// Worker:
//   - PRICE_TTL [1h], HISTORY_TTL [24h]: lifetimes of price and history data, > 0.
//   - WORKER_PREFETCH [64]: RabbitMQ prefetch per consumer, 1..65535.
//   - WORKER_CONCURRENCY [8]: messages handled at once, 1..1024.
//   - WORKER_MAX_ATTEMPTS [5]: deliveries of a transiently failing message before it is dead-lettered,
//     1..100.
//   - WORKER_ITEM_CACHE_TITLES [65536]: titles whose written items the worker remembers so as not to send
//     them again unchanged, 0..10000000 (0: send every item every time).
//
// Bot:
//   - TELEGRAM_API_TOKEN [required]: the bot token (<id>:<secret>).
//   - TELEGRAM_WHITELIST [empty]: comma list of Telegram user ids.
//   - TELEGRAM_API_ENDPOINT [https://api.telegram.org/bot%s/%s]: http(s) URL pattern with two %s (token,
//     method).
//   - BOT_POLL_INTERVAL [3s]: how often new offers are looked for, > 0.
//   - BOT_DEFAULT_MIN_PRICE [10]: default min price in dollars, 0..1000000.
//   - BOT_DEFAULT_LIMIT [0]: default profit limit in percent, -100..10000.
//   - DMARKET_FEE_PERCENT [5]: fallback fee in percent, 0..99.99 (minimum fee 1 cent).
package config

import (
	"cmp"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"

	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
)

// Default ops addresses of the binaries.
const (
	DefaultParserAddr = ":8081"
	DefaultWorkerAddr = ":8082"
	DefaultBotAddr    = ":8083"
)

// Common is the configuration every binary shares.
type Common struct {
	// RedisURL is REDIS_URL.
	RedisURL string `env:"REDIS_URL" envDefault:"redis://localhost:6379/0" help:"redis://, rediss:// or unix:// URL of Redis, or of a Redis Cluster as redis://host:port?addr=host2:port2&addr=host3:port3 (password inside the URL; never logged)"`
	// HTTPAddr is HTTP_ADDR, the ops server's address; its default depends on the binary.
	HTTPAddr string `env:"HTTP_ADDR" help:"host:port of the ops server (/metrics, /healthz, /readyz, /health)"`
	// ZipkinURL is ZIPKIN_URL; empty turns tracing off.
	ZipkinURL string `env:"ZIPKIN_URL" help:"http(s) URL of the Zipkin v2 span endpoint; empty turns tracing off"`
	// ZipkinSampleRate is ZIPKIN_SAMPLE_RATE, 0..1.
	ZipkinSampleRate float64 `env:"ZIPKIN_SAMPLE_RATE" envDefault:"1.0" help:"share of traces recorded, 0..1"`
	// LogLevel is LOG_LEVEL: debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	// LogFormat is LOG_FORMAT: text or json.
	LogFormat string `env:"LOG_FORMAT" envDefault:"text" help:"text or json"`
	// ShutdownTimeout is SHUTDOWN_TIMEOUT, the bound of the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s" help:"longest time spent finishing in-flight work after SIGTERM, > 0"`
}

// Broker is the RabbitMQ configuration of the binaries that use the queues (parser and worker).
type Broker struct {
	// RabbitMQURL is RABBITMQ_URL.
	RabbitMQURL string `env:"RABBITMQ_URL" envDefault:"amqp://guest:guest@localhost:5672/" help:"amqp:// or amqps:// URL of RabbitMQ (password inside the URL; never logged)"`
	// DeliveryLimit is RABBITMQ_DELIVERY_LIMIT, the x-delivery-limit of the quorum queues.
	DeliveryLimit int `env:"RABBITMQ_DELIVERY_LIMIT" envDefault:"10" help:"returns of an unsettled message (its worker died) before RabbitMQ dead-letters it (x-delivery-limit of the quorum queues), 1..1000; fixed when a queue is created: give parser and workers the same value"`
}

// Parser is the configuration of cmd/parser.
type Parser struct {
	Common
	Broker
	// DMarketAPIURL is DMARKET_API_URL, the API's base URL.
	DMarketAPIURL string `env:"DMARKET_API_URL" envDefault:"https://api.dmarket.com" help:"http(s) base URL of the DMarket API (http for simulators)"`
	// GameIDs is DMARKET_GAME_IDS.
	GameIDs GameIDs `env:"DMARKET_GAME_IDS" envDefault:"a8db" help:"comma list of games: a8db (CS2), 9a92 (Dota 2), tf2, rust"`
	// PublicKey is DMARKET_PUBLIC_KEY (lower-case hex), empty without keys.
	PublicKey string `env:"DMARKET_PUBLIC_KEY" help:"DMarket public API key, 64 hex digits; set both keys or neither (without keys only listings are crawled)"`
	// SecretKey is DMARKET_SECRET_KEY (lower-case hex), empty without keys.
	SecretKey string `env:"DMARKET_SECRET_KEY" help:"DMarket secret API key, 128 or 64 hex digits; never logged"`
	// ProxiesFile is DMARKET_PROXIES_FILE.
	ProxiesFile string `env:"DMARKET_PROXIES_FILE" envDefault:"utils_mount/dmarket_proxies.txt" help:"proxy list, re-read on change and on SIGHUP; a missing file means direct connections"`
	// ProxiesDir is DMARKET_PROXIES_DIR, empty when the parser reads DMARKET_PROXIES_FILE.
	ProxiesDir string `env:"DMARKET_PROXIES_DIR" help:"directory of proxy files, one per parser: the parser takes the first file no other live parser holds (a Redis lease lasting PARSER_LEASE_TTL, released on exit) and reads it instead of DMARKET_PROXIES_FILE; empty: DMARKET_PROXIES_FILE"`
	// RatePerIP is PARSER_RATE_PER_IP in requests per second.
	RatePerIP float64 `env:"PARSER_RATE_PER_IP" envDefault:"2" help:"requests per second per egress IP for unsigned calls, > 0 and <= 1000"`
	// CycleInterval is PARSER_CYCLE_INTERVAL.
	CycleInterval time.Duration `env:"PARSER_CYCLE_INTERVAL" envDefault:"60s" help:"minimum time between the starts of two full crawls, > 0"`
	// CycleTimeout is PARSER_CYCLE_TIMEOUT.
	CycleTimeout time.Duration `env:"PARSER_CYCLE_TIMEOUT" envDefault:"15m" help:"deadline of one crawl cycle (unfinished ranges go first in the next cycle), > 0"`
	// MaxRetries is PARSER_MAX_RETRIES.
	MaxRetries int `env:"PARSER_MAX_RETRIES" envDefault:"5" help:"retries of one failed DMarket request before its task backs off, 0..100"`
	// RequestTimeout is PARSER_REQUEST_TIMEOUT.
	RequestTimeout time.Duration `env:"PARSER_REQUEST_TIMEOUT" envDefault:"15s" help:"timeout of one DMarket HTTP request, proxy connection included, > 0"`
	// PriceBounds is PARSER_PRICE_BOUNDS in cents.
	PriceBounds CentsList `env:"PARSER_PRICE_BOUNDS" envDefault:"0.10,0.25,0.50,1,2,5,10,25,50,100,250,1000" help:"US dollar bounds, strictly increasing, that split each game into price ranges crawled in parallel"`
	// SplitPages is PARSER_SPLIT_PAGES.
	SplitPages int `env:"PARSER_SPLIT_PAGES" envDefault:"20" help:"a price range whose cursor chain reaches this many pages is split in two, >= 1"`
	// SalesInterval is PARSER_SALES_INTERVAL.
	SalesInterval time.Duration `env:"PARSER_SALES_INTERVAL" envDefault:"6h" help:"how long a title's sales are postponed after a successful fetch, > 0"`
	// FeesInterval is PARSER_FEES_INTERVAL.
	FeesInterval time.Duration `env:"PARSER_FEES_INTERVAL" envDefault:"24h" help:"how often the fees of each game are fetched, > 0"`
	// SharedCrawl is PARSER_SHARED_CRAWL.
	SharedCrawl bool `env:"PARSER_SHARED_CRAWL" envDefault:"false" help:"share each crawl cycle with the other parsers on the same Redis through expiring leases, so that each listings page is fetched once in total; turn on in every parser when running several (false: each parser crawls the whole market alone)"`
	// LeaseTTL is PARSER_LEASE_TTL.
	LeaseTTL time.Duration `env:"PARSER_LEASE_TTL" envDefault:"30s" help:"lifetime of a shared-crawl range lease unless renewed (every third of it): a dead parser's ranges are taken over this long after it died, 1s..10m"`
	// FreshShare is PARSER_FRESH_SHARE, the share of each egress's budget spent on the fresh lane.
	FreshShare float64 `env:"PARSER_FRESH_SHARE" envDefault:"0.3" help:"share of each egress's request budget spent polling each game's newest listings (orderBy=updated), 0..1; 0 turns the fresh lane off; PARSER_FRESH_SHARE + PARSER_WATCH_SHARE <= 0.9"`
	// WatchShare is PARSER_WATCH_SHARE, the share of each egress's budget spent re-scanning watched titles.
	WatchShare float64 `env:"PARSER_WATCH_SHARE" envDefault:"0.2" help:"share of each egress's request budget spent re-scanning the titles the bot watches (offers near a user's threshold) by title, 0..1; 0 turns the watch lane off"`
	// WatchInterval is PARSER_WATCH_INTERVAL, how often one watched title is scanned at most.
	WatchInterval time.Duration `env:"PARSER_WATCH_INTERVAL" envDefault:"5s" help:"shortest time between two scans of one watched title, > 0"`
}

// HasKeys reports whether DMarket API keys are configured (signed endpoints on).
func (c Parser) HasKeys() bool { return c.PublicKey != "" && c.SecretKey != "" }

// Worker is the configuration of cmd/worker.
type Worker struct {
	Common
	Broker
	// PriceTTL is PRICE_TTL.
	PriceTTL time.Duration `env:"PRICE_TTL" envDefault:"1h" help:"how long a listing price or buy order stays valid after it was last seen, > 0"`
	// HistoryTTL is HISTORY_TTL.
	HistoryTTL time.Duration `env:"HISTORY_TTL" envDefault:"24h" help:"how long a sell-history analysis is kept, > 0"`
	// Prefetch is WORKER_PREFETCH.
	Prefetch int `env:"WORKER_PREFETCH" envDefault:"64" help:"unacknowledged messages RabbitMQ hands one consumer at a time, 1..65535"`
	// Concurrency is WORKER_CONCURRENCY.
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"8" help:"messages handled in parallel, 1..1024"`
	// MaxAttempts is WORKER_MAX_ATTEMPTS.
	MaxAttempts int `env:"WORKER_MAX_ATTEMPTS" envDefault:"5" help:"deliveries of a transiently failing message before it is dead-lettered, 1..100"`
	// ItemCacheTitles is WORKER_ITEM_CACHE_TITLES.
	ItemCacheTitles int `env:"WORKER_ITEM_CACHE_TITLES" envDefault:"65536" help:"titles whose written items are remembered so that unchanged ones are not sent again, 0..10000000 (0: send every item every time)"`
}

// Bot is the configuration of cmd/bot.
type Bot struct {
	Common
	// GameIDs is DMARKET_GAME_IDS.
	GameIDs GameIDs `env:"DMARKET_GAME_IDS" envDefault:"a8db" help:"comma list of games: a8db (CS2), 9a92 (Dota 2), tf2, rust"`
	// TelegramToken is TELEGRAM_API_TOKEN.
	TelegramToken string `env:"TELEGRAM_API_TOKEN" help:"bot token from @BotFather (<digits>:<secret>); required; never logged"`
	// Whitelist is TELEGRAM_WHITELIST.
	Whitelist Whitelist `env:"TELEGRAM_WHITELIST" help:"comma list of Telegram user ids allowed to use the bot; empty: nobody (the bot warns at start)"`
	// TelegramEndpoint is TELEGRAM_API_ENDPOINT, a pattern with two %s: token and method.
	TelegramEndpoint string `env:"TELEGRAM_API_ENDPOINT" envDefault:"https://api.telegram.org/bot%s/%s" help:"Bot API URL pattern: the first %s is the token, the second the method"`
	// PollInterval is BOT_POLL_INTERVAL.
	PollInterval time.Duration `env:"BOT_POLL_INTERVAL" envDefault:"3s" help:"how often new offers are looked for, > 0"`
	// DefaultMinPrice is BOT_DEFAULT_MIN_PRICE in cents.
	DefaultMinPrice Cents `env:"BOT_DEFAULT_MIN_PRICE" envDefault:"10" help:"new users' minimum buy price in US dollars, 0..1000000"`
	// DefaultLimit is BOT_DEFAULT_LIMIT in hundredths of a percent.
	DefaultLimit Percent `env:"BOT_DEFAULT_LIMIT" envDefault:"0" help:"new users' minimum profit in percent, -100..10000"`
	// FeePercent is DMARKET_FEE_PERCENT in hundredths of a percent.
	FeePercent Percent `env:"DMARKET_FEE_PERCENT" envDefault:"5" help:"DMarket fee in percent when no fee data was fetched, 0..99.99 (minimum fee 1 cent)"`
	// Broker is RABBITMQ_URL and RABBITMQ_DELIVERY_LIMIT: the bot consumes change events and publishes the
	// pages of its re-checks on the parser's queues, which it declares with the same delivery limit.
	Broker
	// DMarketAPIURL is DMARKET_API_URL, the API's base URL for re-checking offers.
	DMarketAPIURL string `env:"DMARKET_API_URL" envDefault:"https://api.dmarket.com" help:"http(s) base URL of the DMarket API, for re-checking an offer before it is sent (http for simulators)"`
	// PublicKey is DMARKET_PUBLIC_KEY (lower-case hex), empty without keys.
	PublicKey string `env:"DMARKET_PUBLIC_KEY" help:"DMarket public API key, 64 hex digits, for re-checking buy orders (aggregated prices); set both keys or neither (without keys only listings are re-checked)"`
	// SecretKey is DMARKET_SECRET_KEY (lower-case hex), empty without keys.
	SecretKey string `env:"DMARKET_SECRET_KEY" help:"DMarket secret API key, 128 or 64 hex digits; never logged"`
	// VerifyRate is BOT_VERIFY_RATE in requests per second.
	VerifyRate float64 `env:"BOT_VERIFY_RATE" envDefault:"2" help:"DMarket requests per second the bot spends re-checking offers (before a notification, and offers being shown), > 0 and <= 1000"`
	// ReverifyInterval is BOT_REVERIFY_INTERVAL.
	ReverifyInterval time.Duration `env:"BOT_REVERIFY_INTERVAL" envDefault:"10s" help:"how often an offer a user is being shown is re-checked in the background (within BOT_VERIFY_RATE), > 0"`
	// ResyncInterval is BOT_RESYNC_INTERVAL.
	ResyncInterval time.Duration `env:"BOT_RESYNC_INTERVAL" envDefault:"5m" help:"how often the bot re-reads the whole market as a safety net behind change events, > 0"`
	// WatchMargin is BOT_WATCH_MARGIN in hundredths of a percent.
	WatchMargin Percent `env:"BOT_WATCH_MARGIN" envDefault:"5" help:"an offer within this many percentage points below some user's limit (or above it) has its title re-scanned often by the parsers, 0..10000"`
	// RenotifyMargin is BOT_RENOTIFY_MARGIN in hundredths of a percent.
	RenotifyMargin Percent `env:"BOT_RENOTIFY_MARGIN" envDefault:"2" help:"an offer already sent is sent again when its profit improved by at least this many percentage points, 0..10000"`
	// StickerShare is BOT_STICKER_SHARE in percent (market.DefaultStickerSharePercent by default).
	StickerShare int `env:"BOT_STICKER_SHARE" envDefault:"10" help:"percent of the applied stickers' value a STICKERS offer adds to the title's floor price, 0..100"`
}

// HasKeys reports whether DMarket API keys are configured (buy orders are re-checked too).
func (c Bot) HasKeys() bool { return c.PublicKey != "" && c.SecretKey != "" }

// Problem is one bad variable.
type Problem struct {
	// Var is the variable's name.
	Var string
	// Reason says what is wrong, without the value of a secret.
	Reason string
}

// Error lists every bad variable of a configuration.
type Error struct {
	// Problems are the bad variables in declaration order.
	Problems []Problem
}

// Error returns one message naming every bad variable and why.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Var, p.Reason)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Sentinel errors.
var (
	// ErrInvalid matches every configuration error listing bad variables.
	ErrInvalid = errors.New("invalid configuration")
	// ErrUsage means the command line itself is wrong (unknown flag, stray argument, unreadable
	// -env-file). A -h or -help request wraps flag.ErrHelp.
	ErrUsage = errors.New("bad command line")
	// ErrVersion means -version was given: the binary prints its build information and exits.
	ErrVersion = errors.New("version requested")
)

// LoadParser loads the parser's configuration from args (the command line without the program name) and
// environ (as os.Environ returns it).
func LoadParser(args, environ []string) (Parser, error) {
	var c Parser
	err := load(args, environ, &c, &c.Common, DefaultParserAddr, func(p *problems) { c.validate(p) })
	return c, err
}

// LoadWorker loads the worker's configuration; see LoadParser.
func LoadWorker(args, environ []string) (Worker, error) {
	var c Worker
	err := load(args, environ, &c, &c.Common, DefaultWorkerAddr, func(p *problems) { c.validate(p) })
	return c, err
}

// LoadBot loads the bot's configuration; see LoadParser.
func LoadBot(args, environ []string) (Bot, error) {
	var c Bot
	err := load(args, environ, &c, &c.Common, DefaultBotAddr, func(p *problems) { c.validate(p) })
	return c, err
}

// LoadBotOffline loads the bot's configuration for read-only use without Telegram (the `bot offers`
// command): TELEGRAM_API_TOKEN and TELEGRAM_API_ENDPOINT are not required; everything else is checked as
// LoadBot does.
func LoadBotOffline(args, environ []string) (Bot, error) {
	var c Bot
	err := load(args, environ, &c, &c.Common, DefaultBotAddr, func(p *problems) { c.validateSettings(p) },
		"TELEGRAM_API_TOKEN", "TELEGRAM_API_ENDPOINT")
	return c, err
}

// load parses the command line, merges the environment with the -env-file and fills cfg. Variables named
// in unused are not checked for placeholders (a loader that does not use them).
func load(args, environ []string, cfg any, common *Common, defaultAddr string, validate func(*problems), unused ...string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	envFile := fs.String("env-file", "", "dotenv file with default values for the environment")
	showVersion := fs.Bool("version", false, "print the version, commit and build date and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if *showVersion {
		return ErrVersion
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	vars := env.ToMap(environ)
	if *envFile != "" {
		fileVars, err := godotenv.Read(*envFile)
		if err != nil {
			return fmt.Errorf("%w: read -env-file: %s", ErrUsage, redact.String(err.Error()))
		}
		for k, v := range fileVars {
			if vars[k] == "" {
				vars[k] = v
			}
		}
	}

	p := &problems{}
	// First, so that a placeholder is reported as such rather than as a malformed value.
	refusePlaceholders(p, vars, envOrder(reflect.TypeOf(cfg).Elem()), unused)
	if err := env.ParseWithOptions(cfg, env.Options{Environment: vars}); err != nil {
		p.fromEnv(cfg, err)
	}
	if common.HTTPAddr == "" {
		common.HTTPAddr = defaultAddr
	}
	validate(p)
	if len(p.list) > 0 {
		order := envOrder(reflect.TypeOf(cfg).Elem())
		slices.SortStableFunc(p.list, func(a, b Problem) int {
			return cmp.Compare(orderOf(order, a.Var), orderOf(order, b.Var))
		})
		return &Error{Problems: p.list}
	}
	return nil
}

// problems collects bad variables; a variable is reported once, by the first rule it breaks.
type problems struct {
	list []Problem
	seen map[string]bool
}

func (p *problems) add(name, format string, args ...any) {
	if p.seen[name] {
		return
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[name] = true
	p.list = append(p.list, Problem{Var: name, Reason: fmt.Sprintf(format, args...)})
}

// ok reports whether name has no problem so far (so that range checks skip unparsable values).
func (p *problems) ok(name string) bool { return !p.seen[name] }

// fromEnv converts the env library's errors into problems named by variable.
func (p *problems) fromEnv(cfg any, err error) {
	fields := envFields(reflect.TypeOf(cfg).Elem())
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		p.add("environment", "%s", redact.String(err.Error()))
		return
	}
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := fields[pe.Name]; ok {
				p.add(f.name, "%s", reason(f, pe.Err))
				continue
			}
		}
		p.add("environment", "%s", redact.String(e.Error()))
	}
}

// envOrder lists the names of the variables of a configuration struct in declaration order.
func envOrder(t reflect.Type) []string {
	vars := variables(t)
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.name
	}
	return out
}

func orderOf(order []string, name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

type fieldInfo struct {
	name string
	kind reflect.Kind
	typ  reflect.Type
}

// envFields maps Go field names (including those of embedded structs) to their variables.
func envFields(t reflect.Type) map[string]fieldInfo {
	out := map[string]fieldInfo{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range envFields(f.Type) {
				out[k] = v
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name != "" {
			out[f.Name] = fieldInfo{name: name, kind: f.Type.Kind(), typ: f.Type}
		}
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// reason turns a parse failure into a sentence. The values of the fields parsed here are not secret.
func reason(f fieldInfo, err error) string {
	var num *strconv.NumError
	switch {
	case f.typ == durationType:
		return fmt.Sprintf("%s is not a duration (use e.g. 500ms, 30s, 5m, 1h)", quoteFromError(err))
	case errors.As(err, &num):
		what := "an integer"
		if f.kind == reflect.Float64 || f.kind == reflect.Float32 {
			what = "a number"
		}
		if errors.Is(num.Err, strconv.ErrRange) {
			return fmt.Sprintf("%q is out of range", num.Num)
		}
		return fmt.Sprintf("%q is not %s", num.Num, what)
	}
	return err.Error()
}

// quoteFromError extracts the quoted value from time.ParseDuration's message.
func quoteFromError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `"`); i >= 0 {
		return msg[i:]
	}
	return "the value"
}

func (c *Common) validate(p *problems) {
	if _, err := checkURL(c.RedisURL, "redis", "rediss", "unix"); err != nil {
		p.add("REDIS_URL", "%s", err)
	} else if redisdb.IsClusterURL(c.RedisURL) {
		if _, err := redisdb.ParseClusterURL(c.RedisURL); err != nil {
			p.add("REDIS_URL", "%s", err)
		}
	}
	if host, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		p.add("HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("HTTP_ADDR", "port %q of %q is not 0..65535", port, net.JoinHostPort(host, port))
	}
	if c.ZipkinURL != "" {
		if _, err := checkURL(c.ZipkinURL, "http", "https"); err != nil {
			p.add("ZIPKIN_URL", "%s", err)
		}
	}
	if p.ok("ZIPKIN_SAMPLE_RATE") && !(c.ZipkinSampleRate >= 0 && c.ZipkinSampleRate <= 1) {
		p.add("ZIPKIN_SAMPLE_RATE", "%v is outside 0..1", c.ZipkinSampleRate)
	}
	if lvl, err := logging.ParseLevel(c.LogLevel); err != nil {
		p.add("LOG_LEVEL", "%q is not debug, info, warn or error", c.LogLevel)
	} else {
		c.LogLevel = strings.ToLower(lvl.String())
	}
	if f, err := logging.ParseFormat(c.LogFormat); err != nil {
		p.add("LOG_FORMAT", "%q is not text or json", c.LogFormat)
	} else {
		c.LogFormat = f
	}
	positive(p, "SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
}

func (c Broker) validate(p *problems) {
	if _, err := checkURL(c.RabbitMQURL, "amqp", "amqps"); err != nil {
		p.add("RABBITMQ_URL", "%s", err)
	}
	between(p, "RABBITMQ_DELIVERY_LIMIT", c.DeliveryLimit, 1, 1000)
}

func (c *Parser) validate(p *problems) {
	c.Common.validate(p)
	c.Broker.validate(p)
	validateDMarket(p, &c.DMarketAPIURL, &c.PublicKey, &c.SecretKey)
	if c.ProxiesFile == "" {
		p.add("DMARKET_PROXIES_FILE", "must not be empty")
	}
	if p.ok("PARSER_RATE_PER_IP") && !(c.RatePerIP > 0 && c.RatePerIP <= 1000) {
		p.add("PARSER_RATE_PER_IP", "%v is outside (0, 1000] requests per second", c.RatePerIP)
	}
	positive(p, "PARSER_CYCLE_INTERVAL", c.CycleInterval)
	positive(p, "PARSER_CYCLE_TIMEOUT", c.CycleTimeout)
	between(p, "PARSER_MAX_RETRIES", c.MaxRetries, 0, 100)
	positive(p, "PARSER_REQUEST_TIMEOUT", c.RequestTimeout)
	between(p, "PARSER_SPLIT_PAGES", c.SplitPages, 1, 100000)
	positive(p, "PARSER_SALES_INTERVAL", c.SalesInterval)
	if p.ok("PARSER_LEASE_TTL") && (c.LeaseTTL < time.Second || c.LeaseTTL > 10*time.Minute) {
		p.add("PARSER_LEASE_TTL", "%s is outside 1s..10m", c.LeaseTTL)
	}
	positive(p, "PARSER_FEES_INTERVAL", c.FeesInterval)
	share(p, "PARSER_FRESH_SHARE", c.FreshShare)
	share(p, "PARSER_WATCH_SHARE", c.WatchShare)
	if p.ok("PARSER_FRESH_SHARE") && p.ok("PARSER_WATCH_SHARE") && c.FreshShare+c.WatchShare > 0.9 {
		p.add("PARSER_WATCH_SHARE", "%v + PARSER_FRESH_SHARE %v is above 0.9 (the range crawl needs the rest)", c.WatchShare, c.FreshShare)
	}
	positive(p, "PARSER_WATCH_INTERVAL", c.WatchInterval)
}

// validateDMarket checks DMARKET_API_URL and the key pair, both or neither, as the parser and the bot
// read them: the URL loses its trailing slashes, the keys their spaces and upper case.
func validateDMarket(p *problems, apiURL, publicKey, secretKey *string) {
	if u, err := checkURL(*apiURL, "http", "https"); err != nil {
		p.add("DMARKET_API_URL", "%s", err)
	} else if u.User != nil {
		p.add("DMARKET_API_URL", "must not carry credentials")
	} else {
		*apiURL = strings.TrimRight(*apiURL, "/")
	}
	*publicKey = strings.ToLower(strings.TrimSpace(*publicKey))
	*secretKey = strings.ToLower(strings.TrimSpace(*secretKey))
	if err := checkHex(*publicKey, 64); err != nil {
		p.add("DMARKET_PUBLIC_KEY", "%s", err)
	}
	if err := checkHex(*secretKey, 128, 64); err != nil {
		p.add("DMARKET_SECRET_KEY", "%s", err)
	}
	switch {
	case *publicKey != "" && *secretKey == "":
		p.add("DMARKET_SECRET_KEY", "missing while DMARKET_PUBLIC_KEY is set (set both or neither)")
	case *publicKey == "" && *secretKey != "":
		p.add("DMARKET_PUBLIC_KEY", "missing while DMARKET_SECRET_KEY is set (set both or neither)")
	}
}

// share checks a share of a budget, 0..1.
func share(p *problems, name string, v float64) {
	if p.ok(name) && !(v >= 0 && v <= 1) {
		p.add(name, "%v is outside 0..1", v)
	}
}

func (c *Worker) validate(p *problems) {
	c.Common.validate(p)
	c.Broker.validate(p)
	positive(p, "PRICE_TTL", c.PriceTTL)
	positive(p, "HISTORY_TTL", c.HistoryTTL)
	between(p, "WORKER_PREFETCH", c.Prefetch, 1, 65535)
	between(p, "WORKER_CONCURRENCY", c.Concurrency, 1, 1024)
	between(p, "WORKER_MAX_ATTEMPTS", c.MaxAttempts, 1, 100)
	between(p, "WORKER_ITEM_CACHE_TITLES", c.ItemCacheTitles, 0, 10_000_000)
}

func (c *Bot) validate(p *problems) {
	c.validateTelegram(p)
	c.validateSettings(p)
}

func (c *Bot) validateTelegram(p *problems) {
	c.TelegramToken = strings.TrimSpace(c.TelegramToken)
	switch {
	case c.TelegramToken == "":
		p.add("TELEGRAM_API_TOKEN", "required (the bot token from @BotFather)")
	case !validBotToken(c.TelegramToken):
		p.add("TELEGRAM_API_TOKEN", "not a bot token (want <digits>:<letters, digits, _ or ->)")
	}
	if strings.Count(c.TelegramEndpoint, "%s") != 2 || strings.Count(c.TelegramEndpoint, "%") != 2 {
		p.add("TELEGRAM_API_ENDPOINT", "%q must contain %%s exactly twice (token, method) and no other %%", redact.String(c.TelegramEndpoint))
	} else if _, err := checkURL(fmt.Sprintf(c.TelegramEndpoint, "TOKEN", "getMe"), "http", "https"); err != nil {
		p.add("TELEGRAM_API_ENDPOINT", "%s", err)
	}
}

func (c *Bot) validateSettings(p *problems) {
	c.Common.validate(p)
	positive(p, "BOT_POLL_INTERVAL", c.PollInterval)
	if p.ok("BOT_DEFAULT_MIN_PRICE") && c.DefaultMinPrice > 1_000_000_00 {
		p.add("BOT_DEFAULT_MIN_PRICE", "%s is outside 0..1000000 dollars", c.DefaultMinPrice)
	}
	if p.ok("BOT_DEFAULT_LIMIT") && (c.DefaultLimit < -100_00 || c.DefaultLimit > 10000_00) {
		p.add("BOT_DEFAULT_LIMIT", "%s is outside -100..10000 percent", c.DefaultLimit)
	}
	if p.ok("DMARKET_FEE_PERCENT") && (c.FeePercent < 0 || c.FeePercent >= 100_00) {
		p.add("DMARKET_FEE_PERCENT", "%s is outside 0..99.99 percent", c.FeePercent)
	}
	c.validateFreshness(p)
}

// validateFreshness checks what the bot needs to re-check offers and follow change events (SPEC §9.1).
func (c *Bot) validateFreshness(p *problems) {
	c.Broker.validate(p)
	validateDMarket(p, &c.DMarketAPIURL, &c.PublicKey, &c.SecretKey)
	if p.ok("BOT_VERIFY_RATE") && !(c.VerifyRate > 0 && c.VerifyRate <= 1000) {
		p.add("BOT_VERIFY_RATE", "%v is outside (0, 1000] requests per second", c.VerifyRate)
	}
	positive(p, "BOT_REVERIFY_INTERVAL", c.ReverifyInterval)
	positive(p, "BOT_RESYNC_INTERVAL", c.ResyncInterval)
	between(p, "BOT_STICKER_SHARE", c.StickerShare, 0, 100)
	for name, v := range map[string]Percent{"BOT_WATCH_MARGIN": c.WatchMargin, "BOT_RENOTIFY_MARGIN": c.RenotifyMargin} {
		if p.ok(name) && (v < 0 || v > 10000_00) {
			p.add(name, "%s is outside 0..10000 percentage points", v)
		}
	}
}

func validBotToken(s string) bool {
	id, secret, ok := strings.Cut(s, ":")
	if !ok || id == "" || secret == "" || strings.Trim(id, "0123456789") != "" {
		return false
	}
	for _, r := range secret {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func positive(p *problems, name string, d time.Duration) {
	if p.ok(name) && d <= 0 {
		p.add(name, "%s must be above 0", d)
	}
}

func between(p *problems, name string, v, lo, hi int) {
	if p.ok(name) && (v < lo || v > hi) {
		p.add(name, "%d is outside %d..%d", v, lo, hi)
	}
}

// checkURL parses raw and checks its scheme and host. Messages never contain a password.
func checkURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", redact.URLString(raw), redact.ParseError(raw, err))
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return nil, fmt.Errorf("%q has scheme %q, want %s", redact.URLString(raw), u.Scheme, strings.Join(schemes, " or "))
	}
	if u.Scheme != "unix" && u.Host == "" {
		return nil, fmt.Errorf("%q has no host", redact.URLString(raw))
	}
	return u, nil
}

func checkHex(s string, lengths ...int) error {
	if s == "" {
		return nil
	}
	if _, err := hex.DecodeString(s); err != nil || strings.ContainsAny(s, " ") {
		return errors.New("is not hex")
	}
	for _, n := range lengths {
		if len(s) == n {
			return nil
		}
	}
	want := make([]string, len(lengths))
	for i, n := range lengths {
		want[i] = strconv.Itoa(n)
	}
	return fmt.Errorf("has %d hex digits, want %s", len(s), strings.Join(want, " or "))
}

// urlSecrets returns the password (or lone user part) of a URL.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil
	}
	if pw, ok := u.User.Password(); ok {
		return []string{pw}
	}
	return []string{u.User.Username()}
}

// Logging returns LOG_LEVEL and LOG_FORMAT, for logging.New.
func (c Common) Logging() (level, format string) {
	return c.LogLevel, c.LogFormat
}

// Secrets returns the secret values of the configuration (URL passwords), for logging.WithSecrets.
func (c Common) Secrets() []string {
	return append(urlSecrets(c.RedisURL), urlSecrets(c.ZipkinURL)...)
}

// secrets returns the secrets of common followed by the broker's.
func (c Broker) secrets(common Common) []string {
	return append(common.Secrets(), urlSecrets(c.RabbitMQURL)...)
}

// Secrets returns the secret values of the configuration (keys, URL passwords), for logging.WithSecrets.
func (c Parser) Secrets() []string {
	return nonEmpty(append(c.Broker.secrets(c.Common), c.SecretKey, c.PublicKey))
}

// Secrets returns the secret values of the configuration (URL passwords), for logging.WithSecrets.
func (c Worker) Secrets() []string {
	return nonEmpty(c.Broker.secrets(c.Common))
}

// Secrets returns the secret values of the configuration (the token, URL passwords), for
// logging.WithSecrets.
func (c Bot) Secrets() []string {
	return nonEmpty(append(c.Broker.secrets(c.Common), c.TelegramToken, c.SecretKey, c.PublicKey))
}

func nonEmpty(in []string) []string {
	out := in[:0]
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func isSet(s string) string {
	if s == "" {
		return "unset"
	}
	return redact.Mask
}

func (c Common) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("REDIS_URL", redact.URLString(c.RedisURL)),
		slog.String("HTTP_ADDR", c.HTTPAddr),
		slog.String("ZIPKIN_URL", redact.URLString(c.ZipkinURL)),
		slog.Float64("ZIPKIN_SAMPLE_RATE", c.ZipkinSampleRate),
		slog.String("LOG_LEVEL", c.LogLevel),
		slog.String("LOG_FORMAT", c.LogFormat),
		slog.Duration("SHUTDOWN_TIMEOUT", c.ShutdownTimeout),
	}
}

// attrs returns the log attributes of common followed by the broker's.
func (c Broker) attrs(common Common) []slog.Attr {
	return append(common.attrs(),
		slog.String("RABBITMQ_URL", redact.URLString(c.RabbitMQURL)),
		slog.Int("RABBITMQ_DELIVERY_LIMIT", c.DeliveryLimit),
	)
}

// LogValue summarises the configuration for the start-up log with every secret masked.
func (c Parser) LogValue() slog.Value {
	return slog.GroupValue(append(c.Broker.attrs(c.Common),
		slog.String("DMARKET_API_URL", redact.URLString(c.DMarketAPIURL)),
		slog.String("DMARKET_GAME_IDS", strings.Join(c.GameIDs, ",")),
		slog.String("DMARKET_PUBLIC_KEY", isSet(c.PublicKey)),
		slog.String("DMARKET_SECRET_KEY", isSet(c.SecretKey)),
		slog.String("DMARKET_PROXIES_FILE", c.ProxiesFile),
		slog.String("DMARKET_PROXIES_DIR", c.ProxiesDir),
		slog.Float64("PARSER_RATE_PER_IP", c.RatePerIP),
		slog.Duration("PARSER_CYCLE_INTERVAL", c.CycleInterval),
		slog.Duration("PARSER_CYCLE_TIMEOUT", c.CycleTimeout),
		slog.Int("PARSER_MAX_RETRIES", c.MaxRetries),
		slog.Duration("PARSER_REQUEST_TIMEOUT", c.RequestTimeout),
		slog.String("PARSER_PRICE_BOUNDS", joinCents(c.PriceBounds)),
		slog.Int("PARSER_SPLIT_PAGES", c.SplitPages),
		slog.Duration("PARSER_SALES_INTERVAL", c.SalesInterval),
		slog.Duration("PARSER_FEES_INTERVAL", c.FeesInterval),
		slog.Bool("PARSER_SHARED_CRAWL", c.SharedCrawl),
		slog.Duration("PARSER_LEASE_TTL", c.LeaseTTL),
		slog.Float64("PARSER_FRESH_SHARE", c.FreshShare),
		slog.Float64("PARSER_WATCH_SHARE", c.WatchShare),
		slog.Duration("PARSER_WATCH_INTERVAL", c.WatchInterval),
	)...)
}

// LogValue summarises the configuration for the start-up log with every secret masked.
func (c Worker) LogValue() slog.Value {
	return slog.GroupValue(append(c.Broker.attrs(c.Common),
		slog.Duration("PRICE_TTL", c.PriceTTL),
		slog.Duration("HISTORY_TTL", c.HistoryTTL),
		slog.Int("WORKER_PREFETCH", c.Prefetch),
		slog.Int("WORKER_CONCURRENCY", c.Concurrency),
		slog.Int("WORKER_MAX_ATTEMPTS", c.MaxAttempts),
		slog.Int("WORKER_ITEM_CACHE_TITLES", c.ItemCacheTitles),
	)...)
}

// LogValue summarises the configuration for the start-up log with every secret masked.
func (c Bot) LogValue() slog.Value {
	ids := make([]string, len(c.Whitelist))
	for i, id := range c.Whitelist {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return slog.GroupValue(append(c.Broker.attrs(c.Common),
		slog.String("DMARKET_GAME_IDS", strings.Join(c.GameIDs, ",")),
		slog.String("TELEGRAM_API_TOKEN", isSet(c.TelegramToken)),
		slog.String("TELEGRAM_WHITELIST", strings.Join(ids, ",")),
		slog.String("TELEGRAM_API_ENDPOINT", redact.String(c.TelegramEndpoint)),
		slog.Duration("BOT_POLL_INTERVAL", c.PollInterval),
		slog.String("BOT_DEFAULT_MIN_PRICE", c.DefaultMinPrice.Dollars()),
		slog.String("BOT_DEFAULT_LIMIT", c.DefaultLimit.String()+"%"),
		slog.String("DMARKET_FEE_PERCENT", c.FeePercent.String()+"%"),
		slog.String("DMARKET_API_URL", redact.URLString(c.DMarketAPIURL)),
		slog.String("DMARKET_PUBLIC_KEY", isSet(c.PublicKey)),
		slog.String("DMARKET_SECRET_KEY", isSet(c.SecretKey)),
		slog.Float64("BOT_VERIFY_RATE", c.VerifyRate),
		slog.Duration("BOT_REVERIFY_INTERVAL", c.ReverifyInterval),
		slog.Duration("BOT_RESYNC_INTERVAL", c.ResyncInterval),
		slog.String("BOT_WATCH_MARGIN", c.WatchMargin.String()),
		slog.String("BOT_RENOTIFY_MARGIN", c.RenotifyMargin.String()),
		slog.Int("BOT_STICKER_SHARE", c.StickerShare),
	)...)
}

func joinCents(l CentsList) string {
	s := make([]string, len(l))
	for i, c := range l {
		s[i] = c.String()
	}
	return strings.Join(s, ",")
}
