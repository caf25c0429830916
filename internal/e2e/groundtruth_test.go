package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot"
	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
)

// strictEnv forces the ground-truth comparison to fail on every difference, even on those of defects
// still open.
const strictEnv = "GROUNDTRUTH_STRICT"

// openDefects maps the difference classes of defects not fixed yet to the defect. While every difference
// found belongs to one of them, the test skips with the list instead of failing (unless GROUNDTRUTH_STRICT
// is set); any other difference fails it. Remove an entry when its fix lands.
var openDefects = map[string]string{
	// Every class the test found is fixed: 11.1 (fee bounds), 11.2 (listing count across pages) and 11.6
	// (customized-fees paging). Add "<class>": "<defect>" here while a newly found defect is open.
}

// derived is the suffix of the offer classes found on titles whose Redis state already differs: they
// follow from that difference and are gated with it. An offer that differs on a title whose Redis state
// is right is a fault of the bot's own computation and is never gated.
const derived = " (title's Redis state differs)"

// diffs collects the differences between Redis (or the bot's offers) and the truth, per title and per class.
type diffs struct {
	byTitle map[string][]string
	order   []string // titles in the order they first differed
	classes map[string]*diffClass
}

type diffClass struct {
	count   int
	example string
}

func newDiffs() *diffs {
	return &diffs{byTitle: map[string][]string{}, classes: map[string]*diffClass{}}
}

func (d *diffs) add(title, class, format string, args ...any) {
	detail := class + ": " + fmt.Sprintf(format, args...)
	if _, seen := d.byTitle[title]; !seen {
		d.order = append(d.order, title)
	}
	d.byTitle[title] = append(d.byTitle[title], detail)
	c := d.classes[class]
	if c == nil {
		c = &diffClass{example: fmt.Sprintf("%q: %s", title, fmt.Sprintf(format, args...))}
		d.classes[class] = c
	}
	c.count++
}

func (d *diffs) empty() bool { return len(d.order) == 0 }

