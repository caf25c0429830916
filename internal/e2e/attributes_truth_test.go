package e2e

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
)

// This file computes, from the simulator's catalogue alone and the attribute rules (SPEC §9.2 and the
// attributes contract), what the attribute part of Redis must hold and which offers of every kind the
// bot must show: the validation of attributes, the kept items, the float-value curve, sticker values,
// per-phase histories and the offer rules of TARGET, HISTORY, FLOAT and STICKERS. Like
// groundtruth_expect_test.go it uses no production package.

// Attribute limits, as the contract gives them.
const (
	truthMaxStickers      = 6
	truthMaxStickerRunes  = 128
	truthMaxPaintSeed     = 100000
	truthItemsPerGroup    = 20
	truthStickerShare     = 10
	truthFloatMinSales    = 12
	truthFloatBuckets     = 6
	truthFloatBucketSales = 4
	truthStickerPrefix    = "Sticker | "
)

// truthPhases are the phases in their sort order (a phase's index is its position + 1).
var truthPhases = []string{"Phase 1", "Phase 2", "Phase 3", "Phase 4", "Ruby", "Sapphire", "Black Pearl", "Emerald"}

// phaseIndex returns 1…8 for a phase, 0 for none.
func phaseIndex(p string) int { return slices.Index(truthPhases, p) + 1 }

// foldPhase keeps the lower-case letters and digits of s.
func foldPhase(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// canonPhase returns the phase s names ("" for none) and false when s names no phase.
func canonPhase(s string) (string, bool) {
	k := foldPhase(s)
	if k == "" {
		return "", s == ""
	}
	for _, p := range truthPhases {
		if foldPhase(p) == k {
			return p, true
		}
	}
	return "", false
}

// phasedName reports whether a title is a Doppler or Gamma Doppler.
func phasedName(title string) bool {
	return strings.Contains(title, "| Doppler") || strings.Contains(title, "| Gamma Doppler")
}

// truthWear is a CS2 exterior band.
type truthWear struct {
	short    string
	min, max float64
}

// wearOfTitle returns the exterior a title ends with.
func wearOfTitle(title string) (truthWear, bool) {
	for _, w := range []struct {
		name string
		w    truthWear
	}{{"Factory New", truthWear{"FN", 0, 0.07}}, {"Minimal Wear", truthWear{"MW", 0.07, 0.15}},
		{"Field-Tested", truthWear{"FT", 0.15, 0.38}}, {"Well-Worn", truthWear{"WW", 0.38, 0.45}},
		{"Battle-Scarred", truthWear{"BS", 0.45, 1}}} {
		if strings.HasSuffix(title, "("+w.name+")") {
			return w.w, true
		}
	}
	return truthWear{}, false
}

// top is "top N %": ⌈(f − min) / (max − min) × 100⌉ in 1…100.
func (w truthWear) top(f float64) int {
	p := int(math.Ceil((f - w.min) / (w.max - w.min) * 100))
	return min(max(p, 1), 100)
}

// cleanSticker sanitises a sticker name like a title; ok is false when nothing valid is left.
func cleanSticker(name string) (string, bool) {
	if !utf8.ValidString(name) {
		return "", false
	}
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return -1
		}
		return r
	}, name))
	return name, name != "" && utf8.RuneCountInString(name) <= truthMaxStickerRunes
}

// stickerTitleOf is the market title of a sticker name.
func stickerTitleOf(name string) string {
	name = strings.TrimSpace(name)
	if strings.HasPrefix(name, truthStickerPrefix) {
		return name
	}
	return truthStickerPrefix + name
}

// truthAttrs are an item's attributes after validation.
type truthAttrs struct {
	hasFloat bool
	float    float64
	hasSeed  bool
	seed     int
	phase    string
	stickers []string
}

func (a *truthAttrs) empty() bool {
	return !a.hasFloat && !a.hasSeed && a.phase == "" && len(a.stickers) == 0
}

