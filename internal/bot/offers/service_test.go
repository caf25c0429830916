package offers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"

	"github.com/skinflip/dmarket-monitor/internal/market"
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
	clk := clock.NewFake(now0)
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
	clk := clock.NewFake(now0)
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
	clk := clock.NewFake(now0)
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
	svc := NewService(src, clock.NewFake(now0), time.Minute)
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
	svc := NewService(src, clock.NewFake(now0), time.Minute)
	_, err := svc.Offers(context.Background(), Settings{})
	require.ErrorIs(t, err, boom)
	_, err = svc.Offers(context.Background(), Settings{})
	require.ErrorIs(t, err, boom)
	require.EqualValues(t, 2, src.calls.Load(), "failures are not cached")
}

func TestServiceCallerCancelled(t *testing.T) {
	src := &fakeSource{gate: make(chan struct{})}
	svc := NewService(src, clock.NewFake(now0), time.Minute)
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
