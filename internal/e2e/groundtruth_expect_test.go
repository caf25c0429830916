package e2e

import (
	"cmp"
	"maps"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
)

// This file computes, straight from SPEC §5.2, §5.3 and §6.1 and from the simulator's catalogue alone,
// what Redis must hold and which offers the bot must show after one full crawl. It deliberately uses no
// production package (no pricestore, sellhistory, offers or validate code).

// wantLevel is one `a:<price>` or `l:<price>` field: the number of listings at that (status, price) and,
// on `l:` fields, the lowest lock in whole days.
type wantLevel struct {
	n    int
	days int
}

// wantHistory is the `history:` key's analysis (SPEC §5.3).
type wantHistory struct {
	stable      bool
	soldPerWeek int
	probability map[int64]int
}

// priceAt is the highest price whose probability is at least level, 0 when there is none.
func (h *wantHistory) priceAt(level int) int64 {
	var best int64
	for p, pct := range h.probability {
		if pct >= level && p > best {
			best = p
		}
	}
	return best
}

// wantTitle is one title's expected Redis state.
type wantTitle struct {
	game      string
	name      string
	suggested int64
	images    map[string]bool
	levels    map[string]wantLevel
	order     *dmarkettest.BuyOrder
	history   *wantHistory
}

// cheapest returns the cheapest level of a status ("a" or "l") as its price, or ok false.
func (w *wantTitle) cheapest(status string) (int64, wantLevel, bool) {
	return cheapestOf(w.levels, status)
}

func levelField(status string, price int64) string {
	return status + ":" + strconv.FormatInt(price, 10)
}

func expectTitle(t *dmarkettest.Title, now time.Time) *wantTitle {
	w := &wantTitle{game: t.GameID, name: t.Name, suggested: t.SuggestedCents, images: map[string]bool{},
		levels: map[string]wantLevel{}, order: t.BuyOrder}
	for _, l := range t.Listings {
		w.images[l.Image()] = true
		status := "a"
		if l.LockSeconds > 0 {
			status = "l"
		}
		f := levelField(status, l.PriceCents)
		lv, seen := w.levels[f]
		days := int(l.LockSeconds / 86400)
		if !seen || days < lv.days {
			lv.days = days
		}
		lv.n++
		w.levels[f] = lv
	}
	if len(t.Sales) > 0 {
		w.history = analyseSales(t.Sales, now)
	}
	return w
}

// point is one UTC hour of sales.
type point struct {
	hour  int64
	cents int64 // mean price rounded to cents, half to even
	count int
}

// analyseSales is SPEC §5.3 written out: hourly points of the last 7 days, 15-point windows, the
// stability verdict, sold_per_week and the sell-probability table.
func analyseSales(sales []dmarkettest.Sale, now time.Time) *wantHistory {
	from := now.Add(-7 * 24 * time.Hour)
	type acc struct{ sum, n int64 }
	hours := map[int64]*acc{}
	for _, s := range sales {
		if !s.Date.After(from) {
			continue
		}
		h := s.Date.UTC().Truncate(time.Hour).Unix()
		if hours[h] == nil {
			hours[h] = &acc{}
		}
		hours[h].sum += s.PriceCents
		hours[h].n++
	}
	var points []point
	for h, a := range hours {
		if !time.Unix(h, 0).After(from) {
			continue
		}
		points = append(points, point{hour: h, cents: halfEvenDiv(a.sum, a.n), count: int(a.n)})
	}
	sort.Slice(points, func(i, j int) bool { return points[i].hour > points[j].hour }) // newest first
	h := &wantHistory{probability: map[int64]int{}}
	for _, p := range points {
		h.soldPerWeek += p.count
	}
	h.stable = isStable(points)
	perPrice := map[int64]int{}
	for _, p := range points {
		perPrice[p.cents] += p.count
	}
	prices := slices.Sorted(maps.Keys(perPrice))
	cum := 0.0
	for _, p := range prices {
		h.probability[p] = 100 - int(math.Floor(cum))
		cum += float64(perPrice[p]) / float64(h.soldPerWeek) * 100
	}
	return h
}

