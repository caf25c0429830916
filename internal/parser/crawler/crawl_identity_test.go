package crawler

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// TestListingsPagesCarryCrawlIdentity: every listings page names its range crawl and its place in the
// chain, so that workers can count a price over all the pages it spans (issue: counts overwritten page
// by page); a later crawl of a range has a larger cycle even when the clock did not move.
func TestListingsPagesCarryCrawlIdentity(t *testing.T) {
	m := newMarket(2500)
	s := newSink()
	cfg := testConfig()
	cfg.WithKeys = true
	c, _ := newTestCrawler(t, cfg, m, s, nil)

	lastCycle := map[string]int64{}
	for round := 1; round <= 2; round++ {
		s.reset()
		st := c.RunCycle(context.Background())
		require.Zero(t, st.Unfinished)
		s.mu.Lock()
		pages := map[int64][]int{} // cycle -> page indexes
		ranges := map[int64]string{}
		for _, e := range s.msgs[message.Queue(message.KindListings)] {
			require.NotNil(t, e.Crawl, "listings page without crawl identity")
			pages[e.Crawl.Cycle] = append(pages[e.Crawl.Cycle], e.Crawl.Page)
			if r, ok := ranges[e.Crawl.Cycle]; ok {
				require.Equal(t, r, e.Crawl.Range, "one cycle is one range")
			}
			ranges[e.Crawl.Cycle] = e.Crawl.Range
			require.Contains(t, e.Request.Query, "&priceFrom="+rangeFrom(e.Crawl.Range)+"&", "the range is the request's")
		}
		for _, q := range []message.Kind{message.KindOrders, message.KindFees} {
			for _, e := range s.msgs[message.Queue(q)] {
				require.Nil(t, e.Crawl, "%s messages carry no crawl", q)
			}
		}
		s.mu.Unlock()
		require.NotEmpty(t, pages)
		seenRanges := map[string]bool{}
		for cycle, idx := range pages {
			require.ElementsMatch(t, seq(len(idx)), idx, "pages of cycle %d are 0..n-1, once each", cycle)
			r := ranges[cycle]
			require.False(t, seenRanges[r], "range %s crawled under two cycles in one round", r)
			seenRanges[r] = true
		}
		for cycle := range pages {
			for _, prev := range lastCycle {
				require.Greater(t, cycle, prev, "round %d reuses or precedes an earlier cycle", round)
			}
		}
		clear(lastCycle)
		for cycle, idx := range pages {
			if len(idx) > 0 {
				lastCycle[ranges[cycle]] = cycle
			}
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// rangeFrom returns the lower bound of a "<from>-<to>" range.
func rangeFrom(r string) string {
	for i := range len(r) {
		if r[i] == '-' {
			_, err := strconv.ParseInt(r[:i], 10, 64)
			if err != nil {
				return "invalid"
			}
			return r[:i]
		}
	}
	return "invalid"
}
