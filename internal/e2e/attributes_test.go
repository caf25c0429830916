package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// TestAttributesGroundTruth crawls the adversarial catalogue with its attribute titles (two games) with
// the real parser and worker, then compares the attribute state in Redis (kept items, float curves,
// per-phase histories) and every offer of every kind the bot computes with the truth computed from the
// catalogue alone, with no tolerance; checks the designed cases (FLOAT and STICKERS deals offered,
// non-deals not, no HISTORY offer priced from another phase's sales), that titles without
// attributes are offered exactly as before, and that a sticker whose listings are gone is valued from
// its sell history (checkSoldOutSticker).
func TestAttributesGroundTruth(t *testing.T) {
	sim, games, total := truthSim(t, 40)
	cat := sim.Catalogue()
	designed := sim.Designed()
	require.NotEmpty(t, designed, "the adversarial catalogue holds designed attribute cases")
	t.Logf("catalogue: %d titles, %d listings, %d designed cases", total, cat.ListingCount(), len(designed))

	p, tm, now := settledTruth(t, sim, games, 50*time.Second)
	d := newDiffs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	compareRedis(ctx, t, p.rdb, tm.want, now, d)
	compareAttrRedis(ctx, t, p.rdb, tm.all, now, d)

	snap := readMarket(ctx, t, p.rdb)
	settings := []userSettings{
		{name: "min price $0, limit -100 %", minPrice: 0, limitBP: -10000},
		{name: "min price $0, limit 0 %", minPrice: 0, limitBP: 0},
		{name: "min price $10, limit 5 %", minPrice: 1000, limitBP: 500},
	}
	got := map[string][]offers.Offer{}
	for _, s := range settings {
		exp := expectAttrOffers(tm.all, tm.m, s)
		require.NotEmpty(t, exp, "the truth has offers for %s", s.name)
		got[s.name] = offers.Compute(snap, offers.Settings{MinPriceCents: s.minPrice, LimitBasisPoints: s.limitBP}, now)
		compareAttrOffers(s.name, exp, got[s.name], d)
	}
	hidden := offers.Compute(snap, offers.Settings{LimitBasisPoints: -10000, HideFloat: true, HideStickers: true}, now)
	for _, o := range hidden {
		if o.Kind == market.KindFloat || o.Kind == market.KindStickers {
			d.add(o.Title, "offers: a hidden kind shown", "%s %s", o.Kind, o.Status)
		}
	}
	comparePlainTitles(tm, got, settings, d)

	loose, strict := got[settings[0].name], got[settings[1].name]
	counts := checkDesigned(t, designed, loose, strict, d)
	cross := crossPhaseOffers(tm.all, loose, d)
	t.Logf("designed: FLOAT deals offered %d/%d, FLOAT non-deals offered %d/%d, STICKERS deals offered %d/%d, "+
		"STICKERS non-deals offered %d/%d, HISTORY traps offered at 0 %% %d/%d; offers priced from another phase's sales: %d",
		counts["FLOAT deal"][0], counts["FLOAT deal"][1], counts["FLOAT non-deal"][0], counts["FLOAT non-deal"][1],
		counts["STICKERS deal"][0], counts["STICKERS deal"][1], counts["STICKERS non-deal"][0], counts["STICKERS non-deal"][1],
		counts["HISTORY non-deal"][0], counts["HISTORY non-deal"][1], cross)
	trap := counts["HISTORY trap at its own phase's loss"]
	t.Logf("HISTORY traps offered at -100 %% at their own phase's loss: %d/%d", trap[0], trap[1])
	kinds := map[market.OfferKind]int{}
	for _, o := range loose {
		kinds[o.Kind]++
	}
	t.Logf("offers at limit -100 %%: %v", kinds)
	for _, kind := range []string{"FLOAT", "STICKERS"} {
		c := counts[kind+" deal"]
		require.Positive(t, c[1], "designed %s deals", kind)
		require.GreaterOrEqual(t, c[0]*100, c[1]*95, "at least 95 %% of the designed %s deals are offered", kind)
		require.Zero(t, counts[kind+" non-deal"][0], "no designed %s non-deal is offered", kind)
	}
	require.Zero(t, cross, "no offer compares a listing with another phase's sales")
	if !d.empty() {
		t.Fatal(d.report())
	}
	checkSoldOutSticker(ctx, t, p.rdb, tm, now)
}

