package worker

import (
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// enqueueCacheMaxAge bounds how long a title is known to be scheduled without asking Redis again. The
// sales schedule drops titles not enqueued for its retention (6 hours), so a title still on the market
// must be enqueued again well within it, and a title that left and came back is scheduled again.
const enqueueCacheMaxAge = time.Hour

// titleSet is a bounded set of (game, title) pairs in two generations: when the current generation
// holds half the capacity or is half the maximum age old, it becomes the previous one and the oldest is
// dropped; a generation older than the maximum age is dropped too, so no pair is remembered longer. A
// forgotten title only costs one more (idempotent) enqueue.
type titleSet struct {
	mu                  sync.Mutex
	half                int
	maxAge              time.Duration
	clock               clock.Clock
	cur, prev           map[titleKey]struct{}
	curStart, prevStart time.Time
}

func newTitleSet(capacity int, maxAge time.Duration, clk clock.Clock) *titleSet {
	half := max(capacity/2, 1)
	now := clk.Now()
	return &titleSet{half: half, maxAge: maxAge, clock: clk, cur: make(map[titleKey]struct{}),
		prev: map[titleKey]struct{}{}, curStart: now, prevStart: now}
}

type titleKey struct{ game, title string }

// expire drops the generations too old to trust; s.mu is held.
func (s *titleSet) expire() {
	now := s.clock.Now()
	if now.Sub(s.curStart) >= s.maxAge/2 {
		s.rotate(now)
	}
	if now.Sub(s.prevStart) >= s.maxAge {
		clear(s.prev)
	}
}

// rotate makes the current generation the previous one; s.mu is held.
func (s *titleSet) rotate(now time.Time) {
	s.prev, s.prevStart = s.cur, s.curStart
	s.cur, s.curStart = make(map[titleKey]struct{}, s.half), now
}

func (s *titleSet) has(game, title string) bool {
	k := titleKey{game, title}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if _, ok := s.cur[k]; ok {
		return true
	}
	_, ok := s.prev[k]
	return ok
}

func (s *titleSet) add(game, title string) {
	k := titleKey{game, title}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if len(s.cur) >= s.half {
		s.rotate(s.clock.Now())
	}
	s.cur[k] = struct{}{}
}