func (d *diffs) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d titles differ from the simulator's truth.\nClasses of difference (count, example):\n", len(d.order))
	for _, n := range slices.Sorted(maps.Keys(d.classes)) {
		c := d.classes[n]
		open := ""
		if def, ok := openDefects[n]; ok {
			open = " [open: " + def + "]"
		}
		if strings.HasSuffix(n, derived) {
			open = " [follows from the Redis differences]"
		}
		fmt.Fprintf(&b, "  - %s%s: %d, e.g. %s\n", n, open, c.count, c.example)
	}
	b.WriteString("First ten differing titles:\n")
	for _, title := range d.order[:min(10, len(d.order))] {
		det := d.byTitle[title]
		fmt.Fprintf(&b, "  %q: %s", title, strings.Join(det[:min(4, len(det))], "; "))
		if len(det) > 4 {
			fmt.Fprintf(&b, " (+%d more)", len(det)-4)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// onlyOpenDefects returns the open defects behind the differences, and false when some difference
// belongs to no open defect.
func (d *diffs) onlyOpenDefects() ([]string, bool) {
	seen := map[string]bool{}
	for n := range d.classes {
		if strings.HasSuffix(n, derived) {
			continue
		}
		def, ok := openDefects[n]
		if !ok {
			return nil, false
		}
		seen[def] = true
	}
	return slices.Sorted(maps.Keys(seen)), true
}

// truthSim starts the ground-truth tests' simulator: the adversarial catalogue of seed 11 with titles
// titles in each of two games, accepting the demo keys without rate limits. It returns the simulator, its
// games and their number of titles.
func truthSim(t *testing.T, titles int) (*dmarkettest.Server, []string, int) {
	t.Helper()
	games := []string{"a8db", "9a92"}
	pub, _ := dmarkettest.DemoKeys()
	sim := dmarkettest.New(dmarkettest.Config{Seed: 11, Games: games, Titles: titles, ListingsPerTitle: 8,
		PublicKeys: []string{pub}, PublicMarketRate: -1, PublicOtherRate: -1,
		AccountListingsRate: -1, AccountSalesRate: -1, AccountOtherRate: -1})
	t.Cleanup(sim.Close)
	total := 0
	for _, g := range games {
		total += len(sim.Catalogue().Titles[g])
	}
	return sim, games, total
}

// TestGroundTruthWholeMarket crawls an adversarial simulator catalogue of two games (twice) with the real
// parser and worker code, then compares every title's Redis state and every offer the bot computes for
// extreme user settings with what SPEC §5.2, §5.3 and §6.1 say they must be, computed independently from
// the simulator's catalogue: field by field, cent by cent, with no tolerance.
func TestGroundTruthWholeMarket(t *testing.T) {
	sim, games, total := truthSim(t, 250)
	cat := sim.Catalogue()
	t.Logf("catalogue: %d titles, %d listings, %d games", total, cat.ListingCount(), len(games))

	// Two full crawls: the second re-crawls every range over the first one's state (ranges split where
	// their chains were long), as a running parser does; the state must be the same as after one.
	p, tm, now := settledTruth(t, sim, games, 90*time.Second)

	d := newDiffs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	compareRedis(ctx, t, p.rdb, tm.want, now, d)
	for _, g := range games {
		compareFees(ctx, t, p.rdb, g, tm.m.fees[g], d)
	}
	compareTTLs(ctx, t, p.rdb, tm.want, d)
	compareAttrRedis(ctx, t, p.rdb, tm.all, now, d)
	// Every item of the catalogue is valid: none may be dropped, no message dead-lettered.
	mfs, err := p.workerReg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			if v == 0 {
				continue
			}
			switch {
			case mf.GetName() == "dmarket_worker_items_invalid_total":
				d.add("(worker)", "worker: valid items dropped", "%v items with reason %s", v, labelsOf(m))
			case mf.GetName() == "dmarket_worker_pages_total" && strings.Contains(labelsOf(m), "outcome=invalid"):
				d.add("(worker)", "worker: messages dead-lettered", "%v messages %s", v, labelsOf(m))
			}
		}
	}
	stateDiffers := d.titles()
	market := readMarket(ctx, t, p.rdb)
	for _, s := range []userSettings{
		{name: "min price $0, limit -100 %", minPrice: 0, limitBP: -10000},
		{name: "min price $10, limit 0 %", minPrice: 1000, limitBP: 0},
		{name: "min price $1000000, limit 10000 %", minPrice: 100000000, limitBP: 1000000, wantEmpty: true},
	} {
		// Titles without attributes by SPEC §6.1's rules; the others with the attribute rules too.
		exp := tm.compareOffersFor(market, s, d, stateDiffers)
		if s.wantEmpty {
			require.Empty(t, exp, "the truth has no offer for %s", s.name)
		} else {
			require.NotEmpty(t, exp, "the truth has offers for %s", s.name)
		}
	}

	if d.empty() {
		return
	}
	msg := d.report()
	if os.Getenv(strictEnv) == "" {
		if defects, ok := d.onlyOpenDefects(); ok {
			t.Skipf("every difference belongs to an open defect (%s); set %s=1 to fail on them.\n%s",
				strings.Join(defects, ", "), strictEnv, msg)
		}
	}
	t.Fatal(msg)
}

type storedMeta struct {
	Title          string `json:"title"`
	GameID         string `json:"game_id"`
	Image          string `json:"image"`
	SuggestedPrice *int64 `json:"suggested_price"`
}

type storedLevel struct {
	N    *int64   `json:"n"`
	Exp  *float64 `json:"exp"`
	Days *int64   `json:"days"`
}

type storedOrder struct {
	Price *int64 `json:"price"`
	Count *int64 `json:"count"`
}

