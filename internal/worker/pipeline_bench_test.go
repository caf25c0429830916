package worker_test

import (
	"context"
	"encoding/json"
	"flag"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// benchPageCount is how many distinct pages the benchmarks cycle through; benchTitles is how many distinct
// titles those pages spread over.
const (
	benchPageCount = 200
	benchTitles    = 5000
	// benchStallTimeout fails a pipeline run that stops making progress instead of hanging.
	benchStallTimeout = 5 * time.Minute
)

// BenchmarkPipeline measures the whole worker path: b.N listings pages of 100 fixture-shaped items are
// published with confirms to the listings queue of a fresh vhost, consumed by ONE worker stack (its own
// AMQP connection, consumer, handler, pricestore and sales schedule on a reserved Redis database) and
// written to Redis. The clock runs from the first publish until the handler has written the last page,
// so items/s is the end-to-end rate of one worker, publisher included (it runs in the same process).
// allocs/item counts every allocation of the process (publisher, AMQP client, handler, go-redis).
// Messages are of this build's schema (compressed payload) unless the variant says schema=1 (the raw
// page, as parsers of the previous version publish it). Every item carries the fixture's float and paint
// seed; the attrs variant gives each item its own float and seed, every third stickers and the items of
// the Doppler and Gamma Doppler titles (two of the ten weapons) a phase (SPEC §9.2), so that the kept
// items of the prices keys change page after page. The stream cycles through benchPageCount pages, as a
// running crawl sees the same listings every cycle, and one cycle of them is handled before the clock
// starts, so that items/s is the steady state of a crawl and does not depend on b.N (the first cycle,
// every item new, would otherwise weigh 200/b.N of the run); the first-sight variants instead publish
// b.N distinct pages (distinct item ids) without a warm-up, every item new to the store, as after a
// worker's restart or on a market of new listings; the moving variants follow the warm-up with a moving
// market's next cycles (pageGen.movingPages).
func BenchmarkPipeline(b *testing.B) {
	noop := message.HandlerFunc(func(context.Context, message.Delivery) error { return nil })
	for _, tc := range []pipelineVariant{
		{name: "prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}},
		{name: "prefetch=16/concurrency=2", opts: rabbitmq.ConsumerOptions{Prefetch: 16, Concurrency: 2}},
		{name: "prefetch=128/concurrency=16", opts: rabbitmq.ConsumerOptions{Prefetch: 128, Concurrency: 16}},
		{name: "prefetch=256/concurrency=32", opts: rabbitmq.ConsumerOptions{Prefetch: 256, Concurrency: 32}},
		// The broker alone: the same publishes, deliveries and acks with a handler that does nothing.
		{name: "broker-only/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, handler: noop},
		// The previous schema's uncompressed messages, production defaults.
		{name: "schema=1/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, schema: message.SchemaV1},
		// Production defaults on pages whose items carry varied attributes.
		{name: "attrs/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, attrs: true},
		// Production defaults, every item new to the store (no page repeats).
		{name: "first-sight/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, firstSight: true},
		{name: "first-sight/attrs/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, attrs: true, firstSight: true},
		// Production defaults on a moving market: each cycle 1 % of the items are new listings (about four
		// times the share of the freshness goal's market, see docs/performance.md), 5 % for a busy one.
		{name: "moving=1%/attrs/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, attrs: true, relist: 10},
		{name: "moving=5%/attrs/prefetch=64/concurrency=8", opts: rabbitmq.ConsumerOptions{Prefetch: 64, Concurrency: 8}, attrs: true, relist: 50},
	} {
		b.Run(tc.name, func(b *testing.B) { benchPipeline(b, tc) })
	}
}

// fixedBenchN returns N of -test.benchtime=Nx, or 0 when the bench time is a duration.
func fixedBenchN() int {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return 0
	}
	v := f.Value.String()
	if !strings.HasSuffix(v, "x") {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, "x"))
	if err != nil {
		return 0
	}
	return n
}

// withSchema returns pages re-encoded with the given envelope schema (0 keeps them as they are).
func withSchema(b *testing.B, pages []page, schema int) []page {
	if schema == 0 {
		return pages
	}
	out := make([]page, len(pages))
	for i, pg := range pages {
		env, err := message.Decode(pg.body)
		require.NoError(b, err)
		env.Schema = schema
		pg.body, err = message.Encode(env)
		require.NoError(b, err)
		out[i] = pg
	}
	return out
}

// pipelineVariant is one BenchmarkPipeline variant.
type pipelineVariant struct {
	name    string
	opts    rabbitmq.ConsumerOptions
	handler message.Handler // nil: the worker's handler
	schema  int             // message schema, 0 for this build's
	attrs   bool            // items with varied attributes (pageGen.attrs)
	// firstSight publishes b.N distinct pages without a warm-up instead of cycling through benchPageCount.
	firstSight bool
	// relist is the share (per mille) of items a moving market sells and lists again under new ids
	// each cycle (see pageGen.movingPages); 0 repeats the same pages every cycle.
	relist int
}

// benchPipeline runs one BenchmarkPipeline variant: a stream cycling through benchPageCount distinct
// pages, handled once before the clock starts (first sight: b.N distinct pages, no warm-up). With relist
// > 0 the timed stream is a moving market's next cycles instead (pageGen.movingPages).
func benchPipeline(b *testing.B, v pipelineVariant) {
	count, warm := benchPageCount, true
	if v.firstSight {
		count, warm = max(b.N, 1), false
	}
	opts, schema := v.opts, v.schema
	if b.N == 1 && fixedBenchN() > 1 {
		// The harness's probe run before a fixed -benchtime Nx: its result is never reported, and its
		// setup (a vhost through rabbitmqctl, a Redis database, a worker stack) costs more than the run.
		return
	}
	amqpURL := rabbitmqtest.NewVhost(b)
	rdb := redisdbtest.New(b)
	now := time.Now().Truncate(time.Second)
	clk := clocktest.NewFake(now)
	gen := newPageGen(b, benchTitles)
	gen.attrs = v.attrs
	pages := bodiesOnly(withSchema(b, gen.pages(b, count, now.Add(-time.Minute)), schema))
	opts.ShutdownTimeout = 30 * time.Second
	w := startStack(b, stackConfig{amqpURL: amqpURL, redis: testRedisOptions(rdb), clock: clk, consumer: opts, handler: v.handler})
	prod := startProducer(b, amqpURL)

	ctx := context.Background()
	warmed := 0
	if warm {
		// One cycle before the clock starts: the stored items of a running crawl.
		require.NoError(b, prod.publishAll(ctx, cycle(pages, count, "warm-"), 32))
		require.Eventually(b, func() bool { return w.rec.total() >= count }, benchStallTimeout, time.Millisecond)
		warmed = count
	}
	stream := cycle(pages, b.N, "bench-")
	if v.relist > 0 {
		stream = cycle(bodiesOnly(withSchema(b, gen.movingPages(b, b.N, count, v.relist, now.Add(-time.Minute)), schema)), b.N, "bench-")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore := processCPU(b)
	redisBefore := redisdbtest.ServerCPU(b, rdb)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	published := make(chan error, 1)
	var publishTook time.Duration
	go func() {
		err := prod.publishAll(ctx, stream, 32)
		publishTook = time.Since(start)
		published <- err
	}()
	deadline := time.Now().Add(benchStallTimeout)
	for w.rec.total() < warmed+b.N {
		select {
		case err := <-published:
			require.NoError(b, err)
			published = nil
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("pipeline stalled: %d of %d pages handled, %v confirmed, publishing finished: %v", w.rec.total()-warmed, b.N,
				counterValue(prod.reg, "dmarket_amqp_published_total", map[string]string{"outcome": "ok"}), published == nil)
		}
		// Polling granularity of the end of the run, not a synchronisation: 2 ms is under 0.3 % of a run of
		// 30,000 items and wakes the process 500 times a second, which cpu-µs/item would otherwise count.
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpuBefore
	redisUsed := redisdbtest.ServerCPU(b, rdb) - redisBefore
	runtime.ReadMemStats(&after)
	if published != nil {
		select {
		case err := <-published:
			require.NoError(b, err)
		case <-time.After(benchStallTimeout):
			b.Fatalf("every page was handled but a publish still waits for its confirm after %s", benchStallTimeout)
		}
	}
	_, _, failed, _ := w.rec.snapshot()
	require.Zero(b, failed, "no page failed")

	items := float64(b.N * itemsPerPage)
	b.ReportMetric(items/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/items, "allocs/item")
	b.ReportMetric(float64(len(pages[0].body)), "B/page")
	b.ReportMetric(items/publishTook.Seconds(), "published-items/s")
	b.ReportMetric(float64(cpu.Microseconds())/items, "cpu-µs/item")
	b.ReportMetric(float64(redisUsed.Microseconds())/items, "redis-cpu-µs/item")
}

// bodiesOnly drops the generated items of pages, keeping their messages: a run holds up to b.N pages, and
// their items (maps of attributes) would make every garbage collection of the timed part mark them, so
// that cpu-µs/item would grow with the stream's length and with how often the code under test collects.
func bodiesOnly(pages []page) []page {
	for i := range pages {
		pages[i].items = nil
	}
	return pages
}

// cycle returns n messages cycling through pages, with message ids prefix0, prefix1, ...
func cycle(pages []page, n int, prefix string) []page {
	out := make([]page, n)
	for i := range out {
		out[i] = pages[i%len(pages)]
		out[i].id = prefix + strconv.Itoa(i)
	}
	return out
}

// processCPU returns the user+system CPU time the test process has used so far. Unlike ns/op it does not
// grow when other processes of the shared machine take the cores.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareEnvelope is the envelope with the payload fields the worker needs, for plain encoding/json.
type bareEnvelope struct {
	Schema    int       `json:"schema"`
	Kind      string    `json:"kind"`
	GameID    string    `json:"game_id"`
	FetchedAt time.Time `json:"fetched_at"`
	Payload   struct {
		Objects []struct {
			ItemID         string               `json:"itemId"`
			Title          string               `json:"title"`
			GameID         string               `json:"gameId"`
			Image          string               `json:"image"`
			Price          struct{ USD string } `json:"price"`
			SuggestedPrice struct{ USD string } `json:"suggestedPrice"`
			Extra          struct {
				Tradable          *bool `json:"tradable"`
				TradeLock         int   `json:"tradeLock"`
				TradeLockDuration int   `json:"tradeLockDuration"`
			} `json:"extra"`
		} `json:"objects"`
		Cursor string `json:"cursor"`
	} `json:"payload"`
}

// BenchmarkBareDecode is the ceiling the pipeline is compared with: decoding the same message bodies as
// BenchmarkPipeline, without RabbitMQ or Redis: with encoding/json into a struct holding only the needed
// fields, on the raw (schema 1) bodies ("encoding-json"), and with the worker's own decoder, validation
// included (validate.DecodeMessage and its listings page: one scan of the envelope and the payload, the
// payload decompressed first for schema 2), on one goroutine ("validate", "validate/schema=1") and on
// every core ("validate/parallel": the decode ceiling of one worker process).
func BenchmarkBareDecode(b *testing.B) {
	now := time.Now().Truncate(time.Second)
	gen := newPageGen(b, benchTitles)
	pages := gen.pages(b, benchPageCount, now.Add(-time.Minute))
	raw := withSchema(b, pages, message.SchemaV1)
	bareJSON := func(b *testing.B, body []byte) int {
		var e bareEnvelope
		if err := json.Unmarshal(body, &e); err != nil {
			b.Fatal(err)
		}
		return len(e.Payload.Objects)
	}
	for _, tc := range []struct {
		name   string
		pages  []page
		decode func(b *testing.B, body []byte) int
	}{{"encoding-json", raw, bareJSON}, {"validate", pages, decodePage}, {"validate/schema=1", raw, decodePage}} {
		b.Run(tc.name, func(b *testing.B) {
			pages := tc.pages
			b.ReportAllocs()
			b.SetBytes(int64(len(pages[0].body)))
			cpuBefore := processCPU(b)
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				n += tc.decode(b, pages[i%len(pages)].body)
			}
			b.StopTimer()
			reportCPU(b, processCPU(b)-cpuBefore)
			require.Equal(b, b.N*itemsPerPage, n)
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
		})
	}
	b.Run("validate/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pages[0].body)))
		cpuBefore := processCPU(b)
		var next, items atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			n := 0
			for pb.Next() {
				n += decodePage(b, pages[int(next.Add(1))%len(pages)].body)
			}
			items.Add(int64(n))
		})
		b.StopTimer()
		reportCPU(b, processCPU(b)-cpuBefore)
		require.Equal(b, int64(b.N*itemsPerPage), items.Load())
		b.ReportMetric(float64(items.Load())/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("message.Decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pages[0].body)))
		cpuBefore := processCPU(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := message.Decode(pages[i%len(pages)].body); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportCPU(b, processCPU(b)-cpuBefore)
		b.ReportMetric(float64(b.N*itemsPerPage)/b.Elapsed().Seconds(), "items/s")
	})
}

// decodePage decodes one listings message as the worker does and returns its valid items.
func decodePage(b *testing.B, body []byte) int {
	m, err := validate.DecodeMessage(body)
	if err != nil {
		b.Fatal(err)
	}
	lp, err := m.Listings()
	if err != nil {
		b.Fatal(err)
	}
	return len(lp.Items)
}

// reportCPU reports the process CPU time per item of a decode benchmark.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*itemsPerPage), "cpu-µs/item")
}
