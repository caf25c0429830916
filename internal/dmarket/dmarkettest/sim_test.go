package dmarkettest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

var refNow = time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)

func small(mod func(*dmarkettest.Config)) dmarkettest.Config {
	cfg := dmarkettest.Config{Seed: 7, Titles: 60, ListingsPerTitle: 8, Now: refNow, Simple: true,
		PublicMarketRate: -1, PublicOtherRate: -1, AccountListingsRate: -1, AccountSalesRate: -1, AccountOtherRate: -1}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, h http.Handler, method, target string, body []byte, hdr http.Header, remote string) resp {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if remote != "" {
		req.RemoteAddr = remote
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return resp{status: rec.Code, header: rec.Header(), body: b}
}

func signed(t testing.TB, s *dmarket.Signer, method, target string, body []byte, at time.Time) http.Header {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	s.Sign(req, body, at)
	return req.Header
}

// signedSim returns a small simulator that accepts the demo keys on a fake clock, with the clock and a
// signer of the demo keys; mod, when not nil, adjusts the configuration further.
func signedSim(t testing.TB, mod func(*dmarkettest.Config)) (*dmarkettest.Handler, *clocktest.Fake, *dmarket.Signer) {
	t.Helper()
	clk := clocktest.NewFake(refNow)
	pub, _ := dmarkettest.DemoKeys()
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) {
		c.PublicKeys, c.Clock = []string{pub}, clk
		if mod != nil {
			mod(c)
		}
	}))
	require.NoError(t, err)
	return h, clk, demoSigner(t)
}

func demoSigner(t testing.TB) *dmarket.Signer {
	pub, sec := dmarkettest.DemoKeys()
	s, err := dmarket.NewSigner(pub, sec)
	require.NoError(t, err)
	return s
}

type page struct {
	Objects []struct {
		ItemID    string `json:"itemId"`
		Title     string `json:"title"`
		CreatedAt int64  `json:"createdAt"`
		Price     struct {
			USD string `json:"USD"`
		} `json:"price"`
		Extra struct {
			OfferID           string `json:"offerId"`
			Tradable          bool   `json:"tradable"`
			TradeLock         *int   `json:"tradeLock"`
			TradeLockDuration int64  `json:"tradeLockDuration"`
		} `json:"extra"`
	} `json:"objects"`
	Total struct {
		Items int `json:"items"`
	} `json:"total"`
	Cursor *string `json:"cursor"`
}

func decodePage(t testing.TB, b []byte) page {
	t.Helper()
	var p page
	require.NoError(t, json.Unmarshal(b, &p), string(b))
	require.NotNil(t, p.Cursor, "cursor is always present")
	return p
}

func TestCatalogueIsDeterministicAndVaried(t *testing.T) {
	a, err := dmarkettest.NewHandler(small(nil))
	require.NoError(t, err)
	b, err := dmarkettest.NewHandler(small(nil))
	require.NoError(t, err)
	c, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.Seed = 8 }))
	require.NoError(t, err)

	la, lb, lc := a.Catalogue().Listings("a8db"), b.Catalogue().Listings("a8db"), c.Catalogue().Listings("a8db")
	require.Equal(t, len(la), len(lb))
	for i := range la {
		require.Equal(t, *la[i], *lb[i])
	}
	require.NotEqual(t, la[0].OfferID, lc[0].OfferID, "another seed, another catalogue")

	cat := a.Catalogue()
	require.Len(t, cat.Titles["a8db"], 60)
	require.Equal(t, len(la), cat.ListingCount())
	var locked, bids, stable, subDay int
	seen := map[string]bool{}
	for _, title := range cat.Titles["a8db"] {
		require.Same(t, title, cat.Title("a8db", title.Name))
		require.False(t, seen[title.Name], "titles are unique")
		seen[title.Name] = true
		require.NotEmpty(t, title.Listings)
		require.True(t, sort.SliceIsSorted(title.Listings, func(i, j int) bool { return title.Listings[i].PriceCents < title.Listings[j].PriceCents }))
		for _, l := range title.Listings {
			if !l.Tradable() {
				locked++
				if l.LockDays() == 0 {
					subDay++
				}
			}
		}
		if title.BuyOrder != nil {
			bids++
			ask := title.Listings[0].PriceCents
			for _, l := range title.Listings {
				if l.Tradable() {
					ask = l.PriceCents
					break
				}
			}
			require.Less(t, title.BuyOrder.PriceCents, ask, "a bid never crosses the tradable ask")
		}
		for i := 1; i < len(title.Sales); i++ {
			require.False(t, title.Sales[i].Date.After(title.Sales[i-1].Date), "sales are newest first")
		}
		if title.Stable {
			stable++
			week := 0
			for _, s := range title.Sales {
				if s.Date.After(refNow.Add(-7 * 24 * time.Hour)) {
					week++
				}
			}
			require.GreaterOrEqual(t, week, 7*24-1, "a stable title sells every hour")
			require.True(t, title.Sales[len(title.Sales)-1].Date.Before(refNow.Add(-7*24*time.Hour)), "history covers more than 7 days")
		}
	}
	require.Positive(t, locked)
	require.Positive(t, bids)
	require.Less(t, bids, 60)
	require.Positive(t, stable)
	require.Len(t, cat.Fees["a8db"].Reduced, 3)
	require.Equal(t, "0.05", cat.Fees["a8db"].DefaultFraction)
	require.Nil(t, cat.Title("a8db", "nope"))
	_ = subDay
}