type storedHistory struct {
	Stable      *bool            `json:"stable"`
	SoldPerWeek *int64           `json:"sold_per_week"`
	Probability map[string]int64 `json:"probability"`
}

// compareRedis checks every title's prices, orders and history keys, and that Redis holds no other
// prices key.
func compareRedis(ctx context.Context, t *testing.T, rdb redis.UniversalClient, want []*wantTitle, now time.Time, d *diffs) {
	t.Helper()
	known := map[string]bool{}
	for _, w := range want {
		known[w.name] = true
	}
	require.NoError(t, redisdb.ScanEach(ctx, rdb, pricestore.PricesPrefix+"*", 1000, func(keys []string) error {
		for _, k := range keys {
			if title := strings.TrimPrefix(k, pricestore.PricesPrefix); !known[title] {
				d.add(title, "prices: key of a title not in the catalogue", "%q", k)
			}
		}
		return nil
	}))

	const batch = 200
	for start := 0; start < len(want); start += batch {
		part := want[start:min(start+batch, len(want))]
		pipe := rdb.Pipeline()
		hashes := make([]*redis.MapStringStringCmd, len(part))
		ordersCmd := make([]*redis.StringCmd, len(part))
		histCmd := make([]*redis.StringCmd, len(part))
		for i, w := range part {
			hashes[i] = pipe.HGetAll(ctx, pricestore.PricesPrefix+w.name)
			ordersCmd[i] = pipe.Get(ctx, pricestore.OrdersPrefix+w.name)
			histCmd[i] = pipe.Get(ctx, pricestore.HistoryPrefix+w.name)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && !errors.Is(err, redis.Nil) {
			require.NoError(t, err)
		}
		for i, w := range part {
			comparePrices(w, hashes[i].Val(), now, d)
			compareOrder(w, ordersCmd[i], d)
			compareHistory(w, histCmd[i], d)
		}
	}
}

func comparePrices(w *wantTitle, hash map[string]string, now time.Time, d *diffs) {
	if len(w.levels) == 0 { // a title only sold (a sticker items carry) has a history and no prices
		if len(hash) != 0 {
			d.add(w.name, "prices: key of a title never listed", "fields %d", len(hash))
		}
		return
	}
	if len(hash) == 0 {
		d.add(w.name, "prices: title missing", "no prices key")
		return
	}
	var meta storedMeta
	if err := json.Unmarshal([]byte(hash["meta"]), &meta); err != nil {
		d.add(w.name, "prices: meta unreadable", "%v", err)
	} else {
		if meta.Title != w.name {
			d.add(w.name, "prices: meta title", "got %q", meta.Title)
		}
		if meta.GameID != w.game {
			d.add(w.name, "prices: meta game_id", "got %q want %q", meta.GameID, w.game)
		}
		if !w.images[meta.Image] {
			d.add(w.name, "prices: meta image", "got %q, not one of the title's listings' images", meta.Image)
		}
		if meta.SuggestedPrice == nil || *meta.SuggestedPrice != w.suggested {
			d.add(w.name, "prices: meta suggested_price", "got %v want %d", ptrString(meta.SuggestedPrice), w.suggested)
		}
	}
	got := map[string]wantLevel{}
	for f, raw := range hash {
		if !strings.HasPrefix(f, "a:") && !strings.HasPrefix(f, "l:") {
			continue
		}
		var lv storedLevel
		if err := json.Unmarshal([]byte(raw), &lv); err != nil || lv.N == nil || lv.Exp == nil {
			d.add(w.name, "prices: level unreadable", "%s = %s", f, raw)
			continue
		}
		if *lv.Exp <= float64(now.Unix()) {
			continue // expired: readers ignore it
		}
		g := wantLevel{n: int(*lv.N), days: -1}
		if lv.Days != nil {
			g.days = int(*lv.Days)
		}
		got[f] = g
	}
	for _, st := range []string{"a", "l"} {
		name := map[string]string{"a": "tradable", "l": "locked"}[st]
		wp, wl, wok := w.cheapest(st)
		gp, gl, gok := cheapestOf(got, st)
		switch {
		case wok && !gok:
			d.add(w.name, "prices: cheapest "+name+" missing", "want %s n=%d", levelField(st, wp), wl.n)
			continue
		case !wok && gok:
			d.add(w.name, "prices: "+name+" level of a title without "+name+" listings", "got %s", levelField(st, gp))
			continue
		case !wok:
			continue
		}
		if gp != wp {
			d.add(w.name, "prices: cheapest "+name+" price", "got %d want %d", gp, wp)
			continue
		}
		if gl.n != wl.n {
			d.add(w.name, "prices: n at the cheapest "+name+" price", "%s n: got %d want %d", levelField(st, wp), gl.n, wl.n)
		}
		if st == "l" && gl.days != wl.days {
			d.add(w.name, "prices: lock days at the cheapest locked price", "%s days: got %d want %d", levelField(st, wp), gl.days, wl.days)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(w.levels)) {
		wl := w.levels[f]
		st, _, _ := strings.Cut(f, ":")
		if wp, _, _ := w.cheapest(st); levelField(st, wp) == f {
			continue // compared above
		}
		gl, ok := got[f]
		switch {
		case !ok:
			d.add(w.name, "prices: deeper level missing", "%s (n=%d)", f, wl.n)
		case gl.n != wl.n:
			d.add(w.name, "prices: n at a deeper level", "%s n: got %d want %d", f, gl.n, wl.n)
		case st == "l" && gl.days != wl.days:
			d.add(w.name, "prices: lock days at a deeper level", "%s days: got %d want %d", f, gl.days, wl.days)
		}
	}
	for f := range got {
		if _, ok := w.levels[f]; !ok {
			d.add(w.name, "prices: level with no listing", "%s", f)
		}
	}
}

func cheapestOf(levels map[string]wantLevel, status string) (int64, wantLevel, bool) {
	best, found := int64(0), false
	for f := range levels {
		st, p, _ := strings.Cut(f, ":")
		if st != status {
			continue
		}
		price, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			continue
		}
		if !found || price < best {
			best, found = price, true
		}
	}
	return best, levels[levelField(status, best)], found
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func compareOrder(w *wantTitle, cmd *redis.StringCmd, d *diffs) {
	raw, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil) && w.order == nil:
		return
	case errors.Is(err, redis.Nil):
		d.add(w.name, "orders: missing", "want price %d count %d", w.order.PriceCents, w.order.Count)
		return
	case err != nil:
		d.add(w.name, "orders: unreadable", "%v", err)
		return
	case w.order == nil:
		d.add(w.name, "orders: key of a title without buy orders", "%s", raw)
		return
	}
	var o storedOrder
	if err := json.Unmarshal([]byte(raw), &o); err != nil || o.Price == nil || o.Count == nil {
		d.add(w.name, "orders: unreadable", "%s", raw)
		return
	}
	if *o.Price != w.order.PriceCents {
		d.add(w.name, "orders: price", "got %d want %d", *o.Price, w.order.PriceCents)
	}
	if int(*o.Count) != w.order.Count {
		d.add(w.name, "orders: count", "got %d want %d", *o.Count, w.order.Count)
	}
}

