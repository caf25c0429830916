package rabbitmqtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// ContractWait bounds every wait of the contract suites for a message to arrive or to be handled.
const ContractWait = 20 * time.Second

// contractPoll is how often the contract suites look again while they wait.
const contractPoll = 5 * time.Millisecond

// PublisherSubject is a message.Publisher under the publisher contract, with a way to see what it
// delivered.
type PublisherSubject struct {
	// Publisher is the implementation under test.
	Publisher message.Publisher
	// Received returns the envelopes delivered to queue so far, in delivery order, and the ids of every
	// message delivered to any queue so far. It must not block: the contract calls it until what it
	// awaits is there.
	Received func(t *testing.T, queue string) (envelopes []message.Envelope, ids []string)
}

// PublisherContract checks what every message.Publisher promises its callers: a publish that returned nil
// put the message, id and envelope intact, on the queue named and no other; publishes one after another
// reach a queue in their order; concurrent publishes are all delivered. newSubject returns a fresh subject
// whose queues include the given ones (the real publisher needs them declared).
func PublisherContract(t *testing.T, newSubject func(t *testing.T, queues ...string) PublisherSubject) {
	const qa, qb = "contract.a", "contract.b"
	t.Run("delivers the envelope and id to the queue named", func(t *testing.T) {
		s := newSubject(t, qa, qb)
		m, env := ContractMessage(t, "one", 1)
		require.NoError(t, s.Publisher.Publish(context.Background(), qa, m))
		got := awaitEnvelopes(t, s, qa, 1)
		requireSameEnvelope(t, env, got[0])
		_, ids := s.Received(t, qa)
		require.Equal(t, []string{"one"}, ids)
		b, _ := s.Received(t, qb)
		require.Empty(t, b, "nothing reaches another queue")
	})
	t.Run("keeps queues apart and publishes in order", func(t *testing.T) {
		s := newSubject(t, qa, qb)
		const n = 5
		for i := range n {
			for _, q := range []string{qa, qb} {
				m, _ := ContractMessage(t, fmt.Sprintf("%s-%d", q, i), i)
				require.NoError(t, s.Publisher.Publish(context.Background(), q, m))
			}
		}
		for _, q := range []string{qa, qb} {
			got := awaitEnvelopes(t, s, q, n)
			require.Len(t, got, n, q)
			for i, e := range got {
				require.Equal(t, fmt.Sprintf("/contract/%s-%d", q, i), e.Request.Path, "%s keeps the publish order", q)
			}
		}
	})
	t.Run("is safe for concurrent use", func(t *testing.T) {
		s := newSubject(t, qa)
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		want := make([]string, 0, n)
		for i := range n {
			id := fmt.Sprintf("c%02d", i)
			want = append(want, id)
			m, _ := ContractMessage(t, id, i)
			wg.Go(func() { errs <- s.Publisher.Publish(context.Background(), qa, m) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		awaitEnvelopes(t, s, qa, n)
		_, ids := s.Received(t, qa)
		slices.Sort(ids)
		require.Equal(t, want, ids, "every message arrives once")
	})
}

// awaitEnvelopes waits until queue has received at least n envelopes and returns them.
func awaitEnvelopes(t *testing.T, s PublisherSubject, queue string, n int) []message.Envelope {
	t.Helper()
	var got []message.Envelope
	require.Eventually(t, func() bool {
		got, _ = s.Received(t, queue)
		return len(got) >= n
	}, ContractWait, contractPoll, "%d messages on %s", n, queue)
	return got
}

// ContractMessage returns the message the contract suites publish: a valid listings envelope whose
// request path names id and whose payload holds n, and the envelope it carries.
func ContractMessage(t *testing.T, id string, n int) (message.Outgoing, message.Envelope) {
	t.Helper()
	env := message.Envelope{
		Schema:    message.SchemaVersion,
		Kind:      message.KindListings,
		GameID:    "a8db",
		FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Request:   message.Request{Method: "GET", Path: "/contract/" + id},
		Payload:   json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
	}
	body, err := message.Encode(env)
	require.NoError(t, err)
	return message.Outgoing{MessageID: id, Body: body, Headers: map[string]any{"x-contract": id}}, env
}

func requireSameEnvelope(t *testing.T, want, got message.Envelope) {
	t.Helper()
	require.Equal(t, want.Request, got.Request)
	require.Equal(t, want.Kind, got.Kind)
	require.Equal(t, want.GameID, got.GameID)
	require.True(t, want.FetchedAt.Equal(got.FetchedAt), "fetched_at %v, want %v", got.FetchedAt, want.FetchedAt)
	require.JSONEq(t, string(want.Payload), string(got.Payload))
}

// ConsumerSubject is a consumer of one queue under the consumer contract.
type ConsumerSubject struct {
	// MaxAttempts is how many times the consumer hands a message that keeps failing transiently to its
	// handler before it dead-letters it.
	MaxAttempts int
	// Start starts consuming the queue with h until the test ends; it returns once the consumer takes
	// deliveries.
	Start func(t *testing.T, h message.Handler)
	// Publish puts m on the consumed queue.
	Publish func(t *testing.T, m message.Outgoing)
	// DeadLetters returns the messages dead-lettered so far, in order. It must not block.
	DeadLetters func(t *testing.T) []message.Delivery
}

// ConsumerContract checks how a consumer settles a delivery by its handler's result, the promise
// message.Handler documents: nil acks it (handled once, never again); an error marked
// message.Permanent dead-letters it at once with the reason in the message.HeaderError header; any other
// error, a panic included, has it handled again with the attempt raised by one, until MaxAttempts
// attempts failed and it is dead-lettered. Id, body and headers reach the handler and the dead-letter
// queue intact. newSubject returns a fresh consumer of an empty queue.
func ConsumerContract(t *testing.T, newSubject func(t *testing.T) ConsumerSubject) {
	t.Run("a nil error acks the delivery", func(t *testing.T) {
		s := newSubject(t)
		rec := startRecorder(t, s, func(message.Delivery) error { return nil })
		m, _ := ContractMessage(t, "ok", 1)
		s.Publish(t, m)
		m2, _ := ContractMessage(t, "after", 2)
		s.Publish(t, m2)
		rec.await(t, "after", 1)
		got := rec.of("ok")
		require.Len(t, got, 1, "handled once")
		require.Equal(t, 1, got[0].Attempt)
		require.Equal(t, m.Body, got[0].Body)
		require.Equal(t, m.Headers["x-contract"], got[0].Headers["x-contract"])
		require.Empty(t, s.DeadLetters(t))
	})
	t.Run("a permanent error dead-letters at once", func(t *testing.T) {
		s := newSubject(t)
		rec := startRecorder(t, s, func(message.Delivery) error {
			return message.Permanent(errors.New("contract says no"))
		})
		m, _ := ContractMessage(t, "bad", 1)
		s.Publish(t, m)
		dead := awaitDeadLetters(t, s, 1)
		require.Len(t, rec.of("bad"), 1, "never retried")
		requireDeadLetter(t, m, dead[0], "contract says no")
	})
	for name, fail := range map[string]func(message.Delivery) error{
		"a transient error":      func(message.Delivery) error { return errors.New("contract flake") },
		"a panic of the handler": func(message.Delivery) error { panic("contract flake") },
	} {
		t.Run(name+" is retried until the attempts are spent", func(t *testing.T) {
			s := newSubject(t)
			require.Positive(t, s.MaxAttempts)
			rec := startRecorder(t, s, fail)
			m, _ := ContractMessage(t, "flaky", 1)
			s.Publish(t, m)
			dead := awaitDeadLetters(t, s, 1)
			got := rec.of("flaky")
			require.Len(t, got, s.MaxAttempts)
			for i, d := range got {
				require.Equal(t, i+1, d.Attempt)
				require.Equal(t, m.Body, d.Body)
			}
			requireDeadLetter(t, m, dead[0], "contract flake")
		})
	}
}

func awaitDeadLetters(t *testing.T, s ConsumerSubject, n int) []message.Delivery {
	t.Helper()
	var dead []message.Delivery
	require.Eventually(t, func() bool {
		dead = s.DeadLetters(t)
		return len(dead) >= n
	}, ContractWait, contractPoll, "%d dead letters", n)
	return dead
}

func requireDeadLetter(t *testing.T, m message.Outgoing, d message.Delivery, reason string) {
	t.Helper()
	require.Equal(t, m.MessageID, d.MessageID)
	require.Equal(t, m.Body, d.Body)
	require.Equal(t, m.Headers["x-contract"], d.Headers["x-contract"])
	why, _ := d.Headers[message.HeaderError].(string)
	require.True(t, strings.Contains(why, reason), "dead letter reason %q names %q", why, reason)
}

// recorder is a handler that records every delivery it was handed, by message id.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]message.Delivery
	fail func(message.Delivery) error
}

func startRecorder(t *testing.T, s ConsumerSubject, fail func(message.Delivery) error) *recorder {
	t.Helper()
	r := &recorder{seen: map[string][]message.Delivery{}, fail: fail}
	s.Start(t, r)
	return r
}

// Handle records d, then fails as told.
func (r *recorder) Handle(_ context.Context, d message.Delivery) error {
	r.mu.Lock()
	r.seen[d.MessageID] = append(r.seen[d.MessageID], d)
	r.mu.Unlock()
	return r.fail(d)
}

func (r *recorder) of(id string) []message.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[id])
}

func (r *recorder) await(t *testing.T, id string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.of(id)) >= n }, ContractWait, contractPoll, "%s handled %d times", id, n)
}
