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

// StaleFactor bounds how old a snapshot a Service still serves at once, as a multiple of maxAge, while a
// fresher one is read in the background.
const StaleFactor = 10

// Service computes users' offers from a market snapshot it reuses for maxAge, so the offers of many users
// in one poll cycle cost one read. A snapshot older than maxAge but younger than StaleFactor×maxAge is
// still served at once while a fresh one is read in the background, so a user's command costs only the
// computation of that user's offers; an older snapshot (or none) is waited for. Concurrent callers share
// one read. It is safe for concurrent use; the Market it returns is shared and must not be modified.
type Service struct {
	src    Source
	clock  clock.Clock
	maxAge time.Duration

	group singleflight.Group
	mu    sync.Mutex
	cur   *Market
	at    time.Time
	// expires is when the first cheapest level of cur expires (zero: never); from then on cur is stale
	// whatever its age, because another level (or none) is now the cheapest.
	expires time.Time
}

// NewService returns a Service over src that reuses a read for maxAge (0 means DefaultMaxAge).
func NewService(src Source, clk clock.Clock, maxAge time.Duration) *Service {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Service{src: src, clock: clk, maxAge: maxAge}
}

// Market returns the cached snapshot when it is younger than maxAge and none of its cheapest levels has
// expired; a snapshot younger than StaleFactor×maxAge is returned at once while a fresh one is read in the
// background (Compute leaves its expired levels out); otherwise it waits for a new read.
func (s *Service) Market(ctx context.Context) (*Market, error) {
	now := s.clock.Now()
	s.mu.Lock()
	cur, age := s.cur, now.Sub(s.at)
	expired := !s.expires.IsZero() && now.After(s.expires)
	s.mu.Unlock()
	switch {
	case cur != nil && age < s.maxAge && !expired:
		return cur, nil
	case cur != nil && age < StaleFactor*s.maxAge:
		s.refresh(ctx)
		return cur, nil
	}
	r, err := s.wait(ctx, s.refresh(ctx))
	if err != nil {
		return nil, err
	}
	return r, nil
}

// refresh starts a market read unless one is running, and returns its result channel.
func (s *Service) refresh(ctx context.Context) <-chan singleflight.Result {
	return s.group.DoChan("market", func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		m, err := s.src.Market(lctx)
		if err != nil {
			return nil, err
		}
		expires := earliestExpiry(&m)
		s.mu.Lock()
		s.cur, s.at, s.expires = &m, s.clock.Now(), expires
		s.mu.Unlock()
		return &m, nil
	})
}

func (s *Service) wait(ctx context.Context, ch <-chan singleflight.Result) (*Market, error) {
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("read market: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("read market: %w", r.Err)
		}
		m, ok := r.Val.(*Market)
		if !ok {
			return nil, fmt.Errorf("read market: unexpected result %T", r.Val)
		}
		return m, nil
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

// earliestExpiry returns when the first cheapest level of m expires, or the zero time.
func earliestExpiry(m *Market) time.Time {
	var first time.Time
	for i := range m.Titles {
		for _, l := range [2]*Listing{m.Titles[i].Available, m.Titles[i].Locked} {
			if l != nil && !l.ExpiresAt.IsZero() && (first.IsZero() || l.ExpiresAt.Before(first)) {
				first = l.ExpiresAt
			}
		}
	}
	return first
}