func compareHistory(w *wantTitle, cmd *redis.StringCmd, d *diffs) {
	raw, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil) && w.history == nil:
		return
	case errors.Is(err, redis.Nil):
		d.add(w.name, "history: missing", "want sold_per_week %d", w.history.soldPerWeek)
		return
	case err != nil:
		d.add(w.name, "history: unreadable", "%v", err)
		return
	case w.history == nil:
		d.add(w.name, "history: key of a title without sales", "%s", raw[:min(80, len(raw))])
		return
	}
	var h storedHistory
	if err := json.Unmarshal([]byte(raw), &h); err != nil || h.Stable == nil || h.SoldPerWeek == nil {
		d.add(w.name, "history: unreadable", "%s", raw[:min(80, len(raw))])
		return
	}
	if *h.Stable != w.history.stable {
		d.add(w.name, "history: stable", "got %t want %t", *h.Stable, w.history.stable)
	}
	if int(*h.SoldPerWeek) != w.history.soldPerWeek {
		d.add(w.name, "history: sold_per_week", "got %d want %d", *h.SoldPerWeek, w.history.soldPerWeek)
	}
	got := map[int64]int{}
	for k, v := range h.Probability {
		c, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			d.add(w.name, "history: probability key", "%q", k)
			continue
		}
		got[c] = int(v)
	}
	if !maps.Equal(got, w.history.probability) {
		d.add(w.name, "history: probability", "got %v want %v", sortedPairs(got), sortedPairs(w.history.probability))
	}
}