func TestMarketItemsPagingCoversTheCatalogue(t *testing.T) {
	for _, dir := range []string{"asc", "desc"} {
		t.Run(dir, func(t *testing.T) {
			h, err := dmarkettest.NewHandler(small(nil))
			require.NoError(t, err)
			all := h.Catalogue().Listings("a8db")
			seen := map[string]bool{}
			var prices []int64
			cursor := ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 100)
				q := url.Values{"gameId": {"a8db"}, "limit": {"37"}, "orderBy": {"price"}, "orderDir": {dir}, "currency": {"USD"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				r := do(t, h, "GET", "/exchange/v1/market/items?"+q.Encode(), nil, nil, "")
				require.Equal(t, 200, r.status, string(r.body))
				p := decodePage(t, r.body)
				require.Equal(t, len(all), p.Total.Items)
				for _, o := range p.Objects {
					require.False(t, seen[o.ItemID], "listing %s served twice", o.ItemID)
					seen[o.ItemID] = true
					n, err := strconv.ParseInt(o.Price.USD, 10, 64)
					require.NoError(t, err)
					prices = append(prices, n)
				}
				cursor = *p.Cursor
				if cursor == "" {
					break
				}
				require.Len(t, p.Objects, 37, "only the last page is short")
			}
			require.Len(t, seen, len(all))
			if dir == "asc" {
				require.True(t, sort.SliceIsSorted(prices, func(i, j int) bool { return prices[i] < prices[j] }))
			} else {
				require.True(t, sort.SliceIsSorted(prices, func(i, j int) bool { return prices[i] > prices[j] }))
			}
		})
	}
}

