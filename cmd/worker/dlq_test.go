package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// brokerWithDeadLetters declares the worker's topology on a fresh vhost and dead-letters a sales, a
// fees and an undecodable listings message there, as the consumer leaves them.
func brokerWithDeadLetters(t *testing.T) (amqpURL string, ch *amqp.Channel) {
	t.Helper()
	amqpURL = rabbitmqtest.NewVhost(t)
	conn, err := rabbitmq.NewConn(amqpURL, nil, nil, rabbitmq.ConnOptions{Queues: rabbitmq.Queues()})
	require.NoError(t, err)
	stop := lifecycletest.Start(t, 30*time.Second, conn.Run)
	require.Eventually(t, func() bool { return conn.Check(context.Background()) == nil }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, stop())
	require.NoError(t, conn.Close())

	raw, err := amqp.Dial(amqpURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	ch, err = raw.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	fetched := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	put := func(queue, id string, env *message.Envelope, body, reason string) {
		if env != nil {
			b, err := message.Encode(*env)
			require.NoError(t, err)
			body = string(b)
		}
		conf, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, true, false, amqp.Publishing{
			MessageId: id, DeliveryMode: amqp.Persistent, Body: []byte(body),
			Headers: amqp.Table{rabbitmq.HeaderAttempt: int64(5), message.HeaderError: reason, "X-B3-TraceId": "trace-" + id},
		})
		require.NoError(t, err)
		require.True(t, conf.Wait())
	}
	put("dmarket.sales.dlq", "sales-1", &message.Envelope{Schema: message.SchemaVersion, Kind: message.KindSales, GameID: "a8db",
		FetchedAt: fetched, Request: message.Request{Method: "GET", Path: "/trade-aggregator/v1/last-sales", Title: "AK-47 | Redline (Field-Tested)"},
		Payload: []byte(`{"sales":[]}`)}, "", "gave up after 5 attempts: ERR script")
	put("dmarket.fees.dlq", "fees-1", &message.Envelope{Schema: message.SchemaVersion, Kind: message.KindFees, GameID: "9a92",
		FetchedAt: fetched, Request: message.Request{Method: "GET", Path: "/exchange/v1/customized-fees"},
		Payload: []byte(`{"reducedFees":[]}`)}, "", "fees: every item is invalid")
	put("dmarket.listings.dlq", "junk-1", nil, "not json", "decode envelope: invalid character")
	return amqpURL, ch
}

func depth(t *testing.T, ch *amqp.Channel, q string) int {
	t.Helper()
	info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	require.NoError(t, err)
	return info.Messages
}

func runDLQFor(t *testing.T, amqpURL string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := []string{"RABBITMQ_URL=" + amqpURL, "REDIS_URL=" + redisdbtest.URL(t)}
	var out, errOut bytes.Buffer
	code = runDLQ(context.Background(), args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDLQCommandListAndReplay(t *testing.T) {
	amqpURL, ch := brokerWithDeadLetters(t)

	// list shows every dead letter and leaves the queues unchanged, however often it runs.
	for range 2 {
		code, out, errOut := runDLQFor(t, amqpURL, "list")
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, regexp.MustCompile(`dmarket\.sales\.dlq +sales-1 +sales +a8db +AK-47 \| Redline \(Field-Tested\) +2026-03-01T12:00:00Z +5 +gave up after 5 attempts: ERR script`), out)
		require.Regexp(t, regexp.MustCompile(`dmarket\.fees\.dlq +fees-1 +fees +9a92 +- +2026-03-01T12:00:00Z +5 +fees: every item is invalid`), out)
		require.Regexp(t, regexp.MustCompile(`dmarket\.listings\.dlq +junk-1 +undecodable +- +- +- +5 +decode envelope: invalid character`), out)
		require.Contains(t, out, "3 dead-lettered message(s)")
		for _, q := range []string{"dmarket.sales.dlq", "dmarket.fees.dlq", "dmarket.listings.dlq"} {
			require.Equal(t, 1, depth(t, ch, q), q)
		}
	}
	code, out, _ := runDLQFor(t, amqpURL, "list", "-queue", "dmarket.fees", "-n", "1")
	require.Equal(t, 0, code)
	require.Contains(t, out, "fees-1")
	require.NotContains(t, out, "sales-1")
	require.Contains(t, out, "1 dead-lettered message(s)")

	// replay of one queue moves its message back with a fresh attempt count.
	code, out, errOut := runDLQFor(t, amqpURL, "replay", "-queue", "dmarket.sales.dlq")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "dmarket.sales.dlq: 1 replayed to dmarket.sales\n", out)
	require.Zero(t, depth(t, ch, "dmarket.sales.dlq"))
	d, ok, err := ch.Get("dmarket.sales", true)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "sales-1", d.MessageId)
	require.NotContains(t, d.Headers, rabbitmq.HeaderAttempt)
	require.NotContains(t, d.Headers, message.HeaderError)
	require.Equal(t, "trace-sales-1", d.Headers["X-B3-TraceId"])
	env, err := message.Decode(d.Body)
	require.NoError(t, err)
	require.Equal(t, "AK-47 | Redline (Field-Tested)", env.Request.Title)

	// replay of everything moves the rest.
	code, out, errOut = runDLQFor(t, amqpURL, "replay")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "dmarket.fees.dlq: 1 replayed to dmarket.fees\n")
	require.Contains(t, out, "dmarket.listings.dlq: 1 replayed to dmarket.listings\n")
	require.Contains(t, out, "dmarket.sales.dlq: 0 replayed to dmarket.sales\n")
	for _, q := range []string{"dmarket.fees", "dmarket.listings"} {
		require.Equal(t, 1, depth(t, ch, q), q)
		require.Zero(t, depth(t, ch, q+".dlq"), q)
	}
}

func TestDLQCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{name: "help", args: []string{"-h"}, code: 0, stdout: "usage: worker dlq list|replay"},
		{name: "help after the action", args: []string{"list", "-h"}, code: 0, stdout: "usage: worker dlq list|replay"},
		{name: "no action", args: nil, code: 2, stderr: "list or replay expected"},
		{name: "unknown action", args: []string{"purge"}, code: 2, stderr: `unknown action "purge"`},
		{name: "negative n", args: []string{"list", "-n", "-1"}, code: 2, stderr: "-n must not be negative"},
		{name: "stray argument", args: []string{"list", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "bad config", args: []string{"list"}, env: []string{"RABBITMQ_URL=http://nope"}, code: 2, stderr: "RABBITMQ_URL"},
		{name: "broker unreachable", args: []string{"list", "-timeout", "300ms"},
			env: []string{"RABBITMQ_URL=amqp://guest:s3cret-pw@127.0.0.1:1/"}, code: 1, stderr: "worker dlq failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runDLQ(context.Background(), tc.args, tc.env, &out, &errOut)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			require.Contains(t, out.String(), tc.stdout)
			require.Contains(t, errOut.String(), tc.stderr)
			require.False(t, strings.Contains(out.String()+errOut.String(), "s3cret-pw"), "no password in the output")
		})
	}
}
