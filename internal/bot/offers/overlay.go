package offers

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// with returns an index of ix's market with the titles of changes replaced by their new state (nil, or
// a state without a level: the title is gone), fees computed at now.
func (ix *Index) with(changes map[string]*market.TitleState, now time.Time) *Index {
	m := ix.Market()
	next := *m
	next.Titles = make([]market.TitleState, 0, len(m.Titles)+len(changes))
	for i := range m.Titles {
		if _, ok := changes[m.Titles[i].Title]; !ok {
			next.Titles = append(next.Titles, m.Titles[i])
		}
	}
	for _, st := range changes {
		if st != nil && (st.Available != nil || st.Locked != nil) {
			next.Titles = append(next.Titles, *st)
		}
	}
	slices.SortStableFunc(next.Titles, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
	return BuildIndex(&next, now)
}

// title returns the state of the named title in the index's market.
func (ix *Index) title(name string) (*market.TitleState, bool) {
	titles := ix.market.Titles
	if ix.sortedTitles {
		i, ok := slices.BinarySearchFunc(titles, name, func(t market.TitleState, name string) int { return cmp.Compare(t.Title, name) })
		if !ok {
			return nil, false
		}
		return &titles[i], true
	}
	for i := range titles {
		if titles[i].Title == name {
			return &titles[i], true
		}
	}
	return nil, false
}

// needsCompaction reports whether the index's changes should be merged into a new base.
func (ix *Index) needsCompaction() bool { return false }

// firstExpiry returns when the first cheapest level of the index's market expires, or the zero time.
func (ix *Index) firstExpiry() time.Time { return earliestExpiry(ix.market) }

// levelExpiry is when one cheapest level of a title expires.
type levelExpiry struct {
	at    int64 // unix ns
	title int32
}

// expiries are the index's level expiries, sorted, computed on first use.
type expiries struct {
	once sync.Once
	list []levelExpiry
}

func (ix *Index) levelExpiries() []levelExpiry {
	ix.exp.once.Do(func() {
		for i := range ix.market.Titles {
			t := &ix.market.Titles[i]
			for _, l := range [2]*market.PriceLevel{t.Available, t.Locked} {
				if l != nil && !l.ExpiresAt.IsZero() {
					ix.exp.list = append(ix.exp.list, levelExpiry{at: unixNanos(l.ExpiresAt), title: int32(i)}) //nolint:gosec // far fewer than 2^31 titles
				}
			}
		}
		slices.SortFunc(ix.exp.list, func(a, b levelExpiry) int { return cmp.Compare(a.at, b.at) })
	})
	return ix.exp.list
}

// nextExpiryFrom returns the first instant after from at which a cheapest level of the market is gone
// (just after its expiry), and false when none expires then.
func (ix *Index) nextExpiryFrom(from time.Time) (time.Time, bool) {
	list := ix.levelExpiries()
	fromNS := unixNanos(from)
	i, _ := slices.BinarySearchFunc(list, fromNS, func(e levelExpiry, t int64) int { return cmp.Compare(e.at, t) })
	if i == len(list) {
		return time.Time{}, false
	}
	return time.Unix(0, list[i].at+1), true
}

// expiringTitles returns the titles, sorted, with a cheapest level gone in (from, to]: one that
// expires at from or later and before to.
func (ix *Index) expiringTitles(from, to time.Time) []string {
	list := ix.levelExpiries()
	fromNS, toNS := unixNanos(from), unixNanos(to)
	i, _ := slices.BinarySearchFunc(list, fromNS, func(e levelExpiry, t int64) int { return cmp.Compare(e.at, t) })
	var out []string
	for ; i < len(list) && list[i].at < toNS; i++ {
		out = append(out, ix.market.Titles[list[i].title].Title)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