func TestMarketItemsPriceFiltersAndUnits(t *testing.T) {
	h, err := dmarkettest.NewHandler(small(nil))
	require.NoError(t, err)
	all := h.Catalogue().Listings("a8db")
	from, to := all[len(all)/4].PriceCents, all[len(all)/2].PriceCents
	want := 0
	for _, l := range all {
		if l.PriceCents >= from && l.PriceCents <= to {
			want++
		}
	}
	got := 0
	cursor := ""
	for {
		target := "/exchange/v1/market/items?gameId=a8db&limit=100&priceFrom=" + strconv.FormatInt(from, 10) + "&priceTo=" + strconv.FormatInt(to, 10)
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		r := do(t, h, "GET", target, nil, nil, "")
		require.Equal(t, 200, r.status)
		p := decodePage(t, r.body)
		require.Equal(t, want, p.Total.Items)
		for _, o := range p.Objects {
			n, _ := strconv.ParseInt(o.Price.USD, 10, 64)
			require.GreaterOrEqual(t, n, from)
			require.LessOrEqual(t, n, to)
			got++
			if !o.Extra.Tradable {
				require.Positive(t, o.Extra.TradeLockDuration)
				if o.Extra.TradeLockDuration < 86400 {
					require.Nil(t, o.Extra.TradeLock, "a lock under a day has no tradeLock key")
				} else {
					require.Equal(t, int(o.Extra.TradeLockDuration/86400), *o.Extra.TradeLock)
				}
			}
		}
		if cursor = *p.Cursor; cursor == "" {
			break
		}
	}
	require.Equal(t, want, got)

	r := do(t, h, "GET", "/exchange/v1/market/items?gameId=a8db&priceFrom=999999999", nil, nil, "")
	require.Equal(t, 200, r.status)
	p := decodePage(t, r.body)
	require.Empty(t, p.Objects)
	require.Empty(t, *p.Cursor)
	require.Contains(t, string(r.body), `"objects":[]`)

	name := h.Catalogue().Titles["a8db"][0].Name
	r = do(t, h, "GET", "/exchange/v1/market/items?gameId=a8db&limit=100&title="+url.QueryEscape(name[:len(name)-3]), nil, nil, "")
	p = decodePage(t, r.body)
	require.NotEmpty(t, p.Objects)
	for _, o := range p.Objects {
		require.Contains(t, o.Title, name[:len(name)-3])
	}
}

