package pricestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// attrListing is a listing of title with the item id id and attributes a.
func attrListing(id, title string, price int64, locked bool, a market.Attributes) validate.Listing {
	l := listing(title, price, locked, 0)
	l.ItemID, l.Attrs = id, a
	if locked {
		l.LockDays = 3
	}
	return l
}

// applyAt applies a page of items of game a8db fetched at at.
func applyAt(t *testing.T, s *Store, at time.Time, items ...validate.Listing) Applied {
	t.Helper()
	a, err := s.ApplyListings(context.Background(), ListingsPage{Game: "a8db", FetchedAt: at, Items: items})
	require.NoError(t, err)
	return a
}

func withFloat(f float64) market.Attributes { return market.Attributes{Float: f, HasFloat: true} }

func withPhase(p market.Phase, f float64) market.Attributes {
	return market.Attributes{Float: f, HasFloat: true, Phase: p}
}

// readItems returns the kept items of title as the market reader reads them at clk's time.
func readItems(t *testing.T, rdb redis.UniversalClient, clk *clocktest.Fake, title string) []market.ItemListing {
	t.Helper()
	states, err := NewMarketReader(rdb, MarketReaderConfig{}, clk, loggingtest.Discard()).Titles(context.Background(), []string{title})
	require.NoError(t, err)
	if len(states) == 0 {
		return nil
	}
	return states[0].Items
}

// storedItems decodes one items field of title's prices hash.
func storedItems(t *testing.T, rdb redis.UniversalClient, title, field string) []ItemValue {
	t.Helper()
	raw, err := rdb.HGet(context.Background(), PricesKey(title), field).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	require.NoError(t, err)
	v, err := decodeItems(raw)
	require.NoError(t, err)
	return v
}

func itemIDs(items []ItemValue) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestItemsRoundTrip(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "AK-47 | Case Hardened (Field-Tested)"
		fetched := t0.Add(-time.Minute)
		seed := market.Attributes{PaintSeed: 661, HasSeed: true, Float: 0.15000000000000002, HasFloat: true,
			Stickers: []string{"Crown (Foil)", `Quote "and" \ slash/`, `x"}],"ph":"Ruby"},{"id":"evil","p":1,"exp":9999999999,"t":1}`}}
		page := []validate.Listing{
			attrListing("b", title, 900, false, seed),
			attrListing("a", title, 900, false, withFloat(0.3)),
			attrListing("c", title, 700, true, withFloat(1e-7)),
			listing(title, 500, false, 0), // no attributes: a level, no item
			listing("Plain", 100, false, 0),
		}
		_, err := s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: fetched, Items: page})
		require.NoError(t, err)

		exp := fetched.Add(time.Hour)
		upd := time.UnixMilli(fetched.UnixMilli()).UTC()
		want := []market.ItemListing{
			{ItemID: "a", Price: 900, Attrs: withFloat(0.3), UpdatedAt: upd, ExpiresAt: exp},
			{ItemID: "b", Price: 900, Attrs: seed, UpdatedAt: upd, ExpiresAt: exp},
			{ItemID: "c", Price: 700, Locked: true, LockDays: 3, Attrs: withFloat(1e-7), UpdatedAt: upd, ExpiresAt: exp},
		}
		require.Equal(t, want, readItems(t, rdb, clk, title))

		raw := rdb.HGet(ctx, PricesKey(title), FieldItemsAvailable).Val()
		var generic []map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &generic))
		require.Equal(t, "0.15000000000000002", generic[1]["f"], "floats travel and stay as strings")
		require.EqualValues(t, fetched.UnixMilli(), generic[0]["t"])
		require.NotContains(t, generic[0], "days")
		locked := storedItems(t, rdb, title, FieldItemsLocked)
		require.Equal(t, 3, locked[0].Days)
		require.Equal(t, "1e-07", locked[0].Float)

		plain := rdb.HGetAll(ctx, PricesKey("Plain")).Val()
		require.NotContains(t, plain, FieldItemsAvailable)
		require.NotContains(t, plain, FieldItemsLocked)
		states, err := NewMarketReader(rdb, MarketReaderConfig{}, clk, loggingtest.Discard()).Titles(ctx, []string{"Plain"})
		require.NoError(t, err)
		require.Nil(t, states[0].Items)
	})
}