// validAttrs validates served attributes: a bad one is left out.
func validAttrs(s *dmarkettest.Attrs) truthAttrs {
	var a truthAttrs
	f, ok := s.Float, s.HasFloat
	if s.FloatText != "" {
		f, ok = decimalFloat(s.FloatText)
	}
	if ok && !math.IsNaN(f) && f >= 0 && f <= 1 {
		a.hasFloat, a.float = true, f
	}
	if s.HasSeed && s.Seed >= 0 && s.Seed <= truthMaxPaintSeed {
		a.hasSeed, a.seed = true, s.Seed
	}
	if p, ok := canonPhase(s.Phase); ok {
		a.phase = p
	}
	for _, n := range s.Stickers {
		if c, ok := cleanSticker(n); ok && len(a.stickers) < truthMaxStickers {
			a.stickers = append(a.stickers, c)
		}
	}
	return a
}

// decimalFloat parses a float sent as text: a plain decimal number (exponent allowed), nothing else.
func decimalFloat(text string) (float64, bool) {
	if strings.Trim(text, "0123456789.eE+-") != "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	return f, err == nil
}

// truthItem is one kept listing with attributes.
type truthItem struct {
	id     string
	price  int64
	locked bool
	days   int
	attrs  truthAttrs
}

// itemLess orders items by price, then item id.
func itemLess(a, b truthItem) int {
	return cmp.Or(cmp.Compare(a.price, b.price), strings.Compare(a.id, b.id))
}

// truthBucket is one group of a float curve.
type truthBucket struct {
	maxFloat float64
	price    int64
	sales    int
}

// truthCurve is a float curve.
type truthCurve []truthBucket

// valueAt is the price of the first bucket whose highest float is at or above f, the last one's beyond.
func (c truthCurve) valueAt(f float64) int64 {
	for _, b := range c {
		if f <= b.maxFloat {
			return b.price
		}
	}
	return c[len(c)-1].price
}

func (c truthCurve) sales() int {
	n := 0
	for _, b := range c {
		n += b.sales
	}
	return n
}

// truthSale is a sale with its validated attributes.
type truthSale struct {
	dmarkettest.Sale
	attrs truthAttrs
}

// fitCurve is the documented float-value method: the last 7 days' float sales sorted by float (then
// price) cut into min(6, n/4) groups of equal size (the first ones one larger), each worth its lower
// median; adjacent groups whose value rises with the float pooled into their sales-weighted mean until
// values never rise; nil under 12 sales.
func fitCurve(sales []truthSale, now time.Time) truthCurve {
	type pt struct {
		f float64
		p int64
	}
	var pts []pt
	from := now.Add(-7 * 24 * time.Hour)
	for _, s := range sales {
		if s.attrs.hasFloat && s.Date.After(from) && !s.Date.After(now) {
			pts = append(pts, pt{s.attrs.float, s.PriceCents})
		}
	}
	if len(pts) < truthFloatMinSales {
		return nil
	}
	slices.SortFunc(pts, func(a, b pt) int { return cmp.Or(cmp.Compare(a.f, b.f), cmp.Compare(a.p, b.p)) })
	k := min(truthFloatBuckets, len(pts)/truthFloatBucketSales)
	// A block is a run of pooled groups: its total value (Σ median × size), its sales and highest float.
	type block struct {
		total int64
		n     int
		maxF  float64
	}
	var blocks []block
	at := 0
	for g := range k {
		size := len(pts) / k
		if g < len(pts)%k {
			size++
		}
		prices := make([]int64, size)
		for i := range size {
			prices[i] = pts[at+i].p
		}
		slices.Sort(prices)
		b := block{total: prices[(size-1)/2] * int64(size), n: size, maxF: pts[at+size-1].f}
		at += size
		for len(blocks) > 0 {
			prev := blocks[len(blocks)-1]
			// b's mean above prev's: pool.
			if b.total*int64(prev.n) <= prev.total*int64(b.n) {
				break
			}
			blocks = blocks[:len(blocks)-1]
			b = block{total: prev.total + b.total, n: prev.n + b.n, maxF: b.maxF}
		}
		blocks = append(blocks, b)
	}
	c := make(truthCurve, len(blocks))
	for i, b := range blocks {
		c[i] = truthBucket{maxFloat: b.maxF, price: b.total / int64(b.n), sales: b.n}
	}
	return c
}