func halfEvenDiv(a, b int64) int64 {
	r := new(big.Rat).SetFrac64(a, b)
	q := new(big.Int).Quo(r.Num(), r.Denom())
	rem := new(big.Rat).Sub(r, new(big.Rat).SetInt(q))
	switch rem.Cmp(big.NewRat(1, 2)) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// roundCents rounds dollars to cents half to even on the exact binary value, as SPEC §5.3 says.
func roundCents(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	return v
}

func isStable(newestFirst []point) bool {
	const size = 15
	n := len(newestFirst) - size + 1
	if n < 5 {
		return false
	}
	means := make([]float64, n)
	for i := range n {
		var w, inv float64
		for _, p := range newestFirst[i : i+size] {
			w += float64(p.count)
			inv += float64(p.count) / (float64(p.cents) / 100)
		}
		means[i] = roundCents(w / inv)
	}
	sorted := slices.Clone(means)
	slices.Sort(sorted)
	med := sorted[n/2]
	if n%2 == 0 {
		med = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	var mean float64
	for _, m := range means {
		mean += m
	}
	mean /= float64(n)
	var sq float64
	for _, m := range means {
		sq += (m - mean) * (m - mean)
	}
	dev := math.Sqrt(sq/float64(n-1)) / med
	first, last := means[0], means[n-1]
	fall := first < last && math.Abs(first-last)/math.Sqrt2/med > 0.01
	pd := func(a, b float64) float64 { return (max(a, b) - min(a, b)) / max(a, b) }
	return !fall && dev < 0.06 && pd(sorted[0], med) < 0.1 && pd(sorted[n-1], med) < 0.1
}

// wantReduced is one reduced fee with its bounds as the API means them: nil is open (left out, zero
// maxPrice, or a maxPrice so wide that no price reaches it).
type wantReduced struct {
	fraction     string
	minPrice     *int64
	maxPrice     *int64
	expiresAt    time.Time
	expiredAtNow bool
}

// wantFees is one game's `fees:` key.
type wantFees struct {
	fraction string
	min      int64
	reduced  map[string]wantReduced // first entry per title, as given
}

func expectFees(f *dmarkettest.Fees, now time.Time) *wantFees {
	w := &wantFees{fraction: f.DefaultFraction, min: f.MinAmountCents, reduced: map[string]wantReduced{}}
	for _, r := range f.Reduced {
		if _, dup := w.reduced[r.Title]; dup {
			continue
		}
		e := wantReduced{fraction: r.Fraction, expiresAt: r.ExpiresAt, expiredAtNow: !now.Before(r.ExpiresAt)}
		if !r.OpenMin && r.MinPriceCents > 0 {
			v := r.MinPriceCents
			e.minPrice = &v
		}
		if !r.OpenMax && r.MaxPriceCents > 0 && r.MaxPriceCents < dmarkettest.HugeMaxPriceCents {
			v := r.MaxPriceCents
			e.maxPrice = &v
		}
		w.reduced[r.Title] = e
	}
	return w
}

// fee is SPEC §6.1's fee on selling title at sell cents: the title's unexpired reduced fee whose bounds
// hold sell, else the game's default; max(⌊sell × fraction + ½⌋, minimum) with the exact decimal.
func (w *wantFees) fee(title string, sell int64) int64 {
	fraction := w.fraction
	if r, ok := w.reduced[title]; ok && !r.expiredAtNow &&
		(r.minPrice == nil || sell >= *r.minPrice) && (r.maxPrice == nil || sell <= *r.maxPrice) {
		fraction = r.fraction
	}
	f, ok := new(big.Rat).SetString(fraction)
	if !ok {
		panic("bad fraction " + fraction)
	}
	x := new(big.Rat).Mul(f, new(big.Rat).SetInt64(sell))
	x.Add(x, big.NewRat(1, 2))
	fee := new(big.Int).Quo(x.Num(), x.Denom()).Int64() // both positive: Quo floors
	return max(fee, w.min)
}

// truthProfitBP is (net − buy) / buy × 100 rounded half away from zero to 2 decimals, times 100.
func truthProfitBP(net, buy int64) int64 {
	r := new(big.Rat).SetFrac64((net-buy)*10000, buy)
	neg := r.Sign() < 0
	r.Abs(r)
	r.Add(r, big.NewRat(1, 2))
	v := new(big.Int).Quo(r.Num(), r.Denom()).Int64()
	if neg {
		v = -v
	}
	return v
}

// wantOffer is one offer the bot must show.
type wantOffer struct {
	title, game, kind, status string
	buy, sell, fee, net, bp   int64
	orders, soldPerWeek       int
	lockDays                  int
}

func (o wantOffer) key() string { return o.title + " | " + o.kind + " | " + o.status }

// userSettings is a user's min price (cents) and limit (basis points).
type userSettings struct {
	name      string
	minPrice  int64
	limitBP   int64
	wantEmpty bool
}

// expectOffers lists the offers of SPEC §6.1 for settings, sorted as the bot sorts them.
func expectOffers(titles []*wantTitle, fees map[string]*wantFees, s userSettings) []wantOffer {
	var out []wantOffer
	for _, t := range titles {
		for _, kind := range []string{"TARGET", "HISTORY"} {
			for _, st := range []string{"a", "l"} {
				buy, lv, ok := t.cheapest(st)
				if !ok || buy < s.minPrice || buy <= 0 {
					continue
				}
				o := wantOffer{title: t.name, game: t.game, kind: kind, status: map[string]string{"a": "available", "l": "locked"}[st], buy: buy}
				if st == "l" {
					o.lockDays = lv.days
				}
				switch kind {
				case "TARGET":
					if t.order == nil {
						continue
					}
					o.sell, o.orders = t.order.PriceCents, t.order.Count
				default:
					h := t.history
					if h == nil || !h.stable || h.soldPerWeek < 5 {
						continue
					}
					level := 50
					if buy >= 10000 {
						level = 20
					}
					if o.sell = h.priceAt(level); o.sell <= 0 {
						continue
					}
					o.soldPerWeek = h.soldPerWeek
				}
				f := fees[t.game]
				if f == nil {
					f = &wantFees{fraction: "0.05", min: 1}
				}
				o.fee = f.fee(t.name, o.sell)
				o.net = o.sell - o.fee
				o.bp = truthProfitBP(o.net, buy)
				if o.bp < s.limitBP {
					continue
				}
				out = append(out, o)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b wantOffer) int {
		if c := cmp.Compare(b.bp, a.bp); c != 0 {
			return c
		}
		if c := strings.Compare(a.title, b.title); c != 0 {
			return c
		}
		if a.kind != b.kind {
			return map[bool]int{true: -1, false: 1}[a.kind == "TARGET"]
		}
		return map[bool]int{true: -1, false: 1}[a.status == "available"]
	})
	return out
}