func TestItemsTrimmedPerStatusAndPhase(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
		const title = "★ Karambit | Doppler (Factory New)"
		var page []validate.Listing
		add := func(prefix string, n int, base int64, locked bool, ph market.Phase) {
			for i := range n {
				page = append(page, attrListing(fmt.Sprintf("%s%02d", prefix, i), title, base+int64(i), locked, withPhase(ph, 0.01)))
			}
		}
		add("none", 25, 1000, false, market.PhaseNone)
		add("p2-", 22, 500, false, market.Phase2)
		add("ruby", 3, 9000, false, market.PhaseRuby)
		add("lock", 21, 800, true, market.PhaseNone)
		// The second page brings two cheaper Phase 2 items: the two dearest stored ones leave.
		fetched := t0.Add(-2 * time.Minute)
		_, err := s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: fetched, Items: page})
		require.NoError(t, err)
		second := []validate.Listing{
			attrListing("p2-new1", title, 10, false, withPhase(market.Phase2, 0.02)),
			attrListing("p2-new2", title, 11, false, withPhase(market.Phase2, 0.02)),
		}
		_, err = s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: fetched.Add(time.Second), Items: second})
		require.NoError(t, err)

		avail := storedItems(t, rdb, title, FieldItemsAvailable)
		per := map[string][]string{}
		for i, it := range avail {
			per[it.Phase] = append(per[it.Phase], it.ID)
			if i > 0 {
				prev := avail[i-1]
				require.True(t, prev.Price < it.Price || prev.Price == it.Price && prev.ID < it.ID, "sorted by price, then id")
			}
		}
		require.Len(t, per[""], 20)
		require.Equal(t, "none19", per[""][19], "the 20 cheapest without phase")
		require.Len(t, per["Phase 2"], 20)
		require.Equal(t, []string{"p2-new1", "p2-new2"}, per["Phase 2"][:2])
		require.Equal(t, "p2-17", per["Phase 2"][19])
		require.Len(t, per["Ruby"], 3)
		locked := storedItems(t, rdb, title, FieldItemsLocked)
		require.Len(t, locked, 20)
		require.Equal(t, "lock19", locked[19].ID)

		// An item that would be the 21st of its group is trimmed at once: nothing changed.
		before := rdb.HGet(ctx, PricesKey(title), FieldItemsAvailable).Val()
		a := applyAt(t, s, fetched.Add(2*time.Second), attrListing("zzz", title, 1019, false, withFloat(0.5)))
		require.Empty(t, a.Changed)
		require.Equal(t, before, rdb.HGet(ctx, PricesKey(title), FieldItemsAvailable).Val())
		// One cheaper pushes the 20th out: a change.
		a = applyAt(t, s, fetched.Add(3*time.Second), attrListing("aaa", title, 1019, false, withFloat(0.5)))
		require.Equal(t, []string{title}, a.Changed)
		require.NotContains(t, itemIDs(storedItems(t, rdb, title, FieldItemsAvailable)), "none19")
	})
}

func TestItemsNewerWinsAndExpire(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "AWP | Asiimov (Field-Tested)"
		write := func(at time.Time, items ...validate.Listing) { applyAt(t, s, at, items...) }
		t2 := t0.Add(-10 * time.Minute)
		write(t2, attrListing("x", title, 500, false, withFloat(0.2)))
		write(t2.Add(-time.Minute), attrListing("x", title, 300, false, withFloat(0.9))) // older: ignored
		got := storedItems(t, rdb, title, FieldItemsAvailable)
		require.Len(t, got, 1)
		require.Equal(t, int64(500), got[0].Price)
		require.Equal(t, "0.2", got[0].Float)

		write(t2.Add(time.Minute), attrListing("x", title, 400, false, withFloat(0.2))) // newer: replaces
		got = storedItems(t, rdb, title, FieldItemsAvailable)
		require.Len(t, got, 1)
		require.Equal(t, int64(400), got[0].Price)

		// An hour later x has expired: the next write of the status drops it.
		clk.Advance(55 * time.Minute)
		write(clk.Now(), attrListing("y", title, 600, false, withFloat(0.3)))
		require.Equal(t, []string{"y"}, itemIDs(storedItems(t, rdb, title, FieldItemsAvailable)))
	})
}

