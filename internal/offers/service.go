package offers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/skinflip/dmarket-monitor/internal/clock"
)

// DefaultMaxAge is how long a Service reuses a market read when told 0.
const DefaultMaxAge = 5 * time.Second

// loadTimeout bounds one shared market read, which outlives the callers that started it.
const loadTimeout = time.Minute

// Source supplies market snapshots; RedisSource is the production one.
type Source interface {
	Market(ctx context.Context) (Market, error)
}

// Service computes users' offers from a market snapshot it reuses for maxAge, so the offers of many users
// in one poll cycle cost one read. Concurrent callers that find the snapshot stale share one read. It is
// safe for concurrent use; the Market it returns is shared and must not be modified.
type Service struct {
	src    Source
	clock  clock.Clock
	maxAge time.Duration

	group singleflight.Group
	mu    sync.Mutex
	cur   *Market
	at    time.Time
}

// NewService returns a Service over src that reuses a read for maxAge (0 means DefaultMaxAge).
func NewService(src Source, clk clock.Clock, maxAge time.Duration) *Service {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Service{src: src, clock: clk, maxAge: maxAge}
}

// Market returns the cached snapshot when it is younger than maxAge, else reads a new one.
func (s *Service) Market(ctx context.Context) (*Market, error) {
	s.mu.Lock()
	if s.cur != nil && s.clock.Now().Sub(s.at) < s.maxAge {
		m := s.cur
		s.mu.Unlock()
		return m, nil
	}
	s.mu.Unlock()

	ch := s.group.DoChan("market", func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		m, err := s.src.Market(lctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.cur, s.at = &m, s.clock.Now()
		s.mu.Unlock()
		return &m, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("read market: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("read market: %w", r.Err)
		}
		return r.Val.(*Market), nil
	}
}

// Offers returns the offers passing settings at the service clock's now.
func (s *Service) Offers(ctx context.Context, settings Settings) ([]Offer, error) {
	m, err := s.Market(ctx)
	if err != nil {
		return nil, err
	}
	return Compute(*m, settings, s.clock.Now()), nil
}
