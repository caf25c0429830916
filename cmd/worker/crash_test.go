package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/service"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// envPoisonWorker makes this test binary run as a worker process that dies on the message with the id
// it names (see TestPoisonWorkerProcess).
const envPoisonWorker = "DMARKET_TEST_POISON_WORKER"

// poisonExit is the exit code of a worker process killed by the poison message.
const poisonExit = 3

// TestPoisonWorkerProcess is not a test: started by TestPoisonMessageKillingTheWorker with
// envPoisonWorker set, it runs the worker as main wires it (configuration from the environment), with a
// handler that exits the process on the poison message, as a fatal runtime error would.
func TestPoisonWorkerProcess(t *testing.T) {
	poison := os.Getenv(envPoisonWorker)
	if poison == "" {
		t.Skip("runs only as the worker process of TestPoisonMessageKillingTheWorker")
	}
	ctx, stop := service.SignalContext(context.Background())
	defer stop()
	os.Exit(service.Start(ctx, "worker", nil, os.Environ(), os.Stdout, os.Stderr, config.LoadWorker,
		func(ctx context.Context, cfg config.Worker, log *slog.Logger) error {
			return runWith(ctx, cfg, log, func(h message.Handler) message.Handler {
				return message.HandlerFunc(func(ctx context.Context, d message.Delivery) error {
					if d.MessageID == poison {
						os.Exit(poisonExit)
					}
					return h.Handle(ctx, d)
				})
			})
		}))
}

// TestPoisonMessageKillingTheWorker: a message kills the worker process every time it is delivered. The
// process is restarted after every death; after the delivery limit the broker dead-letters the message,
// and every other message, queued behind it, is processed and none is dead-lettered.
func TestPoisonMessageKillingTheWorker(t *testing.T) {
	amqpURL := rabbitmqtest.NewVhost(t)
	rdb := redisdbtest.New(t)
	const (
		limit = 3
		good  = 20
	)
	orders := message.Queue(message.KindOrders)
	dlq := orders + message.DeadLetterSuffix

	conn, err := amqp.Dial(amqpURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	_, err = ch.QueueDeclare(dlq, true, false, false, false, nil)
	require.NoError(t, err)
	_, err = ch.QueueDeclare(orders, true, false, false, false, rabbitmq.QueueArgs(orders, limit))
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	title := func(i int) string { return fmt.Sprintf("AK-47 | Redline (Field-Tested) %02d", i) }
	publish := func(id, title string) {
		t.Helper()
		body, err := message.Encode(message.Envelope{Schema: message.SchemaVersion, Kind: message.KindOrders, GameID: "a8db",
			FetchedAt: time.Now().Add(-time.Second), Request: message.Request{Method: "POST", Path: "/marketplace-api/v1/aggregated-prices"},
			Payload: []byte(`{"aggregatedPrices":[{"title":"` + title + `","orderBestPrice":{"Currency":"USD","Amount":"1251"},"orderCount":"143"}]}`)})
		require.NoError(t, err)
		conf, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", orders, true, false,
			amqp.Publishing{MessageId: id, DeliveryMode: amqp.Persistent, Body: body})
		require.NoError(t, err)
		require.True(t, conf.Wait())
	}
	// The poison message comes first: every other message is in the same prefetch behind it.
	publish("poison", "AK-47 | Redline (Field-Tested) poison")
	for i := range good {
		publish(fmt.Sprint("good-", i), title(i))
	}

	start := func() (*exec.Cmd, *bytes.Buffer, <-chan error) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestPoisonWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envPoisonWorker+"=poison",
			"RABBITMQ_URL="+amqpURL, fmt.Sprintf("REDIS_URL=redis://%s/%d", rdb.Options().Addr, rdb.Options().DB),
			"HTTP_ADDR="+opsAddr(t), fmt.Sprint("RABBITMQ_DELIVERY_LIMIT=", limit),
			"WORKER_PREFETCH=16", "WORKER_CONCURRENCY=4", "SHUTDOWN_TIMEOUT=20s", "ZIPKIN_URL=", "LOG_FORMAT=text")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		done, exited := make(chan error, 1), make(chan struct{})
		go func() {
			done <- cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill() // fails harmlessly once the process has exited
			<-exited
		})
		return cmd, &out, done
	}

	// Each delivery of the poison message kills the process, which is started again: limit+1 deaths.
	for death := 1; death <= limit+1; death++ {
		_, out, done := start()
		select {
		case err := <-done:
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "death %d: %v\n%s", death, err, out)
			require.Equal(t, poisonExit, exit.ExitCode(), "death %d: killed by the poison message\n%s", death, out)
		case <-time.After(2 * time.Minute):
			t.Fatalf("death %d: the worker did not meet the poison message\n%s", death, out)
		}
	}
	// The broker has dead-lettered it.
	var dead amqp.Delivery
	require.Eventually(t, func() bool {
		d, ok, err := ch.Get(dlq, false)
		if err != nil || !ok {
			return false
		}
		dead = d
		return true
	}, 60*time.Second, 20*time.Millisecond, "the poison message is dead-lettered")
	require.Equal(t, "poison", dead.MessageId)
	require.Equal(t, "delivery_limit", dead.Headers["x-first-death-reason"])
	require.NoError(t, dead.Nack(false, true))

	// The next process lives and writes every other message.
	cmd, out, done := start()
	require.Eventually(t, func() bool {
		for i := range good {
			if rdb.Exists(context.Background(), pricestore.OrdersKey(title(i))).Val() != 1 {
				return false
			}
		}
		return true
	}, 2*time.Minute, 20*time.Millisecond, "every other message is written")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "%s", out)
	case <-time.After(time.Minute):
		t.Fatalf("the worker did not stop\n%s", out)
	}
	// Nothing else was dead-lettered, nothing is left.
	info, err := ch.QueueDeclarePassive(dlq, true, false, false, false, nil)
	require.NoError(t, err)
	require.Equal(t, 1, info.Messages, "only the poison message is dead-lettered\n%s", out)
	info, err = ch.QueueDeclarePassive(orders, true, false, false, false, rabbitmq.QueueArgs(orders, limit))
	require.NoError(t, err)
	require.Zero(t, info.Messages)
}
