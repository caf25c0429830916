package bot

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/verify"
)

// TitleOffers filters the fixed list like Offers, keeping the named titles only.
func (f *fakeOffers) TitleOffers(s offers.Settings, titles []string, _ time.Time) []offers.Offer {
	all, _ := f.Offers(context.Background(), s)
	return slices.DeleteFunc(all, func(o offers.Offer) bool { return !slices.Contains(titles, o.Title) })
}

// fakeVerifier answers checks by title: an outcome, or an error.
type fakeVerifier struct {
	mu       sync.Mutex
	outcomes map[string]verify.Outcome
	errs     map[string]error
	listedAt time.Time
	checked  []string
	tracked  map[string]time.Time
}

func newFakeVerifier() *fakeVerifier {
	return &fakeVerifier{outcomes: map[string]verify.Outcome{}, errs: map[string]error{}, tracked: map[string]time.Time{}}
}

func (f *fakeVerifier) Check(_ context.Context, o offers.Offer) (verify.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = append(f.checked, o.Title)
	if err := f.errs[o.Title]; err != nil {
		return verify.Result{}, err
	}
	out, ok := f.outcomes[o.Title]
	if !ok {
		out = verify.Stands
	}
	return verify.Result{Outcome: out, ListedAt: f.listedAt}, nil
}

func (f *fakeVerifier) Track(o offers.Offer, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracked[o.Title] = until
}

func (f *fakeVerifier) set(title string, out verify.Outcome, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcomes[title] = out
	f.errs[title] = err
}

func (f *fakeVerifier) trackedUntil(title string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tracked[title]
}

// fakeWatch records the last titles marked per game.
type fakeWatch struct {
	mu    sync.Mutex
	last  map[string][]string
	until time.Time
}

func (f *fakeWatch) Watch(_ context.Context, game string, titles []string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string][]string{}
	}
	f.last[game] = slices.Clone(titles)
	f.until = until
	return nil
}

func (f *fakeWatch) of(game string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.last[game])
}

type liveHarness struct {
	*harness
	changes chan Change
	ver     *fakeVerifier
}

func newLiveHarness(t *testing.T, extra ...Option) *liveHarness {
	t.Helper()
	src := &fakeOffers{}
	changes := make(chan Change)
	ver := newFakeVerifier()
	ver.listedAt = t0.Add(-2 * time.Second)
	opts := append([]Option{WithChanges(changes, src), WithVerifier(ver)}, extra...)
	h := newHarness(t, harnessOpts{src: src, opts: opts})
	return &liveHarness{harness: h, changes: changes, ver: ver}
}

// change hands the bot a change and waits until every notification run it started has ended.
func (h *liveHarness) change(titles ...string) {
	h.t.Helper()
	// The second, empty change is taken only once the first was handed to the users' runs.
	for _, c := range []Change{{Titles: titles, At: h.clk.Now()}, {At: h.clk.Now()}} {
		select {
		case h.changes <- c:
		case <-time.After(10 * time.Second):
			h.t.Fatal("the bot does not take changes")
		}
	}
	require.Eventually(h.t, func() bool {
		h.bot.notifyMu.Lock()
		defer h.bot.notifyMu.Unlock()
		return len(h.bot.busy) == 0
	}, 10*time.Second, 5*time.Millisecond, "notification runs still busy")
}

func histogram(t *testing.T, h interface{ Write(*dto.Metric) error }) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	require.NoError(t, h.Write(&m))
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestChangeNotifiesWithoutWaitingForTheCycle(t *testing.T) {
	h := newLiveHarness(t)
	h.say(alice, "/start")
	h.src.set(offersN(3))

	// The poll interval is an hour: only the change can send these.
	h.change(offer(1).Title, offer(0).Title)
	sent := h.sent(alice, 3)[1:]
	require.Equal(t, []string{"Item 00", "Item 01"}, titlesOf(sent), "the changed titles' offers, best first")
	awaitCount(t, h.bot.m.notifications.WithLabelValues("photo"), 2)
	count, sum := histogram(t, h.bot.lm.dealLatency)
	require.Equal(t, uint64(2), count)
	require.InDelta(t, 4.0, sum, 1e-9, "listed 2 s before each notification")
	require.Equal(t, t0.Add(30*time.Minute), h.ver.trackedUntil("Item 00"), "a notification is re-checked for the dedup window")

	// The same change again sends nothing new; the cycle (safety net) sends the rest.
	h.change(offer(0).Title)
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Equal(t, []string{"Item 02"}, titlesOf(h.sent(alice, 4)[3:]))
	require.Empty(t, h.srv.Sent(bob), "bob never started the bot")
}