// truthPhase is one phase's expected state.
type truthPhase struct {
	history *wantHistory
	curve   truthCurve
}

// attrTitle is one title's expected attribute state, alongside its wantTitle.
type attrTitle struct {
	*wantTitle
	phased bool
	// kept are the kept items by status ("a", "l"), sorted by price then id.
	kept   map[string][]truthItem
	curve  truthCurve
	phases map[string]*truthPhase
	// plain says the title behaves as before the attributes: no phase, no stickers, no float sales.
	plain bool
}

// expectAttrTitle computes a title's expected state, attributes included.
func expectAttrTitle(t *dmarkettest.Title, now time.Time) *attrTitle {
	a := &attrTitle{wantTitle: expectTitle(t, now), phased: phasedName(t.Name), kept: map[string][]truthItem{}, plain: !phasedName(t.Name)}
	groups := map[string][]truthItem{}
	for _, l := range t.Listings {
		at := validAttrs(&l.Attrs)
		if at.phase != "" || len(at.stickers) > 0 {
			a.plain = false
		}
		if at.empty() {
			continue
		}
		st := "a"
		if l.LockSeconds > 0 {
			st = "l"
		}
		key := st + "|" + at.phase
		groups[key] = append(groups[key], truthItem{id: l.ItemID, price: l.PriceCents, locked: st == "l", days: int(l.LockSeconds / 86400), attrs: at})
	}
	for key, items := range groups {
		slices.SortFunc(items, itemLess)
		st, _, _ := strings.Cut(key, "|")
		a.kept[st] = append(a.kept[st], items[:min(truthItemsPerGroup, len(items))]...)
	}
	for st := range a.kept {
		slices.SortFunc(a.kept[st], itemLess)
	}
	sales := make([]truthSale, len(t.Sales))
	byPhase := map[string][]dmarkettest.Sale{}
	byPhaseT := map[string][]truthSale{}
	for i, s := range t.Sales {
		sales[i] = truthSale{Sale: s, attrs: validAttrs(&s.Attrs)}
		if sales[i].attrs.hasFloat || sales[i].attrs.phase != "" || len(sales[i].attrs.stickers) > 0 {
			a.plain = false
		}
		if p := sales[i].attrs.phase; p != "" {
			byPhase[p] = append(byPhase[p], s)
			byPhaseT[p] = append(byPhaseT[p], sales[i])
		}
	}
	if !a.phased {
		a.curve = fitCurve(sales, now)
		return a
	}
	a.phases = map[string]*truthPhase{}
	for p, ss := range byPhase {
		a.phases[p] = &truthPhase{history: analyseSales(ss, now), curve: fitCurve(byPhaseT[p], now)}
	}
	return a
}

// expectAttrMarket computes every title's expected state, by game and name.
func expectAttrMarket(cat *dmarkettest.Catalogue, games []string, now time.Time) (all []*attrTitle, byName map[string]*attrTitle) {
	byName = map[string]*attrTitle{}
	for _, g := range games {
		for _, t := range cat.Titles[g] {
			a := expectAttrTitle(t, now)
			all = append(all, a)
			byName[g+"|"+t.Name] = a
		}
	}
	return all, byName
}

// attrOffer is one offer the bot must show, with its attribute figures.
type attrOffer struct {
	wantOffer
	phase         string
	item          *truthItem // the item bought or shown, nil when none
	floor         int64      // STICKERS
	stickersValue int64      // of item's stickers (any kind)
	floatSales    int        // FLOAT
	wear          *truthWear
}