func TestMarketItemsRejectsBadQueries(t *testing.T) {
	h, err := dmarkettest.NewHandler(small(nil))
	require.NoError(t, err)
	tests := []struct {
		name, query, body string
	}{
		{"limit above 100", "gameId=a8db&limit=101", `{"code":"BadRequest","message":"limit: must be no greater than 100."}`},
		{"limit zero", "gameId=a8db&limit=0", `{"code":"BadRequest","message":"limit: must be no less than 1."}`},
		{"limit text", "gameId=a8db&limit=ten", `{"code":"BadRequest","message":"limit: must be an integer."}`},
		{"no game", "limit=10", `{"code":"GameIDRequired","message":"gameId: cannot be blank."}`},
		{"unknown game", "gameId=zz", `{"code":"BadRequest","message":"gameId: must be a valid value."}`},
		{"bad cursor", "gameId=a8db&cursor=%21%21", `{"code":"BadRequest","message":"cursor: invalid value."}`},
		{"cursor not an array", "gameId=a8db&cursor=" + url.QueryEscape("e30="), `{"code":"BadRequest","message":"cursor: invalid value."}`},
		{"negative price", "gameId=a8db&priceFrom=-5", `{"code":"BadRequest","message":"priceFrom, priceTo: must be non-negative integers."}`},
		{"unknown order", "gameId=a8db&orderBy=best_deals", `{"code":"BadRequest","message":"orderBy: must be a valid value."}`},
		{"unknown direction", "gameId=a8db&orderBy=updated&orderDir=up", `{"code":"BadRequest","message":"orderDir: must be a valid value."}`},
		{"cursor too long", "gameId=a8db&cursor=" + url.QueryEscape("WzEsMiwiYSIsImIiLCJjIl0="), `{"code":"BadRequest","message":"cursor: invalid value."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, "GET", "/exchange/v1/market/items?"+tt.query, nil, nil, "")
			require.Equal(t, 400, r.status)
			require.JSONEq(t, tt.body, string(r.body))
		})
	}
	r := do(t, h, "GET", "/exchange/v1/nope", nil, nil, "")
	require.Equal(t, 404, r.status)
	r = do(t, h, "POST", "/exchange/v1/market/items?gameId=a8db", nil, nil, "")
	require.Equal(t, 405, r.status)
}

func TestPerIPRateLimit(t *testing.T) {
	clk := clocktest.NewFake(refNow)
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) {
		c.PublicMarketRate, c.PublicOtherRate, c.Clock = 2, 6, clk
	}))
	require.NoError(t, err)
	get := func(ip string) resp {
		return do(t, h, "GET", "/exchange/v1/market/items?gameId=a8db&limit=1", nil, nil, ip+":40000")
	}
	require.Equal(t, 200, get("127.0.0.1").status)
	ok := get("127.0.0.1")
	require.Equal(t, 200, ok.status)
	require.Equal(t, "2", ok.header.Get("X-RateLimit-Limit-Second"))
	require.Equal(t, "0", ok.header.Get("RateLimit-Remaining"))
	limited := get("127.0.0.1")
	require.Equal(t, 429, limited.status)
	require.JSONEq(t, `{"message":"API rate limit exceeded"}`, string(limited.body))
	require.Equal(t, "1", limited.header.Get("Retry-After"))
	require.Equal(t, "1", limited.header.Get("RateLimit-Reset"))
	require.Equal(t, "0", limited.header.Get("X-RateLimit-Remaining-Second"))

	require.Equal(t, 200, get("127.0.0.2").status, "another loopback address is another client")
	for i := 0; i < 6; i++ {
		r := do(t, h, "GET", "/exchange/v1/customized-fees?gameId=a8db", nil, nil, "127.0.0.1:40000")
		require.Equal(t, 401, r.status, "the other-methods bucket is separate; unsigned fees are refused")
	}
	r := do(t, h, "GET", "/exchange/v1/customized-fees?gameId=a8db", nil, nil, "127.0.0.1:40000")
	require.Equal(t, 429, r.status)

	clk.Advance(time.Second)
	require.Equal(t, 200, get("127.0.0.1").status, "tokens come back with time")

	st := h.Stats()
	require.Equal(t, int64(11), st.Requests["127.0.0.1"])
	require.Equal(t, int64(1), st.Requests["127.0.0.2"])
	require.Equal(t, int64(2), st.RateLimited["127.0.0.1"])
	require.Zero(t, st.RateLimited["127.0.0.2"])
	require.Equal(t, int64(5), st.ByEndpoint[dmarkettest.EndpointMarketItems])
	require.Equal(t, int64(6), st.Unauthorized)
	h.ResetStats()
	require.Empty(t, h.Stats().Requests)
}

func TestSignatureVerification(t *testing.T) {
	h, clk, s := signedSim(t, nil)
	title := h.Catalogue().Titles["a8db"][0].Name
	target := "/trade-aggregator/v1/last-sales?gameId=a8db&title=" + url.QueryEscape(title) + "&limit=20"

	r := do(t, h, "GET", target, nil, signed(t, s, "GET", target, nil, clk.Now()), "")
	require.Equal(t, 200, r.status, string(r.body))

	otherPriv := ed25519.NewKeyFromSeed(make([]byte, 32))
	other, err := dmarket.NewSigner(hex.EncodeToString(otherPriv.Public().(ed25519.PublicKey)), hex.EncodeToString(otherPriv))
	require.NoError(t, err)
	tampered := signed(t, s, "GET", target, nil, clk.Now())
	tampered.Set("X-Sign-Date", strconv.FormatInt(clk.Now().Unix()+1, 10))
	noScheme := signed(t, s, "GET", target, nil, clk.Now())
	noScheme.Set("X-Request-Sign", "ed25519 abc")
	badHex := signed(t, s, "GET", target, nil, clk.Now())
	badHex.Set("X-Request-Sign", "dmar ed25519 zz")
	badDate := signed(t, s, "GET", target, nil, clk.Now())
	badDate.Set("X-Sign-Date", "12abc")

	tests := []struct {
		name   string
		target string
		hdr    http.Header
		body   string
	}{
		{"unsigned", target, nil, `{"code":16,"message":"Unauthorized"}`},
		{"stale", target, signed(t, s, "GET", target, nil, clk.Now().Add(-3*time.Minute)), `{"code":16,"message":"Unauthorized"}`},
		{"from the future", target, signed(t, s, "GET", target, nil, clk.Now().Add(3*time.Minute)), `{"code":16,"message":"Unauthorized"}`},
		{"unknown key", target, signed(t, other, "GET", target, nil, clk.Now()), `{"code":16,"message":"Unauthorized"}`},
		{"other query", target + "&offset=20", signed(t, s, "GET", target, nil, clk.Now()), `{"code":16,"message":"Unauthorized"}`},
		{"tampered date", target, tampered, `{"code":16,"message":"Unauthorized"}`},
		{"no scheme", target, noScheme, `{"code":16,"message":"Unauthorized"}`},
		{"bad hex", target, badHex, `{"code":16,"message":"Unauthorized"}`},
		{"bad date", target, badDate, `{"code":16,"message":"Unauthorized"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, "GET", tt.target, nil, tt.hdr, "")
			require.Equal(t, 401, r.status)
			require.JSONEq(t, tt.body, string(r.body))
		})
	}

	r = do(t, h, "POST", "/marketplace-api/v1/aggregated-prices", []byte(`{}`), nil, "")
	require.Equal(t, 401, r.status)
	require.JSONEq(t, `{"Code":"Unauthorized","Message":"Unauthorized"}`, string(r.body))
	r = do(t, h, "GET", "/exchange/v1/customized-fees?gameId=a8db", nil, nil, "")
	require.JSONEq(t, `{"code":"Unauthorized","message":"Unauthorized"}`, string(r.body))

	body := []byte(`{"filter":{"game":"a8db","titles":["x"]},"limit":"100","cursor":""}`)
	hdr := signed(t, s, "POST", "/marketplace-api/v1/aggregated-prices", body, clk.Now())
	r = do(t, h, "POST", "/marketplace-api/v1/aggregated-prices", []byte(`{"filter":{"game":"a8db","titles":["y"]},"limit":"100","cursor":""}`), hdr, "")
	require.Equal(t, 401, r.status, "the body is signed too")

	_, err = dmarkettest.NewHandler(dmarkettest.Config{PublicKeys: []string{"abc"}})
	require.Error(t, err)
	require.Panics(t, func() { dmarkettest.New(dmarkettest.Config{PublicKeys: []string{"abc"}}) })
}

