package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go/model"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing"
	"github.com/skinflip/dmarket-monitor/internal/platform/tracing/tracingtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/worker"
)

// waitLong bounds every awaited condition of the pipeline tests; the machine is shared and loaded.
const waitLong = 45 * time.Second

// poll is how often awaited conditions are re-checked.
const poll = 10 * time.Millisecond

// itemsPerPage is the size of a DMarket listings page.
const itemsPerPage = 100

var listingsQueue = message.Queue(message.KindListings)

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("PIPELINE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// --- realistic pages -------------------------------------------------------------------------------

// item is what a generated listing carries; the rest of the object is the fixture's.
type item struct {
	id        string
	title     string
	price     int64
	suggested int64
	image     string
	locked    bool
	lockDays  int
	// extra are attribute members set in the item's extra (pageGen.attrs), nil for none beyond the
	// template's.
	extra map[string]any
}

// page is one generated listings page and its encoded message.
type page struct {
	id      string
	fetched time.Time
	items   []item
	body    []byte
}

// pageGen builds listings pages shaped like the market-items fixture: every object is a full fixture
// object (owner, fees, extra, ...) with its id, title, prices and lock replaced.
type pageGen struct {
	template map[string]any
	titles   int
	game     string
	// attrs gives every item its own float and paint seed, every third item stickers and every item of a
	// Doppler or Gamma Doppler title a phase (see itemAttrs); otherwise every item carries the template's
	// float and seed.
	attrs bool
	// relisted, when set, returns how many times item i of page p was sold and listed again, at the same
	// price under a new item id, before the page is generated (see movingPages); nil means never.
	relisted func(p, i int) int
}

func newPageGen(t testing.TB, titles int) *pageGen {
	t.Helper()
	raw, err := os.ReadFile("testdata/market-items-page.json")
	require.NoError(t, err)
	var fx struct {
		Objects []map[string]any `json:"objects"`
	}
	require.NoError(t, json.Unmarshal(raw, &fx))
	require.NotEmpty(t, fx.Objects)
	return &pageGen{template: fx.Objects[0], titles: titles, game: "a8db"}
}

var weapons = []string{"AK-47 | Redline", "AWP | Asiimov", "M4A4 | Howl", "Glock-18 | Fade", "USP-S | Kill Confirmed",
	"Desert Eagle | Blaze", "P90 | Asiimov", "MAC-10 | Neon Rider", "★ Karambit | Doppler", "Glock-18 | Gamma Doppler"}

var wears = []string{"Factory New", "Minimal Wear", "Field-Tested", "Well-Worn", "Battle-Scarred"}

// title returns the k-th distinct title.
func (g *pageGen) title(k int) string {
	return fmt.Sprintf("%s (%s) #%d", weapons[k%len(weapons)], wears[(k/len(weapons))%len(wears)], k)
}

// page returns page number p fetched at fetched. Its items spread over many titles, repeat some
// (title, price) pairs so that counts aggregate, and mix tradable and trade-locked listings.
func (g *pageGen) page(t testing.TB, p int, fetched time.Time) page {
	t.Helper()
	pg := page{id: fmt.Sprintf("page-%05d", p), fetched: fetched}
	objects := make([]map[string]any, 0, itemsPerPage)
	for i := range itemsPerPage {
		k := (p*61 + i*7) % g.titles
		if i%10 == 9 { // a second listing of the previous title
			k = (p*61 + (i-1)*7) % g.titles
		}
		gen := 0
		if g.relisted != nil {
			gen = g.relisted(p, i)
		}
		it := item{
			id:        fmt.Sprintf("%08x-%04x-4000-8000-%012x", p, gen, i),
			title:     g.title(k),
			price:     int64(100 + (k*13+p*i)%40*25),
			suggested: int64(1000 + k),
			image:     "https://steamcommunity-a.akamaihd.net/economy/image/pipeline-" + strconv.Itoa(k),
			locked:    (p+i)%4 == 0,
		}
		if it.locked {
			it.lockDays = 1 + (p+i)%7
		}
		if g.attrs {
			it.extra = itemAttrs(p, i, market.PhasedTitle(it.title))
		}
		pg.items = append(pg.items, it)
		objects = append(objects, g.object(it))
	}
	payload, err := json.Marshal(map[string]any{"objects": objects, "total": map[string]any{"offers": 1000}, "cursor": "next-" + pg.id})
	require.NoError(t, err)
	pg.body, err = message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: message.KindListings, GameID: g.game, FetchedAt: fetched,
		Request: message.Request{Method: "GET", Path: "/exchange/v1/market/items", Query: "gameId=a8db&limit=100"},
		Payload: payload,
	})
	require.NoError(t, err)
	return pg
}

