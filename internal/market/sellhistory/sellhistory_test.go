package sellhistory

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

var stableNow = time.Date(2022, 4, 23, 18, 0, 0, 0, time.UTC)

func hour(h int) time.Time { return stableNow.Add(time.Duration(-h) * time.Hour) }

func TestPoints(t *testing.T) {
	now := stableNow
	cases := []struct {
		name  string
		sales []Sale
		want  []Point
	}{
		{"empty", nil, []Point{}},
		{
			name: "groups per hour oldest first, half to even",
			sales: []Sale{
				{Price: 101, At: hour(1).Add(10 * time.Minute)},
				{Price: 102, At: hour(1).Add(50 * time.Minute)}, // mean 101.5 → 102
				{Price: 100, At: hour(2)},
				{Price: 101, At: hour(2).Add(time.Minute)}, // mean 100.5 → 100
				{Price: 500, At: hour(3)},
				{Price: 501, At: hour(3)},
				{Price: 501, At: hour(3)}, // 500.67 → 501
			},
			want: []Point{
				{Hour: hour(3), Mean: 5.01, Count: 3},
				{Hour: hour(2), Mean: 1.00, Count: 2},
				{Hour: hour(1), Mean: 1.02, Count: 2},
			},
		},
		{
			name: "week bound is exclusive, future counts",
			sales: []Sale{
				{Price: 100, At: now.Add(-Week)},
				{Price: 200, At: now.Add(-Week + time.Second)},
				{Price: 300, At: now.Add(2 * time.Hour)},
			},
			want: []Point{
				{Hour: now.Add(-Week), Mean: 2, Count: 1},
				{Hour: now.Add(2 * time.Hour), Mean: 3, Count: 1},
			},
		},
		{
			name:  "non UTC times are grouped by UTC hour",
			sales: []Sale{{Price: 250, At: hour(5).In(time.FixedZone("X", 5*1800))}},
			want:  []Point{{Hour: hour(5), Mean: 2.5, Count: 1}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Points(tc.sales, now))
		})
	}
}

func TestDivRoundHalfEven(t *testing.T) {
	cases := []struct{ a, b, want int64 }{
		{3, 2, 2}, {5, 2, 2}, {7, 2, 4}, {1, 3, 0}, {2, 3, 1}, {-3, 2, -2}, {-5, 2, -2}, {10, 5, 2},
	}
	for _, tc := range cases {
		t.Run(strconv.FormatInt(tc.a, 10)+"/"+strconv.FormatInt(tc.b, 10), func(t *testing.T) {
			require.Equal(t, tc.want, divRoundHalfEven(tc.a, tc.b))
		})
	}
}

func TestAnalyseSales(t *testing.T) {
	now := stableNow
	var steady, falling, rising []Sale
	for h := range 40 {
		steady = append(steady, Sale{Price: 1000 + market.Cents(h%3), At: hour(h)}, Sale{Price: 1001, At: hour(h)})
		// h counts back from now: older hours are dearer, so the price falls.
		falling = append(falling, Sale{Price: 1000 + market.Cents(h)*10, At: hour(h)})
		rising = append(rising, Sale{Price: 2000 - market.Cents(h)*20, At: hour(h)})
	}
	cases := []struct {
		name   string
		sales  []Sale
		stable bool
		sold   int
	}{
		{"steady", steady, true, 80},
		{"falling", falling, false, 40},
		// A rise does not count as fall, but the spread makes it unstable.
		{"rising", rising, false, 40},
		{"too few windows", steady[:2*18], false, 36},
		{"nothing", nil, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Analyse(tc.sales, now)
			require.Equal(t, tc.stable, r.Stable)
			require.Equal(t, tc.sold, r.SoldPerWeek)
			require.NotNil(t, r.Probability)
		})
	}
}

func TestAnalyseProbabilityByHand(t *testing.T) {
	// Hours with means $1.00 (2 units), $1.50 (1 unit), $2.00 (1 unit): total 4.
	sales := []Sale{
		{Price: 100, At: hour(1)}, {Price: 100, At: hour(1)},
		{Price: 150, At: hour(2)},
		{Price: 200, At: hour(3)},
	}
	r := Analyse(sales, stableNow)
	require.Equal(t, map[int64]int{100: 100, 150: 50, 200: 25}, r.Probability)
	require.False(t, r.Stable)
	require.Equal(t, 4, r.SoldPerWeek)
}

func TestWindowMeansByHand(t *testing.T) {
	// 16 points → 2 windows. Window 0 (newest 15): 14 points at $1 × 1 unit and one at $2 × 2 units:
	// 16 / (14 + 1) = 1.0666… → 1.07. Window 1 drops the newest $2 point and adds an oldest $4 × 4:
	// 18 / (14 + 1) = 1.2.
	pts := []Point{{Hour: hour(0), Mean: 2, Count: 2}}
	for h := 1; h <= 14; h++ {
		pts = append(pts, Point{Hour: hour(h), Mean: 1, Count: 1})
	}
	pts = append(pts, Point{Hour: hour(15), Mean: 4, Count: 4})
	require.Equal(t, []float64{1.07, 1.2}, WindowMeans(pts))
	require.Nil(t, WindowMeans(pts[:14]))
}

func TestRoundCentsAndCents(t *testing.T) {
	cases := []struct {
		in    float64
		want  float64
		cents int64
	}{
		{1.005, 1.0, 100},  // binary 1.00499… rounds down
		{1.125, 1.12, 112}, // exact tie rounds to even
		{1.375, 1.38, 138}, // exact tie rounds to even
		{2.675, 2.67, 267}, // binary 2.67499…
		{0.015, 0.01, 1},   // binary 0.01499…
		{-1.236, -1.24, -124},
		{1234.5678, 1234.57, 123457},
	}
	for _, tc := range cases {
		t.Run(strconv.FormatFloat(tc.in, 'g', -1, 64), func(t *testing.T) {
			require.Equal(t, tc.want, RoundCents(tc.in))
			require.Equal(t, tc.cents, Cents(tc.in))
		})
	}
	require.Equal(t, int64(0), Cents(math.NaN()))
	require.Equal(t, int64(0), Cents(math.Inf(1)))
}

func TestPriceAt(t *testing.T) {
	prob := map[int64]int{100: 100, 120: 80, 150: 50, 160: 49, 200: 20, 250: 3}
	cases := []struct {
		name  string
		prob  map[int64]int
		level int
		want  int64
		ok    bool
	}{
		{"level 50 exact", prob, 50, 150, true},
		{"level 20", prob, 20, 200, true},
		{"level 100", prob, 100, 100, true},
		{"level 1", prob, 1, 250, true},
		{"level above all", prob, 101, 0, false},
		{"empty", map[int64]int{}, 50, 0, false},
		{"nil", nil, 50, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PriceAt(tc.prob, tc.level)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestResultJSON(t *testing.T) {
	data, err := json.Marshal(Result{Stable: true, SoldPerWeek: 7, Probability: map[int64]int{150: 50, 99: 100}})
	require.NoError(t, err)
	require.JSONEq(t, `{"stable":true,"sold_per_week":7,"probability":{"99":100,"150":50}}`, string(data))
	var back Result
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, map[int64]int{150: 50, 99: 100}, back.Probability)
}
