// Package sellhistory owns the sell-history analysis of SPEC §5.3: it groups a title's recent sales into
// hourly points, decides whether the price is stable, counts the units sold in the last week and builds the
// sell-probability table from which resale prices are read.
//
// The exact interpretation, which reproduces the acceptance fixtures of the system this project descends
// from, is:
//
//   - A point counts when its hour is strictly after now − 7 days. There is no upper bound: points stamped
//     after now (clock skew, fixtures recorded later) still count.
//   - Points are ordered newest first. Windows are the runs points[i:i+15] for i = 0 … len−15, so window 0
//     holds the 15 newest points. Fewer than 5 windows means not stable.
//   - A window's mean is Σcount / Σ(count/price) over its points in that order, in float64 dollars, with
//     the raw point prices (not rounded), then rounded to cents half to even on the exact binary value
//     (strconv.FormatFloat(x, 'f', 2, 64)).
//   - med is the median of the window means (mean of the two middle values for an even count); dev is their
//     sample standard deviation (n − 1) divided by med; fall holds when mean[0] < mean[last] and
//     |mean[0] − mean[last]| / √2 / med > 0.01; pd(a, b) = (max(a,b) − min(a,b)) / max(a,b). Stable when
//     not fall, dev < 0.06, pd(min, med) < 0.1 and pd(max, med) < 0.1.
//   - The sell-probability table uses every counted point's price rounded to cents (as above) as its key;
//     counts of equal keys are summed; walking prices ascending with cum starting at 0 (float64), a price
//     gets 100 − ⌊cum⌋ and then cum += count / total × 100.
//   - sold_per_week is the sum of the counted points' counts.
package sellhistory

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Analysis parameters of SPEC §5.3.
const (
	// Week is the look-back of the analysis.
	Week = 7 * 24 * time.Hour
	// WindowSize is the number of consecutive points in one window.
	WindowSize = 15
	// MinWindows is the number of windows below which a history is never stable.
	MinWindows = 5
)

// Sale is one sold unit: its price and when it sold.
type Sale = market.Sale

// Point is one hour of sales.
type Point struct {
	// Hour is the start of the UTC hour.
	Hour time.Time
	// Mean is the mean sale price of the hour in US dollars.
	Mean float64
	// Count is the number of units sold in the hour.
	Count int
}

// Result is the outcome of the analysis; its JSON form is the body of the `history:` key of SPEC §5.2
// without `updated_at`.
type Result struct {
	// Stable says whether last week's price was stable enough to resell at.
	Stable bool `json:"stable"`
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int `json:"sold_per_week"`
	// Probability maps a price in cents to the percentage of last week's units sold at that price or
	// higher.
	Probability map[int64]int `json:"probability"`
}

// Points groups the sales of the last week (strictly after now − Week) per UTC hour, oldest first. Each
// point's mean is the hour's mean price rounded to whole cents, half to even.
func Points(sales []Sale, now time.Time) []Point {
	from := now.Add(-Week)
	type acc struct{ sum, n int64 }
	hours := make(map[int64]*acc)
	for _, s := range sales {
		if !s.At.After(from) {
			continue
		}
		h := s.At.UTC().Truncate(time.Hour).Unix()
		a := hours[h]
		if a == nil {
			a = &acc{}
			hours[h] = a
		}
		a.sum += int64(s.Price)
		a.n++
	}
	keys := make([]int64, 0, len(hours))
	for h := range hours {
		keys = append(keys, h)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]Point, 0, len(keys))
	for _, h := range keys {
		a := hours[h]
		out = append(out, Point{
			Hour:  time.Unix(h, 0).UTC(),
			Mean:  float64(divRoundHalfEven(a.sum, a.n)) / 100,
			Count: int(a.n),
		})
	}
	return out
}

// divRoundHalfEven returns a/b rounded to the nearest integer, ties to even; b must be positive.
func divRoundHalfEven(a, b int64) int64 {
	q, r := a/b, a%b
	if r < 0 {
		q--
		r += b
	}
	switch {
	case 2*r > b:
		q++
	case 2*r == b && q%2 != 0:
		q++
	}
	return q
}