func (g *pageGen) object(it item) map[string]any {
	o := make(map[string]any, len(g.template))
	for k, v := range g.template {
		o[k] = v
	}
	extra := make(map[string]any)
	if e, ok := g.template["extra"].(map[string]any); ok {
		for k, v := range e {
			extra[k] = v
		}
	}
	o["itemId"] = it.id
	o["title"] = it.title
	o["gameId"] = g.game
	o["image"] = it.image
	o["price"] = map[string]any{"DMC": "", "USD": strconv.FormatInt(it.price, 10)}
	o["suggestedPrice"] = map[string]any{"DMC": "", "USD": strconv.FormatInt(it.suggested, 10)}
	extra["tradable"] = !it.locked
	extra["tradeLock"] = it.lockDays
	extra["tradeLockDuration"] = 0
	if it.locked {
		extra["tradeLockDuration"] = it.lockDays * 86400
	}
	for k, v := range it.extra {
		extra[k] = v
	}
	o["extra"] = extra
	return o
}

// itemAttrs returns the attribute members of item i of page p for pages with varied attributes; phased
// is whether the item's title has phases.
func itemAttrs(p, i int, phased bool) map[string]any {
	a := map[string]any{"floatValue": 0.15 + float64((p*31+i*17)%2300)/10000, "paintSeed": (p*7 + i*13) % 1001}
	if i%3 == 0 {
		a["stickers"] = []map[string]any{{"name": "Crown (Foil)", "image": "https://img/crown"},
			{"name": "Sticker | Titan (Holo) | Katowice 2014", "image": "https://img/titan"}}
	}
	if phased {
		a["phaseTitle"] = fmt.Sprintf("Phase %d", 1+(p+i)%4)
	}
	return a
}

// pages returns n pages, page p fetched at base + p ms.
func (g *pageGen) pages(t testing.TB, n int, base time.Time) []page {
	t.Helper()
	out := make([]page, n)
	for p := range n {
		out[p] = g.page(t, p, base.Add(time.Duration(p)*time.Millisecond))
	}
	return out
}

// movingPages returns n pages of a market that moves: page j is page j%count of crawl cycle 1+j/count
// (cycle 0 is what pages returns), and each cycle sells and relists perMille ‰ of the items, each
// chosen independently, at the same price under a new item id, so that a cycle's pages bring that share
// of items new to the store while their titles and price levels stay as they were.
func (g *pageGen) movingPages(t testing.TB, n, count, perMille int, base time.Time) []page {
	t.Helper()
	out := make([]page, n)
	for j := range n {
		c, p := 1+j/count, j%count
		g.relisted = func(p, i int) int {
			gens := 0
			for k := 1; k <= c; k++ {
				if relistDraw(p, i, k) < perMille {
					gens++
				}
			}
			return gens
		}
		out[j] = g.page(t, p, base.Add(time.Duration(j+count)*time.Millisecond))
	}
	g.relisted = nil
	return out
}

// relistDraw returns a number in [0, 1000) spread evenly over the items and cycles: item i of page p is
// relisted in cycle k when it is below the per-mille share.
func relistDraw(p, i, k int) int {
	h := (p*0x9e3779b1 ^ i*0x85ebca77 ^ k*0xc2b2ae3d) & 0xffffffff
	h ^= h >> 15
	h = h * 0x85ebca77 & 0xffffffff
	h ^= h >> 13
	return h % 1000
}

// --- the expected Redis state ----------------------------------------------------------------------

// level is one (status, price) field as the read side reports it.
type level struct {
	Locked  bool
	Price   int64
	Count   int
	Days    int
	Expires int64
}

// titleState is what pricestore reads for one title, in comparable form.
type titleState struct {
	Game      string
	Image     string
	Suggested int64
	Updated   int64
	Levels    []level
}

func sortLevels(ls []level) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].Locked != ls[j].Locked {
			return !ls[i].Locked
		}
		return ls[i].Price < ls[j].Price
	})
}

// expectedState models SPEC §5.2 for pages applied in any order: per (title, status, price) the count and
// lowest lock of the newest page that showed it, meta from the newest page of the title.
func expectedState(pages []page, game string, ttl time.Duration) map[string]titleState {
	type lk struct {
		title  string
		locked bool
		price  int64
	}
	type agg struct {
		t     int64
		count int
		days  int
		exp   int64
	}
	levels := map[lk]agg{}
	meta := map[string]titleState{}
	metaT := map[string]int64{}
	for _, pg := range pages {
		t := pg.fetched.UnixMilli()
		onPage := map[lk]agg{}
		for _, it := range pg.items {
			k := lk{it.title, it.locked, it.price}
			a, ok := onPage[k]
			if !ok {
				a = agg{t: t, days: it.lockDays, exp: pg.fetched.Add(ttl).Unix()}
			}
			a.count++
			a.days = min(a.days, it.lockDays)
			onPage[k] = a
			if mt, ok := metaT[it.title]; !ok || t >= mt {
				metaT[it.title] = t
				meta[it.title] = titleState{Game: game, Image: it.image, Suggested: it.suggested, Updated: pg.fetched.Unix()}
			}
		}
		for k, a := range onPage {
			if cur, ok := levels[k]; !ok || a.t >= cur.t {
				levels[k] = a
			}
		}
	}
	for k, a := range levels {
		st := meta[k.title]
		l := level{Locked: k.locked, Price: k.price, Count: a.count, Expires: a.exp}
		if k.locked {
			l.Days = a.days
		}
		st.Levels = append(st.Levels, l)
		meta[k.title] = st
	}
	for title, st := range meta {
		sortLevels(st.Levels)
		meta[title] = st
	}
	return meta
}

