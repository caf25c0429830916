package dmarkettest_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

// movingSim returns a small adversarial simulator on a fake clock.
func movingSim(t *testing.T) (*dmarkettest.Handler, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.NewFake(refNow)
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.Simple, c.Clock = false, clk }))
	require.NoError(t, err)
	return h, clk
}

// listed returns the item ids of a game's listings and their prices.
func listed(h *dmarkettest.Handler, game string) map[string]int64 {
	out := map[string]int64{}
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		for _, l := range c.Listings(game) {
			out[l.ItemID] = l.PriceCents
		}
	})
	return out
}

func TestCursorsStayValidWhileListingsAreAddedAndSold(t *testing.T) {
	inRange := func(l *dmarkettest.Listing) bool { return l.PriceCents >= 500 && l.PriceCents <= 3000 }
	crowd := func(l *dmarkettest.Listing) bool { return len(l.Title) > 7 && l.Title[:7] == "Crowd |" }
	tests := []struct {
		name  string
		query url.Values
		keep  func(*dmarkettest.Listing) bool
		// newAfter says whether listings added during the scan come after every cursor (and are served).
		newAfter bool
	}{
		{"updated desc", url.Values{"orderBy": {"updated"}, "orderDir": {"desc"}, "limit": {"25"}}, nil, false},
		{"updated asc", url.Values{"orderBy": {"updated"}, "orderDir": {"asc"}, "limit": {"25"}}, nil, true},
		{"price asc", url.Values{"orderBy": {"price"}, "orderDir": {"asc"}, "limit": {"25"}}, nil, false},
		{"price desc within a range", url.Values{"orderDir": {"desc"}, "limit": {"9"}, "priceFrom": {"500"}, "priceTo": {"3000"}}, inRange, false},
		{"title scan", url.Values{"orderBy": {"price"}, "orderDir": {"asc"}, "limit": {"10"}, "title": {"Crowd |"}}, crowd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clk := movingSim(t)
			q := cloneValues(tt.query)
			q.Set("gameId", "a8db")
			start := wantOrder(h, "a8db", q.Get("orderBy"), q.Get("orderDir") == "desc", tt.keep)
			soldUnserved, added := map[string]bool{}, map[string]bool{}
			seen := map[string]bool{}
			var got []served
			cursor := ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 500)
				page, next, _ := pageOf(t, h, q, cursor)
				for _, s := range page {
					require.False(t, seen[s.itemID], "served twice: %s", s.itemID)
					require.False(t, soldUnserved[s.itemID], "served after it was sold: %s", s.itemID)
					seen[s.itemID] = true
					if len(got) > 0 {
						require.True(t, inOrder(t, q, got[len(got)-1], s), "out of order at %d", len(got))
					}
					got = append(got, s)
				}
				if next == "" {
					break
				}
				cursor = next
				// Between pages: a new listing, then one listing sold ahead of the cursor and one behind it.
				clk.Advance(time.Second)
				l := h.AddListing("a8db", "Crowd | Deep Level", 1500+int64(pages), 0)
				added[l.ItemID] = true
				ahead := start[min(len(start)-1, len(got)+3)]
				if h.Sell("a8db", ahead) && !seen[ahead] {
					soldUnserved[ahead] = true
				}
				h.Sell("a8db", got[len(got)/2].itemID)
			}
			require.NotEmpty(t, soldUnserved, "the test sold listings ahead of the cursor")
			for _, id := range start {
				if !soldUnserved[id] {
					require.True(t, seen[id], "listing %s on the market throughout was not served", id)
				}
			}
			if tt.newAfter {
				for id := range added {
					require.True(t, seen[id], "a listing added after the cursor is served")
				}
			}
		})
	}
}

// inOrder reports whether b may follow a in the order q asks for.
func inOrder(t *testing.T, q url.Values, a, b served) bool {
	t.Helper()
	desc := q.Get("orderDir") == "desc"
	if q.Get("orderBy") == "updated" {
		if desc {
			return a.createdAt >= b.createdAt
		}
		return a.createdAt <= b.createdAt
	}
	if desc {
		return a.price >= b.price
	}
	return a.price <= b.price
}

