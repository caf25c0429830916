package offers

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// DefaultMaxAge is how long a Service reuses a market read when told 0.
const DefaultMaxAge = 5 * time.Second

// loadTimeout bounds one shared market read, which outlives the callers that started it.
const loadTimeout = time.Minute

// Source supplies market snapshots; pricestore.MarketReader is the production one.
type Source interface {
	Market(ctx context.Context) (market.Snapshot, error)
}

// StaleFactor bounds how old a snapshot a Service without Run still serves at once, as a multiple of
// maxAge, while a fresher one is read in the background; Run rebuilds at most StaleFactor times per maxAge.
const StaleFactor = 10

// Service answers users' offers from an Index of the latest market snapshot.
//
// In production Run keeps the index up to date in the background: it reads the market and builds a new
// index every maxAge, and sooner when a listing level or reduced fee of the current one changes (but at
// most StaleFactor times per maxAge). While Run runs, a user's call never reads the market: it queries
// the latest index at once (only the very first calls wait for the first build), skipping levels that
// have expired since and recomputing fees that have ended, exactly as Compute would at that moment.
//
// Without Run (tests, one-shot tools) the service reads on demand: it reuses a read for maxAge and until
// one of its cheapest levels expires; a snapshot younger than StaleFactor×maxAge is still served at once
// while a fresh one is read in the background; an older one (or none) is waited for.
//
// Concurrent callers share one read. It is safe for concurrent use; the Snapshot and Index it returns are
// shared and must not be modified.
type Service struct {
	src    Source
	clock  clock.Clock
	maxAge time.Duration
	log    *slog.Logger

	group   singleflight.Group
	cur     atomic.Pointer[snapshot]
	running atomic.Int32
	// wake asks Run to rebuild early: a query found the index outdated by an expiry.
	wake chan struct{}

	observer BuildObserver
}

// BuildObserver is told the outcome of every market read and index build of a Service.
type BuildObserver interface {
	// IndexBuilt reports a read and build that took d (read plus build) and indexed offers offers.
	IndexBuilt(d time.Duration, offers int)
	// IndexFailed reports a read that failed.
	IndexFailed()
}

// noObserver ignores builds.
type noObserver struct{}

func (noObserver) IndexBuilt(time.Duration, int) {}
func (noObserver) IndexFailed()                  {}

// snapshot is the latest index with when it was read.
type snapshot struct {
	ix *Index
	at time.Time
	// expires is when the first cheapest level expires (zero: never); from then on a Service without
	// Run treats the snapshot as stale whatever its age.
	expires time.Time
}

// ServiceOption configures a Service.
type ServiceOption func(*Service)

// WithLogger makes the service log failed background builds to log.
func WithLogger(log *slog.Logger) ServiceOption {
	return func(s *Service) { s.log = log }
}

// WithObserver tells o about every build.
func WithObserver(o BuildObserver) ServiceOption {
	return func(s *Service) { s.observer = o }
}

// NewService returns a Service over src that rebuilds (or, without Run, reuses a read) every maxAge
// (0 means DefaultMaxAge).
func NewService(src Source, clk clock.Clock, maxAge time.Duration, opts ...ServiceOption) *Service {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	s := &Service{src: src, clock: clk, maxAge: maxAge, log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1),
		observer: noObserver{}}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Run keeps the index up to date until ctx ends: it builds one at once, then every maxAge, and sooner
// when the current one's next change (a level expiry or reduced-fee end) comes first. A failed build is
// logged and counted and the previous index stays in use. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.running.Add(1)
	defer s.running.Add(-1)
	minGap := s.maxAge / StaleFactor
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.refresh(ctx, false, nil):
			if r.Err != nil && ctx.Err() == nil {
				s.log.Warn("offers index not rebuilt; the previous one stays in use", "err", r.Err)
			}
		}
		wait := s.maxAge
		if snap := s.cur.Load(); snap != nil {
			if next := snap.ix.NextChange(); !next.IsZero() {
				wait = min(max(next.Sub(s.clock.Now()), minGap), s.maxAge)
			}
		}
		if !s.sleep(ctx, wait) {
			return nil
		}
	}
}

// sleep waits for d or for a query that found the current index outdated; it returns false when ctx
// ends first.
func (s *Service) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-s.wake:
			if snap := s.cur.Load(); snap == nil || snap.ix.NeedsRebuild(s.clock.Now()) {
				return true
			}
		}
	}
}

