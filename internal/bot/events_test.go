package bot

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// fakeMarket records what change events made of it.
type fakeMarket struct {
	mu        sync.Mutex
	applied   [][]string
	resyncs   int
	live      bool
	resyncErr error
	applyErr  error
}

func (m *fakeMarket) Apply(_ context.Context, titles []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applyErr != nil {
		return m.applyErr
	}
	m.applied = append(m.applied, slices.Clone(titles))
	return nil
}

func (m *fakeMarket) Resync(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resyncs++
	return m.resyncErr
}

func (m *fakeMarket) SetEventsLive(live bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live = live
}

func (m *fakeMarket) state() (applied [][]string, resyncs int, live bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.applied), m.resyncs, m.live
}

// fakeSubscription subscribes once, then hands over the bodies sent on its channel.
type fakeSubscription struct{ bodies chan []byte }

func (s *fakeSubscription) Run(ctx context.Context, handle func(context.Context, []byte) error, onSubscribed func(context.Context)) error {
	onSubscribed(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-s.bodies:
			_ = handle(ctx, b)
		}
	}
}

func changesBody(t *testing.T, titles ...string) []byte {
	t.Helper()
	c := message.Changes{Schema: message.ChangesSchema, At: t0}
	for _, title := range titles {
		c.Changes = append(c.Changes, message.Change{GameID: "a8db", Title: title, What: []string{message.ChangedPrices}})
	}
	b, err := message.EncodeChanges(c)
	require.NoError(t, err)
	return b
}

func TestEventsApplyChangedTitles(t *testing.T) {
	m := &fakeMarket{}
	sub := &fakeSubscription{bodies: make(chan []byte)}
	var down sync.Mutex
	var alive error
	e := NewEvents(sub, m, func(context.Context) error {
		down.Lock()
		defer down.Unlock()
		return alive
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	lifecycletest.Run(t, 5*time.Second, e.Run)

	require.Eventually(t, func() bool { _, r, live := m.state(); return r == 1 && live }, 5*time.Second, 5*time.Millisecond,
		"subscribed: resynced, then live")
	sub.bodies <- changesBody(t, "B", "A", "B")
	sub.bodies <- []byte(`{"schema":9}`)
	sub.bodies <- changesBody(t, "C")
	require.Eventually(t, func() bool { a, _, _ := m.state(); return len(a) == 2 }, 5*time.Second, 5*time.Millisecond)
	applied, _, _ := m.state()
	require.Equal(t, [][]string{{"A", "B"}, {"C"}}, applied)
	awaitCount(t, e.events.WithLabelValues("received"), 3)
	awaitCount(t, e.events.WithLabelValues("bad"), 1)
	awaitCount(t, e.events.WithLabelValues("applied"), 2)
	require.Equal(t, 3.0, testutil.ToFloat64(e.titles))

	// The connection is lost: events are not live until the next subscription.
	down.Lock()
	alive = errors.New("not connected")
	down.Unlock()
	require.Eventually(t, func() bool { _, _, live := m.state(); return !live }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, testutil.ToFloat64(e.live))
}

func TestEventsStayOffWhenTheResyncFails(t *testing.T) {
	m := &fakeMarket{resyncErr: errors.New("redis down")}
	sub := &fakeSubscription{bodies: make(chan []byte)}
	e := NewEvents(sub, m, func(context.Context) error { return nil }, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	lifecycletest.Run(t, 5*time.Second, e.Run)
	require.Eventually(t, func() bool { _, r, _ := m.state(); return r == 1 }, 5*time.Second, 5*time.Millisecond)
	sub.bodies <- changesBody(t, "A")
	awaitCount(t, e.events.WithLabelValues("applied"), 1)
	_, _, live := m.state()
	require.False(t, live, "without a resync the market keeps its full reads")
}

// TestEventsOverARealBroker subscribes through rabbitmq.Subscriber: an event published on the exchange is
// applied; when the broker drops the connection, events go off and, resubscribed, the market is re-read
// and they are live again.
func TestEventsOverARealBroker(t *testing.T) {
	u := rabbitmqtest.NewVhost(t)
	log := slog.New(slog.DiscardHandler)
	conn, err := rabbitmq.NewConn(u, log, prometheus.NewRegistry(), rabbitmq.ConnOptions{
		Exchanges: []string{message.ChangesExchange}, MaxBackoff: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	lifecycletest.Start(t, 10*time.Second, conn.Run)
	pub := rabbitmq.NewPublisher(conn, rabbitmq.PublisherOptions{})
	t.Cleanup(func() { _ = pub.Close() })

	m := &fakeMarket{}
	e := NewEvents(rabbitmq.NewSubscriber(conn, message.ChangesExchange, log, prometheus.NewRegistry()), m, conn.Check, log,
		prometheus.NewRegistry())
	lifecycletest.Start(t, 10*time.Second, e.Run)
	require.Eventually(t, func() bool { _, r, live := m.state(); return r == 1 && live }, 10*time.Second, 10*time.Millisecond)

	publish := func(title string) {
		require.NoError(t, pub.PublishExchange(context.Background(), message.ChangesExchange,
			message.Outgoing{MessageID: title, Body: changesBody(t, title)}))
	}
	publish("A")
	require.Eventually(t, func() bool {
		a, _, _ := m.state()
		return slices.ContainsFunc(a, func(ts []string) bool { return slices.Equal(ts, []string{"A"}) })
	},
		10*time.Second, 10*time.Millisecond)

	require.Positive(t, rabbitmqtest.CloseConnections(t, rabbitmqtest.VhostOf(t, u)))
	require.Eventually(t, func() bool { _, r, live := m.state(); return r == 2 && live }, 15*time.Second, 10*time.Millisecond,
		"resubscribed: the market is re-read and events are live again")
	publish("B")
	require.Eventually(t, func() bool {
		a, _, _ := m.state()
		return slices.ContainsFunc(a, func(ts []string) bool { return slices.Equal(ts, []string{"B"}) })
	},
		10*time.Second, 10*time.Millisecond)
}