// checkSoldOutSticker checks that a sticker whose listings are all gone is still valued, from the sell
// history its title keeps: with the prices key of Crown (Foil) gone (as when its last listing sold and
// the key expired; the crawl has stopped), the market read finds its `history:` key, and every offer of an
// item carrying it values it at price_at(50) of its sales, every other sticker as the truth does.
func checkSoldOutSticker(ctx context.Context, t *testing.T, rdb redis.UniversalClient, tm *truthMarket, now time.Time) {
	t.Helper()
	const crown = "Sticker | Crown (Foil)"
	var low int64
	for key, a := range tm.m.byName {
		if strings.HasSuffix(key, "|"+crown) && a.history != nil {
			low = a.history.priceAt(50)
		}
	}
	require.Positive(t, low, "the truth has sales of %s", crown)
	require.NoError(t, rdb.Del(ctx, pricestore.PricesKey(crown)).Err())
	snap := readMarket(ctx, t, rdb)
	require.NotNil(t, snap.StickerHistory[crown], "the market read keeps the history of a sold-out sticker")
	require.Equal(t, market.Cents(low), snap.StickerHistory[crown].PriceAtLow)

	stickers := map[string][]string{} // the stickers of each kept item, by item id
	for _, a := range tm.all {
		for _, kept := range a.kept {
			for _, it := range kept {
				stickers[it.id] = it.attrs.stickers
			}
		}
	}
	isCrown := func(name string) bool { return stickerTitleOf(name) == crown }
	checked := 0
	for _, o := range offers.Compute(snap, offers.Settings{LimitBasisPoints: -10000}, now) {
		names := stickers[o.ItemID()]
		if o.Item == nil || !slices.ContainsFunc(names, isCrown) {
			continue
		}
		var want int64
		for _, n := range names {
			if isCrown(n) {
				want += low
			} else {
				want += tm.m.stickerValue(o.GameID, n)
			}
		}
		require.Equal(t, want, o.Item.StickersValue, "%s %s %s item %s", o.Kind, o.Status, o.Title, o.ItemID())
		checked++
	}
	require.Positive(t, checked, "offers of items carrying %s", crown)
	t.Logf("sold-out sticker: %d offers value %s at its history's %d cents", checked, crown, low)
}

// storedItem is one kept item of an `x:a` or `x:l` field.
type storedItem struct {
	ID   string   `json:"id"`
	P    *int64   `json:"p"`
	Exp  *float64 `json:"exp"`
	T    *float64 `json:"t"`
	F    string   `json:"f"`
	Seed *int     `json:"seed"`
	Ph   string   `json:"ph"`
	St   []string `json:"st"`
	Days *int     `json:"days"`
}

// describe writes an item's stored fields in one line.
func (s storedItem) describe() string {
	return fmt.Sprintf("%s p=%s f=%s seed=%s ph=%q st=%q days=%s", s.ID, ptrString(s.P), s.F, ptrString(s.Seed), s.Ph, s.St, ptrString(s.Days))
}

// storedOf is how a kept item must be stored.
func storedOf(it truthItem) storedItem {
	s := storedItem{ID: it.id, Ph: it.attrs.phase, St: it.attrs.stickers}
	p := it.price
	s.P = &p
	if it.attrs.hasFloat {
		s.F = floatText(it.attrs.float)
	}
	if it.attrs.hasSeed {
		v := it.attrs.seed
		s.Seed = &v
	}
	if it.locked && it.days != 0 {
		v := it.days
		s.Days = &v
	}
	return s
}

