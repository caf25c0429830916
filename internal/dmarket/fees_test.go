package dmarket

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// TestCustomizedFeesPagesThroughEveryReducedFee: a game with more reduced fees than one page holds gets
// all of them, in one merged answer (SPEC §3.1 fees), against the simulator's limit/offset paging.
func TestCustomizedFeesPagesThroughEveryReducedFee(t *testing.T) {
	tests := map[string]struct {
		reduced int
		pages   int
	}{
		"fewer than a page": {reduced: 3, pages: 2},
		"exactly one page":  {reduced: customizedFeesLimit, pages: 2},
		"several pages":     {reduced: 2*customizedFeesLimit + 345, pages: 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sim := newSim(t, func(c *dmarkettest.Config) {
				c.Titles, c.ListingsPerTitle, c.ReducedFeeTitles = tc.reduced+5, 1, tc.reduced
			})
			c := newTestClient(t, sim.URL(), Config{}, nil, WithSigner(demoSignerFor(t)))
			fees, err := c.CustomizedFees(context.Background(), "a8db")
			require.NoError(t, err)
			want := sim.Catalogue().Fees["a8db"]
			require.Equal(t, tc.reduced, len(want.Reduced))
			require.Equal(t, tc.reduced, len(fees.Reduced), "reduced fees")
			for i, r := range want.Reduced {
				require.Equal(t, r.Title, fees.Reduced[i].Title)
				require.Equal(t, market.Cents(r.MaxPriceCents), fees.Reduced[i].MaxPriceCents)
			}
			require.Equal(t, want.DefaultFraction, fees.Default.Fraction)
			require.Equal(t, tc.pages, fees.Request.Pages)
			require.Equal(t, "gameId=a8db&offerType=dmarket&limit=1000", fees.Request.Query, "the first page's request")

			// The published body holds every reduced fee too.
			fromRaw, err := DecodeCustomizedFees(fees.Raw)
			require.NoError(t, err)
			require.Equal(t, fees.CustomizedFeesBody, *fromRaw)
		})
	}
}

// TestCustomizedFeesPagingEnds: a server that ignores offset, or answers pages shorter than asked,
// neither loops nor loses fees.
func TestCustomizedFeesPagingEnds(t *testing.T) {
	entry := func(i int) json.RawMessage {
		return json.RawMessage(`{"title":"T` + strconv.Itoa(i) + `","fraction":"0.02","minPrice":1,"maxPrice":100000000}`)
	}
	tests := []struct {
		name     string
		total    int
		pageSize int // what the server returns at most, whatever limit says
		ignore   bool
		requests int
	}{
		{name: "offset ignored", total: 5, pageSize: 1000, ignore: true, requests: 2},
		{name: "server caps the page size", total: 250, pageSize: 100, requests: 4},
		{name: "no reduced fees", total: 0, pageSize: 100, requests: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var offsets []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				offsets = append(offsets, r.URL.Query().Get("offset"))
				mu.Unlock()
				off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
				if tc.ignore {
					off = 0
				}
				page := []json.RawMessage{}
				for i := off; i < tc.total && i < off+tc.pageSize; i++ {
					page = append(page, entry(i))
				}
				b, _ := json.Marshal(map[string]any{"defaultFee": map[string]any{"fraction": "0.05", "minAmount": 1}, "reducedFees": page})
				_, _ = w.Write(b)
			}))
			t.Cleanup(srv.Close)
			_, signer := testKeys(t)
			c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer))
			fees, err := c.CustomizedFees(context.Background(), "a8db")
			require.NoError(t, err)
			require.Equal(t, tc.total, len(fees.Reduced), "reduced fees")
			for i, r := range fees.Reduced {
				require.Equal(t, "T"+strconv.Itoa(i), r.Title)
			}
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, offsets, tc.requests)
			require.Empty(t, offsets[0], "the first page asks for no offset")
		})
	}
}
