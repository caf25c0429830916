package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// TestRollingUpgradeMixedSchemas: during a rolling upgrade the listings queue holds messages of parsers
// of both versions, version 1 (raw payload) and version 2 (zstd payload), interleaved. One worker of this
// build consumes them all, dead-letters none, and leaves exactly the state the pages call for.
func TestRollingUpgradeMixedSchemas(t *testing.T) {
	const pages = 40
	amqpURL, rdb, clk := newEnv(t)
	now := clk.Now()
	gen := newPageGen(t, 500)
	all := gen.pages(t, pages, now.Add(-time.Minute))
	for p := 0; p < pages; p += 2 { // every other page as a parser of version 1 wrote it
		env, err := message.Decode(all[p].body)
		require.NoError(t, err)
		require.Equal(t, message.SchemaVersion, env.Schema)
		env.Schema = message.SchemaV1
		v1, err := message.Encode(env)
		require.NoError(t, err)
		require.Less(t, 3*len(all[p].body), len(v1), "a version-2 message is a fraction of the raw page")
		all[p].body = v1
	}

	w := startStack(t, stackConfig{amqpURL: amqpURL, redis: testRedisOptions(rdb), clock: clk, consumer: productionConsumer()})
	prod := startProducer(t, amqpURL)
	require.NoError(t, prod.publishAll(context.Background(), all, 8))
	require.Eventually(t, func() bool { return w.rec.total() >= pages }, waitLong, poll, "every message is handled")

	ok, _, failed, _ := w.rec.snapshot()
	require.Zero(t, failed)
	require.Len(t, ok, pages)
	require.Zero(t, w.consumed("dead_letter"))
	dlq, _ := queueCounts(t, amqpURL, listingsQueue+message.DeadLetterSuffix)
	require.Zero(t, dlq)
	require.Equal(t, expectedState(all, gen.game, pricestore.DefaultPriceTTL), scanState(t, rdb, clk))
}
