package offers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// ApplyObserver is told about every Apply of a Service whose BuildObserver (WithObserver) also implements it.
type ApplyObserver interface {
	// TitlesApplied reports an Apply of titles titles that took d (read plus index update).
	TitlesApplied(d time.Duration, titles int)
	// ApplyFailed reports an Apply whose read failed.
	ApplyFailed()
}

// Apply re-reads the named titles from the source and updates the market snapshot and the index with
// them, copy-on-write: users keep querying the previous index meanwhile and see the new one at once
// afterwards. A title the source no longer returns has no offers from then on. Its cost grows with
// len(titles), not with the market, when the source is a TitleSource; any other source, and a service
// that has no snapshot yet, reads the whole market instead (Resync). Subscribers are told the titles.
//
// When the source is also a HistorySource, Apply reads too the sell histories of the sticker titles
// among titles that have no live listing (a change event for a sticker's sales) and of the stickers the
// changed titles' items carry whose titles the index shows neither listed nor with a history: a sticker
// without a listing is valued from its history, as a full read values it.
func (s *Service) Apply(ctx context.Context, titles []string) error {
	if len(titles) == 0 {
		return nil
	}
	ts, ok := s.src.(TitleSource)
	if !ok || s.cur.Load() == nil {
		return s.Resync(ctx)
	}
	start := time.Now()
	names := slices.Clone(titles)
	slices.Sort(names)
	names = slices.Compact(names)
	states, err := ts.Titles(ctx, names)
	if err != nil {
		if o, ok := s.observer.(ApplyObserver); ok {
			o.ApplyFailed()
		}
		return fmt.Errorf("read titles: %w", err)
	}
	changes := make(map[string]*market.TitleState, len(names))
	for _, n := range names {
		changes[n] = nil
	}
	for i := range states {
		if _, asked := changes[states[i].Title]; asked {
			changes[states[i].Title] = &states[i]
		}
	}
	var learned map[string]*market.ResaleHistory
	if hs, ok := s.src.(HistorySource); ok {
		if learned, err = s.stickerHistories(ctx, hs, names, changes); err != nil {
			if o, ok := s.observer.(ApplyObserver); ok {
				o.ApplyFailed()
			}
			return fmt.Errorf("read sticker histories: %w", err)
		}
	}
	s.change(names, changes, learned)
	if o, ok := s.observer.(ApplyObserver); ok {
		o.TitlesApplied(time.Since(start), len(names))
	}
	return nil
}