func TestItemHiddenWithoutLiveLevel(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "A"
		at := t0.Add(-30 * time.Minute)
		_, err := s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: at, Items: []validate.Listing{
			attrListing("gone", title, 500, false, withFloat(0.1)),
			attrListing("stays", title, 700, false, withFloat(0.2)),
			attrListing("old", title, 800, false, withFloat(0.3)),
		}})
		require.NoError(t, err)
		require.Len(t, readItems(t, rdb, clk, title), 3)

		// A complete scan page fetched later shows 700 and 800 only (800 without attributes, from a newer
		// listing): the level a:500 is removed, so its item no longer counts though it has not expired.
		_, err = s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: at.Add(time.Minute),
			Scan: &message.Scan{Title: title, Complete: true}, Items: []validate.Listing{
				attrListing("stays", title, 700, false, withFloat(0.2)),
				listing(title, 800, false, 0),
			}})
		require.NoError(t, err)
		require.False(t, rdb.HExists(ctx, PricesKey(title), "a:500").Val())
		got := readItems(t, rdb, clk, title)
		require.Len(t, got, 2)
		require.Equal(t, "stays", got[0].ItemID)

		// "old" was last seen at the first page: once its own exp passes it no longer counts, although the
		// level a:800 lives on (renewed by the scan page).
		clk.Advance(30*time.Minute + time.Second)
		got = readItems(t, rdb, clk, title)
		require.Len(t, got, 1)
		require.Equal(t, "stays", got[0].ItemID)
	})
}

func TestItemsRedeliveryAndChanges(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
		const title = "M4A4 | Howl (Minimal Wear)"
		at := t0.Add(-5 * time.Minute)
		pageA := []validate.Listing{
			attrListing("1", title, 500, false, withFloat(0.1)),
			attrListing("2", title, 600, true, withPhase(market.PhaseNone, 0.12)),
		}
		pageB := []validate.Listing{attrListing("3", title, 550, false, withFloat(0.11))}
		apply := func(at time.Time, items []validate.Listing) Applied { return applyAt(t, s, at, items...) }
		require.Equal(t, []string{title}, apply(at, pageA).Changed)
		apply(at.Add(time.Second), pageB)
		before := dump(t, rdb)
		require.Empty(t, apply(at, pageA).Changed, "a redelivered page changes nothing")
		require.Empty(t, apply(at.Add(time.Second), pageB).Changed)
		require.Equal(t, before, dump(t, rdb))

		// Seen again later, only the times move: no change event.
		require.Empty(t, apply(at.Add(2*time.Second), pageB).Changed)
		// Same level count, another float: a change.
		pageB[0].Attrs = withFloat(0.5)
		require.Equal(t, []string{title}, apply(at.Add(3*time.Second), pageB).Changed)
	})
}

func TestItemsAnyPageOrder(t *testing.T) {
	ctx := context.Background()
	pages := make([][]validate.Listing, 3)
	for p := range pages {
		for i := range 15 {
			pages[p] = append(pages[p], attrListing(fmt.Sprintf("p%d-%02d", p, i), "T", int64(100+(i*7+p*5)%40), i%3 == 0,
				withFloat(float64(i)/100)))
		}
	}
	at := t0.Add(-time.Minute)
	var states []map[string]any
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		s, rdb, _ := newStore(t)
		for _, p := range order {
			_, err := s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: at.Add(time.Duration(p) * time.Second), Items: pages[p]})
			require.NoError(t, err)
		}
		h := dump(t, rdb)[PricesKey("T")].(map[string]string)
		states = append(states, map[string]any{"a": h[FieldItemsAvailable], "l": h[FieldItemsLocked]})
	}
	require.Equal(t, states[0], states[1])
	require.Equal(t, states[0], states[2])
}

