package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// chaosGame is the only game the chaos tests crawl.
const chaosGame = "a8db"

// chaosSim starts a simulator with the given number of titles (5 listings each on average) that accepts
// the demo keys and never rate-limits, so that the only misbehaviour is the one a test switches on.
func chaosSim(t *testing.T, titles int) *dmarkettest.Server {
	t.Helper()
	pub, _ := dmarkettest.DemoKeys()
	sim := dmarkettest.New(dmarkettest.Config{
		Titles: titles, ListingsPerTitle: 5, PublicKeys: []string{pub},
		PublicMarketRate: -1, PublicOtherRate: -1,
		AccountListingsRate: -1, AccountSalesRate: -1, AccountOtherRate: -1,
	})
	t.Cleanup(sim.Close)
	return sim
}

// stack is one test's pipeline: the simulator, the dependencies, the processes started so far and a
// direct (fault-free) view of the test's Redis database.
type stack struct {
	t     *testing.T
	sim   *dmarkettest.Server
	d     *deps
	rdb   *redis.Client
	store *pricestore.Store
	procs []runningProc
}

func newStack(t *testing.T, sim *dmarkettest.Server) *stack {
	t.Helper()
	d := newDeps(t)
	u, err := url.Parse(d.redisURL)
	require.NoError(t, err)
	u.Host = d.redis.Target()
	opts, err := redis.ParseURL(u.String())
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := pricestore.New(rdb, clock.Real{}, pricestore.Config{PriceTTL: time.Hour, HistoryTTL: 24 * time.Hour})
	require.NoError(t, err)
	return &stack{t: t, sim: sim, d: d, rdb: rdb, store: store}
}

// runningProc is a started binary and the base URL of its ops server.
type runningProc struct {
	*proc
	base string
}

func (r runningProc) url(path string) string { return r.base + path }

// env returns the environment shared by the parser and the workers, with extra on top.
func (s *stack) env(extra map[string]string) map[string]string {
	return merged(crawlEnv(s.sim.URL()), map[string]string{
		"REDIS_URL": s.d.redisURL, "RABBITMQ_URL": s.d.amqpURL, "LOG_LEVEL": "debug", "DMARKET_GAME_IDS": chaosGame,
		"PARSER_CYCLE_INTERVAL": "1s", "PARSER_RATE_PER_IP": "40", "SHUTDOWN_TIMEOUT": "5s",
	}, extra)
}

// launch starts binary name and waits until its ops server answers.
func (s *stack) launch(name string, extra map[string]string) runningProc {
	s.t.Helper()
	p, base := serve(s.t, name, s.env(extra))
	r := runningProc{proc: p, base: base}
	s.procs = append(s.procs, r)
	awaitStatus(s.t, p, r.url("/healthz"), 200, 20*time.Second)
	return r
}

// kill ends p with SIGKILL and forgets it, so that the final checks do not expect it to be running.
func (s *stack) kill(p runningProc) {
	s.t.Helper()
	require.NoError(s.t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.awaitExit(s.t, 10*time.Second, "after SIGKILL")
	s.procs = slices.DeleteFunc(s.procs, func(q runningProc) bool { return q.proc == p.proc })
}

// requireAllRunning fails when a process started by the test has ended on its own.
func (s *stack) requireAllRunning() {
	s.t.Helper()
	for _, p := range s.procs {
		p.requireRunning(s.t)
	}
}

// finish checks that every process is still running, stops them all with SIGTERM (each must exit
// cleanly within 10 s, even a worker with deliveries waiting out their retry backoff) and checks that no
// secret reached their output.
func (s *stack) finish(extraSecrets ...string) {
	s.t.Helper()
	s.requireAllRunning()
	_, sec := dmarkettest.DemoKeys()
	for _, p := range s.procs {
		_, code := p.stop(s.t, 10*time.Second)
		require.Zero(s.t, code, "%s exit code after SIGTERM", p.name)
	}
	for _, p := range s.procs {
		requireNoSecrets(s.t, p.proc, append([]string{s.d.amqpPass, sec}, extraSecrets...)...)
	}
}

// catalogueTitles returns the names of the simulator's titles that have listings.
func (s *stack) catalogueTitles() []string {
	titles := s.sim.Catalogue().Titles[chaosGame]
	names := make([]string, 0, len(titles))
	for _, ti := range titles {
		if ti.Listed() { // a title only sold has no prices to store
			names = append(names, ti.Name)
		}
	}
	return names
}

// storedPrices reads every catalogue title that has live prices in Redis, through pricestore.
func (s *stack) storedPrices() (map[string]pricestore.Prices, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]pricestore.Prices{}
	for _, name := range s.catalogueTitles() {
		p, ok, err := s.store.Title(ctx, name)
		if err != nil {
			return got, err
		}
		if ok {
			got[name] = p
		}
	}
	return got, nil
}

