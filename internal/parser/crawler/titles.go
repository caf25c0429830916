package crawler

import (
	"slices"
	"sync"
)

// titleSet collects the distinct titles seen per game during a cycle.
type titleSet struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func newTitleSet(games []string) *titleSet {
	s := &titleSet{m: make(map[string]map[string]struct{}, len(games))}
	for _, g := range games {
		s.m[g] = map[string]struct{}{}
	}
	return s
}

func (s *titleSet) add(game string, titles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.m[game]
	for _, t := range titles {
		set[t] = struct{}{}
	}
}

func (s *titleSet) list(game string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m[game]))
	for t := range s.m[game] {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func (s *titleSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, set := range s.m {
		n += len(set)
	}
	return n
}

func sortRanges(rs []Range) {
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
}