func TestReadItemsStoredForms(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, _ *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		nowS := clk.Now().Unix()
		level := fmt.Sprintf(`{"n":1,"exp":%d}`, nowS+60)
		for _, tc := range []struct {
			name, items string
			malformed   bool
			want        int
		}{
			{name: "empty array", items: `[]`},
			{name: "cjson empty object", items: `{}`},
			{name: "one item", items: fmt.Sprintf(`[{"id":"i","p":500,"exp":%d,"t":1,"seed":0}]`, nowS+10), want: 1},
			{name: "dearer level missing", items: fmt.Sprintf(`[{"id":"i","p":501,"exp":%d,"t":1,"f":"0.1"}]`, nowS+10)},
			{name: "not json", items: `[{`, malformed: true},
			{name: "bad float", items: fmt.Sprintf(`[{"id":"i","p":500,"exp":%d,"t":1,"f":"x"}]`, nowS+10), malformed: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := PricesKey(tc.name)
				require.NoError(t, rdb.HSet(ctx, key, "meta", meta("a8db", nowS), "a:500", level, FieldItemsAvailable, tc.items).Err())
				m, err := NewMarketReader(rdb, MarketReaderConfig{}, clk, loggingtest.Discard()).Market(ctx)
				require.NoError(t, err)
				var found *market.TitleState
				for i := range m.Titles {
					if m.Titles[i].Title == tc.name {
						found = &m.Titles[i]
					}
				}
				require.NoError(t, rdb.Del(ctx, key).Err())
				if tc.malformed {
					require.Nil(t, found)
					require.Equal(t, 1, m.Malformed[MalformedPrices])
					return
				}
				require.NotNil(t, found)
				require.Len(t, found.Items, tc.want)
				if tc.want > 0 {
					require.True(t, found.Items[0].Attrs.HasSeed)
					require.Zero(t, found.Items[0].Attrs.PaintSeed)
				}
			})
		}
	})
}

func TestHistoryFloatAndPhases(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		curve := &market.FloatCurve{Buckets: []market.FloatBucket{{MaxFloat: 0.30000000000000004, Price: 1500, Sales: 4},
			{MaxFloat: 0.5, Price: 1200, Sales: 8}}}
		h := &market.History{Stable: true, SoldPerWeek: 30, Probability: map[market.Cents]int{1000: 100, 1400: 50},
			Phases: map[market.Phase]*market.History{
				market.PhaseRuby: {Stable: true, SoldPerWeek: 6, Probability: map[market.Cents]int{9000: 100, 9500: 20}, Float: curve},
				market.Phase2:    {SoldPerWeek: 2, Probability: map[market.Cents]int{800: 100}},
			}}
		const title = "★ Karambit | Doppler (Factory New)"
		_, changed, err := s.WriteHistoryChanged(ctx, title, t0.Add(-time.Minute), h)
		require.NoError(t, err)
		require.True(t, changed)
		hv, ok, err := s.History(ctx, title)
		require.NoError(t, err)
		require.True(t, ok)
		back := hv.History()
		require.Equal(t, h.Phases, back.Phases)
		require.Nil(t, back.Float)
		raw := rdb.Get(ctx, HistoryKey(title)).Val()
		require.Contains(t, raw, `"max":"0.30000000000000004"`)

		// The same analysis again changes nothing; another float curve does.
		_, changed, err = s.WriteHistoryChanged(ctx, title, t0.Add(-time.Minute+time.Second), h)
		require.NoError(t, err)
		require.False(t, changed)
		h.Phases[market.PhaseRuby].Float = &market.FloatCurve{Buckets: []market.FloatBucket{{MaxFloat: 0.5, Price: 1, Sales: 12}}}
		_, changed, err = s.WriteHistoryChanged(ctx, title, t0.Add(-time.Minute+2*time.Second), h)
		require.NoError(t, err)
		require.True(t, changed)

		plain := &market.History{SoldPerWeek: 12, Probability: map[market.Cents]int{100: 100}, Float: curve}
		_, _, err = s.WriteHistoryChanged(ctx, "Plain", t0.Add(-time.Minute), plain)
		require.NoError(t, err)

		_, err = s.ApplyListings(ctx, ListingsPage{Game: "a8db", FetchedAt: t0.Add(-time.Minute),
			Items: []validate.Listing{listing(title, 10000, false, 0), listing("Plain", 120, false, 0)}})
		require.NoError(t, err)
		m, err := NewMarketReader(rdb, MarketReaderConfig{}, clk, loggingtest.Discard()).Market(ctx)
		require.NoError(t, err)
		require.Len(t, m.Titles, 2)
		require.Equal(t, curve, m.Titles[0].Float)
		require.Nil(t, m.Titles[0].Phases)
		require.Equal(t, &market.ResaleHistory{SoldPerWeek: 12, PriceAtLow: 100, PriceAtHigh: 100}, m.Titles[0].History)
		dop := m.Titles[1]
		require.Nil(t, dop.Float)
		require.Equal(t, &market.PhaseState{History: &market.ResaleHistory{Stable: true, SoldPerWeek: 6, PriceAtLow: 9000,
			PriceAtHigh: 9500}, Float: h.Phases[market.PhaseRuby].Float}, dop.Phases[market.PhaseRuby])
		require.Equal(t, &market.PhaseState{History: &market.ResaleHistory{SoldPerWeek: 2, PriceAtLow: 800, PriceAtHigh: 800}},
			dop.Phases[market.Phase2])
	})
}