// stickerHistories returns the sell histories Apply reads (nil: none) of the sticker titles among names
// that changes (the titles of names as read) leave without a live listing, and of the sticker titles the
// items of changes carry that the index shows neither listed nor with a history.
func (s *Service) stickerHistories(ctx context.Context, hs HistorySource, names []string,
	changes map[string]*market.TitleState) (map[string]*market.ResaleHistory, error) {
	ix := s.cur.Load().ix
	listed := func(name string) bool {
		if st, ok := changes[name]; ok {
			return st.Listed()
		}
		st, _ := ix.title(name)
		return st.Listed()
	}
	var want []string
	for _, n := range names {
		if isStickerTitle(n) && !listed(n) {
			want = append(want, n)
		}
	}
	for _, st := range changes {
		if st == nil {
			continue
		}
		for _, n := range stickerTitles(st) {
			if !listed(n) && ix.stickerHistory(n) == nil {
				want = append(want, n)
			}
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	slices.Sort(want)
	want = slices.Compact(want)
	got, err := hs.StickerHistories(ctx, want)
	if err != nil {
		return nil, err
	}
	learned := make(map[string]*market.ResaleHistory, len(want))
	for _, n := range want {
		learned[n] = got[n]
	}
	return learned, nil
}

// change installs the market with the titles of changes replaced (nil: gone) and the sticker titles of
// learned valued from the histories it holds (nil: none), and tells subscribers. names are the titles of
// changes, sorted.
func (s *Service) change(names []string, changes map[string]*market.TitleState, learned map[string]*market.ResaleHistory) {
	if len(changes) == 0 && len(learned) == 0 {
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	cur := s.cur.Load()
	ix := cur.ix.with(changes, learned, now)
	expires := cur.expires
	for _, st := range changes {
		if st != nil {
			expires = earlier(expires, titleExpiry(st))
		}
	}
	s.cur.Store(&snapshot{ix: ix, at: cur.at, expires: expires})
	if s.rebuilds > 0 {
		s.changed = append(s.changed, names...)
		for n := range learned {
			s.changed = append(s.changed, n)
		}
	}
	s.mu.Unlock()
	s.subs.publish(Update{Titles: names, At: now})
	s.maybeCompact(ix)
}

// Resync reads the whole market now and installs it (after a reconnect of the change events, say),
// keeping the changes applied while it read. Subscribers are told with Update.Resync.
func (s *Service) Resync(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	if _, err := s.readAll(lctx); err != nil {
		return fmt.Errorf("read market: %w", err)
	}
	return nil
}

// Forget removes the offers of a title's cheapest listing level of one status (locked or not) at price,
// which the bot found gone on DMarket, from every user's view at once, until a later read of the title
// (Apply, a full read) shows a level again. It does nothing when the title's level is no longer at price.
func (s *Service) Forget(title string, locked bool, price market.Cents) {
	s.forget(title, func(st *market.TitleState) bool {
		l := &st.Available
		if locked {
			l = &st.Locked
		}
		if *l == nil || (*l).Price != price {
			return false
		}
		*l = nil
		return true
	})
}

// ForgetOrder removes a title's best buy order, which the bot found gone on DMarket, and so its TARGET
// offers, from every user's view at once, until a later read of the title shows an order again.
func (s *Service) ForgetOrder(title string) {
	s.forget(title, func(st *market.TitleState) bool {
		if st.Order == nil {
			return false
		}
		st.Order = nil
		return true
	})
}

// ForgetItem removes a title's kept listing itemID, which the bot found gone on DMarket, and so the
// offers priced from it, from every user's view at once, until a later read of the title shows it again.
func (s *Service) ForgetItem(title, itemID string) {
	s.forget(title, func(st *market.TitleState) bool {
		k := slices.IndexFunc(st.Items, func(it market.ItemListing) bool { return it.ItemID == itemID })
		if k < 0 {
			return false
		}
		st.Items = slices.Delete(slices.Clone(st.Items), k, k+1)
		return true
	})
}

// forget installs the title's state changed by edit, when edit changes it.
func (s *Service) forget(title string, edit func(*market.TitleState) bool) {
	cur := s.cur.Load()
	if cur == nil {
		return
	}
	st, ok := cur.ix.title(title)
	if !ok {
		return
	}
	next := *st
	if !edit(&next) {
		return
	}
	s.change([]string{title}, map[string]*market.TitleState{title: &next}, nil)
}

// TitleOffers returns the offers of the named titles that pass settings at now, sorted as Compute
// sorts them, from the latest index (nil before the first read). Its cost grows with len(titles).
func (s *Service) TitleOffers(settings Settings, titles []string, now time.Time) []Offer {
	cur := s.cur.Load()
	if cur == nil || len(titles) == 0 {
		return nil
	}
	names := slices.Clone(titles)
	slices.Sort(names)
	names = slices.Compact(names)
	base := cur.ix.market
	m := market.Snapshot{Fees: base.Fees, FallbackFee: base.FallbackFee, Titles: make([]market.TitleState, 0, len(names))}
	for _, n := range names {
		if st, ok := cur.ix.title(n); ok {
			m.Titles = append(m.Titles, *st)
		}
	}
	p := cur.ix.pricing()
	return compute(&m, settings, now, &p)
}

// rebuild is a full read or compaction in flight.
type rebuild struct {
	// mark is where the titles changed since it began start in Service.changed.
	mark int
	// reads is the number of full reads installed when it began.
	reads int
	// full says it is a full read of the source, not a compaction.
	full bool
}

// beginRebuild registers a full read (full) or compaction; from then on the titles changed are recorded.
func (s *Service) beginRebuild(full bool) rebuild {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rebuilds++
	return rebuild{mark: len(s.changed), reads: s.fullReads, full: full}
}

// endRebuild unregisters a rebuild that installs nothing.
func (s *Service) endRebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doneRebuild()
}

func (s *Service) doneRebuild() {
	s.rebuilds--
	if s.rebuilds == 0 {
		s.changed = s.changed[:0]
	}
}

// install makes ix, built by rb from the market as at read, current, with the titles changed since rb
// began (by Apply or Forget) taken from the current index, and returns the index now current. A
// compaction that a full read overtook is dropped: the read holds newer data than the compacted market.
func (s *Service) install(ix *Index, read time.Time, rb rebuild) *Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.doneRebuild()
	cur := s.cur.Load()
	if !rb.full && rb.reads != s.fullReads {
		return cur.ix
	}
	if rb.full {
		s.fullReads++
	}
	expires := ix.firstExpiry()
	if cur != nil && rb.mark < len(s.changed) {
		changes := make(map[string]*market.TitleState, len(s.changed)-rb.mark)
		var learned map[string]*market.ResaleHistory
		for _, n := range s.changed[rb.mark:] {
			st, _ := cur.ix.title(n)
			changes[n] = st
			if st != nil {
				expires = earlier(expires, titleExpiry(st))
			} else if isStickerTitle(n) { // valued as the current index values it
				if learned == nil {
					learned = make(map[string]*market.ResaleHistory)
				}
				learned[n] = cur.ix.stickerHistory(n)
			}
		}
		ix = ix.with(changes, learned, s.clock.Now())
	}
	s.cur.Store(&snapshot{ix: ix, at: read, expires: expires})
	return ix
}

// maybeCompact starts a compaction of ix in the background when its changes have grown large: the
// market it shows becomes the base of a new index, built off every user's path.
func (s *Service) maybeCompact(ix *Index) {
	if !ix.needsCompaction(s.compactMin) || !s.compacting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.compacting.Store(false)
		rb := s.beginRebuild(false)
		cur := s.cur.Load()
		s.install(cur.ix.compacted(s.clock.Now()), cur.at, rb)
	}()
}

// earlier returns the earlier of two times, the zero time meaning never.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// titleExpiry returns when the first of t's cheapest levels and kept items expires, or the zero time.
func titleExpiry(t *market.TitleState) time.Time {
	var first time.Time
	eachTitleExpiry(t, func(at time.Time) bool {
		first = earlier(first, at)
		return true
	})
	return first
}