type storedFloat struct {
	Buckets []struct {
		Max   string `json:"max"`
		Price *int64 `json:"price"`
		N     *int   `json:"n"`
	} `json:"buckets"`
}

type storedPhase struct {
	Stable      *bool            `json:"stable"`
	SoldPerWeek *int64           `json:"sold_per_week"`
	Probability map[string]int64 `json:"probability"`
	Float       *storedFloat     `json:"float"`
}

type storedAttrHistory struct {
	Float  *storedFloat            `json:"float"`
	Phases map[string]*storedPhase `json:"phases"`
}

// compareAttrRedis checks every title's kept items and the float and phases parts of its history.
func compareAttrRedis(ctx context.Context, t *testing.T, rdb redis.UniversalClient, all []*attrTitle, now time.Time, d *diffs) {
	t.Helper()
	const batch = 200
	for start := 0; start < len(all); start += batch {
		part := all[start:min(start+batch, len(all))]
		pipe := rdb.Pipeline()
		fields := make([]*redis.SliceCmd, len(part))
		hist := make([]*redis.StringCmd, len(part))
		for i, a := range part {
			fields[i] = pipe.HMGet(ctx, pricestore.PricesPrefix+a.name, "x:a", "x:l")
			hist[i] = pipe.Get(ctx, pricestore.HistoryPrefix+a.name)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			require.NoError(t, err)
		}
		for i, a := range part {
			vals := fields[i].Val()
			for k, st := range []string{"a", "l"} {
				var raw string
				if k < len(vals) && vals[k] != nil {
					raw, _ = vals[k].(string)
				}
				compareKept(a, st, raw, now, d)
			}
			if raw, err := hist[i].Result(); err == nil {
				compareAttrHistory(a, raw, d)
			}
		}
	}
}

// compareKept checks one status's kept items of a title.
func compareKept(a *attrTitle, st, raw string, now time.Time, d *diffs) {
	var got []storedItem
	if raw != "" && raw != "{}" {
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			d.add(a.name, "items: unreadable", "x:%s = %.80s: %v", st, raw, err)
			return
		}
	}
	var gotLines, wantLines []string
	for _, g := range got {
		if g.Exp == nil || g.T == nil || g.P == nil {
			d.add(a.name, "items: field missing", "x:%s %s", st, g.describe())
			continue
		}
		if *g.Exp <= float64(now.Unix()) {
			continue
		}
		gotLines = append(gotLines, g.describe())
	}
	for _, it := range a.kept[st] {
		wantLines = append(wantLines, storedOf(it).describe())
	}
	if slices.Equal(gotLines, wantLines) {
		return
	}
	for i := range max(len(gotLines), len(wantLines)) {
		g, w := "(none)", "(none)"
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			d.add(a.name, "items: x:"+st, "%d stored, %d kept; first difference at %d: got %s want %s", len(gotLines), len(wantLines), i, g, w)
			return
		}
	}
}

// describeCurve writes a curve as the history stores it.
func describeCurve(c truthCurve) string {
	parts := make([]string, len(c))
	for i, b := range c {
		parts[i] = fmt.Sprintf("%s:%d×%d", floatText(b.maxFloat), b.price, b.sales)
	}
	return strings.Join(parts, " ")
}

func describeStoredCurve(f *storedFloat) string {
	if f == nil {
		return ""
	}
	parts := make([]string, len(f.Buckets))
	for i, b := range f.Buckets {
		parts[i] = fmt.Sprintf("%s:%s×%s", b.Max, ptrString(b.Price), ptrString(b.N))
	}
	return strings.Join(parts, " ")
}

