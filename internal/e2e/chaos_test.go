package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// The chaos tests run the real parser and worker binaries against the simulator, the real Redis and
// the real RabbitMQ, break one thing while the pipeline runs and require that the catalogue still ends
// up complete in Redis, that nothing is dead-lettered that should not be, and that no process exited
// on its own. Tests that prove "nothing lost" crawl the catalogue exactly once
// (PARSER_CYCLE_INTERVAL=1h), so that a lost message cannot be hidden by the next crawl.

const listingsQueue = "dmarket.listings"

// requireOneCrawl checks that the parser finished at most one crawl cycle, so the data in Redis came
// from a single publication of every page.
func requireOneCrawl(t *testing.T, parser runningProc) {
	t.Helper()
	require.LessOrEqual(t, metric(parser, "dmarket_crawler_cycles_total"), 1.0, "the parser crawled more than once")
}

func TestChaosWorkerKilledMidStreamLosesNothing(t *testing.T) {
	sim := chaosSim(t, 800)
	s := newStack(t, sim)
	t.Log(s.catalogueSummary())

	// The worker to be killed reaches Redis through a proxy that refuses every connection: each delivery
	// it takes fails and stays unacknowledged while it backs off, so at the kill it certainly holds
	// deliveries it never completed — and it never wrote a single title.
	stuck, err := netfaulttest.New(s.d.redis.Target())
	require.NoError(t, err)
	t.Cleanup(func() { _ = stuck.Close() })
	stuck.SetRefuse(true)
	u, err := url.Parse(s.d.redisURL)
	require.NoError(t, err)
	u.Host = stuck.Addr()
	doomed := s.launch("worker", map[string]string{"REDIS_URL": u.String()})
	healthy := s.launch("worker", nil)
	s.awaitMetric(doomed, 30*time.Second, 1, "dmarket_amqp_connected")
	awaitStatus(t, healthy.proc, healthy.url("/readyz"), 200, 30*time.Second)

	parser := s.launch("parser", map[string]string{"PARSER_CYCLE_INTERVAL": "1h", "PARSER_RATE_PER_IP": "5"})
	s.awaitMetric(doomed, 30*time.Second, 1, "dmarket_worker_pages_total", "kind", "listings", "outcome", "error")
	require.Zero(t, metric(doomed, "dmarket_amqp_consumed_total", "queue", listingsQueue, "outcome", "ack"))
	s.kill(doomed)
	t.Logf("worker killed while the parser had published %v listings pages (%v finished crawls)",
		metric(parser, "dmarket_crawler_pages_published_total", "kind", "listings"),
		metric(parser, "dmarket_crawler_cycles_total"))
	s.launch("worker", nil) // the replacement

	s.awaitCatalogue(60*time.Second, nil)
	s.requireOrders(30 * time.Second)
	requireOneCrawl(t, parser)
	s.requireNothingDeadLettered(healthy)
	s.finish()
}

func TestChaosBrokerConnectionCutMidPublishLosesNothing(t *testing.T) {
	sim := chaosSim(t, 800)
	s := newStack(t, sim)
	t.Log(s.catalogueSummary())
	w := s.launch("worker", nil)
	awaitStatus(t, w.proc, w.url("/readyz"), 200, 30*time.Second)
	parser := s.launch("parser", map[string]string{"PARSER_CYCLE_INTERVAL": "1h", "PARSER_RATE_PER_IP": "5"})

	const cuts = 3
	for i := range cuts + 1 {
		// Every fault lands while the parser is publishing: wait until a few more publishes were
		// confirmed since the previous one.
		base := metric(parser, "dmarket_amqp_published_total", "outcome", "ok")
		s.awaitMetric(parser, 30*time.Second, base+3, "dmarket_amqp_published_total", "outcome", "ok")
		if i < cuts {
			require.Positive(t, s.d.amqp.CutAll(), "cut %d found no connection", i+1)
			continue
		}
		require.Positive(t, rabbitmqtest.CloseConnections(t, s.d.vhost), "the broker closed no connection")
	}
	t.Logf("faults done after %v listings pages; %v publishes retried on a new channel",
		metric(parser, "dmarket_crawler_pages_published_total", "kind", "listings"),
		metric(parser, "dmarket_amqp_publish_retries_total"))

	s.awaitCatalogue(60*time.Second, nil)
	s.requireOrders(30 * time.Second)
	requireOneCrawl(t, parser)
	s.awaitMetric(parser, 30*time.Second, cuts+1, "dmarket_amqp_reconnects_total")
	s.awaitMetric(w, 30*time.Second, cuts+1, "dmarket_amqp_reconnects_total")
	require.Zero(t, metric(parser, "dmarket_amqp_published_total", "outcome", "nack"))
	s.requireNothingDeadLettered()
	s.finish()
}