// missing returns the catalogue titles for which ok is false (every title when Redis cannot be read).
func (s *stack) missing(ok func(pricestore.Prices) bool) []string {
	got, err := s.storedPrices()
	var out []string
	for _, name := range s.catalogueTitles() {
		p, found := got[name]
		if err != nil || !found || !ok(p) {
			out = append(out, name)
		}
	}
	return out
}

// awaitCatalogue waits until every catalogue title satisfies ok in Redis, failing at once when a
// process exits.
func (s *stack) awaitCatalogue(within time.Duration, ok func(pricestore.Prices) bool) {
	s.t.Helper()
	if ok == nil {
		ok = func(pricestore.Prices) bool { return true }
	}
	var last []string
	deadline := time.Now().Add(within)
	for {
		s.requireAllRunning()
		last = s.missing(ok)
		if len(last) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %s, %d of %d titles are missing in Redis, e.g. %q", within, len(last),
				len(s.catalogueTitles()), last[:min(3, len(last))])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requireOrders checks that every catalogue title with a buy order has its best order in Redis.
func (s *stack) requireOrders(within time.Duration) {
	s.t.Helper()
	var want []string
	for _, ti := range s.sim.Catalogue().Titles[chaosGame] {
		if ti.BuyOrder != nil {
			want = append(want, ti.Name)
		}
	}
	require.NotEmpty(s.t, want)
	require.Eventually(s.t, func() bool {
		s.requireAllRunning()
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(want))
		for i, name := range want {
			cmds[i] = pipe.Exists(context.Background(), pricestore.OrdersKey(name))
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			return false
		}
		for _, c := range cmds {
			if c.Val() != 1 {
				return false
			}
		}
		return true
	}, within, 100*time.Millisecond, "buy orders of some titles never reached Redis")
}

// metric returns the sum of the samples of the metric name whose labels include every pair of labels,
// as served on the process's /metrics (-1 when the page cannot be read).
func metric(p runningProc, name string, labels ...string) float64 {
	page, err := scrapeMetrics(p.base)
	if err != nil {
		return -1
	}
	return page.sum(name, labels...)
}

// awaitMetric waits until metric(p, name, labels...) is at least atLeast and returns it.
func (s *stack) awaitMetric(p runningProc, within time.Duration, atLeast float64, name string, labels ...string) float64 {
	s.t.Helper()
	var v float64
	require.Eventually(s.t, func() bool {
		s.requireAllRunning()
		v = metric(p, name, labels...)
		return v >= atLeast
	}, within, 20*time.Millisecond, "%s %s %v never reached %v (last %v)", p.name, name, labels, atLeast, v)
	return v
}

// broker opens a channel on the test's vhost over a direct (fault-free) connection.
func (s *stack) broker() *amqp.Channel {
	s.t.Helper()
	conn, err := amqp.Dial(s.d.directAMQP)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(s.t, err)
	return ch
}

// queueLengths returns the ready messages of every DMarket queue and dead-letter queue. A queue that
// does not exist yet counts as empty.
func (s *stack) queueLengths() map[string]int {
	s.t.Helper()
	conn, err := amqp.Dial(s.d.directAMQP)
	require.NoError(s.t, err)
	defer conn.Close()
	out := map[string]int{}
	for _, k := range message.Kinds {
		for _, q := range []string{message.Queue(k), message.Queue(k) + message.DeadLetterSuffix} {
			ch, err := conn.Channel()
			require.NoError(s.t, err)
			info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			if err != nil { // a passive declare of a missing queue closes the channel
				continue
			}
			out[q] = info.Messages
			_ = ch.Close()
		}
	}
	return out
}

// requireNoDeadLetters checks that every dead-letter queue is empty, except the counts in want.
func (s *stack) requireNoDeadLetters(want map[string]int) {
	s.t.Helper()
	got := s.queueLengths()
	for _, k := range message.Kinds {
		dlq := message.Queue(k) + message.DeadLetterSuffix
		require.Equal(s.t, want[dlq], got[dlq], "messages in %s", dlq)
	}
}

// requireNothingDeadLettered checks that every dead-letter queue is empty and that none of workers
// counted a dead letter.
func (s *stack) requireNothingDeadLettered(workers ...runningProc) {
	s.t.Helper()
	s.requireNoDeadLetters(nil)
	for _, w := range workers {
		require.Zero(s.t, metric(w, "dmarket_amqp_consumed_total", "outcome", "dead_letter"), "%s dead-lettered", w.name)
	}
}

// catalogueSummary describes the simulator's catalogue for the test log.
func (s *stack) catalogueSummary() string {
	return fmt.Sprintf("%d titles, %d listings", len(s.catalogueTitles()), s.sim.Catalogue().ListingCount())
}
