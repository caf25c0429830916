package offers

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
)

// fakeSource returns market, or err, counting calls; when gate is set each call waits for it.
type fakeSource struct {
	calls  atomic.Int32
	market market.Snapshot
	err    error
	gate   chan struct{}
}

func (f *fakeSource) Market(ctx context.Context) (market.Snapshot, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return market.Snapshot{}, ctx.Err()
		}
	}
	return f.market, f.err
}

func TestServiceCachesMarket(t *testing.T) {
	src := &fakeSource{market: baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)})}
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, 10*time.Second)
	ctx := context.Background()

	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, int64(5000), got[0].ProfitBasisPoints)

	clk.Advance(9 * time.Second)
	_, err = svc.Offers(ctx, Settings{MinPriceCents: 101})
	require.NoError(t, err)
	require.EqualValues(t, 1, src.calls.Load(), "second user within max age reuses the read")

	clk.Advance(time.Second)
	_, err = svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return src.calls.Load() == 2 }, 5*time.Second, time.Millisecond,
		"after max age the snapshot is refreshed in the background")
}

func TestServiceServesStaleWhileRefreshing(t *testing.T) {
	old := baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)})
	src := &fakeSource{market: old}
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, time.Second)
	ctx := context.Background()
	_, err := svc.Market(ctx)
	require.NoError(t, err)

	// Stale but within StaleFactor×maxAge: served at once although the refresh hangs.
	src.gate = make(chan struct{})
	src.market = baseMarket()
	clk.Advance(5 * time.Second)
	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Len(t, got, 1, "the stale snapshot is served")
	require.Eventually(t, func() bool { return src.calls.Load() == 2 }, 5*time.Second, time.Millisecond, "a refresh started")
	close(src.gate)
	require.Eventually(t, func() bool {
		got, err := svc.Offers(ctx, Settings{})
		return err == nil && len(got) == 0
	}, 5*time.Second, time.Millisecond, "the refreshed snapshot replaces it")

	// Too old: the caller waits for the read.
	src.gate = make(chan struct{})
	clk.Advance(StaleFactor * time.Second)
	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = svc.Market(waitCtx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a snapshot older than the stale bound is not served")
	close(src.gate)
}

func TestServiceDefaultMaxAge(t *testing.T) {
	src := &fakeSource{}
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, 0)
	_, err := svc.Market(context.Background())
	require.NoError(t, err)
	clk.Advance(DefaultMaxAge - time.Nanosecond)
	_, err = svc.Market(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, src.calls.Load())
}

func TestServiceSharesConcurrentReads(t *testing.T) {
	src := &fakeSource{gate: make(chan struct{})}
	svc := NewService(src, clocktest.NewFake(now0), time.Minute)
	const users = 20
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Offers(context.Background(), Settings{})
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return src.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, src.calls.Load())
}

func TestServiceErrors(t *testing.T) {
	boom := errors.New("redis down")
	src := &fakeSource{err: boom}
	svc := NewService(src, clocktest.NewFake(now0), time.Minute)
	_, err := svc.Offers(context.Background(), Settings{})
	require.ErrorIs(t, err, boom)
	_, err = svc.Offers(context.Background(), Settings{})
	require.ErrorIs(t, err, boom)
	require.EqualValues(t, 2, src.calls.Load(), "failures are not cached")
}

