package pricestore

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// itemsModel is the kept-items rule of SPEC §9.2 for one (title, status), written plainly: an item
// replaces the stored one of its id unless that one is newer, and each phase keeps its
// market.ItemsPerStatus cheapest (price, id) items.
type itemsModel map[string]ItemValue

func (m itemsModel) apply(page []ItemValue) {
	for _, it := range page {
		if o, ok := m[it.ID]; ok && o.T > it.T {
			continue
		}
		m[it.ID] = it
	}
	all := m.sorted()
	per := map[string]int{}
	for _, it := range all {
		per[it.Phase]++
		if per[it.Phase] > market.ItemsPerStatus {
			delete(m, it.ID)
		}
	}
}

func (m itemsModel) sorted() []ItemValue {
	out := make([]ItemValue, 0, len(m))
	for _, it := range m {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b ItemValue) int { return cmp.Or(cmp.Compare(a.Price, b.Price), cmp.Compare(a.ID, b.ID)) })
	return out
}

// pageCut is what the worker sends of a page's items of one status: the ItemsPerStatus cheapest per phase.
func pageCut(items []validate.Listing, locked bool, exp time.Time, t int64) []ItemValue {
	var out []ItemValue
	per := map[market.Phase]int{}
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b validate.Listing) int {
		return cmp.Or(cmp.Compare(a.PriceCents, b.PriceCents), cmp.Compare(a.ItemID, b.ItemID))
	})
	for _, l := range sorted {
		if l.Locked != locked {
			continue
		}
		per[l.Attrs.Phase]++
		if per[l.Attrs.Phase] > market.ItemsPerStatus {
			continue
		}
		out = append(out, ItemValue{ID: l.ItemID, Price: l.PriceCents, Exp: exp.Unix(), T: t, Phase: string(l.Attrs.Phase),
			Float: strconv.FormatFloat(l.Attrs.Float, 'g', -1, 64)})
	}
	return out
}

// TestItemsMatchTheRule applies random pages of one title (ids seen again at new prices and phases,
// pages out of order, equal prices, phases filling past their limit) and compares both items fields
// with the rule after every page: the script's fast paths (renewal in place, one-pass insert, trim)
// must keep exactly what the plain merge keeps.
func TestItemsMatchTheRule(t *testing.T) {
	for _, tc := range []struct {
		name   string
		phases []market.Phase
	}{
		{name: "no phases", phases: []market.Phase{""}},
		{name: "phases", phases: []market.Phase{"", "", "", market.PhaseRuby, market.Phase1}},
	} {
		for seed := range uint64(10) {
			t.Run(fmt.Sprintf("%s/seed=%d", tc.name, seed), func(t *testing.T) { itemsMatchTheRule(t, tc.phases, seed) })
		}
	}
}

// itemsMatchTheRule is one TestItemsMatchTheRule run: 120 random pages of phases from phases.
func itemsMatchTheRule(t *testing.T, phases []market.Phase, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	s, rdb, _ := newStore(t)
	const title = "T"
	idPhase, idPrice, idFloat := map[string]market.Phase{}, map[string]int64{}, map[string]float64{}
	models := [2]itemsModel{{}, {}}
	base := t0.Add(-30 * time.Minute)
	for step := range 120 {
		at := base.Add(time.Duration(step)*time.Second - time.Duration(rng.IntN(3))*20*time.Second)
		n := 1 + rng.IntN(8)
		if rng.IntN(10) == 0 {
			n = 30 // a page with more of a phase than it keeps
		}
		seen := map[string]bool{}
		var page []validate.Listing
		for range n {
			id := fmt.Sprintf("i%02d", rng.IntN(70))
			if seen[id] {
				continue
			}
			seen[id] = true
			ph, ok := idPhase[id]
			if !ok || rng.IntN(25) == 0 {
				ph = phases[rng.IntN(len(phases))]
				idPhase[id] = ph
			}
			a := withFloat(float64(rng.IntN(1000)) / 1000)
			a.Phase = ph
			price, ok := idPrice[id]
			if !ok || rng.IntN(3) == 0 { // most items are seen again at their price (renewed in place)
				price = int64(100 + rng.IntN(40))
				idPrice[id] = price
			}
			if f, ok := idFloat[id]; ok && rng.IntN(2) == 0 {
				a.Float = f // seen again unchanged but for its times
			}
			idFloat[id] = a.Float
			page = append(page, attrListing(id, title, price, rng.IntN(4) == 0, a))
		}
		applyAt(t, s, at, page...)
		for st, field := range []string{FieldItemsAvailable, FieldItemsLocked} {
			models[st].apply(pageCut(page, st == 1, at.Add(time.Hour), at.UnixMilli()))
			want := models[st].sorted()
			got := storedItems(t, rdb, title, field)
			type key struct {
				ID, Float, Phase string
				P, T             int64
			}
			keys := func(v []ItemValue) []key {
				out := make([]key, 0, len(v))
				for _, it := range v {
					out = append(out, key{it.ID, it.Float, it.Phase, it.Price, it.T})
				}
				return out
			}
			require.Equal(t, keys(want), keys(got), "step %d, field %s", step, field)
		}
	}
}

// TestItemsTwiceOnAPage: a page that shows a stored item twice at its price (as a faulty page could)
// leaves one well-formed copy of it, the other items untouched.
func TestItemsTwiceOnAPage(t *testing.T) {
	s, rdb, _ := newStore(t)
	at := t0.Add(-time.Minute)
	applyAt(t, s, at, attrListing("a", "T", 100, false, withFloat(0.1)), attrListing("b", "T", 200, false, withFloat(0.1)))
	applyAt(t, s, at.Add(time.Second), attrListing("a", "T", 100, false, withFloat(0.2)),
		attrListing("a", "T", 100, false, withFloat(0.3)), attrListing("b", "T", 200, false, withFloat(0.4)))
	got := storedItems(t, rdb, "T", FieldItemsAvailable)
	require.Equal(t, []string{"a", "b"}, itemIDs(got))
	require.Contains(t, []string{"0.2", "0.3"}, got[0].Float)
	require.Equal(t, "0.4", got[1].Float)
}
