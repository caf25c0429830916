package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/egresstest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func TestPacerSpacesRequests(t *testing.T) {
	tests := []struct {
		name   string
		rate   float64
		n      int
		urgent bool
		want   time.Duration
	}{
		{name: "two per second, urgent", rate: 2, n: 5, urgent: true, want: 2 * time.Second},
		{name: "two per second, background", rate: 2, n: 5, want: 2 * time.Second},
		{name: "ten per second", rate: 10, n: 11, urgent: true, want: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewFake(t0)
			p, err := NewPacer(tc.rate, clk)
			require.NoError(t, err)
			for range tc.n {
				require.NoError(t, p.Wait(context.Background(), tc.urgent))
			}
			require.Equal(t, tc.want, clk.Now().Sub(t0), "n requests take (n-1) intervals")
		})
	}
	_, err := NewPacer(0, clocktest.NewFake(t0))
	require.Error(t, err)
}

func TestPacerServesUrgentFirst(t *testing.T) {
	// The real clock: the background waiter must yield while an urgent one waits.
	p, err := NewPacer(20, clock.Real{})
	require.NoError(t, err)
	require.NoError(t, p.Wait(context.Background(), true)) // takes the free slot: the next is 50ms away

	order := make(chan string, 2)
	var wg sync.WaitGroup
	background := make(chan struct{})
	wg.Go(func() {
		close(background)
		assert.NoError(t, p.Wait(context.Background(), false))
		order <- "background"
	})
	<-background
	wg.Go(func() {
		assert.NoError(t, p.Wait(context.Background(), true))
		order <- "urgent"
	})
	wg.Wait()
	require.Equal(t, "urgent", <-order, "a background request waiting first still goes after the urgent one")
}

func TestPacerThrottledPauses(t *testing.T) {
	clk := clocktest.NewFake(t0)
	p, err := NewPacer(100, clk)
	require.NoError(t, err)
	require.NoError(t, p.Wait(context.Background(), true))
	p.Throttled()
	require.NoError(t, p.Wait(context.Background(), true))
	require.Equal(t, throttlePause, clk.Now().Sub(t0))
}

func TestPacerStopsWithContext(t *testing.T) {
	p, err := NewPacer(0.001, clock.Real{})
	require.NoError(t, err)
	require.NoError(t, p.Wait(context.Background(), true))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Wait(ctx, true), context.Canceled)
	require.ErrorIs(t, p.Wait(ctx, false), context.Canceled)
}

func TestEgressPacesEveryAttempt(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	clk := clocktest.NewFake(t0)
	p, err := NewPacer(10, clk)
	require.NoError(t, err)
	e := NewEgress(srv.Client(), p)
	for range 3 {
		l, err := e.Acquire(Urgent(context.Background()), true)
		require.NoError(t, err)
		require.Equal(t, dmarket.DirectEgressName, l.Name())
		require.Equal(t, http.StatusTooManyRequests, egresstest.Get(t, l, srv.URL))
		l.Release(dmarket.Throttled)
	}
	require.Equal(t, 3, calls)
	require.Equal(t, 2*throttlePause, clk.Now().Sub(t0), "every 429 pauses the pacer")
}