func TestServiceCallerCancelled(t *testing.T) {
	src := &fakeSource{gate: make(chan struct{})}
	svc := NewService(src, clocktest.NewFake(now0), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := svc.Offers(ctx, Settings{})
		done <- err
	}()
	require.Eventually(t, func() bool { return src.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// The shared read goes on for the others and fills the cache.
	close(src.gate)
	require.Eventually(t, func() bool {
		_, err := svc.Market(context.Background())
		return err == nil
	}, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 1, src.calls.Load())
}

// startRun runs svc.Run until the test ends and checks that it returned nil.
func startRun(t *testing.T, svc *Service) {
	t.Helper()
	lifecycletest.Run(t, 10*time.Second, svc.Run)
	require.Eventually(t, func() bool { return svc.running.Load() > 0 }, 5*time.Second, time.Millisecond)
}

// gatedSource serves a market per read; reads after the first open gate wait for it.
type gatedSource struct {
	mu     sync.Mutex
	market market.Snapshot
	calls  atomic.Int32
	gate   chan struct{}
}

func (g *gatedSource) set(m market.Snapshot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.market = m
}

func (g *gatedSource) Market(ctx context.Context) (market.Snapshot, error) {
	n := g.calls.Add(1)
	if n > 1 && g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return market.Snapshot{}, ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.market, nil
}

// While Run runs, a user's call is answered from the latest index at once, whatever its age and even
// when a level has expired: it never reads the market, not even when the only read in flight hangs.
func TestServiceRunUserCallsNeverReadTheMarket(t *testing.T) {
	src := &gatedSource{market: cheapHistory(now0.Add(time.Second)), gate: make(chan struct{})}
	defer close(src.gate)
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, time.Hour)
	startRun(t, svc)
	ctx := context.Background()
	all := Settings{LimitBasisPoints: -10000}

	got, err := svc.Offers(ctx, all)
	require.NoError(t, err)
	require.Len(t, got, 1, "the first call waits for the first build")
	require.EqualValues(t, 1, src.calls.Load())

	clk.Advance(StaleFactor * time.Hour) // far beyond any age a Service without Run would serve
	for range 50 {
		got, err = svc.Offers(ctx, all)
		require.NoError(t, err)
		require.Empty(t, got, "the expired level is skipped")
		n, err := svc.Count(ctx, all)
		require.NoError(t, err)
		require.Zero(t, n)
	}
	// The expiry asked Run for one rebuild, which hangs at the gate; users never started another read.
	require.Eventually(t, func() bool { return src.calls.Load() == 2 }, 5*time.Second, time.Millisecond)
	_, err = svc.First(ctx, all, 10)
	require.NoError(t, err)
	require.EqualValues(t, 2, src.calls.Load())
}

// Run rebuilds on its interval, so new listings reach users without any call asking.
func TestServiceRunRebuildsOnItsInterval(t *testing.T) {
	src := &gatedSource{market: baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)})}
	obs := &countingObserver{}
	svc := NewService(src, clock.Real{}, 20*time.Millisecond, WithObserver(obs))
	startRun(t, svc)
	require.Eventually(t, func() bool { return src.calls.Load() >= 3 }, 10*time.Second, time.Millisecond)
	src.set(baseMarket(
		market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)},
		market.TitleState{Title: "B", GameID: gameZero, Available: avail(100), Order: order(160)},
	))
	require.Eventually(t, func() bool {
		got, err := svc.Offers(context.Background(), Settings{})
		return err == nil && len(got) == 2 && got[0].Title == "B"
	}, 10*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, obs.built.Load(), int64(3))
	require.EqualValues(t, 2, obs.offers.Load())
}

// A failed build keeps the previous index in use and is counted; before any build, callers get the error.
func TestServiceRunBuildErrors(t *testing.T) {
	boom := errors.New("redis down")
	src := &fakeSource{err: boom}
	obs := &countingObserver{}
	svc := NewService(src, clock.Real{}, 10*time.Millisecond, WithObserver(obs))
	startRun(t, svc)
	_, err := svc.Offers(context.Background(), Settings{})
	require.ErrorIs(t, err, boom)
	require.Eventually(t, func() bool { return obs.failed.Load() >= 2 },
		10*time.Second, time.Millisecond, "Run keeps trying")
}

// Many users query while Run swaps indexes built from different markets: every answer is Compute's
// answer for one of the markets (run with -race).
func TestServiceRunConcurrentUsers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	markets := make([]market.Snapshot, 3)
	for i := range markets {
		markets[i] = genMarket(r, genConfig{titles: 300, span: 1000 * time.Hour}, now0)
	}
	src := &gatedSource{market: markets[0]}
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, 2*time.Millisecond)
	startRun(t, svc)
	settings := make([]Settings, 8)
	for i := range settings {
		settings[i] = genSettings(r, &markets[0])
	}
	want := make([][][]Offer, len(markets))
	for i := range markets {
		for _, s := range settings {
			want[i] = append(want[i], orEmpty(Compute(markets[i], s, now0)))
		}
	}
	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Add(1)
	go func() {
		defer swaps.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src.set(markets[i%len(markets)])
			calls := src.calls.Load()
			for src.calls.Load() == calls {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}
	}()
	var users sync.WaitGroup
	for u := range 8 {
		users.Add(1)
		go func() {
			defer users.Done()
			// Query until several indexes have been swapped in (at least 40 times).
			deadline := time.Now().Add(30 * time.Second)
			for q := 0; q < 40 || (src.calls.Load() < 6 && time.Now().Before(deadline)); q++ {
				got, err := svc.Offers(context.Background(), settings[u])
				if err != nil {
					t.Errorf("user %d: %v", u, err)
					return
				}
				matched := false
				for i := range markets {
					matched = matched || sameOffers(want[i][u], orEmpty(got))
				}
				if !matched {
					t.Errorf("user %d got offers of no market", u)
					return
				}
			}
		}()
	}
	users.Wait()
	close(stop)
	swaps.Wait()
	require.GreaterOrEqual(t, src.calls.Load(), int32(6), "indexes were swapped while users queried")
}

func sameOffers(a, b []Offer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// countingObserver counts a Service's builds.
type countingObserver struct {
	built, failed, offers atomic.Int64
}

func (o *countingObserver) IndexBuilt(_ time.Duration, offers int) {
	o.built.Add(1)
	o.offers.Store(int64(offers))
}

func (o *countingObserver) IndexFailed() { o.failed.Add(1) }