func TestChaosRedisOutageIsRetriedWithoutDeadLetters(t *testing.T) {
	sim := chaosSim(t, 150)
	s := newStack(t, sim)
	w := s.launch("worker", nil)
	parser := s.launch("parser", nil)
	awaitStatus(t, w.proc, w.url("/readyz"), 200, 30*time.Second)
	s.awaitCatalogue(30*time.Second, nil)

	// Outage: drop every Redis connection and refuse new ones for a second or until the worker has
	// failed a write, whichever is later. The worker pauses its consumers meanwhile: no attempt is
	// spent and nothing is dead-lettered.
	failedBefore := metric(w, "dmarket_worker_pages_total", "outcome", "error")
	s.d.redis.SetRefuse(true)
	s.d.redis.CutAll()
	began := time.Now()
	sawUnready := false
	// Redis stays away until the worker has failed a write and held a delivery (its guard confirms the
	// outage with a probe, so restoring Redis earlier would rightly make that failure the message's own).
	// The upper bound only guards against a worker that never does; on a loaded machine that may take
	// several seconds.
	heldBefore := metric(w, "dmarket_amqp_held_total")
	for time.Since(began) < 30*time.Second &&
		(time.Since(began) < time.Second || metric(w, "dmarket_worker_pages_total", "outcome", "error") <= failedBefore ||
			metric(w, "dmarket_amqp_held_total") <= heldBefore) {
		if code, _ := status(w.url("/readyz")); code == 503 {
			sawUnready = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.d.redis.SetRefuse(false)
	restored := time.Now()
	t.Logf("Redis refused for %s (worker reported not ready: %v)", restored.Sub(began).Round(time.Millisecond), sawUnready)
	require.Greater(t, metric(w, "dmarket_worker_pages_total", "outcome", "error"), failedBefore,
		"the worker never failed a write during the outage")
	require.Greater(t, metric(w, "dmarket_amqp_held_total"), heldBefore, "the worker never held a delivery during the outage")

	awaitStatus(t, w.proc, w.url("/readyz"), 200, 30*time.Second)
	awaitStatus(t, parser.proc, parser.url("/readyz"), 200, 30*time.Second)
	// Every title is written again from pages fetched after Redis came back.
	fresh := restored.Truncate(time.Second).Add(time.Second)
	s.awaitCatalogue(45*time.Second, func(p pricestore.Prices) bool { return !p.UpdatedAt.Before(fresh) })
	// The failed deliveries were held (no attempt spent) until Redis answered again.
	s.awaitMetric(w, 30*time.Second, 1, "dmarket_amqp_held_total")
	s.requireNothingDeadLettered(w)
	s.finish()
}

func TestChaosServerErrorAndRateLimitStormIsSurvived(t *testing.T) {
	sim := chaosSim(t, 150)
	sim.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Status: 429})
	for _, ep := range dmarkettest.Endpoints[1:] {
		sim.SetFault(ep, dmarkettest.Fault{ServerErrorRate: 0.5})
	}
	s := newStack(t, sim)
	w := s.launch("worker", nil)
	parser := s.launch("parser", nil)
	awaitStatus(t, parser.proc, parser.url("/readyz"), 200, 30*time.Second)

	// 429 storm: every listings request is throttled.
	require.Eventually(t, func() bool {
		s.requireAllRunning()
		return sim.Stats().ByEndpoint[dmarkettest.EndpointMarketItems] >= 10
	}, 30*time.Second, 20*time.Millisecond, "the parser stopped asking for listings")
	got, err := s.storedPrices()
	require.NoError(t, err)
	require.Empty(t, got, "prices stored while every listings request was throttled")

	// 5xx storm: most listings requests fail with 500, 502 or 503.
	sim.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{ServerErrorRate: 0.5})
	before := sim.Stats().ByEndpoint[dmarkettest.EndpointMarketItems]
	require.Eventually(t, func() bool {
		s.requireAllRunning()
		return sim.Stats().ByEndpoint[dmarkettest.EndpointMarketItems] >= before+15
	}, 30*time.Second, 20*time.Millisecond, "the parser stopped asking for listings")
	require.Eventually(t, func() bool {
		s.requireAllRunning()
		code, h, body := health(t, parser.base)
		require.Equal(t, 200, code, "a DMarket storm only degrades the parser: %s", body)
		st, e := h.component("dmarket")
		if st == "degraded" {
			t.Logf("dmarket component during the storm: %s", e)
		}
		return st == "degraded"
	}, 15*time.Second, 50*time.Millisecond, "the parser never reported the storm as degraded")

	sim.ClearFaults()
	s.awaitCatalogue(60*time.Second, nil)
	awaitStatus(t, parser.proc, parser.url("/readyz"), 200, 10*time.Second)
	for _, outcome := range []string{"rate_limited", "server_error"} {
		require.Positive(t, metric(parser, "dmarket_api_requests_total", "endpoint", "market_items", "outcome", outcome), outcome)
	}
	s.requireNothingDeadLettered(w)
	s.finish()
}