// compareAttrHistory checks a history key's float curve (non-phased titles) and phases (phased ones).
func compareAttrHistory(a *attrTitle, raw string, d *diffs) {
	var h storedAttrHistory
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		d.add(a.name, "history: unreadable", "%v", err)
		return
	}
	if g, w := describeStoredCurve(h.Float), describeCurve(a.curve); g != w {
		d.add(a.name, "history: float", "got %q want %q", g, w)
	}
	if !a.phased {
		if len(h.Phases) > 0 {
			d.add(a.name, "history: phases of a title without phases", "%d phases", len(h.Phases))
		}
		return
	}
	for _, p := range slices.Sorted(maps.Keys(a.phases)) {
		w, g := a.phases[p], h.Phases[p]
		if g == nil || g.Stable == nil || g.SoldPerWeek == nil {
			d.add(a.name, "history: phase missing", "%s", p)
			continue
		}
		if *g.Stable != w.history.stable || int(*g.SoldPerWeek) != w.history.soldPerWeek {
			d.add(a.name, "history: phase stable or sold_per_week", "%s: got %t/%d want %t/%d", p, *g.Stable, *g.SoldPerWeek,
				w.history.stable, w.history.soldPerWeek)
		}
		prob := map[int64]int{}
		for k, v := range g.Probability {
			c, _ := strconv.ParseInt(k, 10, 64)
			prob[c] = int(v)
		}
		if !maps.Equal(prob, w.history.probability) {
			d.add(a.name, "history: phase probability", "%s: got %v want %v", p, sortedPairs(prob), sortedPairs(w.history.probability))
		}
		if gc, wc := describeStoredCurve(g.Float), describeCurve(w.curve); gc != wc {
			d.add(a.name, "history: phase float", "%s: got %q want %q", p, gc, wc)
		}
	}
	for p := range h.Phases {
		if a.phases[p] == nil {
			d.add(a.name, "history: phase without sales", "%s", p)
		}
	}
}

// gotKey is an offer's identity: title, kind, status and phase.
func gotKey(o *offers.Offer) string {
	return o.Title + " | " + string(o.Kind) + " | " + string(o.Status) + " | " + string(shownItem(o).Phase)
}

// compareAttrOffers compares the bot's offers for one user's settings with the truth, figure by figure
// and in order, and the kind line each renders.
func compareAttrOffers(settings string, want []attrOffer, got []offers.Offer, d *diffs) {
	byKey := map[string]*offers.Offer{}
	gotKeys := make([]string, len(got))
	for i := range got {
		gotKeys[i] = gotKey(&got[i])
		byKey[gotKeys[i]] = &got[i]
	}
	wantKeys := make([]string, len(want))
	for i := range want {
		w := &want[i]
		wantKeys[i] = w.attrKey()
		o := byKey[wantKeys[i]]
		if o == nil {
			d.add(w.title, "offers: missing", "[%s] %s %s %s buy %d sell %d %s", settings, w.kind, w.status, w.phase, w.buy, w.sell,
				offers.Percent(w.bp))
			continue
		}
		for _, f := range offerFields(w, o) {
			if f.got != f.want {
				d.add(w.title, "offers: "+f.name, "[%s] %s %s %s: got %s want %s", settings, w.kind, w.status, w.phase, f.got, f.want)
			}
		}
		line2 := strings.Split(bot.RenderCaption(*o, time.Now(), math.MaxInt), "\n")
		if want := wantLine2(w); len(line2) < 2 || line2[1] != want {
			d.add(w.title, "bot: rendered kind line", "[%s] %s %s %s: got %q want %q", settings, w.kind, w.status, w.phase,
				line2[min(1, len(line2)-1)], want)
		}
	}
	wantSet := map[string]bool{}
	for _, k := range wantKeys {
		wantSet[k] = true
	}
	for i, k := range gotKeys {
		if !wantSet[k] {
			o := &got[i]
			d.add(o.Title, "offers: unexpected", "[%s] %s %s %s buy %d sell %d %s", settings, o.Kind, o.Status, shownItem(o).Phase, o.Buy, o.Sell,
				offers.Percent(o.ProfitBasisPoints))
		}
	}
	if slices.Equal(sortedCopy(wantKeys), sortedCopy(gotKeys)) && !slices.Equal(wantKeys, gotKeys) {
		for i := range wantKeys {
			if wantKeys[i] != gotKeys[i] {
				d.add(strings.SplitN(gotKeys[i], " | ", 2)[0], "offers: order", "[%s] position %d: got %s want %s", settings, i, gotKeys[i], wantKeys[i])
				break
			}
		}
	}
}