func sortedPairs(m map[int64]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d:%d", k, m[k]))
	}
	if len(parts) > 8 {
		parts = append(parts[:8], "…")
	}
	return "{" + strings.Join(parts, " ") + "}"
}

type storedFees struct {
	Fraction *string `json:"fraction"`
	Min      *int64  `json:"min"`
	Reduced  []struct {
		Title     string   `json:"title"`
		Fraction  string   `json:"fraction"`
		MinPrice  *int64   `json:"min_price"`
		MaxPrice  *int64   `json:"max_price"`
		ExpiresAt *float64 `json:"expires_at"`
	} `json:"reduced"`
}

// compareFees checks a game's fees key: the default fee and every unexpired reduced fee, with bounds
// compared by meaning (an open lower bound is 0; an open upper bound is null, zero or beyond any price).
func compareFees(ctx context.Context, t *testing.T, rdb redis.UniversalClient, game string, w *wantFees, d *diffs) {
	t.Helper()
	key := "fees " + game
	raw, err := rdb.Get(ctx, pricestore.FeesPrefix+game).Result()
	if errors.Is(err, redis.Nil) {
		d.add(key, "fees: missing", "no %s%s", pricestore.FeesPrefix, game)
		return
	}
	require.NoError(t, err)
	var f storedFees
	if err := json.Unmarshal([]byte(raw), &f); err != nil || f.Fraction == nil || f.Min == nil {
		d.add(key, "fees: unreadable", "%v", err)
		return
	}
	if *f.Fraction != w.fraction || *f.Min != w.min {
		d.add(key, "fees: default", "got %s/%d want %s/%d", *f.Fraction, *f.Min, w.fraction, w.min)
	}
	seen := map[string]bool{}
	openMax := func(p *int64) *int64 {
		if p == nil || *p <= 0 || *p >= dmarkettest.HugeMaxPriceCents {
			return nil
		}
		return p
	}
	openMin := func(p *int64) *int64 {
		if p == nil || *p <= 0 {
			return nil
		}
		return p
	}
	for _, r := range f.Reduced {
		if seen[r.Title] {
			continue
		}
		seen[r.Title] = true
		e, ok := w.reduced[r.Title]
		name := r.Title
		if !ok {
			d.add(name, "fees: reduced fee of a title the API never listed", "%s", r.Fraction)
			continue
		}
		if e.expiredAtNow {
			continue // an expired fee may be kept or dropped; it never applies
		}
		if r.Fraction != e.fraction {
			d.add(name, "fees: reduced fraction", "got %s want %s", r.Fraction, e.fraction)
		}
		if ptrString(openMin(r.MinPrice)) != ptrString(e.minPrice) {
			d.add(name, "fees: reduced min_price", "got %s want %s", ptrString(r.MinPrice), ptrString(e.minPrice))
		}
		if ptrString(openMax(r.MaxPrice)) != ptrString(e.maxPrice) {
			d.add(name, "fees: reduced max_price", "got %s want %s", ptrString(r.MaxPrice), ptrString(e.maxPrice))
		}
		if r.ExpiresAt == nil || math.Abs(*r.ExpiresAt-float64(e.expiresAt.Unix())) >= 1 {
			d.add(name, "fees: reduced expires_at", "got %s want %d", ptrString(r.ExpiresAt), e.expiresAt.Unix())
		}
	}
	var missing []string
	for title, e := range w.reduced {
		if !seen[title] && !e.expiredAtNow {
			missing = append(missing, title)
		}
	}
	sort.Strings(missing)
	for _, title := range missing {
		d.add(title, "fees: reduced fee missing", "%s: %s is not stored (%d of %d unexpired reduced fees are missing)",
			key, w.reduced[title].fraction, len(missing), len(w.reduced))
	}
}

