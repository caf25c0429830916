package dmarkettest_test

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
)

// served is one listing as a market-items page served it.
type served struct {
	itemID, title string
	price         int64
	createdAt     int64
}

// pageOf fetches one market-items page of q (cursor set when not empty) and returns its listings and
// the next cursor.
func pageOf(t *testing.T, h *dmarkettest.Handler, q url.Values, cursor string) ([]served, string, int) {
	t.Helper()
	q = cloneValues(q)
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	r := do(t, h, "GET", "/exchange/v1/market/items?"+q.Encode(), nil, nil, "")
	require.Equal(t, 200, r.status, string(r.body))
	p := decodePage(t, r.body)
	out := make([]served, 0, len(p.Objects))
	for _, o := range p.Objects {
		n, err := strconv.ParseInt(o.Price.USD, 10, 64)
		require.NoError(t, err)
		require.Positive(t, o.CreatedAt, "every item carries createdAt")
		out = append(out, served{itemID: o.ItemID, title: o.Title, price: n, createdAt: o.CreatedAt})
	}
	return out, *p.Cursor, p.Total.Items
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// scanAll pages through q to the end and returns every listing served, in order, and the page count.
func scanAll(t *testing.T, h *dmarkettest.Handler, q url.Values) ([]served, int) {
	t.Helper()
	var all []served
	cursor := ""
	for pages := 1; ; pages++ {
		require.Less(t, pages, 1000)
		got, next, _ := pageOf(t, h, q, cursor)
		all = append(all, got...)
		if next == "" {
			return all, pages
		}
		require.Len(t, got, mustAtoi(t, q.Get("limit")), "only the last page is short")
		cursor = next
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// wantOrder returns the catalogue's listings of game that match keep, in the order of orderBy/orderDir.
func wantOrder(h *dmarkettest.Handler, game, orderBy string, desc bool, keep func(*dmarkettest.Listing) bool) []string {
	var ls []*dmarkettest.Listing
	h.Catalogue().View(func(c *dmarkettest.Catalogue) {
		for _, l := range c.Listings(game) {
			if keep == nil || keep(l) {
				ls = append(ls, l)
			}
		}
	})
	if orderBy == "updated" {
		slices.SortFunc(ls, func(a, b *dmarkettest.Listing) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ItemID, b.ItemID)
		})
	}
	ids := make([]string, 0, len(ls))
	for _, l := range ls {
		ids = append(ids, l.ItemID)
	}
	if desc {
		slices.Reverse(ids)
	}
	return ids
}

func ids(ss []served) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.itemID)
	}
	return out
}

func TestMarketItemsOrdersAndTitleScansPageThroughEverything(t *testing.T) {
	h := adversarial(t, nil)
	crowd := "Crowd | Tradable at a Bound (Field-Tested)"
	byTitle := func(prefix string) func(*dmarkettest.Listing) bool {
		return func(l *dmarkettest.Listing) bool {
			return strings.HasPrefix(strings.ToLower(l.Title), strings.ToLower(prefix))
		}
	}
	tests := []struct {
		name    string
		query   url.Values
		orderBy string
		desc    bool
		keep    func(*dmarkettest.Listing) bool
	}{
		{"updated desc, the fresh lane", url.Values{"orderBy": {"updated"}, "orderDir": {"desc"}, "limit": {"37"}}, "updated", true, nil},
		{"updated asc", url.Values{"orderBy": {"updated"}, "orderDir": {"asc"}, "limit": {"100"}}, "updated", false, nil},
		{"updated desc within a price range", url.Values{"orderBy": {"updated"}, "orderDir": {"desc"}, "limit": {"10"},
			"priceFrom": {"700"}, "priceTo": {"2600"}}, "updated", true,
			func(l *dmarkettest.Listing) bool { return l.PriceCents >= 700 && l.PriceCents <= 2600 }},
		{"price asc is the default", url.Values{"limit": {"100"}}, "price", false, nil},
		{"title scan of a crowded title", url.Values{"orderBy": {"price"}, "orderDir": {"asc"}, "limit": {"50"},
			"title": {crowd}}, "price", false, byTitle(crowd)},
		{"title scan of a title with special characters", url.Values{"orderBy": {"price"}, "orderDir": {"asc"}, "limit": {"1"},
			"title": {`StatTrak™ ★ Bayonet | Doppler <Phase 2> & "Ruby" : *+% (Minimal Wear)`}}, "price", false,
			byTitle(`StatTrak™ ★ Bayonet | Doppler <Phase 2> & "Ruby" : *+% (Minimal Wear)`)},
		{"title prefix of many titles sharing one price", url.Values{"orderBy": {"price"}, "orderDir": {"asc"}, "limit": {"7"},
			"title": {"shared price case"}}, "price", false, byTitle("Shared Price Case")},
		{"title scan in the updated order", url.Values{"orderBy": {"updated"}, "orderDir": {"desc"}, "limit": {"30"},
			"title": {"Crowd |"}}, "updated", true, byTitle("Crowd |")},
		{"title scan of an unknown title", url.Values{"limit": {"5"}, "title": {"No Such Title"}}, "price", false,
			byTitle("No Such Title")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := cloneValues(tt.query)
			q.Set("gameId", "a8db")
			want := wantOrder(h, "a8db", tt.orderBy, tt.desc, tt.keep)
			got, pages := scanAll(t, h, q)
			require.Equal(t, want, ids(got))
			_, _, total := pageOf(t, h, q, "")
			require.Equal(t, min(len(want), 10000), total)
			if tt.keep != nil && len(want) > mustAtoi(t, q.Get("limit")) {
				require.Greater(t, pages, 1, "the scan needs cursors")
			}
			for i := 1; i < len(got); i++ {
				switch {
				case tt.orderBy == "price":
					require.LessOrEqual(t, got[i-1].price, got[i].price)
				case tt.desc:
					require.GreaterOrEqual(t, got[i-1].createdAt, got[i].createdAt)
				default:
					require.LessOrEqual(t, got[i-1].createdAt, got[i].createdAt)
				}
			}
		})
	}
}

// BenchmarkMovingMarket80k serves the fresh lane's first page and a title scan, and adds and sells one
// listing, on an 80,000-listing catalogue.
func BenchmarkMovingMarket80k(b *testing.B) {
	h, err := dmarkettest.NewHandler(dmarkettest.Config{Titles: 8000, ListingsPerTitle: 10, Now: refNow, PublicMarketRate: -1})
	require.NoError(b, err)
	title := h.Catalogue().Titles["a8db"][4000].Name
	serve := func(b *testing.B, target string) {
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	}
	b.Run("fresh page", func(b *testing.B) {
		serve(b, "/exchange/v1/market/items?gameId=a8db&limit=100&orderBy=updated&orderDir=desc")
	})
	b.Run("title scan", func(b *testing.B) {
		serve(b, "/exchange/v1/market/items?gameId=a8db&limit=100&orderBy=price&orderDir=asc&title="+url.QueryEscape(title))
	})
	b.Run("add and sell", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			l := h.AddListing("a8db", title, 100+int64(i%5000), 0)
			if !h.Sell("a8db", l.ItemID) {
				b.Fatal("not sold")
			}
		}
	})
}
