package rabbitmq

import (
	"context"
	"fmt"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// deadLetters puts n messages in work.dlq as the consumer leaves them there.
func deadLetters(t *testing.T, ch *amqp.Channel, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, ch.PublishWithContext(context.Background(), "", "work.dlq", true, false, amqp.Publishing{
			MessageId: fmt.Sprintf("m%d", i), DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Headers: amqp.Table{HeaderAttempt: int64(5), message.HeaderError: fmt.Sprintf("gave up after 5 attempts: e%d", i),
				"X-B3-TraceId": fmt.Sprintf("trace-%d", i), "x-death": []any{amqp.Table{"count": int64(1), "queue": "work"}}},
		}))
	}
}

// withDeadLetters returns a connection to a fresh vhost whose queue work.dlq holds n dead letters (see
// deadLetters), a plain channel to it and a DLQ on the connection.
func withDeadLetters(t *testing.T, n int) (*Conn, *amqp.Channel, *DLQ) {
	t.Helper()
	u, c := connected(t, "work")
	raw := rawChannel(t, u)
	require.NoError(t, raw.Confirm(false))
	deadLetters(t, raw, n)
	awaitDepth(t, c, "work.dlq", n)
	q := NewDLQ(c)
	t.Cleanup(func() { _ = q.Close() })
	return c, raw, q
}

func TestDLQListLeavesTheQueueAsItWas(t *testing.T) {
	t.Parallel()
	c, raw, q := withDeadLetters(t, 5)
	ctx := context.Background()
	tests := []struct {
		name string
		n    int
		want int
	}{
		{name: "all", n: 0, want: 5},
		{name: "first two", n: 2, want: 2},
		{name: "more than there are", n: 50, want: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q.List(ctx, "work.dlq", tc.n)
			require.NoError(t, err)
			require.Len(t, got, tc.want)
			for i, d := range got {
				require.Equal(t, fmt.Sprintf("m%d", i), d.MessageID, "oldest first, in queue order")
				require.Equal(t, "work.dlq", d.Queue)
				require.Equal(t, 5, d.Attempt)
				require.Equal(t, fmt.Sprintf("gave up after 5 attempts: e%d", i), d.Error)
				require.Equal(t, fmt.Sprintf(`{"n":%d}`, i), string(d.Body))
			}
			depth, err := c.QueueDepth(ctx, "work.dlq")
			require.NoError(t, err)
			require.Equal(t, 5, depth, "listing leaves every message in the queue")
		})
	}
	// Still in order after listing, with nothing left unacknowledged.
	got := drain(t, raw, "work.dlq")
	require.Len(t, got, 5)
	for i, d := range got {
		require.Equal(t, fmt.Sprintf("m%d", i), d.MessageId)
	}

	_, err := q.List(ctx, "work", 0)
	require.ErrorIs(t, err, ErrNotDeadLetterQueue)
	_, err = q.List(ctx, "missing.dlq", 0)
	require.Error(t, err, "a queue that does not exist is an error")
}

func TestDLQReplay(t *testing.T) {
	t.Parallel()
	c, raw, q := withDeadLetters(t, 3)
	ctx := context.Background()

	moved, err := q.Replay(ctx, "work.dlq", 1)
	require.NoError(t, err)
	require.Equal(t, 1, moved)
	moved, err = q.Replay(ctx, "work.dlq", 0)
	require.NoError(t, err)
	require.Equal(t, 2, moved)
	moved, err = q.Replay(ctx, "work.dlq", 0)
	require.NoError(t, err)
	require.Zero(t, moved, "nothing left")

	requireDepth(t, c, "work.dlq", 0)
	back := drain(t, raw, "work")
	require.Len(t, back, 3)
	for i, d := range back {
		require.Equal(t, fmt.Sprintf("m%d", i), d.MessageId)
		require.Equal(t, fmt.Sprintf(`{"n":%d}`, i), string(d.Body))
		require.Equal(t, fmt.Sprintf("trace-%d", i), d.Headers["X-B3-TraceId"], "trace headers are kept")
		require.NotContains(t, d.Headers, HeaderAttempt, "a fresh attempt count")
		require.NotContains(t, d.Headers, message.HeaderError)
		require.NotContains(t, d.Headers, "x-death")
		require.Equal(t, uint8(amqp.Persistent), d.DeliveryMode)
		require.Equal(t, 1, attemptOf(d.Headers))
	}

	_, err = q.Replay(ctx, "work", 0)
	require.ErrorIs(t, err, ErrNotDeadLetterQueue)
}

func TestDeadLetterQueue(t *testing.T) {
	require.Equal(t, "dmarket.sales.dlq", DeadLetterQueue("dmarket.sales"))
	require.Equal(t, "dmarket.sales.dlq", DeadLetterQueue("dmarket.sales.dlq"))
}
