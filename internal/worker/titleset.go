package worker

import "sync"

// titleSet is a bounded set of (game, title) pairs in two generations: when the current generation
// holds half the capacity it becomes the previous one and the oldest is dropped. A forgotten title only
// costs one more (idempotent) ZADD NX.
type titleSet struct {
	mu        sync.Mutex
	half      int
	cur, prev map[titleKey]struct{}
}

func newTitleSet(capacity int) *titleSet {
	half := max(capacity/2, 1)
	return &titleSet{half: half, cur: make(map[titleKey]struct{}), prev: map[titleKey]struct{}{}}
}

type titleKey struct{ game, title string }

func (s *titleSet) has(game, title string) bool {
	k := titleKey{game, title}
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if len(s.cur) >= s.half {
		s.prev, s.cur = s.cur, make(map[titleKey]struct{}, s.half)
	}
	s.cur[k] = struct{}{}
}

func (s *titleSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.prev)
}