func TestAccountRateLimits(t *testing.T) {
	h, clk, s := signedSim(t, func(c *dmarkettest.Config) {
		c.AccountListingsRate, c.AccountSalesRate, c.AccountOtherRate = 10, 6, 20
	})
	tests := []struct {
		name   string
		target string
		limit  int
	}{
		{"sales", "/trade-aggregator/v1/last-sales?gameId=a8db&title=x", 6},
		{"listings", "/exchange/v1/market/items?gameId=a8db&limit=1", 10},
		{"other", "/exchange/v1/customized-fees?gameId=a8db", 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < tt.limit; i++ {
				r := do(t, h, "GET", tt.target, nil, signed(t, s, "GET", tt.target, nil, clk.Now()), "127.0.0.9:1")
				require.Equal(t, 200, r.status, "request %d", i)
			}
			r := do(t, h, "GET", tt.target, nil, signed(t, s, "GET", tt.target, nil, clk.Now()), "127.0.0.10:1")
			require.Equal(t, 429, r.status, "the account limit follows the key across IPs")
			require.Equal(t, strconv.Itoa(tt.limit), r.header.Get("RateLimit-Limit"))
		})
	}
}

func TestFaults(t *testing.T) {
	pub, _ := dmarkettest.DemoKeys()
	srv := dmarkettest.New(small(func(c *dmarkettest.Config) { c.PublicKeys = []string{pub} }))
	defer srv.Close()
	get := func() (int, []byte) {
		res, err := http.Get(srv.URL() + "/exchange/v1/market/items?gameId=a8db&limit=2")
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, _ := get()
	require.Equal(t, 200, code)

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Gone: true})
	code, body := get()
	require.Equal(t, 410, code)
	require.JSONEq(t, `{"code":"Gone","message":"This endpoint is no longer supported."}`, string(body))

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Status: 403})
	code, _ = get()
	require.Equal(t, 403, code)

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{ServerErrorRate: 1})
	fives := map[int]bool{}
	for i := 0; i < 30; i++ {
		code, _ = get()
		require.GreaterOrEqual(t, code, 500)
		fives[code] = true
	}
	require.Len(t, fives, 3, "500, 502 and 503 all occur")

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{MalformedRate: 1})
	code, body = get()
	require.Equal(t, 200, code)
	require.False(t, json.Valid(body))

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+"/exchange/v1/market/items?gameId=a8db", nil)
	_, err := http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Delay: time.Millisecond})
	code, _ = get()
	require.Equal(t, 200, code, "a delay alone still answers")

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{ServerErrorRate: 0.5})
	codes := map[int]int{}
	for i := 0; i < 40; i++ {
		c, _ := get()
		codes[c]++
	}
	require.Positive(t, codes[500]+codes[502]+codes[503])
	require.Positive(t, codes[200])

	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{})
	code, _ = get()
	require.Equal(t, 200, code)
	srv.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Gone: true})
	srv.ClearFaults()
	code, _ = get()
	require.Equal(t, 200, code)
}