// Analyse analyses the sales of a title as of now: it groups them with Points and runs AnalysePoints.
func Analyse(sales []Sale, now time.Time) Result {
	return AnalysePoints(Points(sales, now), now)
}

// AnalysePoints analyses hourly points (in any order) as of now.
func AnalysePoints(points []Point, now time.Time) Result {
	week := Recent(points, now)
	res := Result{}
	for _, p := range week {
		res.SoldPerWeek += p.Count
	}
	res.Stable = stable(week)
	res.Probability = probability(week)
	return res
}

// Recent returns the points strictly after now − Week, newest first. The input is not modified.
func Recent(points []Point, now time.Time) []Point {
	from := now.Add(-Week)
	out := make([]Point, 0, len(points))
	for _, p := range points {
		if p.Hour.After(from) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Hour.After(out[j].Hour) })
	return out
}

// WindowMeans returns the count-weighted harmonic means of the windows of newest-first points, in dollars
// rounded to cents, window 0 being the newest.
func WindowMeans(newestFirst []Point) []float64 {
	n := len(newestFirst) - WindowSize + 1
	if n <= 0 {
		return nil
	}
	means := make([]float64, 0, n)
	for i := range n {
		var w int64
		var inv float64
		for _, p := range newestFirst[i : i+WindowSize] {
			w += int64(p.Count)
			inv += float64(p.Count) / p.Mean
		}
		means = append(means, RoundCents(float64(w)/inv))
	}
	return means
}

func stable(newestFirst []Point) bool {
	means := WindowMeans(newestFirst)
	if len(means) < MinWindows {
		return false
	}
	sorted := append([]float64(nil), means...)
	sort.Float64s(sorted)
	n := len(sorted)
	med := sorted[n/2]
	if n%2 == 0 {
		med = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	if !(med > 0) {
		return false
	}
	var sum float64
	for _, m := range means {
		sum += m
	}
	avg := sum / float64(n)
	var sq float64
	for _, m := range means {
		d := m - avg
		sq += d * d
	}
	dev := math.Sqrt(sq/float64(n-1)) / med
	first, last := means[0], means[n-1]
	fall := first < last && math.Abs(first-last)/math.Sqrt2/med > 0.01
	return !fall && dev < 0.06 && pd(sorted[0], med) < 0.1 && pd(sorted[n-1], med) < 0.1
}

// pd is the relative difference (max − min) / max of two positive numbers.
func pd(a, b float64) float64 {
	hi, lo := max(a, b), min(a, b)
	return (hi - lo) / hi
}

func probability(points []Point) map[int64]int {
	counts := make(map[int64]int64)
	var total int64
	for _, p := range points {
		if p.Count <= 0 {
			continue
		}
		counts[Cents(p.Mean)] += int64(p.Count)
		total += int64(p.Count)
	}
	prob := make(map[int64]int, len(counts))
	if total == 0 {
		return prob
	}
	prices := make([]int64, 0, len(counts))
	for c := range counts {
		prices = append(prices, c)
	}
	sort.Slice(prices, func(i, j int) bool { return prices[i] < prices[j] })
	var cum float64
	for _, c := range prices {
		prob[c] = 100 - int(math.Floor(cum))
		cum += float64(counts[c]) / float64(total) * 100
	}
	return prob
}

// RoundCents rounds dollars to cents, half to even on the exact binary value, as
// strconv.FormatFloat(x, 'f', 2, 64) does.
func RoundCents(x float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	return r
}

// Cents converts dollars to whole cents, rounding as RoundCents does.
func Cents(x float64) int64 {
	s := strconv.FormatFloat(x, 'f', 2, 64)
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	var c int64
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return 0 // NaN or Inf
		}
		c = c*10 + int64(s[i]-'0')
	}
	if neg {
		return -c
	}
	return c
}

// PriceAt returns the highest price in cents whose probability is at least level, and false when no price
// qualifies.
func PriceAt(prob map[int64]int, level int) (int64, bool) {
	var best int64
	found := false
	for price, p := range prob {
		if p >= level && (!found || price > best) {
			best, found = price, true
		}
	}
	return best, found
}