func TestScanHistoryAttributes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  bool
	}{
		{name: "null float and phases", in: `{"float":null,"phases":null}`},
		{name: "empty curve", in: `{"float":{"buckets":[]},"phases":{}}`},
		{name: "unknown member", in: `{"float":{"x":1,"buckets":[{"max":"0.1","price":1,"n":1,"y":2}]}}`},
		{name: "float not object", in: `{"float":[]}`, wantErr: true},
		{name: "buckets not array", in: `{"float":{"buckets":{}}}`, wantErr: true},
		{name: "bucket not object", in: `{"float":{"buckets":[1]}}`, wantErr: true},
		{name: "bad max", in: `{"float":{"buckets":[{"max":"x"}]}}`, wantErr: true},
		{name: "max not string", in: `{"float":{"buckets":[{"max":1}]}}`, wantErr: true},
		{name: "bad price", in: `{"float":{"buckets":[{"price":"1"}]}}`, wantErr: true},
		{name: "bad separator", in: `{"float":{"buckets":[{"n":1};]}}`, wantErr: true},
		{name: "unterminated buckets", in: `{"float":{"buckets":[{"n":1}`, wantErr: true},
		{name: "phases not object", in: `{"phases":[]}`, wantErr: true},
		{name: "bad phase", in: `{"phases":{"Ruby":{"stable":1}}}`, wantErr: true},
		{name: "bad phase json", in: `{"phases":{"Ruby":{"stable":}}}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := decodeHistory(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Nil(t, h.phases)
			if h.float != nil {
				require.Equal(t, []market.FloatBucket{{MaxFloat: 0.1, Price: 1, Sales: 1}}, h.float.Buckets)
			}
		})
	}
}

func TestFloatCurveValue(t *testing.T) {
	require.Nil(t, newFloatCurveValue(nil))
	require.Nil(t, newFloatCurveValue(&market.FloatCurve{}))
	var nilValue *FloatCurveValue
	require.Nil(t, nilValue.Curve())
	v := &FloatCurveValue{Buckets: []FloatBucketValue{{Max: "x", Price: 1}, {Max: "0.25", Price: 2, N: 3}}}
	require.Equal(t, &market.FloatCurve{Buckets: []market.FloatBucket{{MaxFloat: 0.25, Price: 2, Sales: 3}}}, v.Curve())
}

func TestItemsRenewedInPlaceOrMerged(t *testing.T) {
	ctx := context.Background()
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, clk *clocktest.Fake) {
		const title = "★ Karambit | Doppler (Factory New)"
		write := func(at time.Time, items ...validate.Listing) Applied { return applyAt(t, s, at, items...) }
		at := t0.Add(-50 * time.Minute)
		write(at, attrListing("x", title, 500, false, withPhase(market.Phase1, 0.01)),
			attrListing("y", title, 400, false, withPhase(market.Phase1, 0.02)))
		// Seen again at the same price and phase: renewed in place, the order kept.
		write(at.Add(time.Minute), attrListing("x", title, 500, false, withPhase(market.Phase1, 0.01)))
		got := storedItems(t, rdb, title, FieldItemsAvailable)
		require.Equal(t, []string{"y", "x"}, itemIDs(got))
		require.Equal(t, at.Add(time.Minute).UnixMilli(), got[1].T)
		require.Equal(t, at.UnixMilli(), got[0].T)
		// Another phase for the same item: merged, the groups follow.
		require.Equal(t, []string{title}, write(at.Add(2*time.Minute), attrListing("x", title, 500, false, withPhase(market.Phase2, 0.01))).Changed)
		got = storedItems(t, rdb, title, FieldItemsAvailable)
		require.Equal(t, []string{"y", "x"}, itemIDs(got))
		require.Equal(t, "Phase 2", got[1].Phase)

		// Once y's exp (and so the hash's lower bound) passes, a page without items of the title drops it
		// in the full pass.
		clk.Advance(10*time.Minute + time.Second)
		write(clk.Now(), listing(title, 900, false, 0))
		require.Equal(t, []string{"x"}, itemIDs(storedItems(t, rdb, title, FieldItemsAvailable)))
		clk.Advance(2 * time.Minute)
		write(clk.Now(), listing(title, 900, false, 0))
		require.False(t, rdb.HExists(ctx, PricesKey(title), FieldItemsAvailable).Val(), "no item left: the field goes")
	})
}

func TestItemsInsertedInPlace(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
		const title = "T"
		at := t0.Add(-time.Minute)
		applyAt(t, s, at, attrListing("m", title, 200, false, withPhase(market.PhaseRuby, 0.1)),
			attrListing("n", title, 400, false, withFloat(0.2)))
		// New items go before, between (after an equal price with a lower id) and after the stored ones.
		page := []validate.Listing{attrListing("z", title, 100, false, withFloat(0.3)),
			attrListing("b", title, 300, false, withPhase(market.PhaseRuby, 0.4)),
			attrListing("a", title, 300, false, withFloat(0.5)),
			attrListing("y", title, 500, false, withFloat(0.6))}
		a := applyAt(t, s, at.Add(time.Second), page...)
		require.Equal(t, []string{title}, a.Changed)
		got := storedItems(t, rdb, title, FieldItemsAvailable)
		require.Equal(t, []string{"z", "m", "a", "b", "n", "y"}, itemIDs(got))
		require.Equal(t, "Ruby", got[3].Phase)
		// Redelivered: nothing moves.
		require.Empty(t, applyAt(t, s, at.Add(time.Second), page...).Changed)
		require.Equal(t, got, storedItems(t, rdb, title, FieldItemsAvailable))
	})
}

// TestItemsInsertedAtTheLimit: new items of one page that fill their phase are inserted in one pass;
// with more than the room left the 20 cheapest are kept (the insert trims the stored items pushed past
// them); one past the 20 cheapest is left out while the others of its page are inserted.
func TestItemsInsertedAtTheLimit(t *testing.T) {
	both(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, _ *clocktest.Fake) {
		const title = "T"
		at := t0.Add(-time.Minute)
		var page []validate.Listing
		for i := range market.ItemsPerStatus - 3 {
			page = append(page, attrListing(fmt.Sprintf("s%02d", i), title, int64(200+10*i), false, withFloat(0.1)))
		}
		applyAt(t, s, at, page...)
		ids := func() []string { return itemIDs(storedItems(t, rdb, title, FieldItemsAvailable)) }

		// Two new items fit (20 - 17 = 3 places): both inserted.
		applyAt(t, s, at.Add(time.Second), attrListing("n1", title, 205, false, withFloat(0.2)),
			attrListing("n2", title, 1000, false, withFloat(0.2)))
		got := ids()
		require.Len(t, got, market.ItemsPerStatus-1)
		require.Equal(t, []string{"s00", "n1", "s01"}, got[:3])
		require.Equal(t, "n2", got[len(got)-1])

		// Two more with one place left: the 20 cheapest are kept.
		applyAt(t, s, at.Add(2*time.Second), attrListing("n3", title, 100, false, withFloat(0.2)),
			attrListing("n4", title, 101, false, withFloat(0.2)))
		got = ids()
		require.Len(t, got, market.ItemsPerStatus)
		require.Equal(t, []string{"n3", "n4", "s00"}, got[:3])
		require.NotContains(t, got, "n2")

		// A Ruby item is inserted while the page's item past the 20 cheapest is left out.
		a := applyAt(t, s, at.Add(3*time.Second), attrListing("r1", title, 5000, false, withPhase(market.PhaseRuby, 0.3)),
			attrListing("n5", title, 9000, false, withFloat(0.2)))
		require.Equal(t, []string{title}, a.Changed)
		got = ids()
		require.Len(t, got, market.ItemsPerStatus+1)
		require.Equal(t, "r1", got[len(got)-1])
		require.NotContains(t, got, "n5")
	})
}