// offerField is one compared figure of an offer.
type offerField struct{ name, got, want string }

// offerFields lists the figures of an offer against the truth.
func offerFields(w *attrOffer, o *offers.Offer) []offerField {
	s := func(v any) string { return fmt.Sprint(v) }
	it := shownItem(o)
	fs := []offerField{
		{"buy price", s(o.Buy), s(w.buy)}, {"sell price", s(o.Sell), s(w.sell)}, {"fee", s(o.Fee), s(w.fee)},
		{"net", s(o.Net), s(w.net)}, {"profit", s(o.ProfitBasisPoints), s(w.bp)}, {"game", o.GameID, w.game},
	}
	switch w.kind {
	case "TARGET":
		fs = append(fs, offerField{"buy order count", s(o.OrderCount), s(w.orders)})
	case "HISTORY":
		fs = append(fs, offerField{"sold per week", s(o.SoldPerWeek), s(w.soldPerWeek)})
	case "FLOAT":
		fs = append(fs, offerField{"float sales", s(it.FloatSales), s(w.floatSales)})
	case "STICKERS":
		fs = append(fs, offerField{"floor", s(it.Floor), s(w.floor)}, offerField{"sticker share", s(it.StickerShare), s(truthStickerShare)})
	}
	if w.status == "locked" {
		fs = append(fs, offerField{"lock days", s(o.LockDays), s(w.lockDays)})
	}
	fs = append(fs, offerField{"item", it.ID, itemID(w.item)}, offerField{"attributes", gotAttrs(it), wantAttrs(w)})
	return fs
}

func itemID(it *truthItem) string {
	if it == nil {
		return ""
	}
	return it.id
}

// shownItem returns what an offer shows of its item, the zero value when it shows none.
func shownItem(o *offers.Offer) offers.ItemInfo {
	if o.Item == nil {
		return offers.ItemInfo{}
	}
	return *o.Item
}

// gotAttrs writes the attribute figures an offer shows in one line.
func gotAttrs(it offers.ItemInfo) string {
	f, seed := "-", "-"
	if it.HasFloat {
		f = floatText(it.Float)
	}
	if it.HasSeed {
		seed = strconv.Itoa(it.PaintSeed)
	}
	return fmt.Sprintf("phase=%q float=%s wear=%s top=%d seed=%s stickers=%d", it.Phase, f, it.Wear, it.TopPercent, seed, it.StickersValue)
}

// wantAttrs writes the attribute figures an offer must carry in one line.
func wantAttrs(w *attrOffer) string {
	f, seed, wear, top := "-", "-", "", 0
	if it := w.item; it != nil {
		if it.attrs.hasFloat {
			f = floatText(it.attrs.float)
			if w.wear != nil {
				wear, top = w.wear.short, w.wear.top(it.attrs.float)
			}
		}
		if it.attrs.hasSeed {
			seed = strconv.Itoa(it.attrs.seed)
		}
	}
	return fmt.Sprintf("phase=%q float=%s wear=%s top=%d seed=%s stickers=%d", w.phase, f, wear, top, seed, w.stickersValue)
}