func TestLoopbackClientIsSeenAsItsIP(t *testing.T) {
	srv := dmarkettest.New(small(nil))
	defer srv.Close()
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		res, err := dmarkettest.LoopbackClient(ip).Get(srv.URL() + "/exchange/v1/market/items?gameId=a8db&limit=1")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
	}
	st := srv.Stats()
	require.Equal(t, int64(1), st.Requests["127.0.0.2"])
	require.Equal(t, int64(1), st.Requests["127.0.0.3"])
}

func TestOtherEndpointsShapes(t *testing.T) {
	h, clk, s := signedSim(t, nil)
	cat := h.Catalogue()
	sget := func(target string) resp {
		return do(t, h, "GET", target, nil, signed(t, s, "GET", target, nil, clk.Now()), "")
	}
	spost := func(body string) resp {
		return do(t, h, "POST", "/marketplace-api/v1/aggregated-prices", []byte(body),
			signed(t, s, "POST", "/marketplace-api/v1/aggregated-prices", []byte(body), clk.Now()), "")
	}

	var withBid, withoutBid *dmarkettest.Title
	for _, ti := range cat.Titles["a8db"] {
		if ti.BuyOrder != nil && withBid == nil {
			withBid = ti
		}
		if ti.BuyOrder == nil && withoutBid == nil {
			withoutBid = ti
		}
	}
	body, _ := json.Marshal(map[string]any{"filter": map[string]any{"game": "a8db", "titles": []string{withBid.Name, withoutBid.Name, "unknown"}}, "limit": "100", "cursor": ""})
	r := spost(string(body))
	require.Equal(t, 200, r.status, string(r.body))
	var agg struct {
		AggregatedPrices []map[string]any `json:"aggregatedPrices"`
		NextCursor       *string          `json:"nextCursor"`
	}
	require.NoError(t, json.Unmarshal(r.body, &agg))
	require.Len(t, agg.AggregatedPrices, 2)
	require.Equal(t, map[string]any{"Currency": "USD", "Amount": strconv.FormatInt(withBid.BuyOrder.PriceCents, 10)}, agg.AggregatedPrices[0]["orderBestPrice"])
	require.Equal(t, strconv.Itoa(withBid.BuyOrder.Count), agg.AggregatedPrices[0]["orderCount"])
	require.Equal(t, map[string]any{"Currency": "USD", "Amount": strconv.FormatInt(withBid.Listings[0].PriceCents, 10)}, agg.AggregatedPrices[0]["offerBestPrice"])
	require.NotContains(t, agg.AggregatedPrices[1], "orderBestPrice", "no buy order, no orderBestPrice")
	require.Equal(t, "", *agg.NextCursor)

	seenTitles := 0
	cursor := ""
	for i := 0; i < 10; i++ {
		r = spost(`{"filter":{"game":"a8db"},"limit":"25","cursor":"` + cursor + `"}`)
		require.Equal(t, 200, r.status)
		require.NoError(t, json.Unmarshal(r.body, &agg))
		seenTitles += len(agg.AggregatedPrices)
		if cursor = *agg.NextCursor; cursor == "" {
			break
		}
	}
	require.Equal(t, 60, seenTitles, "without titles the whole game is paged")
	for _, bad := range []string{`not json`, `{"filter":{"game":"zz"}}`, `{"filter":{"game":"a8db"},"limit":"x"}`, `{"filter":{"game":"a8db"},"cursor":"!!"}`} {
		require.Equal(t, 400, spost(bad).status, bad)
	}

	var stable *dmarkettest.Title
	for _, ti := range cat.Titles["a8db"] {
		if ti.Stable {
			stable = ti
			break
		}
	}
	require.NotNil(t, stable)
	base := "/trade-aggregator/v1/last-sales?gameId=a8db&title=" + url.QueryEscape(stable.Name)
	r = sget(base + "&limit=50&offset=20")
	require.Equal(t, 200, r.status)
	var sales struct {
		Sales []struct {
			Price           string `json:"price"`
			Date            string `json:"date"`
			TxOperationType string `json:"txOperationType"`
		} `json:"sales"`
	}
	require.NoError(t, json.Unmarshal(r.body, &sales))
	require.Len(t, sales.Sales, 20, "limit is clamped to 20")
	first := stable.Sales[20]
	require.Equal(t, dmarkettest.Dollars(first.PriceCents), sales.Sales[0].Price)
	require.Equal(t, strconv.FormatInt(first.Date.Unix(), 10), sales.Sales[0].Date)
	require.Equal(t, first.TxOperationType, sales.Sales[0].TxOperationType)
	r = sget("/trade-aggregator/v1/last-sales?gameId=a8db&title=unknown")
	require.JSONEq(t, `{"sales":[]}`, string(r.body))
	for _, bad := range []string{"?title=x", "?gameId=a8db", "?gameId=a8db&title=x&limit=0", "?gameId=a8db&title=x&offset=-1"} {
		require.Equal(t, 400, sget("/trade-aggregator/v1/last-sales"+bad).status, bad)
	}

	r = sget("/exchange/v1/customized-fees?gameId=a8db&offerType=dmarket&limit=2&offset=1")
	require.Equal(t, 200, r.status)
	var fees struct {
		DefaultFee struct {
			Fraction  string `json:"fraction"`
			MinAmount int64  `json:"minAmount"`
		} `json:"defaultFee"`
		ReducedFees []struct {
			Title     string `json:"title"`
			Fraction  string `json:"fraction"`
			MinPrice  int64  `json:"minPrice"`
			MaxPrice  int64  `json:"maxPrice"`
			ExpiresAt int64  `json:"expiresAt"`
		} `json:"reducedFees"`
	}
	require.NoError(t, json.Unmarshal(r.body, &fees))
	require.Equal(t, "0.05", fees.DefaultFee.Fraction)
	require.Equal(t, int64(1), fees.DefaultFee.MinAmount)
	require.Len(t, fees.ReducedFees, 2)
	rf := cat.Fees["a8db"].Reduced[1]
	require.Equal(t, rf.Title, fees.ReducedFees[0].Title)
	require.Equal(t, rf.ExpiresAt.Unix(), fees.ReducedFees[0].ExpiresAt)
	for _, bad := range []string{"", "?gameId=zz", "?gameId=a8db&offerType=x", "?gameId=a8db&limit=0"} {
		require.Equal(t, 400, sget("/exchange/v1/customized-fees"+bad).status, bad)
	}
}

