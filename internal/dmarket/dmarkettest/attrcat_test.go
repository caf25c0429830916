package dmarkettest_test

import (
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// servedAttrs are the attribute keys of a served listing's extra or a sale's offerAttributes.
type servedAttrs struct {
	FloatValue any    `json:"floatValue"`
	PaintSeed  *int   `json:"paintSeed"`
	PhaseTitle string `json:"phaseTitle"`
	Phase      string `json:"phase"`
	Stickers   []struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	} `json:"stickers"`
}

// servedItems returns every listing of a title as served, by item id.
func servedItems(t *testing.T, h *dmarkettest.Handler, game, title string) map[string]servedAttrs {
	t.Helper()
	q := url.Values{"gameId": {game}, "limit": {"100"}, "title": {title}}
	r := do(t, h, "GET", "/exchange/v1/market/items?"+q.Encode(), nil, nil, "")
	require.Equal(t, 200, r.status, string(r.body))
	var p struct {
		Objects []struct {
			ItemID string      `json:"itemId"`
			Extra  servedAttrs `json:"extra"`
		} `json:"objects"`
	}
	require.NoError(t, json.Unmarshal(r.body, &p))
	out := map[string]servedAttrs{}
	for _, o := range p.Objects {
		out[o.ItemID] = o.Extra
	}
	return out
}

func TestAttributeTitlesServeTheirAttributes(t *testing.T) {
	h, clk, s := signedSim(t, func(c *dmarkettest.Config) { c.Simple, c.Games = false, []string{"a8db", "9a92"} })
	cat := h.Catalogue()
	kar := cat.Title("a8db", "★ Karambit | Doppler (Factory New)")
	require.NotNil(t, kar)
	served := servedItems(t, h, "a8db", kar.Name)
	require.Len(t, served, len(kar.Listings))
	phases := map[string]int{}
	for _, l := range kar.Listings {
		e := served[l.ItemID]
		require.Equal(t, l.Attrs.Float, e.FloatValue, "float of %s", l.ItemID)
		require.Less(t, l.Attrs.Float, 0.07, "a Factory New float")
		require.Equal(t, l.Attrs.Seed, *e.PaintSeed)
		phases[e.PhaseTitle+e.Phase]++
		p, ok := market.ParsePhase(e.PhaseTitle + e.Phase)
		require.True(t, ok, "phase %q", e.PhaseTitle+e.Phase)
		if p != market.PhaseNone {
			require.True(t, market.PhasedTitle(kar.Name))
		}
	}
	require.Greater(t, phases["phase2"], market.ItemsPerStatus, "more Phase 2 listings than are kept")
	require.Positive(t, phases["RUBY"])
	require.Positive(t, phases[""], "a Doppler listing without a phase")

	gold := cat.Title("a8db", "AK-47 | Gold Arabesque (Field-Tested)")
	served = servedItems(t, h, "a8db", gold.Name)
	var names []string
	for _, l := range gold.Listings {
		for _, st := range served[l.ItemID].Stickers {
			require.NotEmpty(t, st.Image)
			names = append(names, st.Name)
		}
	}
	require.Contains(t, names, "Titan (Holo) | Katowice 2014", "a bare sticker name")
	require.Contains(t, names, " Sticker | Titan (Holo) | Katowice 2014 ", "a market title with white space")

	wl := cat.Title("a8db", "AK-47 | Wild Lotus (Minimal Wear)")
	strs := 0
	for _, e := range servedItems(t, h, "a8db", wl.Name) {
		if f, ok := e.FloatValue.(string); ok {
			strs++
			w, _ := market.WearOf(wl.Name)
			v, ok := market.ParseFloatValue(f)
			require.True(t, ok && v >= w.Min && v < w.Max, "%q in the band", f)
		}
	}
	require.Positive(t, strs, "floats sent as strings")

	for _, l := range cat.Listings("9a92")[:20] {
		e := servedItems(t, h, "9a92", l.Title)[l.ItemID]
		require.Nil(t, e.FloatValue, "no float outside CS2")
		require.Nil(t, e.PaintSeed)
	}

	target := "/trade-aggregator/v1/last-sales?gameId=a8db&title=" + url.QueryEscape(kar.Name) + "&limit=20"
	r := do(t, h, "GET", target, nil, signed(t, s, "GET", target, nil, clk.Now()), "")
	require.Equal(t, 200, r.status, string(r.body))
	var sales struct {
		Sales []struct {
			OfferAttributes servedAttrs `json:"offerAttributes"`
		} `json:"sales"`
	}
	require.NoError(t, json.Unmarshal(r.body, &sales))
	require.Len(t, sales.Sales, 20)
	for i, sl := range sales.Sales {
		require.Equal(t, kar.Sales[i].Attrs.Float, sl.OfferAttributes.FloatValue)
		require.Equal(t, kar.Sales[i].Attrs.Phase, sl.OfferAttributes.PhaseTitle+sl.OfferAttributes.Phase)
	}
}

func TestDesignedCasesAreKeptListings(t *testing.T) {
	h := adversarial(t, nil)
	cat := h.Catalogue()
	designed := h.Designed()
	kinds := map[string]int{}
	for _, d := range designed {
		kinds[d.Kind+map[bool]string{true: " deal", false: " non-deal"}[d.Deal]]++
		ti := cat.Title(d.Game, d.Title)
		require.NotNil(t, ti, d.String())
		var group []*dmarkettest.Listing
		var item *dmarkettest.Listing
		for _, l := range ti.Listings {
			p, _ := market.ParsePhase(l.Attrs.Phase)
			if l.Tradable() == !d.Locked && string(p) == d.Phase {
				group = append(group, l)
			}
			if l.ItemID == d.ItemID {
				item = l
			}
		}
		require.NotNil(t, item, d.String())
		require.Equal(t, d.Price, item.PriceCents)
		slices.SortFunc(group, func(a, b *dmarkettest.Listing) int {
			return cmp.Or(cmp.Compare(a.PriceCents, b.PriceCents), strings.Compare(a.ItemID, b.ItemID))
		})
		rank := slices.Index(group, item)
		require.True(t, rank >= 0 && rank < market.ItemsPerStatus, "%s is among the kept items (rank %d of %d)", d, rank, len(group))
	}
	require.Equal(t, map[string]int{"FLOAT deal": 5, "FLOAT non-deal": 5, "STICKERS deal": 4, "STICKERS non-deal": 4,
		"HISTORY non-deal": 2}, kinds)

	simple, err := dmarkettest.NewHandler(small(nil))
	require.NoError(t, err)
	require.Empty(t, simple.Designed(), "a Simple catalogue has no attribute titles")
	require.Nil(t, simple.Catalogue().Title("a8db", "★ Karambit | Doppler (Factory New)"))
}

// The adversarial catalogue holds a sticker title with sales and no listing, named by a listed item's
// stickers: the market pages never name it as a title.
func TestNeverListedStickerIsOnlySold(t *testing.T) {
	cat := adversarial(t, nil).Catalogue()
	var onlySold []string
	for _, ti := range cat.Titles[dmarkettest.AttrGame] {
		if !ti.Listed() && len(ti.Sales) > 0 {
			onlySold = append(onlySold, ti.Name)
		}
	}
	require.Len(t, onlySold, 1)
	named := false
	for _, l := range cat.Listings(dmarkettest.AttrGame) {
		require.NotEqual(t, onlySold[0], l.Title)
		for _, s := range l.Attrs.Stickers {
			named = named || market.StickerTitle(s) == onlySold[0]
		}
	}
	require.True(t, named, "an item carries %s", onlySold[0])
}