// scanState reads every title of rdb through the read side (pricestore.Store.Title).
func scanState(t testing.TB, rdb *redis.Client, clk clock.Clock) map[string]titleState {
	t.Helper()
	ctx := context.Background()
	store, err := pricestore.New(rdb, clk, pricestore.Config{})
	require.NoError(t, err)
	out := map[string]titleState{}
	it := rdb.Scan(ctx, 0, pricestore.PricesPrefix+"*", 1000).Iterator()
	for it.Next(ctx) {
		p, ok, err := store.Title(ctx, strings.TrimPrefix(it.Val(), pricestore.PricesPrefix))
		require.NoError(t, err)
		if !ok {
			continue
		}
		st := titleState{Game: p.GameID, Image: p.Image, Suggested: p.SuggestedCents, Updated: p.UpdatedAt.Unix()}
		for _, l := range p.Available {
			st.Levels = append(st.Levels, level{Price: l.PriceCents, Count: l.Count, Days: l.LockDays, Expires: l.ExpiresAt.Unix()})
		}
		for _, l := range p.Locked {
			st.Levels = append(st.Levels, level{Locked: true, Price: l.PriceCents, Count: l.Count, Days: l.LockDays, Expires: l.ExpiresAt.Unix()})
		}
		sortLevels(st.Levels)
		out[p.Title] = st
	}
	require.NoError(t, it.Err())
	return out
}

// --- one worker stack ------------------------------------------------------------------------------

// recorder wraps the worker's handler and records what happened to every delivery. Armed with
// holdAfter, it stops calls at its entry once that many calls have succeeded, until release.
type recorder struct {
	next message.Handler

	// down is set while the test holds Redis unreachable.
	down atomic.Bool

	mu        sync.Mutex
	ok        map[string]int // successful handles per message id
	okTotal   int
	failed    int
	okWhileDn int // successes of calls that started while Redis was down
	preCut    int // calls in flight that started while Redis was up

	holdAfter   int           // 0: never hold
	held        int           // calls waiting at the entry
	release     chan struct{} // closed to let held calls through
	releaseOnce sync.Once
}

func newRecorder(next message.Handler) *recorder {
	return &recorder{next: next, ok: map[string]int{}, release: make(chan struct{})}
}

// holdAfterSuccesses makes calls wait at the entry once n calls have succeeded, until releaseHeld.
func (r *recorder) holdAfterSuccesses(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holdAfter = n
}

func (r *recorder) releaseHeld() { r.releaseOnce.Do(func() { close(r.release) }) }

// waiting returns how many calls wait at the entry.
func (r *recorder) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

func (r *recorder) Handle(ctx context.Context, d message.Delivery) error {
	r.mu.Lock()
	hold := r.holdAfter > 0 && r.okTotal >= r.holdAfter
	if hold {
		r.held++
	}
	r.mu.Unlock()
	if hold {
		select {
		case <-r.release:
		case <-ctx.Done():
		}
		r.mu.Lock()
		r.held--
		r.mu.Unlock()
	}
	down := r.down.Load()
	if !down {
		r.mu.Lock()
		r.preCut++
		r.mu.Unlock()
	}
	err := r.next.Handle(ctx, d)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !down {
		r.preCut--
	}
	if err != nil {
		r.failed++
		return err
	}
	r.ok[d.MessageID]++
	r.okTotal++
	if down {
		r.okWhileDn++
	}
	return nil
}

// distinct returns how many message ids were handled successfully at least once.
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ok)
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.okTotal
}

func (r *recorder) snapshot() (ok map[string]int, okWhileDown, failed, preCut int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok = make(map[string]int, len(r.ok))
	for k, v := range r.ok {
		ok[k] = v
	}
	return ok, r.okWhileDn, r.failed, r.preCut
}

// stackConfig describes one worker process.
type stackConfig struct {
	amqpURL   string
	redis     *redis.Options // the worker's own client is built from a copy
	clock     clock.Clock
	consumer  rabbitmq.ConsumerOptions
	startSpan worker.StartSpan
	// handler replaces the worker's handler when not nil (a broker-only baseline).
	handler message.Handler
}

// stack is one worker process: its own AMQP connection, Redis client, Redis guard, handler and consumer.
type stack struct {
	conn  *rabbitmq.Conn
	rdb   *redis.Client
	reg   *prometheus.Registry
	rec   *recorder
	guard *worker.Guard
}

// productionConsumer are the consumer settings of cmd/worker's defaults (WORKER_PREFETCH=64,
// WORKER_CONCURRENCY=8, WORKER_MAX_ATTEMPTS=5) with a short retry backoff, so that a message that
// fails on its own is dead-lettered quickly: only the Redis guard keeps an outage from doing so.
func productionConsumer() rabbitmq.ConsumerOptions {
	return rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8, MaxAttempts: 5,
		RetryMinBackoff: 10 * time.Millisecond, RetryMaxBackoff: 100 * time.Millisecond, ShutdownTimeout: 20 * time.Second}
}

