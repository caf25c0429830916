package dmarkettest_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func adversarial(t *testing.T, mod func(*dmarkettest.Config)) *dmarkettest.Handler {
	t.Helper()
	h, err := dmarkettest.NewHandler(small(func(c *dmarkettest.Config) {
		c.Simple = false
		if mod != nil {
			mod(c)
		}
	}))
	require.NoError(t, err)
	return h
}

func TestAdversarialCatalogueHoldsTheHardCases(t *testing.T) {
	h := adversarial(t, nil)
	cat := h.Catalogue()
	titles := cat.Titles["a8db"]
	require.Greater(t, len(titles), 60, "the adversarial titles come on top of the ordinary ones")

	perPrice := map[int64]int{}
	var crowdOneTitle, subDay, exactDay, onlyLocked, long, ties bool
	specials := ""
	for _, ti := range titles {
		specials += ti.Name
		if utf8.RuneCountInString(ti.Name) == 250 {
			long = true
		}
		levels := map[[2]int64]int{}
		tradable := 0
		for _, l := range ti.Listings {
			perPrice[l.PriceCents]++
			st := int64(0)
			if !l.Tradable() {
				st = 1
				subDay = subDay || l.LockSeconds < 86400
				exactDay = exactDay || l.LockSeconds == 86400
			} else {
				tradable++
			}
			levels[[2]int64{st, l.PriceCents}]++
		}
		for _, n := range levels {
			crowdOneTitle = crowdOneTitle || n > 100
		}
		onlyLocked = onlyLocked || tradable == 0
	}
	all := cat.Listings("a8db")
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		ties = ties || (a.PriceCents == b.PriceCents && a.CreatedAt.Equal(b.CreatedAt))
	}
	shared := false
	for _, n := range perPrice {
		shared = shared || n >= 150
	}
	require.True(t, crowdOneTitle, "one title has more than a page of listings at one (status, price)")
	require.True(t, shared, "one price is shared by 150+ listings")
	require.True(t, ties, "listings tie on price and creation time")
	require.True(t, subDay, "a lock under one day")
	require.True(t, exactDay, "a lock of exactly one day")
	require.True(t, onlyLocked, "a title exists only locked")
	require.True(t, long, "a 250-character title")
	for _, c := range []string{"*", ":", "+", "%", "&", "<", ">", `"`, "★", "™"} {
		require.Contains(t, specials, c)
	}

	edge := cat.Now.Add(-7 * 24 * time.Hour)
	sparse := 0
	for _, ti := range titles {
		if len(ti.Sales) > 0 && len(ti.Sales) < 5 {
			sparse++
		}
		require.LessOrEqual(t, len(ti.Sales), 200, "%s: the parser reads at most 10 pages of 20", ti.Name)
		for _, s := range ti.Sales {
			d := s.Date.Sub(edge)
			require.False(t, d > -2*time.Hour && d < 2*time.Hour, "%s: a sale near the week's edge", ti.Name)
		}
	}
	require.GreaterOrEqual(t, sparse, 5)

	f := cat.Fees["a8db"]
	require.Greater(t, len(f.Reduced), 1000)
	var huge, zero, openMin, openMax, expired, inCatalogueAfter1000 bool
	for i, r := range f.Reduced {
		huge = huge || (!r.OpenMax && r.MaxPriceCents == dmarkettest.HugeMaxPriceCents)
		zero = zero || (!r.OpenMin && r.MinPriceCents == 0)
		openMin, openMax = openMin || r.OpenMin, openMax || r.OpenMax
		expired = expired || r.ExpiresAt.Before(cat.Now)
		if i >= 1000 && cat.Title("a8db", r.Title) != nil {
			inCatalogueAfter1000 = true
		}
	}
	require.True(t, huge && zero && openMin && openMax && expired)
	require.True(t, inCatalogueAfter1000, "a client that does not page misses catalogue titles")
}

func TestAdversarialFeesArePagedAndLeaveOutOpenBounds(t *testing.T) {
	clk := clocktest.NewFake(refNow)
	pub, _ := dmarkettest.DemoKeys()
	h := adversarial(t, func(c *dmarkettest.Config) { c.PublicKeys, c.Clock = []string{pub}, clk })
	s := demoSigner(t)
	want := h.Catalogue().Fees["a8db"].Reduced
	var got []map[string]json.RawMessage
	for offset := 0; ; offset += dmarkettest.MaxFeesPage {
		target := "/exchange/v1/customized-fees?gameId=a8db&limit=5000&offset=" + strconv.Itoa(offset)
		r := do(t, h, "GET", target, nil, signed(t, s, "GET", target, nil, clk.Now()), "")
		require.Equal(t, 200, r.status, string(r.body))
		var page struct {
			ReducedFees []map[string]json.RawMessage `json:"reducedFees"`
		}
		require.NoError(t, json.Unmarshal(r.body, &page))
		require.LessOrEqual(t, len(page.ReducedFees), dmarkettest.MaxFeesPage, "a page holds at most MaxFeesPage")
		got = append(got, page.ReducedFees...)
		if len(page.ReducedFees) < dmarkettest.MaxFeesPage {
			break
		}
	}
	require.Len(t, got, len(want))
	for i, w := range want {
		var title string
		require.NoError(t, json.Unmarshal(got[i]["title"], &title))
		require.Equal(t, w.Title, title)
		_, hasMin := got[i]["minPrice"]
		_, hasMax := got[i]["maxPrice"]
		require.Equal(t, !w.OpenMin, hasMin, w.Title)
		require.Equal(t, !w.OpenMax, hasMax, w.Title)
		if hasMax {
			require.Equal(t, strconv.FormatInt(w.MaxPriceCents, 10), string(got[i]["maxPrice"]))
		}
	}
}

func TestAdversarialPagingCoversEveryListingOnce(t *testing.T) {
	h := adversarial(t, nil)
	want := h.Catalogue().Listings("a8db")
	seen := map[string]int{}
	cursor := ""
	for range 10000 {
		target := "/exchange/v1/market/items?gameId=a8db&limit=100&orderBy=price&orderDir=asc&currency=USD"
		if cursor != "" {
			target += "&cursor=" + cursor
		}
		r := do(t, h, "GET", target, nil, nil, "")
		require.Equal(t, 200, r.status, string(r.body))
		p := decodePage(t, r.body)
		for _, o := range p.Objects {
			seen[o.Extra.OfferID]++
		}
		if *p.Cursor == "" {
			break
		}
		cursor = strings.ReplaceAll(*p.Cursor, "+", "%2B")
	}
	require.Len(t, seen, len(want))
	for _, l := range want {
		require.Equal(t, 1, seen[l.OfferID], l.Title)
	}
}