func TestSellRemovesTheListingFromEveryViewAndRecordsASale(t *testing.T) {
	h, clk, s := signedSim(t, func(c *dmarkettest.Config) { c.Simple = false })
	clk.Advance(90 * time.Second)
	const title = "Crowd | Deep Level"
	var cheapest *dmarkettest.Listing
	var count int
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		cheapest, count = c.Title("a8db", title).Listings[0], len(c.Title("a8db", title).Listings)
	})
	require.True(t, h.Sell("a8db", cheapest.ItemID))
	require.False(t, h.Sell("a8db", cheapest.ItemID), "sold once")
	require.False(t, h.Sell("a8db", "no-such-item"))
	require.False(t, h.Sell("zz", cheapest.ItemID))

	views := []url.Values{
		{"limit": {"100"}},
		{"limit": {"100"}, "orderBy": {"updated"}, "orderDir": {"desc"}},
		{"limit": {"100"}, "title": {title}},
		{"limit": {"100"}, "priceFrom": {strconv.FormatInt(cheapest.PriceCents, 10)}, "priceTo": {strconv.FormatInt(cheapest.PriceCents, 10)}},
	}
	for _, q := range views {
		q.Set("gameId", "a8db")
		got, _ := scanAll(t, h, q)
		require.NotContains(t, ids(got), cheapest.ItemID, q.Encode())
	}
	_, _, total := pageOf(t, h, url.Values{"gameId": {"a8db"}, "limit": {"1"}, "title": {title}}, "")
	require.Equal(t, count-1, total)

	body := `{"filter":{"game":"a8db","titles":[` + strconv.Quote(title) + `]},"limit":"100","cursor":""}`
	r := do(t, h, "POST", "/marketplace-api/v1/aggregated-prices", []byte(body),
		signed(t, s, "POST", "/marketplace-api/v1/aggregated-prices", []byte(body), clk.Now()), "")
	require.Equal(t, 200, r.status, string(r.body))
	var agg struct {
		AggregatedPrices []struct {
			OfferBestPrice struct{ Amount string } `json:"offerBestPrice"`
			OfferCount     string                  `json:"offerCount"`
		} `json:"aggregatedPrices"`
	}
	require.NoError(t, json.Unmarshal(r.body, &agg))
	require.Equal(t, strconv.Itoa(count-1), agg.AggregatedPrices[0].OfferCount)
	var next int64
	h.Catalogue().View(func(c *dmarkettest.Catalogue) { next = c.Title("a8db", title).Listings[0].PriceCents })
	require.Equal(t, strconv.FormatInt(next, 10), agg.AggregatedPrices[0].OfferBestPrice.Amount)

	target := "/trade-aggregator/v1/last-sales?gameId=a8db&title=" + url.QueryEscape(title) + "&limit=1"
	r = do(t, h, "GET", target, nil, signed(t, s, "GET", target, nil, clk.Now()), "")
	require.Equal(t, 200, r.status, string(r.body))
	require.True(t, cheapest.Attrs.HasFloat && cheapest.Attrs.HasSeed, "a CS2 listing carries a float and a seed")
	require.JSONEq(t, fmt.Sprintf(`{"sales":[{"price":%q,"date":"%d","txOperationType":"Offer",
		"offerAttributes":{"floatValue":%s,"paintSeed":%d},"orderAttributes":{}}]}`,
		dmarkettest.Dollars(cheapest.PriceCents), clk.Now().Unix(), strconv.FormatFloat(cheapest.Attrs.Float, 'g', -1, 64),
		cheapest.Attrs.Seed), string(r.body), "the sale carries the sold listing's attributes")
	require.Equal(t, []dmarkettest.SoldListing{{Game: "a8db", Title: title, ItemID: cheapest.ItemID,
		Price: cheapest.PriceCents, SoldAt: clk.Now()}}, h.Sold())
}