// wantLine2 is the kind line of an offer (SPEC §6.3, §9.2, §9.4).
func wantLine2(w *attrOffer) string {
	var head string
	switch w.kind {
	case "TARGET":
		head = fmt.Sprintf("TARGET · %d buy orders", w.orders)
		if w.orders == 1 {
			head = "TARGET · 1 buy order"
		}
	case "HISTORY":
		head = fmt.Sprintf("HISTORY · SELLS AT %s (%d %%) | %d SOLD IN WEEK", usd(w.sell), resaleLevel(w.buy), w.soldPerWeek)
	case "FLOAT":
		head = fmt.Sprintf("FLOAT · WORTH %s AT ITS FLOAT | %d SALES", usd(w.sell), w.floatSales)
	default:
		head = fmt.Sprintf("STICKERS · FLOOR %s + %d %% OF STICKERS", usd(w.floor), truthStickerShare)
	}
	parts := []string{head}
	if w.phase != "" {
		parts = append(parts, w.phase)
	}
	if it := w.item; it != nil {
		if it.attrs.hasFloat {
			f := "float " + strconv.FormatFloat(it.attrs.float, 'f', 4, 64)
			if w.wear != nil {
				f += fmt.Sprintf(" (top %d %%)", w.wear.top(it.attrs.float))
			}
			parts = append(parts, f)
		}
		if it.attrs.hasSeed {
			parts = append(parts, fmt.Sprintf("seed %d", it.attrs.seed))
		}
	}
	if w.stickersValue > 0 {
		parts = append(parts, "stickers "+usd(w.stickersValue))
	}
	return strings.Join(parts, " · ")
}

// comparePlainTitles checks that the titles without attributes get exactly the offers SPEC §6.1 gave
// them before attributes existed (groundtruth_expect_test.go's rules).
func comparePlainTitles(tm *truthMarket, got map[string][]offers.Offer, settings []userSettings, d *diffs) {
	for _, s := range settings {
		compareOffers("plain titles, "+s.name, expectOffers(tm.plain, tm.m.fees, s), offersOf(got[s.name], tm.isPlain, true), d, map[string]bool{})
	}
}

// splitPlain splits titles into those without attributes (plain) and the others.
func splitPlain(all []*attrTitle) (plain []*wantTitle, attributed []*attrTitle, isPlain map[string]bool) {
	isPlain = map[string]bool{}
	for _, a := range all {
		if a.plain {
			plain = append(plain, a.wantTitle)
			isPlain[a.name] = true
		} else {
			attributed = append(attributed, a)
		}
	}
	return plain, attributed, isPlain
}

// offersOf returns the offers of the titles plain (or not) says, in their order.
func offersOf(got []offers.Offer, isPlain map[string]bool, plain bool) []offers.Offer {
	var out []offers.Offer
	for _, o := range got {
		if isPlain[o.Title] == plain {
			out = append(out, o)
		}
	}
	return out
}

// checkDesigned counts, per designed class ("FLOAT deal", "STICKERS non-deal", "HISTORY non-deal"…), the
// cases offered and the cases in all, and reports every case that went against its design. A deal must
// be offered at limit −100 % (loose), a non-deal not at limit 0 % (strict); a HISTORY trap must also be
// offered at −100 % at a loss, priced from its own phase (class "HISTORY trap at its own phase's loss").
func checkDesigned(t *testing.T, designed []dmarkettest.Designed, loose, strict []offers.Offer, d *diffs) map[string][2]int {
	t.Helper()
	counts := map[string][2]int{}
	count := func(class string, ok, want bool, c dmarkettest.Designed) {
		n := counts[class]
		n[1]++
		if ok {
			n[0]++
		}
		counts[class] = n
		if ok != want {
			d.add(c.Title, "designed: "+class+" offered "+strconv.FormatBool(ok), "%s", c)
		}
	}
	for _, c := range designed {
		pool := strict
		if c.Deal {
			pool = loose
		}
		class := c.Kind + " deal"
		if !c.Deal {
			class = c.Kind + " non-deal"
		}
		o := designedOffer(c, pool)
		count(class, o != nil, c.Deal, c)
		if c.Kind == string(market.KindHistory) {
			o := designedOffer(c, loose)
			count("HISTORY trap at its own phase's loss", o != nil && o.ProfitBasisPoints < 0, true, c)
		}
	}
	return counts
}

// designedOffer returns the offer of a designed case's title, kind, status, phase and item, nil when
// there is none.
func designedOffer(c dmarkettest.Designed, pool []offers.Offer) *offers.Offer {
	status := market.StatusAvailable
	if c.Locked {
		status = market.StatusLocked
	}
	for i := range pool {
		o := &pool[i]
		if it := shownItem(o); o.Title == c.Title && string(o.Kind) == c.Kind && o.Status == status && string(it.Phase) == c.Phase && it.ID == c.ItemID {
			return o
		}
	}
	return nil
}