// compareTTLs checks that no key outlives its TTL (SPEC §5.2): prices and orders PRICE_TTL (1h here),
// history HISTORY_TTL (24h here).
func compareTTLs(ctx context.Context, t *testing.T, rdb redis.UniversalClient, want []*wantTitle, d *diffs) {
	t.Helper()
	pipe := rdb.Pipeline()
	type check struct {
		title, kind string
		max         time.Duration
		cmd         *redis.DurationCmd
	}
	var checks []check
	for _, w := range want {
		for _, c := range []struct {
			kind, prefix string
			max          time.Duration
		}{{"prices", pricestore.PricesPrefix, time.Hour}, {"orders", pricestore.OrdersPrefix, time.Hour}, {"history", pricestore.HistoryPrefix, 24 * time.Hour}} {
			checks = append(checks, check{title: w.name, kind: c.kind, max: c.max, cmd: pipe.PTTL(ctx, c.prefix+w.name)})
		}
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	for _, c := range checks {
		ttl := c.cmd.Val()
		if ttl == -1 {
			d.add(c.title, "ttl: "+c.kind+" key never expires", "PTTL -1")
		} else if ttl > c.max {
			d.add(c.title, "ttl: "+c.kind+" key outlives its TTL", "PTTL %s > %s", ttl, c.max)
		}
	}
}

// compareOffers compares the bot's offers for one user's settings with the truth, offer by offer and in
// order.
func compareOffers(settings string, want []wantOffer, got []offers.Offer, d *diffs, stateDiffers map[string]bool) {
	add := func(title, class, format string, args ...any) {
		if stateDiffers[title] {
			class += derived
		}
		d.add(title, class, format, args...)
	}
	byKey := map[string]offers.Offer{}
	gotKeys := make([]string, 0, len(got))
	for _, o := range got {
		k := o.Title + " | " + string(o.Kind) + " | " + string(o.Status)
		byKey[k] = o
		gotKeys = append(gotKeys, k)
	}
	wantKeys := make([]string, 0, len(want))
	wantSet := map[string]bool{}
	for _, w := range want {
		k := w.key()
		wantKeys = append(wantKeys, k)
		wantSet[k] = true
		o, ok := byKey[k]
		if !ok {
			add(w.title, "offers: missing", "[%s] %s %s buy %d sell %d %s", settings, w.kind, w.status, w.buy, w.sell, offers.Percent(w.bp))
			continue
		}
		field := func(name string, g, e int64) {
			if g != e {
				add(w.title, "offers: "+name, "[%s] %s %s: got %d want %d", settings, w.kind, w.status, g, e)
			}
		}
		field("buy price", o.Buy, w.buy)
		field("sell price", o.Sell, w.sell)
		field("fee", o.Fee, w.fee)
		field("net", o.Net, w.net)
		field("profit", o.ProfitBasisPoints, w.bp)
		if w.kind == "TARGET" {
			field("buy order count", int64(o.OrderCount), int64(w.orders))
		} else {
			field("sold per week", int64(o.SoldPerWeek), int64(w.soldPerWeek))
		}
		if w.status == "locked" {
			field("lock days", int64(o.LockDays), int64(w.lockDays))
		}
		if o.GameID != w.game {
			add(w.title, "offers: game", "[%s] got %q want %q", settings, o.GameID, w.game)
		}
	}
	for _, k := range gotKeys {
		if !wantSet[k] {
			o := byKey[k]
			add(o.Title, "offers: unexpected", "[%s] %s %s buy %d sell %d %s", settings, o.Kind, o.Status, o.Buy, o.Sell,
				offers.Percent(o.ProfitBasisPoints))
		}
	}
	if slices.Equal(sortedCopy(wantKeys), sortedCopy(gotKeys)) && !slices.Equal(wantKeys, gotKeys) {
		for i := range wantKeys {
			if wantKeys[i] != gotKeys[i] {
				add(strings.SplitN(gotKeys[i], " | ", 2)[0], "offers: order", "[%s] position %d: got %s want %s", settings, i, gotKeys[i], wantKeys[i])
				break
			}
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func labelsOf(m *dto.Metric) string {
	parts := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// usd and signedPercent format cents and basis points as SPEC §6.3 shows them: $12.34, +12.34%.
func usd(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }

func signedPercent(bp int64) string {
	sign := "+"
	if bp < 0 {
		sign, bp = "-", -bp
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bp/100, bp%100)
}

var anchorRE = regexp.MustCompile(`^<a href="[^"]*">([^<]*)</a>$`)

// compareRendered checks the four lines the bot renders for each offer (SPEC §6.3, line 2 of HISTORY as
// §9.4 words it): amounts, kind line, the escaped title and the lock.
func compareRendered(want []wantOffer, got []offers.Offer, d *diffs, stateDiffers map[string]bool) {
	byKey := map[string]offers.Offer{}
	for _, o := range got {
		byKey[o.Title+" | "+string(o.Kind)+" | "+string(o.Status)] = o
	}
	for _, w := range want {
		o, ok := byKey[w.key()]
		if !ok || stateDiffers[w.title] {
			continue // already reported
		}
		lines := strings.Split(bot.RenderCaption(o, time.Now(), math.MaxInt), "\n")
		line2 := fmt.Sprintf("TARGET · %d buy orders", w.orders)
		if w.orders == 1 {
			line2 = "TARGET · 1 buy order"
		}
		if w.kind == "HISTORY" {
			level := 50
			if w.buy >= 10000 {
				level = 20
			}
			line2 = fmt.Sprintf("HISTORY · SELLS AT %s (%d %%) | %d SOLD IN WEEK", usd(w.sell), level, w.soldPerWeek)
		}
		line4 := "updated "
		if w.status == "locked" {
			line4 = fmt.Sprintf("LOCKED %dd · ", w.lockDays)
			if w.lockDays < 1 {
				line4 = "LOCKED &lt;1d · "
			}
		}
		switch {
		case len(lines) != 4:
			d.add(w.title, "bot: rendered offer lines", "%d lines: %q", len(lines), lines)
		case lines[0] != fmt.Sprintf("<b>%s</b>  %s → %s (net %s)", signedPercent(w.bp), usd(w.buy), usd(w.sell), usd(w.net)):
			d.add(w.title, "bot: rendered offer line 1", "%q", lines[0])
		case !strings.HasPrefix(lines[1], line2):
			d.add(w.title, "bot: rendered offer line 2", "%q, want it to start with %q", lines[1], line2)
		case !anchorRE.MatchString(lines[2]) || anchorRE.FindStringSubmatch(lines[2])[1] != html.EscapeString(w.title):
			d.add(w.title, "bot: rendered offer title", "%q", lines[2])
		case !strings.HasPrefix(lines[3], line4):
			d.add(w.title, "bot: rendered offer line 4", "%q, want it to start with %q", lines[3], line4)
		}
	}
}