func TestChaosMalformedPagesAloneAreDeadLettered(t *testing.T) {
	sim := chaosSim(t, 150)
	s := newStack(t, sim)
	w := s.launch("worker", nil)
	awaitStatus(t, w.proc, w.url("/readyz"), 200, 30*time.Second)
	s.launch("parser", nil)

	envelope := func(payload string) []byte {
		b, err := json.Marshal(message.Envelope{
			Schema: message.SchemaVersion, Kind: message.KindListings, GameID: chaosGame,
			FetchedAt: time.Now().UTC(), Request: message.Request{Method: "GET", Path: "/exchange/v1/market/items"},
			Payload: json.RawMessage(payload),
		})
		require.NoError(t, err)
		return b
	}
	bad := map[string][]byte{
		"truncated json":        []byte(`{"schema":1,"kind":"listings","game_id":"a8db","payl`),
		"not json":              {0xff, 0xfe, 'n', 'o', 'p', 'e'},
		"payload is a string":   envelope(`"this is not a page"`),
		"payload objects wrong": envelope(`{"objects":"nope","cursor":17}`),
	}
	ch := s.broker()
	require.NoError(t, ch.Confirm(false))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, body := range bad {
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", listingsQueue, true, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: "malformed " + name, Body: body,
		})
		require.NoError(t, err, name)
		ok, err := conf.WaitContext(ctx)
		require.NoError(t, err, name)
		require.True(t, ok, "broker refused %s", name)
	}

	s.awaitCatalogue(45*time.Second, nil)
	dlq := listingsQueue + message.DeadLetterSuffix
	require.Eventually(t, func() bool {
		s.requireAllRunning()
		return s.queueLengths()[dlq] >= len(bad)
	}, 30*time.Second, 100*time.Millisecond, "the malformed messages never reached %s", dlq)
	s.requireNoDeadLetters(map[string]int{dlq: len(bad)})

	seen := map[string]bool{}
	for range bad {
		d, ok, err := ch.Get(dlq, false)
		require.NoError(t, err)
		require.True(t, ok)
		reason, _ := d.Headers[message.HeaderError].(string)
		require.NotEmpty(t, strings.TrimSpace(reason), "dead letter without %s", message.HeaderError)
		matched := ""
		for name, body := range bad {
			if string(body) == string(d.Body) {
				matched = name
			}
		}
		require.NotEmpty(t, matched, "unexpected message in %s: %q (%s)", dlq, d.Body, reason)
		require.False(t, seen[matched], "%s dead-lettered twice", matched)
		seen[matched] = true
		t.Logf("%s: %s", matched, reason)
	}
	// The worker counts a dead letter once the broker confirmed it and the original was acked: the
	// count follows the message's arrival in the dead-letter queue.
	got := s.awaitMetric(w, 30*time.Second, float64(len(bad)), "dmarket_amqp_consumed_total", "queue", listingsQueue, "outcome", "dead_letter")
	require.Equal(t, float64(len(bad)), got)
	s.finish()
}