func (o *attrOffer) attrKey() string { return o.key() + " | " + o.phase }

// attrMarket prices sticker values over the expected market.
type attrMarket struct {
	byName map[string]*attrTitle
	fees   map[string]*wantFees
}

// stickerValue is the value of a sticker name on an item of game: the cheapest available level of its
// market title, else that title's price_at(50), else 0.
func (m *attrMarket) stickerValue(game, name string) int64 {
	t := m.byName[game+"|"+stickerTitleOf(name)]
	if t == nil {
		return 0
	}
	if p, _, ok := t.cheapest("a"); ok && p > 0 {
		return p
	}
	if t.history != nil {
		return t.history.priceAt(50)
	}
	return 0
}

func (m *attrMarket) stickersValue(game string, it *truthItem) int64 {
	if it == nil {
		return 0
	}
	var v int64
	for _, n := range it.attrs.stickers {
		v += m.stickerValue(game, n)
	}
	return v
}

// price completes an offer's fee, net and profit; ok is false when s filters it out.
func (m *attrMarket) price(t *attrTitle, o *attrOffer, s userSettings) bool {
	f := m.fees[t.game]
	if f == nil {
		f = &wantFees{fraction: "0.05", min: 1}
	}
	o.fee = f.fee(t.name, o.sell)
	o.net = o.sell - o.fee
	o.bp = truthProfitBP(o.net, o.buy)
	return o.buy >= s.minPrice && o.buy > 0 && o.bp >= s.limitBP
}

// itemsOf returns t's kept items of status st and (on phased titles) phase p.
func (t *attrTitle) itemsOf(st, p string) []truthItem {
	var out []truthItem
	for _, it := range t.kept[st] {
		if !t.phased || it.attrs.phase == p {
			out = append(out, it)
		}
	}
	return out
}

// levelItem is the kept item of st at exactly price (the lowest id), nil when none.
func (t *attrTitle) levelItem(st string, price int64) *truthItem {
	for i, it := range t.kept[st] {
		if it.price == price {
			return &t.kept[st][i]
		}
	}
	return nil
}

// expectAttrOffers lists every offer of every kind for settings, sorted as the bot sorts them.
func expectAttrOffers(titles []*attrTitle, m *attrMarket, s userSettings) []attrOffer {
	var out []attrOffer
	for _, t := range titles {
		for _, st := range []string{"a", "l"} {
			out = append(out, m.titleOffers(t, st, s)...)
		}
	}
	slices.SortStableFunc(out, func(a, b attrOffer) int {
		kinds := []string{"TARGET", "HISTORY", "FLOAT", "STICKERS"}
		return cmp.Or(cmp.Compare(b.bp, a.bp), strings.Compare(a.title, b.title),
			cmp.Compare(slices.Index(kinds, a.kind), slices.Index(kinds, b.kind)),
			cmp.Compare(a.status, b.status), // "available" < "locked"
			cmp.Compare(phaseIndex(a.phase), phaseIndex(b.phase)))
	})
	return out
}