// crossPhaseOffers counts the HISTORY and FLOAT offers of phased titles that name no phase, buy an
// item of another phase or sell at a price other than their own phase's; each is also a difference.
func crossPhaseOffers(all []*attrTitle, got []offers.Offer, d *diffs) int {
	byName := map[string]*attrTitle{}
	for _, a := range all {
		byName[a.name] = a
	}
	n := 0
	for _, o := range got {
		a := byName[o.Title]
		if a == nil || !a.phased || (o.Kind != market.KindHistory && o.Kind != market.KindFloat) {
			continue
		}
		shown := shownItem(&o)
		ph := a.phases[string(shown.Phase)]
		st := "a"
		if o.Status == market.StatusLocked {
			st = "l"
		}
		var item *truthItem
		for i, it := range a.kept[st] {
			if it.id == shown.ID {
				item = &a.kept[st][i]
			}
		}
		var sell int64 = -1
		if ph != nil && item != nil {
			if o.Kind == market.KindHistory && ph.history != nil {
				sell = ph.history.priceAt(resaleLevel(o.Buy))
			} else if o.Kind == market.KindFloat && ph.curve != nil && item.attrs.hasFloat {
				sell = ph.curve.valueAt(item.attrs.float)
			}
		}
		if shown.Phase == "" || item == nil || item.attrs.phase != string(shown.Phase) || o.Sell != sell {
			n++
			d.add(o.Title, "offers: priced from another phase", "%s %s phase %q item %s sells at %d, its own phase at %d",
				o.Kind, o.Status, shown.Phase, shown.ID, o.Sell, sell)
		}
	}
	return n
}

// TestAttributesTruthMatchesTheDesign checks the truth against the simulator's designed cases without
// the pipeline: every designed deal is among the truth's offers, no non-deal is, and each HISTORY trap
// loses money on its own phase's sales while the title's mixed-phase history would call it a profit.
func TestAttributesTruthMatchesTheDesign(t *testing.T) {
	sim, games, _ := truthSim(t, 40)
	now := time.Now()
	tm := expectTruth(sim.Catalogue(), games, now)
	toOffers := func(s userSettings) []offers.Offer {
		var out []offers.Offer
		for _, o := range expectAttrOffers(tm.all, tm.m, s) {
			out = append(out, offers.Offer{Title: o.title, Kind: market.OfferKind(o.kind), Status: market.ListingStatus(o.status),
				Item: &offers.ItemInfo{Phase: market.Phase(o.phase), ID: itemID(o.item)}, Buy: o.buy, Sell: o.sell, ProfitBasisPoints: o.bp})
		}
		return out
	}
	d := newDiffs()
	designed := sim.Designed()
	counts := checkDesigned(t, designed, toOffers(userSettings{limitBP: -10000}), toOffers(userSettings{}), d)
	require.True(t, d.empty(), d.report())
	t.Logf("designed cases by class (offered, all): %v", counts)
	traps := 0
	for _, c := range designed {
		if c.Kind != "HISTORY" {
			continue
		}
		traps++
		a := tm.m.byName[c.Game+"|"+c.Title]
		own := a.phases[c.Phase].history
		require.True(t, own.stable, "%s: its own phase is stable", c)
		mixed := a.history
		require.True(t, mixed.stable, "%s: the mixed history is stable", c)
		level := resaleLevel(c.Price)
		t.Logf("%s: own phase sells at %d, the mixed history at %d", c, own.priceAt(level), mixed.priceAt(level))
		require.Less(t, own.priceAt(level), c.Price, "%s: a loss on its own phase", c)
		require.Greater(t, mixed.priceAt(level)*95/100, c.Price*110/100, "%s: a profit of over 10 %% by the mixed history", c)
	}
	require.Equal(t, 2, traps)
}