func TestDollars(t *testing.T) {
	require.Equal(t, "12.57", dmarkettest.Dollars(1257))
	require.Equal(t, "0.03", dmarkettest.Dollars(3))
	require.Equal(t, "100.00", dmarkettest.Dollars(10000))
}

func TestNamesBeyondTheCS2Pool(t *testing.T) {
	h, err := dmarkettest.NewHandler(dmarkettest.Config{Games: []string{"a8db", "9a92"}, Titles: 7300, ListingsPerTitle: 1, Now: refNow, Simple: true})
	require.NoError(t, err)
	require.Len(t, h.Catalogue().Titles["a8db"], 7300)
	require.Len(t, h.Catalogue().Titles["9a92"], 7300)
	require.Equal(t, []string{"a8db", "9a92"}, h.Catalogue().Games)
	_, err = dmarkettest.NewHandler(dmarkettest.Config{Titles: 20_000_000})
	require.Error(t, err)
}

// BenchmarkMarketItemsPage serves one 100-listing page out of a 200,000-listing catalogue.
func BenchmarkMarketItemsPage(b *testing.B) {
	h, err := dmarkettest.NewHandler(dmarkettest.Config{Titles: 2000, ListingsPerTitle: 100, Now: refNow, PublicMarketRate: -1})
	require.NoError(b, err)
	all := h.Catalogue().Listings("a8db")
	b.Logf("catalogue: %d listings", len(all))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		from := all[(i*7919)%len(all)].PriceCents
		req := httptest.NewRequest("GET", "/exchange/v1/market/items?gameId=a8db&limit=100&priceFrom="+strconv.FormatInt(from, 10), nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func TestTitleCheapest(t *testing.T) {
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.LockedShare = 0.5 }))
	require.NoError(t, err)
	var both bool
	for _, ti := range h.Catalogue().Titles["a8db"] {
		free, locked := ti.Cheapest(false), ti.Cheapest(true)
		for _, l := range ti.Listings {
			if l.Tradable() {
				require.LessOrEqual(t, free.PriceCents, l.PriceCents)
			} else {
				require.LessOrEqual(t, locked.PriceCents, l.PriceCents)
			}
		}
		if free != nil && locked != nil {
			both = true
			require.True(t, free.Tradable())
			require.False(t, locked.Tradable())
		}
	}
	require.True(t, both)
}

