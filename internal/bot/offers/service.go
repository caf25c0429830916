package offers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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

// DefaultResyncInterval is how often a Service whose change events are live reads the whole market.
const DefaultResyncInterval = 5 * time.Minute

// Source supplies market snapshots; pricestore.MarketReader is the production one.
type Source interface {
	Market(ctx context.Context) (market.Snapshot, error)
}

// TitleSource is a Source that also reads the current state of single titles (pricestore.MarketReader
// is one): Titles returns the named titles that have a live listing level, fees left out (they come from
// the latest Market snapshot). A Service whose source is a TitleSource applies changes in time
// proportional to the changed titles.
type TitleSource interface {
	Source
	Titles(ctx context.Context, titles []string) ([]market.TitleState, error)
}

// HistorySource reads the sell histories of sticker titles by name (pricestore.MarketReader is one): the
// resale summary of each named title that has one. A Service whose TitleSource is also a HistorySource
// values the stickers a change brings as a full read would (see Service.Apply).
type HistorySource interface {
	StickerHistories(ctx context.Context, titles []string) (map[string]*market.ResaleHistory, error)
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
// With change events (SetEventsLive(true)) the whole market is read only every resync interval: Apply
// re-reads the titles an event names and updates the index copy-on-write in time proportional to them
// (an immutable base plus a small delta, compacted in the background), Forget and ForgetOrder hide
// offers found gone, and Subscribe tells the bot what changed.
//
// Without Run (tests, one-shot tools) the service reads on demand: it reuses a read for maxAge and until
// one of its cheapest levels expires; a snapshot younger than StaleFactor×maxAge is still served at once
// while a fresh one is read in the background; an older one (or none) is waited for.
//
// Concurrent callers share one read. It is safe for concurrent use; the Snapshot and Index it returns are
// shared and must not be modified.
type Service struct {
	// pricing configures how the offers are priced (WithPricing).
	pricing []Option
	src     Source
	clock   clock.Clock
	maxAge  time.Duration
	log     *slog.Logger

	group   singleflight.Group
	cur     atomic.Pointer[snapshot]
	running atomic.Int32
	// wake asks Run to rebuild early: a query found the index outdated by an expiry.
	wake chan struct{}
	// modeChanged tells Run that SetEventsLive changed the mode.
	modeChanged chan struct{}

	observer BuildObserver

	// resyncEvery is how often Run reads the whole market while change events are live.
	resyncEvery time.Duration
	live        atomic.Bool

	// mu serialises the changes of cur (Apply, Forget, installs of full reads and compactions).
	mu sync.Mutex
	// rebuilds counts the full reads and compactions in flight; while there are any, changed records
	// the titles changed since, so that each install re-applies those made after its read began.
	rebuilds int
	changed  []string
	// fullReads counts the full reads installed.
	fullReads int
	// compacting is set while a compaction runs in the background; compactMin is the least number of
	// title states a delta holds before it is compacted.
	compacting atomic.Bool
	compactMin int

	subs subscribers
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

// WithPricing makes the service price offers with opts (StickerShare).
func WithPricing(opts ...Option) ServiceOption {
	return func(s *Service) { s.pricing = append(s.pricing, opts...) }
}

// WithLogger makes the service log failed background builds to log.
func WithLogger(log *slog.Logger) ServiceOption {
	return func(s *Service) { s.log = log }
}

// WithObserver tells o about every build. When o is also an ApplyObserver it is told about every Apply.
func WithObserver(o BuildObserver) ServiceOption {
	return func(s *Service) { s.observer = o }
}

// WithResyncInterval sets how often Run reads the whole market while change events are live (see
// SetEventsLive), a safety net for changes whose events were lost; 0 or less means DefaultResyncInterval.
func WithResyncInterval(d time.Duration) ServiceOption {
	return func(s *Service) {
		if d > 0 {
			s.resyncEvery = d
		}
	}
}

// NewService returns a Service over src that rebuilds (or, without Run, reuses a read) every maxAge
// (0 means DefaultMaxAge).
func NewService(src Source, clk clock.Clock, maxAge time.Duration, opts ...ServiceOption) *Service {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	s := &Service{src: src, clock: clk, maxAge: maxAge, log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1),
		modeChanged: make(chan struct{}, 1), observer: noObserver{}, resyncEvery: DefaultResyncInterval,
		compactMin: compactMinTitles}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Run keeps the index up to date until ctx ends. It builds one at once; then, while change events are
// not live (see SetEventsLive), it rebuilds every maxAge, and sooner when the current one's next change
// (a level expiry or reduced-fee end) comes first. While they are live, it reads the whole market only
// every resync interval, relies on Apply for changes and re-reads (Apply) just the titles whose cheapest
// level expires, at their expiry. A change of mode triggers a full read at once. A failed build is logged
// and counted and the previous index stays in use. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.running.Add(1)
	defer s.running.Add(-1)
	for {
		failed := false
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.refresh(ctx, false, nil):
			if failed = r.Err != nil; failed && ctx.Err() == nil {
				s.log.Warn("offers index not rebuilt; the previous one stays in use", "err", r.Err)
			}
		}
		select { // the read just made covers a change of mode made before it
		case <-s.modeChanged:
		default:
		}
		var more bool
		if s.live.Load() && !failed {
			more = s.runLive(ctx)
		} else {
			more = s.waitRebuild(ctx)
		}
		if !more {
			return nil
		}
	}
}

