package verify

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
)

// simVerifier is a Verifier over a real DMarket client, the simulator and a real broker vhost.
type simVerifier struct {
	sim    *dmarkettest.Server
	v      *Verifier
	forget *fakeForget
	conn   *rabbitmq.Conn
}

// newSimVerifier returns a verifier at rate; with broker its pages go to a real vhost, else to a fake.
func newSimVerifier(t *testing.T, rate float64, broker bool) *simVerifier {
	t.Helper()
	pub, sec := dmarkettest.DemoKeys()
	sim := dmarkettest.New(dmarkettest.Config{Simple: true, Titles: 20, PublicKeys: []string{pub},
		PublicMarketRate: -1, PublicOtherRate: -1, AccountListingsRate: -1, AccountOtherRate: -1, AccountSalesRate: -1})
	t.Cleanup(sim.Close)
	log := slog.New(slog.DiscardHandler)

	var conn *rabbitmq.Conn
	var publisher message.Publisher = &fakePub{}
	if broker {
		var err error
		conn, err = rabbitmq.NewConn(rabbitmqtest.NewVhost(t), log, prometheus.NewRegistry(), rabbitmq.ConnOptions{
			Queues: []string{message.Queue(message.KindListings), message.Queue(message.KindOrders)}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		lifecycletest.Start(t, 10*time.Second, conn.Run)
		p := rabbitmq.NewPublisher(conn, rabbitmq.PublisherOptions{})
		t.Cleanup(func() { _ = p.Close() })
		publisher = p
	}

	pacer, err := NewPacer(rate, clock.Real{})
	require.NoError(t, err)
	signer, err := dmarket.NewSigner(pub, sec)
	require.NoError(t, err)
	client, err := dmarket.New(dmarket.Config{BaseURL: sim.URL(), MaxAttempts: 2}, NewEgress(&http.Client{}, pacer), log,
		prometheus.NewRegistry(), clock.Real{}, dmarket.WithSigner(signer))
	require.NoError(t, err)
	forget := &fakeForget{}
	v, err := New(Config{CheckOrders: true, Reuse: time.Nanosecond, Hold: time.Nanosecond}, client, publisher, forget, clock.Real{}, log, prometheus.NewRegistry())
	require.NoError(t, err)
	return &simVerifier{sim: sim, v: v, forget: forget, conn: conn}
}

// get takes the next message of queue from the broker, waiting for it.
func (s *simVerifier) get(t *testing.T, queue string) message.Envelope {
	t.Helper()
	ch, err := s.conn.Channel(context.Background())
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	var env message.Envelope
	require.Eventually(t, func() bool {
		d, ok, err := ch.Get(queue, true)
		if err != nil || !ok {
			return false
		}
		env, err = message.Decode(d.Body)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "nothing on %s", queue)
	return env
}

func TestSoldListingFoundGoneAndScanPagePublished(t *testing.T) {
	s := newSimVerifier(t, 100, true)
	lifecycletest.Run(t, 10*time.Second, s.v.Run)
	const title = "Verify | Fresh Deal (Factory New)"
	l := s.sim.AddListing("a8db", title, 1234, 0)
	require.NotNil(t, l)
	s.sim.SetOrder("a8db", title, 2000, 3)
	o := offers.Offer{Title: title, GameID: "a8db", Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 1234, Sell: 2000}
	ctx := context.Background()

	res, err := s.v.Check(ctx, o)
	require.NoError(t, err)
	require.Equal(t, Stands, res.Outcome)
	require.True(t, l.CreatedAt.Equal(res.ListedAt), "the listing's createdAt: %v, read %v", l.CreatedAt, res.ListedAt)
	page := s.get(t, message.Queue(message.KindListings))
	require.Equal(t, &message.Scan{Title: title, Complete: true}, page.Scan)
	require.Contains(t, string(page.Payload), "1234")
	require.Equal(t, message.KindOrders, s.get(t, message.Queue(message.KindOrders)).Kind)

	require.True(t, s.sim.Sell("a8db", l.ItemID))
	res, err = s.v.Check(ctx, o)
	require.NoError(t, err)
	require.Equal(t, Gone, res.Outcome, "a sold listing is never confirmed")
	levels, _ := s.forget.got()
	require.Equal(t, []string{title + "/false/1234"}, levels)
	require.Equal(t, 1.0, testutil.ToFloat64(s.v.m.stale))
	gone := s.get(t, message.Queue(message.KindListings))
	require.Equal(t, &message.Scan{Title: title, Complete: true}, gone.Scan, "the page proving it gone goes to the workers")

	// The buy order is checked too.
	s.sim.AddListing("a8db", title, 1234, 0)
	s.sim.SetOrder("a8db", title, 1500, 1)
	res, err = s.v.Check(ctx, o)
	require.NoError(t, err)
	require.Equal(t, Gone, res.Outcome)
	_, orders := s.forget.got()
	require.Equal(t, []string{title}, orders)
}

func TestRechecksHoldTheRate(t *testing.T) {
	s := newSimVerifier(t, 20, false)
	ctx := context.Background()
	const n = 7
	start := time.Now()
	for i := range n {
		title := "Rate | Title " + string(rune('A'+i))
		s.sim.AddListing("a8db", title, 500, 0)
		res, err := s.v.Check(ctx, offers.Offer{Title: title, GameID: "a8db", Kind: market.KindHistory, Status: market.StatusAvailable, Buy: 500})
		require.NoError(t, err)
		require.Equal(t, Stands, res.Outcome)
	}
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, elapsed, (n-1)*50*time.Millisecond, "%d requests at 20/s", n)
	require.Equal(t, int64(n), s.sim.Stats().ByEndpoint[dmarkettest.EndpointMarketItems])
}