// titleOffers are one title's offers of one status.
func (m *attrMarket) titleOffers(t *attrTitle, st string, s userSettings) []attrOffer {
	var out []attrOffer
	base := func(kind string, buy int64, it *truthItem) attrOffer {
		o := attrOffer{wantOffer: wantOffer{title: t.name, game: t.game, kind: kind,
			status: map[string]string{"a": "available", "l": "locked"}[st], buy: buy}, item: it}
		if it != nil {
			o.phase = it.attrs.phase
			o.stickersValue = m.stickersValue(t.game, it)
		}
		if !t.phased {
			o.phase = ""
		}
		if w, ok := wearOfTitle(t.name); ok {
			o.wear = &w
		}
		return o
	}
	add := func(o attrOffer) {
		if m.price(t, &o, s) {
			out = append(out, o)
		}
	}
	if buy, lv, ok := t.cheapest(st); ok {
		it := t.levelItem(st, buy)
		if t.order != nil {
			o := base("TARGET", buy, it)
			o.sell, o.orders, o.lockDays = t.order.PriceCents, t.order.Count, lv.days
			add(o)
		}
		if h := t.history; !t.phased && h != nil && h.stable && h.soldPerWeek >= 5 {
			// The title's history prices the level; the listing bought is the level's item, shown as on TARGET.
			o := base("HISTORY", buy, it)
			o.sell, o.soldPerWeek, o.lockDays = h.priceAt(resaleLevel(buy)), h.soldPerWeek, lv.days
			if o.sell > 0 {
				add(o)
			}
		}
	}
	for _, p := range truthPhases {
		ph := t.phases[p]
		if ph == nil || ph.history == nil {
			continue
		}
		items := t.itemsOf(st, p)
		h := ph.history
		if len(items) == 0 || !h.stable || h.soldPerWeek < 5 {
			continue
		}
		it := items[0]
		o := base("HISTORY", it.price, &it)
		o.sell, o.soldPerWeek, o.lockDays = h.priceAt(resaleLevel(it.price)), h.soldPerWeek, it.days
		if o.sell > 0 {
			add(o)
		}
	}
	out = append(out, m.bestPerPhase(t, st, s, "FLOAT", base)...)
	return append(out, m.bestPerPhase(t, st, s, "STICKERS", base)...)
}

// resaleLevel is the sell-probability level of a buy price: 50 below $100, else 20.
func resaleLevel(buy int64) int {
	if buy >= 10000 {
		return 20
	}
	return 50
}

// bestPerPhase returns the best FLOAT or STICKERS candidate of each phase of t's kept items of st.
func (m *attrMarket) bestPerPhase(t *attrTitle, st string, s userSettings, kind string,
	base func(string, int64, *truthItem) attrOffer) []attrOffer {
	best := map[string]attrOffer{}
	for i := range t.kept[st] {
		it := &t.kept[st][i]
		o := base(kind, it.price, it)
		o.lockDays = it.days
		if !m.candidate(t, st, &o) {
			continue
		}
		f := m.fees[t.game]
		if f == nil {
			f = &wantFees{fraction: "0.05", min: 1}
		}
		o.fee = f.fee(t.name, o.sell)
		o.net = o.sell - o.fee
		if o.net <= o.buy {
			continue
		}
		o.bp = truthProfitBP(o.net, o.buy)
		if b, ok := best[o.phase]; ok && cmp.Or(cmp.Compare(b.bp, o.bp), cmp.Compare(o.buy, b.buy), strings.Compare(o.item.id, b.item.id)) > 0 {
			continue
		}
		best[o.phase] = o
	}
	var out []attrOffer
	for _, o := range best {
		if m.price(t, &o, s) {
			out = append(out, o)
		}
	}
	return out
}

// candidate sets a FLOAT or STICKERS offer's sell price from its item; false when the item has none.
func (m *attrMarket) candidate(t *attrTitle, st string, o *attrOffer) bool {
	it := o.item
	if o.kind == "FLOAT" {
		c := t.curve
		if t.phased {
			if it.attrs.phase == "" || t.phases[it.attrs.phase] == nil {
				return false
			}
			c = t.phases[it.attrs.phase].curve
		}
		if !it.attrs.hasFloat || c == nil {
			return false
		}
		o.sell, o.floatSales = c.valueAt(it.attrs.float), c.sales()
		return o.sell > 0
	}
	if len(it.attrs.stickers) == 0 {
		return false
	}
	if t.phased {
		o.floor = t.itemsOf(st, it.attrs.phase)[0].price
	} else {
		o.floor, _, _ = t.cheapest(st)
	}
	o.sell = o.floor + o.stickersValue*truthStickerShare/100
	return true
}

// floatText is a float as the kept items store it.
func floatText(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