// waitRebuild waits until the next full rebuild is due while change events are not live: maxAge, or the
// current index's next change, or a query that found it outdated, or a change of mode. It returns false
// when ctx ends first.
func (s *Service) waitRebuild(ctx context.Context) bool {
	wait := s.maxAge
	if snap := s.cur.Load(); snap != nil {
		if next := snap.ix.NextChange(); !next.IsZero() {
			wait = min(max(next.Sub(s.clock.Now()), s.maxAge/StaleFactor), s.maxAge)
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-s.modeChanged:
			return true
		case <-s.wake:
			if snap := s.cur.Load(); snap == nil || snap.ix.NeedsRebuild(s.clock.Now()) {
				return true
			}
		}
	}
}

// runLive serves the live mode after a successful full read: it re-reads the titles whose cheapest level
// expires, at their expiry, until the resync interval has passed since the read (by the service's clock,
// checked at least every maxAge) or the mode changes. It returns false when ctx ends.
func (s *Service) runLive(ctx context.Context) bool {
	snap := s.cur.Load()
	if snap == nil {
		return s.waitRebuild(ctx)
	}
	due := snap.at.Add(s.resyncEvery)
	mark := snap.at // level expiries before mark have been handled by the read
	minGap := s.maxAge / StaleFactor
	for {
		now := s.clock.Now()
		if !now.Before(due) || !s.live.Load() {
			return true
		}
		wait := min(due.Sub(now), s.maxAge)
		if snap := s.cur.Load(); snap != nil {
			if next, ok := snap.ix.nextExpiryFrom(mark); ok {
				wait = min(wait, max(next.Sub(now), minGap))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-s.modeChanged:
			t.Stop()
			return true
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
		now = s.clock.Now()
		if snap := s.cur.Load(); snap != nil {
			if titles := snap.ix.expiringTitles(mark, now); len(titles) > 0 {
				if err := s.Apply(ctx, titles); err != nil && ctx.Err() == nil {
					s.log.Warn("expired titles not re-read", "titles", len(titles), "err", err)
					continue
				}
			}
			mark = now
		}
	}
}

// SetEventsLive tells the service whether the change events that drive Apply are flowing (false, the
// default, also while the bot's subscription is down). While false, Run reads the whole market every
// maxAge; while true, only every resync interval (see Run). A change of mode makes Run read the whole
// market at once, which covers the changes missed while the events were down.
func (s *Service) SetEventsLive(live bool) {
	if s.live.Swap(live) != live {
		select {
		case s.modeChanged <- struct{}{}:
		default:
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
			// While events are live Run re-reads expiring titles on its own schedule.
			if !s.live.Load() && snap.ix.NeedsRebuild(now) {
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
		return s.readAll(lctx)
	})
}

// readAll reads the whole market, builds its index and installs it, keeping the changes applied while
// it read.
func (s *Service) readAll(ctx context.Context) (*Index, error) {
	rb := s.beginRebuild(true)
	start := time.Now()
	m, err := s.src.Market(ctx)
	if err != nil {
		s.endRebuild()
		s.observer.IndexFailed()
		return nil, err
	}
	at := s.clock.Now()
	ix := BuildIndex(&m, at, s.pricing...)
	s.observer.IndexBuilt(time.Since(start), ix.Len())
	ix = s.install(ix, at, rb)
	s.subs.publish(Update{Resync: true, At: at})
	return ix, nil
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

// earliestExpiry returns when the first cheapest level or kept item of m expires, or the zero time.
func earliestExpiry(m *market.Snapshot) time.Time {
	var first time.Time
	for i := range m.Titles {
		first = earlier(first, titleExpiry(&m.Titles[i]))
	}
	return first
}