// Index returns the latest index. While Run runs it never reads the market, except that callers wait
// for the first build; without Run it reads as the Service doc says.
func (s *Service) Index(ctx context.Context) (*Index, error) {
	now := s.clock.Now()
	snap := s.cur.Load()
	if s.running.Load() > 0 {
		if snap != nil {
			if snap.ix.NeedsRebuild(now) {
				select {
				case s.wake <- struct{}{}:
				default:
				}
			}
			return snap.ix, nil
		}
		return s.wait(ctx, s.refresh(ctx, true, nil))
	}
	if snap != nil {
		age := now.Sub(snap.at)
		expired := !snap.expires.IsZero() && now.After(snap.expires)
		switch {
		case age < s.maxAge && !expired:
			return snap.ix, nil
		case age < StaleFactor*s.maxAge:
			s.refresh(ctx, true, snap)
			return snap.ix, nil
		}
	}
	for {
		ix, err := s.wait(ctx, s.refresh(ctx, true, snap))
		if err != nil || snap == nil || ix != snap.ix {
			return ix, err
		}
		// The call joined a refresh that returned the very snapshot found too old (its starter had seen an
		// older one): read anew.
	}
}

// Market returns the snapshot of the latest index, as Index finds it.
func (s *Service) Market(ctx context.Context) (*market.Snapshot, error) {
	ix, err := s.Index(ctx)
	if err != nil {
		return nil, err
	}
	return ix.Market(), nil
}

// refresh starts a market read and index build unless one is running, and returns its result channel.
// A detached read (started by a user's call, who saw the snapshot seen) outlives its caller and is not
// started when a newer snapshot than seen was stored meanwhile; Run's read ends with Run.
func (s *Service) refresh(ctx context.Context, detach bool, seen *snapshot) <-chan singleflight.Result {
	return s.group.DoChan("market", func() (any, error) {
		if cur := s.cur.Load(); detach && cur != nil && cur != seen {
			return cur.ix, nil
		}
		parent := ctx
		if detach {
			parent = context.WithoutCancel(ctx)
		}
		lctx, cancel := context.WithTimeout(parent, loadTimeout)
		defer cancel()
		start := time.Now()
		m, err := s.src.Market(lctx)
		if err != nil {
			s.observer.IndexFailed()
			return nil, err
		}
		ix := BuildIndex(&m, s.clock.Now())
		s.observer.IndexBuilt(time.Since(start), ix.Len())
		s.cur.Store(&snapshot{ix: ix, at: s.clock.Now(), expires: earliestExpiry(&m)})
		return ix, nil
	})
}

func (s *Service) wait(ctx context.Context, ch <-chan singleflight.Result) (*Index, error) {
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("read market: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("read market: %w", r.Err)
		}
		ix, ok := r.Val.(*Index)
		if !ok {
			return nil, fmt.Errorf("read market: unexpected result %T", r.Val)
		}
		return ix, nil
	}
}

// Offers returns every offer passing settings at the service clock's now, best first.
func (s *Service) Offers(ctx context.Context, settings Settings) ([]Offer, error) {
	return s.First(ctx, settings, -1)
}

// First returns the first n offers passing settings at the service clock's now (all when n is
// negative), best first; its cost grows with n, not with the market.
func (s *Service) First(ctx context.Context, settings Settings, n int) ([]Offer, error) {
	ix, err := s.Index(ctx)
	if err != nil {
		return nil, err
	}
	return ix.First(settings, s.clock.Now(), n), nil
}

// Count returns how many offers pass settings at the service clock's now.
func (s *Service) Count(ctx context.Context, settings Settings) (int, error) {
	ix, err := s.Index(ctx)
	if err != nil {
		return 0, err
	}
	return ix.Count(settings, s.clock.Now()), nil
}

// earliestExpiry returns when the first cheapest level of m expires, or the zero time.
func earliestExpiry(m *market.Snapshot) time.Time {
	var first time.Time
	for i := range m.Titles {
		for _, l := range [2]*market.PriceLevel{m.Titles[i].Available, m.Titles[i].Locked} {
			if l != nil && !l.ExpiresAt.IsZero() && (first.IsZero() || l.ExpiresAt.Before(first)) {
				first = l.ExpiresAt
			}
		}
	}
	return first
}