func TestOfferRefusedByTheRecheckIsNotSent(t *testing.T) {
	h := newLiveHarness(t)
	h.say(alice, "/start")
	h.src.set(offersN(3))
	h.ver.set("Item 00", verify.Gone, nil)
	h.ver.set("Item 01", verify.Stands, errors.New("429 after retries"))
	h.ver.set("Item 02", verify.Cheaper, nil)

	h.change("Item 00", "Item 01", "Item 02")
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Eventually(t, func() bool {
		h.ver.mu.Lock()
		defer h.ver.mu.Unlock()
		return len(h.ver.checked) >= 6
	}, 10*time.Second, 5*time.Millisecond, "both the change and the cycle re-check all three")
	require.Len(t, h.srv.Sent(alice), 1, "nothing refused is sent")

	// A failed check is tried again on the next change, and sent once it stands.
	h.ver.set("Item 01", verify.Stands, nil)
	h.change("Item 01")
	require.Equal(t, []string{"Item 01"}, titlesOf(h.sent(alice, 2)[1:]))
	require.NoError(t, h.bot.NotifyOnce(context.Background()))
	require.Len(t, h.srv.Sent(alice), 2, "gone and undercut offers stay unsent")
}

func TestRenotifyMargin(t *testing.T) {
	tests := []struct {
		name   string
		margin int64
		gain   int64
		again  bool
	}{
		{name: "improved by the margin", margin: 200, gain: 200, again: true},
		{name: "improved by less", margin: 200, gain: 199},
		{name: "no margin: never within the window", margin: 0, gain: 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newLiveHarness(t, WithRenotifyMargin(tc.margin))
			h.say(alice, "/start")
			o := offer(0)
			h.src.set([]offers.Offer{o})
			h.change(o.Title)
			h.sent(alice, 2)

			better := o
			better.Sell += 100
			better.ProfitBasisPoints += tc.gain
			h.src.set([]offers.Offer{better})
			h.clk.Advance(time.Minute)
			h.change(o.Title)
			require.NoError(t, h.bot.NotifyOnce(context.Background()))
			if tc.again {
				require.Equal(t, []string{"Item 00"}, titlesOf(h.sent(alice, 3)[2:]))
				count, _ := histogram(t, h.bot.lm.dealLatency)
				require.Equal(t, uint64(1), count, "a renotification is no new deal")
				// Sent again, the improved profit is what later ones are measured against.
				h.change(o.Title)
				require.NoError(t, h.bot.NotifyOnce(context.Background()))
				require.Len(t, h.srv.Sent(alice), 3)
				return
			}
			require.Len(t, h.srv.Sent(alice), 2)
		})
	}
}

func TestWatchlistMarksTitlesNearALimit(t *testing.T) {
	w := &fakeWatch{}
	h := newLiveHarness(t, WithWatchlist(w, 500))
	h.say(alice, "/start")
	list := offersN(4)
	list[0].ProfitBasisPoints = 100  // above alice's 0 % limit
	list[1].ProfitBasisPoints = -500 // exactly the margin below
	list[2].ProfitBasisPoints = -501 // further
	list[3].ProfitBasisPoints = 50
	list[3].GameID = "9a92"
	h.src.set(list)

	h.change("Item 00", "Item 01", "Item 02", "Item 03")
	require.Eventually(t, func() bool { return len(w.of("a8db")) == 2 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"Item 00", "Item 01"}, w.of("a8db"), "best profit first")
	require.Equal(t, []string{"Item 03"}, w.of("9a92"))
	require.Equal(t, t0.Add(watchFor), w.until)

	// At most maxWatchedPerGame per game, the best ones.
	many := offersN(maxWatchedPerGame + 50)
	h.src.set(many)
	titles := make([]string, len(many))
	for i, o := range many {
		titles[i] = o.Title
	}
	h.change(titles...)
	require.Eventually(t, func() bool { return len(w.of("a8db")) == maxWatchedPerGame }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, many[0].Title, w.of("a8db")[0])
	require.Equal(t, float64(maxWatchedPerGame), testutilGauge(t, h))
}

func testutilGauge(t *testing.T, h *liveHarness) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, h.bot.lm.watched.Write(&m))
	return m.GetGauge().GetValue()
}

func TestOffersPageIsTrackedForBackgroundRechecks(t *testing.T) {
	h := newLiveHarness(t)
	h.src.set(offersN(12))
	h.say(alice, "/offers")
	require.Equal(t, t0.Add(shownFor), h.ver.trackedUntil("Item 00"))
	require.Equal(t, t0.Add(shownFor), h.ver.trackedUntil("Item 09"))
	require.True(t, h.ver.trackedUntil("Item 10").IsZero(), "only the page rendered")
}