func TestAddListingAndSetOrder(t *testing.T) {
	h, clk, s := signedSim(t, nil)
	clk.Advance(time.Minute)
	const title = `Brand New ★ "Title" | 100% (Field-Tested)`
	require.Nil(t, h.AddListing("zz", title, 100, 0), "unknown game")
	require.Nil(t, h.AddListing("a8db", title, 0, 0), "no price")
	before := len(listed(h, "a8db"))
	l := h.AddListing("a8db", title, 1234, 3600)
	require.NotNil(t, l)
	require.Equal(t, clk.Now(), l.CreatedAt)
	require.False(t, l.Tradable())
	require.Len(t, listed(h, "a8db"), before+1)
	require.Equal(t, before+1, h.Catalogue().ListingCount())

	fresh, _, _ := pageOf(t, h, url.Values{"gameId": {"a8db"}, "limit": {"1"}, "orderBy": {"updated"}, "orderDir": {"desc"}}, "")
	require.Equal(t, []served{{itemID: l.ItemID, title: title, price: 1234, createdAt: clk.Now().Unix()}}, fresh,
		"the newest listing comes first")
	scan, _, _ := pageOf(t, h, url.Values{"gameId": {"a8db"}, "limit": {"5"}, "title": {"brand new ★"}}, "")
	require.Equal(t, []string{l.ItemID}, ids(scan), "a new title is found by the title filter")

	aggregated := func() string {
		body := `{"filter":{"game":"a8db","titles":[` + strconv.Quote(title) + `]},"limit":"100","cursor":""}`
		r := do(t, h, "POST", "/marketplace-api/v1/aggregated-prices", []byte(body),
			signed(t, s, "POST", "/marketplace-api/v1/aggregated-prices", []byte(body), clk.Now()), "")
		require.Equal(t, 200, r.status)
		return string(r.body)
	}
	tests := []struct {
		name         string
		price, count int64
		want         string
	}{
		{"an order", 1100, 7, `{"title":` + strconv.Quote(title) + `,"orderBestPrice":{"Currency":"USD","Amount":"1100"},"orderCount":"7","offerBestPrice":{"Currency":"USD","Amount":"1234"},"offerCount":"1"}`},
		{"a better order", 1150, 2, `{"title":` + strconv.Quote(title) + `,"orderBestPrice":{"Currency":"USD","Amount":"1150"},"orderCount":"2","offerBestPrice":{"Currency":"USD","Amount":"1234"},"offerCount":"1"}`},
		{"no order", 0, 0, `{"title":` + strconv.Quote(title) + `,"orderCount":"0","offerBestPrice":{"Currency":"USD","Amount":"1234"},"offerCount":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.SetOrder("a8db", title, tt.price, int(tt.count))
			require.JSONEq(t, `{"aggregatedPrices":[`+tt.want+`],"nextCursor":""}`, aggregated())
		})
	}
	h.SetOrder("a8db", "Order Only Title", 500, 3)
	h.SetOrder("zz", "Order Only Title", 500, 3)
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		require.Equal(t, &dmarkettest.BuyOrder{PriceCents: 500, Count: 3}, c.Title("a8db", "Order Only Title").BuyOrder)
		require.Empty(t, c.Title("a8db", "Order Only Title").Listings)
		require.True(t, slices.IsSortedFunc(c.Titles["a8db"], func(a, b *dmarkettest.Title) int {
			return cmpString(a.Name, b.Name)
		}), "titles stay sorted by name")
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestLaneStatsCountRequestsAndRateLimits(t *testing.T) {
	clk := clocktest.NewFake(refNow)
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.PublicMarketRate, c.Clock = 2, clk }))
	require.NoError(t, err)
	get := func(query, ip string) int {
		return do(t, h, "GET", "/exchange/v1/market/items?gameId=a8db&limit=1&"+query, nil, nil, ip+":1").status
	}
	require.Equal(t, 200, get("orderBy=updated&orderDir=desc", "127.0.0.2"))
	require.Equal(t, 200, get("title=x", "127.0.0.2"))
	require.Equal(t, 429, get("orderBy=price&priceFrom=5", "127.0.0.2"))
	require.Equal(t, 429, get("orderBy=updated&orderDir=desc", "127.0.0.2"))
	require.Equal(t, 200, get("priceFrom=5", "127.0.0.3"))
	require.Equal(t, 200, get("orderBy=price&title=y", "127.0.0.3"))
	require.Equal(t, map[dmarkettest.Lane]dmarkettest.LaneStats{
		dmarkettest.LaneFresh: {Requests: 2, RateLimited: 1,
			RequestsByIP: map[string]int64{"127.0.0.2": 2}, RateLimitedByIP: map[string]int64{"127.0.0.2": 1}},
		dmarkettest.LaneTitle: {Requests: 2, RequestsByIP: map[string]int64{"127.0.0.2": 1, "127.0.0.3": 1},
			RateLimitedByIP: map[string]int64{}},
		dmarkettest.LaneRange: {Requests: 2, RateLimited: 1,
			RequestsByIP: map[string]int64{"127.0.0.2": 1, "127.0.0.3": 1}, RateLimitedByIP: map[string]int64{"127.0.0.2": 1}},
	}, h.Stats().Lanes)
	h.ResetStats()
	require.Empty(t, h.Stats().Lanes)
}