func TestListingsPagesAreCountedByQueryCursorAndEgress(t *testing.T) {
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) { c.PublicMarketRate = 1 }))
	require.NoError(t, err)
	first := do(t, h, "GET", "/exchange/v1/market/items?limit=2&gameId=a8db&priceFrom=10", nil, nil, "127.0.0.2:40000")
	require.Equal(t, 200, first.status)
	var page struct {
		Cursor string `json:"cursor"`
	}
	require.NoError(t, json.Unmarshal(first.body, &page))
	require.NotEmpty(t, page.Cursor)
	next := "/exchange/v1/market/items?gameId=a8db&limit=2&priceFrom=10&cursor=" + url.QueryEscape(page.Cursor)
	require.Equal(t, 200, do(t, h, "GET", next, nil, nil, "127.0.0.3:40000").status)
	require.Equal(t, 200, do(t, h, "GET", next, nil, nil, "127.0.0.4:40000").status)
	require.Equal(t, 429, do(t, h, "GET", next, nil, nil, "127.0.0.4:40000").status, "a refused request fetches no page")
	require.Equal(t, 400, do(t, h, "GET", "/exchange/v1/market/items?gameId=a8db&limit=0", nil, nil, "127.0.0.5:40000").status)

	st := h.Stats()
	query := "gameId=a8db&limit=2&priceFrom=10"
	require.Equal(t, map[dmarkettest.PageKey]int64{
		{Query: query}:                      1,
		{Query: query, Cursor: page.Cursor}: 2,
	}, st.Pages, "parameter order does not matter; the second page was fetched twice")
	require.Equal(t, map[string]int64{"127.0.0.2": 1, "127.0.0.3": 1, "127.0.0.4": 1}, st.PagesByIP)
	h.ResetStats()
	require.Empty(t, h.Stats().Pages)
	require.Empty(t, h.Stats().PagesByIP)
}

func TestPauseHoldsRequestsUntilResumeOrTheClientLeaves(t *testing.T) {
	srv := dmarkettest.New(small(nil))
	defer srv.Close()
	target := srv.URL() + "/exchange/v1/market/items?gameId=a8db&limit=1"
	srv.Pause()
	srv.Pause() // pausing twice holds the same way

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	require.NoError(t, err)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded, "held while paused")

	answered := make(chan int, 1)
	go func() {
		res, err := http.Get(target)
		if err != nil {
			answered <- 0
			return
		}
		_ = res.Body.Close()
		answered <- res.StatusCode
	}()
	require.Eventually(t, func() bool { return srv.Stats().Held["127.0.0.1"] == 1 }, 5*time.Second, time.Millisecond,
		"the abandoned request is no longer held, the new one is")
	require.Never(t, func() bool { return len(answered) > 0 }, 100*time.Millisecond, 10*time.Millisecond)
	srv.Resume()
	require.Equal(t, 200, <-answered)
	srv.Resume() // resuming twice is harmless

	st := srv.Stats()
	require.Equal(t, int64(1), st.PagesByIP["127.0.0.1"], "the abandoned request was neither answered nor counted")
	require.Equal(t, int64(1), st.ByEndpoint[dmarkettest.EndpointMarketItems])
	require.Empty(t, st.Held)
}