var fastConn = rabbitmq.ConnOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	DialTimeout: 5 * time.Second, Heartbeat: 10 * time.Second}

// startStack wires a worker like cmd/worker does (pricestore + salesschedule behind worker.Handler, one
// rabbitmq.Consumer on the listings queue paused by a Redis guard) and runs it until the test ends.
func startStack(t testing.TB, cfg stackConfig) *stack {
	t.Helper()
	o := *cfg.redis
	o.PoolSize = 4 * max(cfg.consumer.Concurrency, 1)
	o.ClientName = "worker"
	rdb := redis.NewClient(&o)
	t.Cleanup(func() { _ = rdb.Close() })

	store, err := pricestore.New(rdb, cfg.clock, pricestore.Config{})
	require.NoError(t, err)
	sched, err := salesschedule.New(rdb, cfg.clock, salesschedule.Config{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	queues := make([]string, 0, len(message.Kinds))
	for _, k := range message.Kinds {
		queues = append(queues, message.Queue(k))
	}
	co := fastConn
	co.Queues = queues
	co.Exchanges = []string{message.ChangesExchange}
	conn, err := rabbitmq.NewConn(cfg.amqpURL, testLogger(), reg, co)
	require.NoError(t, err)
	// The change events go out as in production, on the worker's connection.
	changes := rabbitmq.NewPublisher(conn, rabbitmq.PublisherOptions{Channels: 2})
	t.Cleanup(func() { _ = changes.Close() })
	h, err := worker.New(worker.Config{}, worker.Deps{Store: store, Schedule: sched, Changes: changes, Orders: store,
		Analyse: worker.SellHistory, Logger: testLogger(), Registerer: reg, StartSpan: cfg.startSpan})
	require.NoError(t, err)
	var inner message.Handler = h
	if cfg.handler != nil {
		inner = cfg.handler
	}
	rec := newRecorder(inner)
	guard, err := worker.NewGuard(func(ctx context.Context) error { return redisdb.Check(ctx, rdb) }, worker.GuardOptions{
		ProbeTimeout: 2 * time.Second, ProbeMinBackoff: 10 * time.Millisecond, ProbeMaxBackoff: 200 * time.Millisecond,
		Logger: testLogger(), Registerer: reg,
	})
	require.NoError(t, err)
	consumerOpts := cfg.consumer
	consumerOpts.Pauser = guard
	cons := rabbitmq.NewConsumer(conn, listingsQueue, rec, consumerOpts)

	runConsumer(t, conn, guard, cons)
	return &stack{conn: conn, rdb: rdb, reg: reg, rec: rec, guard: guard}
}

// newEnv returns a fresh RabbitMQ vhost, a fresh Redis database and a fake clock stopped at the current
// whole second.
func newEnv(t testing.TB) (amqpURL string, rdb *redis.Client, clk *clocktest.Fake) {
	t.Helper()
	return rabbitmqtest.NewVhost(t), redisdbtest.New(t), clocktest.NewFake(time.Now().Truncate(time.Second))
}

// runConsumer runs conn, guard and cons until the test ends, and returns once conn is connected.
func runConsumer(t testing.TB, conn *rabbitmq.Conn, guard *worker.Guard, cons *rabbitmq.Consumer) {
	t.Helper()
	t.Cleanup(func() { require.NoError(t, conn.Close()) }) // once the three have stopped
	lifecycletest.Run(t, waitLong, func(ctx context.Context) error { return lifecycle.IgnoreCanceled(conn.Run(ctx)) })
	lifecycletest.Run(t, waitLong, guard.Run)
	lifecycletest.Run(t, waitLong, cons.Run)
	require.Eventually(t, func() bool { return conn.Check(context.Background()) == nil }, waitLong, poll)
}

// consumed reads dmarket_amqp_consumed_total of the listings queue for outcome.
func (s *stack) consumed(outcome string) int {
	return int(counterValue(s.reg, "dmarket_amqp_consumed_total", map[string]string{"queue": listingsQueue, "outcome": outcome}))
}

// counterValue sums the series of counter name in reg whose labels include labels (0 when none exists).
func counterValue(reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue series
				}
			}
			v += m.GetCounter().GetValue()
		}
	}
	return v
}

// --- producing -------------------------------------------------------------------------------------

// producer is the parser's side: its own connection and a confirming publisher.
type producer struct {
	conn *rabbitmq.Conn
	pub  *rabbitmq.Publisher
	reg  *prometheus.Registry
}

func startProducer(t testing.TB, amqpURL string) *producer {
	t.Helper()
	co := fastConn
	co.Queues = []string{listingsQueue}
	reg := prometheus.NewRegistry()
	conn, err := rabbitmq.NewConn(amqpURL, testLogger(), reg, co)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) }) // once Run has returned
	lifecycletest.Run(t, waitLong, func(ctx context.Context) error { return lifecycle.IgnoreCanceled(conn.Run(ctx)) })
	pub := rabbitmq.NewPublisher(conn, rabbitmq.PublisherOptions{Channels: 8})
	t.Cleanup(func() { require.NoError(t, pub.Close()) })
	require.Eventually(t, func() bool { return conn.Check(context.Background()) == nil }, waitLong, poll)
	return &producer{conn: conn, pub: pub, reg: reg}
}

