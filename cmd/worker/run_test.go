package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// opsAddr returns a loopback address whose port is free now, drawn below the ephemeral range so that
// no listener on port 0 takes it before the worker binds it.
func opsAddr(t *testing.T) string {
	t.Helper()
	for range 1000 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		require.NoError(t, l.Close())
		return addr
	}
	t.Fatal("no free port")
	return ""
}

func get(url string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricLine reports whether the /metrics body holds a sample line starting with prefix.
func metricLine(body, prefix string) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestRunPausesWhileRedisIsDown runs the worker as main wires it, with WORKER_MAX_ATTEMPTS=1 so that
// any attempt spent would dead-letter at once: while Redis is cut the worker is not ready and holds
// its delivery; once Redis is back it is ready again and the message is written, nothing dead-lettered.
func TestRunPausesWhileRedisIsDown(t *testing.T) {
	amqpURL := rabbitmqtest.NewVhost(t)
	direct := redisdbtest.New(t)
	proxy, err := netfaulttest.New(direct.Options().Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	addr := opsAddr(t)
	cfg, err := config.LoadWorker(nil, []string{
		"RABBITMQ_URL=" + amqpURL,
		fmt.Sprintf("REDIS_URL=redis://%s/%d", proxy.Addr(), direct.Options().DB),
		"HTTP_ADDR=" + addr, "WORKER_MAX_ATTEMPTS=1", "WORKER_CONCURRENCY=2", "SHUTDOWN_TIMEOUT=20s",
	})
	require.NoError(t, err)

	lifecycletest.Run(t, 60*time.Second, func(ctx context.Context) error {
		return run(ctx, cfg, slog.New(slog.DiscardHandler))
	})
	base := "http://" + addr
	require.Eventually(t, func() bool { code, _ := get(base + "/readyz"); return code == 200 }, 60*time.Second, 20*time.Millisecond)

	proxy.SetRefuse(true)
	proxy.CutAll()
	body, err := message.Encode(message.Envelope{Schema: message.SchemaVersion, Kind: message.KindOrders, GameID: "a8db",
		FetchedAt: time.Now().Add(-time.Second), Request: message.Request{Method: "POST", Path: "/marketplace-api/v1/aggregated-prices"},
		Payload: []byte(`{"aggregatedPrices":[{"title":"AK-47 | Redline (Field-Tested)","orderBestPrice":{"Currency":"USD","Amount":"1251"},"orderCount":"143"}]}`)})
	require.NoError(t, err)
	conn, err := amqp.Dial(amqpURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	orders := message.Queue(message.KindOrders)
	conf, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", orders, true, false,
		amqp.Publishing{MessageId: "orders-1", DeliveryMode: amqp.Persistent, Body: body})
	require.NoError(t, err)
	require.True(t, conf.Wait())

	// The write fails, the guard confirms the outage: consumers paused, not ready, delivery held.
	require.Eventually(t, func() bool {
		code, m := get(base + "/metrics")
		return code == 200 && metricLine(m, "dmarket_worker_consumers_paused 1") &&
			metricLine(m, `dmarket_amqp_held_total{queue="dmarket.orders"} 1`)
	}, 60*time.Second, 20*time.Millisecond, "the worker pauses")
	// Health results are cached briefly, so the answer turns within the cache's lifetime.
	require.Eventually(t, func() bool { code, _ := get(base + "/readyz"); return code == 503 }, 60*time.Second, 20*time.Millisecond,
		"the worker reports not ready")
	info, err := ch.QueueDeclarePassive(orders+message.DeadLetterSuffix, true, false, false, false, nil)
	require.NoError(t, err)
	require.Zero(t, info.Messages)

	// Redis is back: ready again, the held message is written, nothing dead-lettered.
	proxy.SetRefuse(false)
	require.Eventually(t, func() bool { code, _ := get(base + "/readyz"); return code == 200 }, 60*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		return direct.Exists(context.Background(), pricestore.OrdersKey("AK-47 | Redline (Field-Tested)")).Val() == 1
	}, 60*time.Second, 20*time.Millisecond, "the held message is written")
	// The key is written before the delivery is acked and counted, and the guard resets its gauge after
	// it has resumed the consumers: both metrics settle shortly after the write.
	var m string
	require.Eventually(t, func() bool {
		_, m = get(base + "/metrics")
		return metricLine(m, "dmarket_worker_consumers_paused 0") &&
			metricLine(m, `dmarket_amqp_consumed_total{outcome="ack",queue="dmarket.orders"} 1`)
	}, 60*time.Second, 20*time.Millisecond, "paused gauge reset and delivery acked")
	dead := `dmarket_amqp_consumed_total{outcome="dead_letter",queue="dmarket.orders"}`
	require.True(t, !metricLine(m, dead) || metricLine(m, dead+" 0"), "nothing dead-lettered")
	info, err = ch.QueueDeclarePassive(orders+message.DeadLetterSuffix, true, false, false, false, nil)
	require.NoError(t, err)
	require.Zero(t, info.Messages)
}
