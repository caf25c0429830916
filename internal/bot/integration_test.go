package bot

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers/offerstest"
	"github.com/skinflip/dmarket-monitor/internal/bot/verify"
	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
)

// memorySource is a market in memory that reads single titles too (an offers.TitleSource).
type memorySource struct {
	mu     sync.Mutex
	titles map[string]market.TitleState
}

func (s *memorySource) Market(context.Context) (market.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := market.Snapshot{FallbackFee: offerstest.MustFraction("0.05")}
	for _, t := range s.titles {
		m.Titles = append(m.Titles, t)
	}
	slices.SortFunc(m.Titles, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
	return m, nil
}

func (s *memorySource) Titles(_ context.Context, titles []string) ([]market.TitleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []market.TitleState
	for _, t := range titles {
		if st, ok := s.titles[t]; ok {
			out = append(out, st)
		}
	}
	return out, nil
}

func (s *memorySource) set(st market.TitleState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.titles[st.Title] = st
}

// targetTitle is a title with a tradable listing at buy and a buy order at sell.
func targetTitle(title string, buy, sell int64, now time.Time) market.TitleState {
	return market.TitleState{Title: title, GameID: "a8db",
		Available: &market.PriceLevel{Price: market.Cents(buy), Count: 1, UpdatedAt: now},
		Order:     &market.OrderLevel{Price: market.Cents(sell), Count: 2, UpdatedAt: now}}
}

// TestChangedTitleIsReCheckedAndNotifiedAtOnce runs the real offers service and verifier against the
// simulator: a changed title's deal is notified without waiting for the poll interval, and a listing
// sold before it was sent is never notified, counted stale and hidden from /offers.
func TestChangedTitleIsReCheckedAndNotifiedAtOnce(t *testing.T) {
	sim := dmarkettest.New(dmarkettest.Config{Simple: true, Titles: 10, PublicMarketRate: -1, PublicOtherRate: -1})
	t.Cleanup(sim.Close)
	clk := clock.Real{}
	log := slog.New(slog.DiscardHandler)
	src := &memorySource{titles: map[string]market.TitleState{}}
	svc := offers.NewService(src, clk, time.Hour, offers.WithResyncInterval(time.Hour))
	lifecycletest.Run(t, 10*time.Second, svc.Run)
	svc.SetEventsLive(true)

	pacer, err := verify.NewPacer(50, clk)
	require.NoError(t, err)
	client, err := dmarket.New(dmarket.Config{BaseURL: sim.URL(), MaxAttempts: 2}, verify.NewEgress(&http.Client{}, pacer), log,
		prometheus.NewRegistry(), clk)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	pub := &recordingPublisher{}
	ver, err := verify.New(verify.Config{}, client, pub, svc, clk, log, reg)
	require.NoError(t, err)
	lifecycletest.Run(t, 10*time.Second, ver.Run)

	changes := make(chan Change)
	lifecycletest.Run(t, 10*time.Second, func(ctx context.Context) error { return ForwardUpdates(ctx, svc, changes) })
	h := newHarness(t, harnessOpts{src: &fakeOffers{}, opts: []Option{WithChanges(changes, svc), WithVerifier(ver)}})
	h.say(alice, "/start")

	now := time.Now()
	const deal, sold = "Integration | Deal (Factory New)", "Integration | Sold (Factory New)"
	listing := sim.AddListing("a8db", deal, 1500, 0)
	require.NotNil(t, listing)
	gone := sim.AddListing("a8db", sold, 1500, 0)
	require.True(t, sim.Sell("a8db", gone.ItemID), "sold before the bot could send it")
	src.set(targetTitle(deal, 1500, 2500, now))
	src.set(targetTitle(sold, 1500, 2500, now))

	require.NoError(t, svc.Apply(context.Background(), []string{deal, sold}))
	sent := h.sent(alice, 2)[1:]
	require.Contains(t, sent[0].Caption+sent[0].Text, "Integration | Deal", "the deal is notified")
	require.Eventually(t, func() bool { return histCount(t, h) == 1 }, 10*time.Second, 5*time.Millisecond,
		"the deal's latency is measured")
	require.Eventually(t, func() bool { return gathered(t, reg, "stale_offers_total") == 1 }, 10*time.Second, 5*time.Millisecond,
		"the sold listing is counted stale")
	require.Eventually(t, func() bool {
		for _, o := range svc.TitleOffers(offers.Settings{LimitBasisPoints: -10000}, []string{sold}, time.Now()) {
			if o.Title == sold && o.Kind == market.KindTarget {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the sold listing is hidden from every view")
	require.Len(t, h.srv.Sent(alice), 2, "the sold listing is never notified")
	require.Eventually(t, func() bool { return len(pub.queue(message.Queue(message.KindListings))) >= 2 }, 10*time.Second, 5*time.Millisecond,
		"both re-checked pages go to the workers")
}

// gathered is the value of the unlabelled counter name in reg (0 when absent).
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func histCount(t *testing.T, h *harness) uint64 {
	t.Helper()
	count, _ := histogram(t, h.bot.lm.dealLatency)
	return count
}

// recordingPublisher records what is published per queue.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs map[string][]message.Outgoing
}

func (p *recordingPublisher) Publish(_ context.Context, queue string, m message.Outgoing) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]message.Outgoing{}
	}
	p.msgs[queue] = append(p.msgs[queue], m)
	return nil
}

func (p *recordingPublisher) queue(q string) []message.Outgoing {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs[q])
}