// publishAll publishes every page (in order of the slice, with up to parallel publishes in flight) and
// returns the first error.
func (p *producer) publishAll(ctx context.Context, pages []page, parallel int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i := range pages {
		pg := &pages[i]
		g.Go(func() error {
			return p.pub.Publish(ctx, listingsQueue, message.Outgoing{MessageID: pg.id, Body: pg.body})
		})
	}
	return g.Wait()
}

// queueCounts returns the ready messages and the consumers of queue q, read with a passive declare on a
// channel of its own.
func queueCounts(t testing.TB, amqpURL, q string) (messages, consumers int) {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	require.NoError(t, err)
	info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	require.NoError(t, err)
	return info.Messages, info.Consumers
}

// testRedisOptions returns client options of the reserved test database of rdb with fast failure
// settings (fresh options: a copied Options would share the client's initialised internals).
func testRedisOptions(rdb *redis.Client) *redis.Options {
	base := rdb.Options()
	return &redis.Options{
		Addr: base.Addr, DB: base.DB, Username: base.Username, Password: base.Password,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaxRetries: 1, MinRetryBackoff: 5 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
		DialerRetries: 1,
	}
}

// --- 1. Redis cut mid-stream -----------------------------------------------------------------------

// TestPipelineRedisOutageMidStream cuts Redis while deliveries are in flight and keeps it away long
// enough for every message to have spent all its attempts without the guard (5 attempts at 10 to
// 100 ms): nothing is dead-lettered, and every page is written once Redis is back.
func TestPipelineRedisOutageMidStream(t *testing.T) {
	t.Parallel()
	runRedisOutage(t, 3*time.Second)
}

// TestPipelineRedisOutage60s is the same with a 60 s outage: the worker stays paused and not ready for
// the whole minute, spends no attempt, and resumes by itself. It runs in parallel with the other
// parallel tests of the package, as it mostly waits.
func TestPipelineRedisOutage60s(t *testing.T) {
	t.Parallel()
	runRedisOutage(t, 60*time.Second)
}

// runRedisOutage streams 200 pages through one worker whose Redis sits behind a TCP proxy. After 40
// pages the recorder holds further calls at its entry; once every handler goroutine waits there, Redis
// is cut and the calls are let through, so the outage always starts with deliveries in flight and
// most of the stream still queued, whatever the machine's load. Redis stays away for outage.
func runRedisOutage(t *testing.T, outage time.Duration) {
	const pages, beforeCut = 200, 40
	amqpURL, direct, clk := newEnv(t)
	now := clk.Now()

	proxy, err := netfaulttest.New(direct.Options().Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	viaProxy := testRedisOptions(direct)
	viaProxy.Addr = proxy.Addr()

	gen := newPageGen(t, 3000)
	all := gen.pages(t, pages, now.Add(-time.Minute))

	consumer := productionConsumer()
	w := startStack(t, stackConfig{amqpURL: amqpURL, redis: viaProxy, clock: clk, consumer: consumer})
	w.rec.holdAfterSuccesses(beforeCut)
	t.Cleanup(w.rec.releaseHeld) // runs before the stack stops, should the test fail early
	ready := func() error {
		_, err := w.guard.HealthCheck(redisdb.HealthCheck(w.rdb))(context.Background())
		return err
	}
	require.NoError(t, ready())
	prod := startProducer(t, amqpURL)
	require.NoError(t, prod.publishAll(context.Background(), all, 16))

	// Every handler goroutine waits at the recorder's entry, with beforeCut pages written.
	require.Eventually(t, func() bool { return w.rec.waiting() == consumer.Concurrency }, waitLong, poll)
	doneBefore := w.rec.distinct() // stable: no call is in flight
	require.GreaterOrEqual(t, doneBefore, beforeCut)
	require.Less(t, doneBefore, pages-consumer.Concurrency, "most of the stream is still to come")
	require.Eventually(t, func() bool { return w.consumed("ack") == doneBefore }, waitLong, poll)
	acked := w.consumed("ack")

	// Redis goes away, then the held calls go on: they fail, and the guard pauses the consumer.
	w.rec.down.Store(true)
	proxy.SetRefuse(true)
	proxy.CutAll()
	cut := time.Now()
	w.rec.releaseHeld()
	require.Eventually(t, func() bool { return w.guard.Down() }, waitLong, poll, "the guard notices the outage")
	require.ErrorIs(t, ready(), worker.ErrRedisUnavailable, "the worker reports not ready")
	require.Eventually(t, func() bool {
		_, _, failed, pre := w.rec.snapshot()
		return pre == 0 && failed == consumer.Concurrency
	}, waitLong, poll, "every call in flight at the cut fails once")

	// The outage lasts its full length; the worker stays paused and spends nothing meanwhile.
	time.Sleep(time.Until(cut.Add(outage)))
	_, okWhileDown, failed, _ := w.rec.snapshot()
	require.Zero(t, okWhileDown, "no delivery succeeds while Redis is unreachable")
	require.Equal(t, consumer.Concurrency, failed, "a paused worker takes no new delivery and retries nothing")
	require.Equal(t, doneBefore, w.rec.distinct())
	require.Equal(t, acked, w.consumed("ack"), "nothing is acked while Redis is down")
	require.Zero(t, w.consumed("retry"), "a held delivery spends no attempt")
	require.Zero(t, w.consumed("dead_letter"), "a Redis outage never dead-letters")
	// A delivery is counted as held after its call failed and the guard confirmed the outage: when the
	// outage was over before the calls failed (a loaded machine), the count may still be on its way.
	require.Eventually(t, func() bool {
		return counterValue(w.reg, "dmarket_amqp_held_total", map[string]string{"queue": listingsQueue}) == float64(consumer.Concurrency)
	}, waitLong, poll, "every failed call is held")
	dlq, _ := queueCounts(t, amqpURL, listingsQueue+message.DeadLetterSuffix)
	require.Zero(t, dlq)
	require.True(t, w.guard.Down())
	require.ErrorIs(t, ready(), worker.ErrRedisUnavailable, "still not ready at the end of the outage")

	// Redis comes back: the worker resumes by itself.
	w.rec.down.Store(false)
	proxy.SetRefuse(false)
	require.Eventually(t, func() bool { return ready() == nil }, waitLong, poll, "ready again")
	require.Eventually(t, func() bool { return w.rec.distinct() == pages }, waitLong, poll, "every page is eventually written")
	require.Eventually(t, func() bool {
		ready, _ := queueCounts(t, amqpURL, listingsQueue)
		return ready == 0
	}, waitLong, poll)
	require.Zero(t, w.consumed("dead_letter"))
	dlq, _ = queueCounts(t, amqpURL, listingsQueue+message.DeadLetterSuffix)
	require.Zero(t, dlq, "the dead-letter queue stays empty")
	require.Positive(t, proxy.Accepted())

	want := expectedState(all, gen.game, pricestore.DefaultPriceTTL)
	got := scanState(t, direct, clk)
	require.Len(t, got, len(want), "every title of every page is in Redis")
	for title, st := range want {
		require.Equal(t, st, got[title], "title %q", title)
	}
}

// --- 2. three workers on one queue -----------------------------------------------------------------

func TestPipelineThreeWorkersMatchOne(t *testing.T) {
	const pages = 150
	amqpURL, shared, clk := newEnv(t)
	single := redisdbtest.New(t)
	now := clk.Now()

	gen := newPageGen(t, 2000)
	all := gen.pages(t, pages, now.Add(-time.Minute))
	// Redelivered duplicates: every tenth page is published again after the newer pages, with the same
	// message id and body, as a redelivery would bring it.
	stream := append([]page(nil), all...)
	dups := 0
	for p := 0; p < pages; p += 10 {
		stream = append(stream, all[p])
		dups++
	}

	workers := make([]*stack, 3)
	for i := range workers {
		workers[i] = startStack(t, stackConfig{amqpURL: amqpURL, redis: testRedisOptions(shared), clock: clk,
			consumer: productionConsumer()})
	}
	require.Eventually(t, func() bool {
		_, consumers := queueCounts(t, amqpURL, listingsQueue)
		return consumers == len(workers)
	}, waitLong, poll, "every worker subscribed")

	prod := startProducer(t, amqpURL)
	require.NoError(t, prod.publishAll(context.Background(), stream[:pages], 16))
	// Duplicates go out once the originals are confirmed, so they really arrive later.
	require.NoError(t, prod.publishAll(context.Background(), stream[pages:], 4))

	handled := func() int {
		n := 0
		for _, w := range workers {
			n += w.rec.total()
		}
		return n
	}
	require.Eventually(t, func() bool { return handled() >= len(stream) }, waitLong, poll, "every message is processed")
	require.Eventually(t, func() bool {
		ready, _ := queueCounts(t, amqpURL, listingsQueue)
		return ready == 0
	}, waitLong, poll)

	seen := map[string]int{}
	for i, w := range workers {
		ok, _, failed, _ := w.rec.snapshot()
		require.Positive(t, len(ok), "worker %d took part", i)
		require.Zero(t, failed, "worker %d had no failure", i)
		require.Zero(t, w.consumed("dead_letter"))
		for id, n := range ok {
			seen[id] += n
		}
	}
	require.Len(t, seen, pages, "no message is lost")
	for p, pg := range all {
		want := 1
		if p%10 == 0 {
			want = 2
		}
		require.GreaterOrEqual(t, seen[pg.id], want, "page %s", pg.id)
	}
	dlq, _ := queueCounts(t, amqpURL, listingsQueue+message.DeadLetterSuffix)
	require.Zero(t, dlq)

	// The state one worker produces from the same pages, handled one after the other.
	ref := newDirectHandler(t, single, clk)
	for _, pg := range all {
		require.NoError(t, ref.Handle(context.Background(), message.Delivery{MessageID: pg.id, Body: pg.body, Attempt: 1}))
	}
	got := scanState(t, shared, clk)
	one := scanState(t, single, clk)
	require.NotEmpty(t, one)
	require.Equal(t, one, got, "three workers leave the state one worker leaves")
	require.Equal(t, expectedState(all, gen.game, pricestore.DefaultPriceTTL), got)

	// The sales schedule holds every title once, whoever saw it.
	n, err := shared.ZCard(context.Background(), salesschedule.Key(gen.game)).Result()
	require.NoError(t, err)
	require.EqualValues(t, len(one), n)
}

// newDirectHandler is a worker handler on rdb without RabbitMQ.
func newDirectHandler(t testing.TB, rdb *redis.Client, clk clock.Clock) *worker.Handler {
	t.Helper()
	store, err := pricestore.New(rdb, clk, pricestore.Config{})
	require.NoError(t, err)
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	require.NoError(t, err)
	h, err := worker.New(worker.Config{}, worker.Deps{Store: store, Schedule: sched, Analyse: worker.SellHistory})
	require.NoError(t, err)
	return h
}

// --- 3. trace continuation -------------------------------------------------------------------------

func TestPipelineContinuesProducerTrace(t *testing.T) {
	amqpURL, rdb, clk := newEnv(t)
	now := clk.Now()
	col := tracingtest.NewCollector(t)

	parserTracer, stopParser, err := tracing.New("parser", col.URL(), 1, testLogger())
	require.NoError(t, err)
	workerTracer, stopWorker, err := tracing.New("worker", col.URL(), 1, testLogger())
	require.NoError(t, err)

	w := startStack(t, stackConfig{amqpURL: amqpURL, redis: testRedisOptions(rdb), clock: clk,
		consumer: productionConsumer(), startSpan: tracing.MessageSpans(workerTracer)})
	prod := startProducer(t, amqpURL)

	gen := newPageGen(t, 50)
	pg := gen.page(t, 1, now.Add(-time.Second))
	headers := map[string]any{}
	span, _ := tracing.StartProducerSpan(context.Background(), parserTracer, "publish listings", headers)
	require.NotEmpty(t, headers, "the producer span is written into the message headers")
	require.NoError(t, prod.pub.Publish(context.Background(), listingsQueue, message.Outgoing{MessageID: pg.id, Body: pg.body, Headers: headers}))
	span.Finish()
	produced := span.Context()

	require.Eventually(t, func() bool { return w.rec.total() == 1 }, waitLong, poll)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	require.NoError(t, stopWorker(ctx))
	require.NoError(t, stopParser(ctx))

	require.Eventually(t, func() bool {
		return len(col.ByName("publish listings")) == 1 && len(col.ByName("worker.handle")) == 1 &&
			len(col.ByName("redis.write listings")) == 1
	}, waitLong, poll, "every span reaches the collector")
	pub := col.ByName("publish listings")[0]
	consume := col.ByName("worker.handle")[0]
	write := col.ByName("redis.write listings")[0]

	require.Equal(t, produced.TraceID, pub.TraceID)
	require.Equal(t, model.Producer, pub.Kind)
	require.Equal(t, produced.TraceID, consume.TraceID, "the consume span continues the producer's trace")
	require.NotNil(t, consume.ParentID)
	require.Equal(t, produced.ID, *consume.ParentID)
	require.Equal(t, model.Consumer, consume.Kind)
	require.Equal(t, "worker", consume.LocalEndpoint.ServiceName)
	require.Equal(t, produced.TraceID, write.TraceID, "the Redis write belongs to the same trace")
	require.NotNil(t, write.ParentID)
	require.Equal(t, consume.ID, *write.ParentID, "the Redis write is a child of the consume span")
	require.Empty(t, write.Tags["error"])

	// And the page really is in Redis.
	store, err := pricestore.New(rdb, clk, pricestore.Config{})
	require.NoError(t, err)
	_, ok, err := store.Title(context.Background(), pg.items[0].title)
	require.NoError(t, err)
	require.True(t, ok)
}

// --- 4. a message that fails on its own --------------------------------------------------------------

// TestPipelineSalesFailingOnItsOwnIsDeadLetteredAndDueAgain: with Redis up, a sales message whose
// write fails every time (its history key holds the wrong type) is dead-lettered after its attempts,
// the guard never pauses anything, the other messages are written, and the title is due again on the
// sales schedule instead of in 6 h.
func TestPipelineSalesFailingOnItsOwnIsDeadLetteredAndDueAgain(t *testing.T) {
	t.Parallel()
	amqpURL, rdb, clk := newEnv(t)
	now := clk.Now()
	ctx := context.Background()
	const poisoned, healthy = "AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)"
	salesQueue := message.Queue(message.KindSales)

	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	require.NoError(t, err)
	_, err = sched.Enqueue(ctx, "a8db", []string{poisoned, healthy})
	require.NoError(t, err)
	for _, title := range []string{poisoned, healthy} {
		require.NoError(t, sched.Done(ctx, "a8db", title, 6*time.Hour)) // the parser fetched their sales
	}
	require.NoError(t, rdb.HSet(ctx, pricestore.HistoryKey(poisoned), "wrong", "type").Err())

	reg := prometheus.NewRegistry()
	h := newDirectHandler(t, rdb, clk)
	guard, err := worker.NewGuard(func(ctx context.Context) error { return redisdb.Check(ctx, rdb) },
		worker.GuardOptions{ProbeMinBackoff: 10 * time.Millisecond, ProbeMaxBackoff: 100 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	dueAgain, err := worker.NewDueAgain(sched, fetchgate.New(rdb, ""), worker.DueAgainConfig{}, testLogger(), reg)
	require.NoError(t, err)
	co := fastConn
	co.Queues = rabbitmq.Queues()
	conn, err := rabbitmq.NewConn(amqpURL, testLogger(), reg, co)
	require.NoError(t, err)
	opts := productionConsumer()
	opts.Pauser, opts.DeadLetters = guard, dueAgain
	runConsumer(t, conn, guard, rabbitmq.NewConsumer(conn, salesQueue, h, opts))

	pub := rabbitmq.NewPublisher(conn, rabbitmq.PublisherOptions{Channels: 1})
	t.Cleanup(func() { _ = pub.Close() })
	sales, err := os.ReadFile("testdata/last-sales.json")
	require.NoError(t, err)
	for _, title := range []string{poisoned, healthy} {
		body, err := message.Encode(message.Envelope{Schema: message.SchemaVersion, Kind: message.KindSales, GameID: "a8db",
			FetchedAt: now.Add(-time.Minute), Request: message.Request{Method: "GET", Path: "/trade-aggregator/v1/last-sales", Title: title},
			Payload: sales})
		require.NoError(t, err)
		require.NoError(t, pub.Publish(ctx, salesQueue, message.Outgoing{MessageID: title, Body: body}))
	}

	require.Eventually(t, func() bool {
		n, err := conn.QueueDepth(ctx, salesQueue+message.DeadLetterSuffix)
		return err == nil && n == 1
	}, waitLong, poll, "the poisoned message is dead-lettered")
	require.Eventually(t, func() bool {
		due, _, err := sched.Due(ctx, "a8db", poisoned)
		return err == nil && due.Equal(now)
	}, waitLong, poll, "its title is due again now")
	due, _, err := sched.Due(ctx, "a8db", healthy)
	require.NoError(t, err)
	require.Equal(t, now.Add(6*time.Hour).UTC(), due, "a title written fine keeps its interval")
	require.Eventually(t, func() bool { return rdb.Exists(ctx, pricestore.HistoryKey(healthy)).Val() == 1 },
		waitLong, poll, "the other message is written")
	// A retry is counted once its republish was confirmed and the delivery acked, which may come after
	// the next attempt was already dead-lettered.
	require.Eventually(t, func() bool {
		return counterValue(reg, "dmarket_amqp_consumed_total", map[string]string{"outcome": "retry"}) == 4
	}, waitLong, poll, "the poisoned message spent its 5 attempts")
	require.Zero(t, counterValue(reg, "dmarket_worker_redis_outages_total", nil), "Redis answered: nothing was paused")
	require.Zero(t, counterValue(reg, "dmarket_amqp_held_total", nil))

	list := rabbitmq.NewDLQ(conn)
	t.Cleanup(func() { _ = list.Close() })
	dead, err := list.List(ctx, salesQueue+message.DeadLetterSuffix, 0)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, poisoned, dead[0].MessageID)
	require.Equal(t, 5, dead[0].Attempt)
	require.Contains(t, dead[0].Error, "WRONGTYPE")
}

// TestMovingPagesRelistTheirShare: each cycle of a moving market brings about its share of items under
// new ids, every item keeps its title and price, and a relisted item keeps its new id in later cycles
// until it is relisted again.
func TestMovingPagesRelistTheirShare(t *testing.T) {
	for _, tc := range []struct {
		name     string
		perMille int
	}{
		{name: "1%", perMille: 10},
		{name: "5%", perMille: 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const count = 50
			gen := newPageGen(t, benchTitles)
			base := time.Unix(1_764_000_000, 0)
			prev := gen.pages(t, count, base)
			moving := gen.movingPages(t, 3*count, count, tc.perMille, base)
			for c := range 3 {
				cur := moving[c*count : (c+1)*count]
				renewed := 0
				for p := range cur {
					require.Len(t, cur[p].items, len(prev[p].items))
					for i, it := range cur[p].items {
						was := prev[p].items[i]
						require.Equal(t, was.title, it.title)
						require.Equal(t, was.price, it.price)
						if it.id != was.id {
							renewed++
						}
					}
				}
				share := float64(renewed) / float64(count*itemsPerPage) * 1000
				require.InDelta(t, float64(tc.perMille), share, float64(tc.perMille)/2+2, "cycle %d: %d of %d items new", c+1, renewed, count*itemsPerPage)
				prev = cur
			}
		})
	}
}
