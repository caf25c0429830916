package chart

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory/sellhistorytest"
)

var (
	// update rewrites the golden PNGs: go test ./internal/bot/chart -run TestGolden -update
	update = flag.Bool("update", false, "rewrite the golden PNGs in testdata/golden")
	// example writes the README's chart, e.g.
	// go test ./internal/bot/chart -run TestExample -example "$PWD/docs/images"
	example = flag.String("example", "", "write the example charts into this directory")
)

var fixtureNow = time.Date(2022, 4, 22, 18, 0, 0, 0, time.UTC)

func fixture(t *testing.T) ([]sellhistory.Point, map[int64]int) {
	t.Helper()
	all := sellhistorytest.LoadSteamHistory(t, filepath.Join("testdata", "test_data_9.json"))
	return sellhistory.Recent(all, fixtureNow), sellhistory.AnalysePoints(all, fixtureNow).Probability
}

// countIn counts the pixels of colour col inside r.
func countIn(img image.Image, r image.Rectangle, col color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == col {
				n++
			}
		}
	}
	return n
}

// inner is r without its frame.
func inner(r image.Rectangle) image.Rectangle { return r.Inset(1) }

func drawn(t *testing.T, d Data) (*image.RGBA, []label) {
	t.Helper()
	img, labels, err := render(d)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, Width, Height), img.Bounds())
	return img, labels
}

// sparse is a thin market: a few sales with hours and days between them.
func sparse() []sellhistory.Point {
	at := func(h int) time.Time { return fixtureNow.Add(time.Duration(-h) * time.Hour).Truncate(time.Hour) }
	return []sellhistory.Point{
		{Hour: at(150), Mean: 41.20, Count: 1}, {Hour: at(149), Mean: 42.00, Count: 2}, {Hour: at(148), Mean: 41.80, Count: 1},
		{Hour: at(100), Mean: 43.10, Count: 1}, {Hour: at(60), Mean: 40.50, Count: 3}, {Hour: at(59), Mean: 40.90, Count: 1},
		{Hour: at(20), Mean: 44.00, Count: 1}, {Hour: at(5), Mean: 43.50, Count: 2}, {Hour: at(4), Mean: 43.90, Count: 1},
	}
}

func goldenCases(t *testing.T) []struct {
	name string
	data Data
} {
	points, prob := fixture(t)
	return []struct {
		name string
		data Data
	}{
		{"fixture", Data{Title: "★ StatTrak™ Karambit | Doppler (Factory New)", Now: fixtureNow, Points: points, Probability: prob,
			CheapestCents: 1490, BuyOrderCents: 1270}},
		{"sparse-cyrillic-off-scale", Data{Title: "★ Нож-бабочка | Градиент (После полевых испытаний) · 蝴蝶刀", Now: fixtureNow,
			Points: sparse(), Probability: map[int64]int{4050: 100, 4090: 75, 4120: 70, 4180: 65, 4200: 60, 4310: 45, 4350: 40, 4390: 25, 4400: 15},
			CheapestCents: 9999, CheapestLocked: true}},
		{"empty", Data{Title: "Sticker | Crown (Foil)", Now: fixtureNow, BuyOrderCents: 51000}},
	}
}

// goldenLimit is how many pixels of a chart may differ from its golden PNG.
const goldenLimit = Width * Height / 10000

// differing counts the pixels whose colour differs by more than tol in any channel.
func differing(a, b image.Image, tol int) int {
	n := 0
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			p := color.RGBAModel.Convert(a.At(x, y)).(color.RGBA)
			q := color.RGBAModel.Convert(b.At(x, y)).(color.RGBA)
			for _, d := range []int{int(p.R) - int(q.R), int(p.G) - int(q.G), int(p.B) - int(q.B)} {
				if d > tol || -d > tol {
					n++
					break
				}
			}
		}
	}
	return n
}

// TestGolden compares each chart with its golden PNG: at most 0.01 % of the pixels may differ by more than
// 32 levels in a channel (font rasterisation may round differently on other CPUs; a moved label or line
// differs in hundreds of pixels).
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, Render(&buf, tc.data))
			path := filepath.Join("testdata", "golden", tc.name+".png")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create the golden file")
			wantImg, err := png.Decode(bytes.NewReader(want))
			require.NoError(t, err)
			got, err := png.Decode(&buf)
			require.NoError(t, err)
			require.Equal(t, wantImg.Bounds(), got.Bounds())
			limit := goldenLimit
			require.LessOrEqual(t, differing(wantImg, got, 32), limit, "chart differs from %s; look at it and rerun with -update if the change is meant", path)
		})
	}
}

func TestGoldenToleranceDetectsChanges(t *testing.T) {
	c := goldenCases(t)[0].data
	a, _ := drawn(t, c)
	c.CheapestCents = 1300
	b, _ := drawn(t, c)
	require.Greater(t, differing(a, b, 32), goldenLimit, "moving the cheapest-listing line is a visible change")
	d := goldenCases(t)[2].data
	a, _ = drawn(t, d)
	d.Title = "Sticker | Crown (Foil) W"
	b, _ = drawn(t, d)
	require.Greater(t, differing(a, b, 32), goldenLimit, "one more letter in the title is a visible change")
}

// TestLabelsNeverCoverData checks every golden case: no label lies inside a plot (except the messages of
// empty areas) and no two labels overlap.
func TestLabelsNeverCoverData(t *testing.T) {
	l := pictureLayout()
	plots := []image.Rectangle{l.short, l.shortVol, l.long, l.longVol, l.prob}
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			img, labels := drawn(t, tc.data)
			require.NotEmpty(t, labels)
			for i, a := range labels {
				require.True(t, a.box.In(image.Rect(0, 0, Width, Height)), "%q leaves the picture: %v", a.text, a.box)
				if !a.inside {
					for _, p := range plots {
						require.False(t, a.box.Overlaps(inner(p)), "%q at %v covers the plot %v", a.text, a.box, p)
					}
				} else {
					// A message inside an empty area: no series or line runs through it.
					for _, col := range []color.RGBA{PriceColor, VolumeColor, CheapestColor, BuyOrderColor, ProbColor, LevelColor} {
						require.Zero(t, countIn(img, a.box, col), "%q at %v is crossed by %v", a.text, a.box, col)
					}
				}
				for _, b := range labels[i+1:] {
					require.False(t, a.box.Overlaps(b.box), "%q at %v overlaps %q at %v", a.text, a.box, b.text, b.box)
				}
			}
		})
	}
}

func TestRenderSeries(t *testing.T) {
	l := pictureLayout()
	points, prob := fixture(t)
	cases := []struct {
		name                 string
		data                 Data
		price, volume, curve bool
		cheapestIn, buyIn    bool
		levels               bool
		wantLabelsWithPrefix []string
	}{
		{name: "fixture", data: Data{Title: "X", Now: fixtureNow, Points: points, Probability: prob, CheapestCents: 1490, BuyOrderCents: 1270},
			price: true, volume: true, curve: true, cheapestIn: true, buyIn: true, levels: true,
			wantLabelsWithPrefix: []string{"listing $14.90", "buy order $12.70", "50 %: $", "20 %: $"}},
		{name: "lines off scale", data: Data{Title: "X", Now: fixtureNow, Points: points, Probability: prob, CheapestCents: 99900, BuyOrderCents: 1},
			price: true, volume: true, curve: true, levels: true,
			wantLabelsWithPrefix: []string{"↑ listing $999.00", "↓ buy order $0.01"}},
		{name: "probability without points", data: Data{Title: "X", Now: fixtureNow, Probability: map[int64]int{100: 100, 200: 50}},
			curve: true, levels: true},
		{name: "nothing", data: Data{Title: "X", Now: fixtureNow}, wantLabelsWithPrefix: []string{"no sales"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, labels := drawn(t, tc.data)
			require.Equal(t, tc.price, countIn(img, inner(l.short), PriceColor) > 0, "7-day prices")
			require.Equal(t, tc.price, countIn(img, inner(l.long), PriceColor) > 0, "30-day prices")
			require.Equal(t, tc.volume, countIn(img, inner(l.shortVol), VolumeColor) > 0, "7-day volume")
			require.Equal(t, tc.volume, countIn(img, inner(l.longVol), VolumeColor) > 0, "30-day volume")
			require.Equal(t, tc.curve, countIn(img, inner(l.prob), ProbColor) > 0, "probability curve")
			require.Equal(t, tc.cheapestIn, countIn(img, inner(l.short), CheapestColor) > 0, "cheapest line")
			require.Equal(t, tc.buyIn, countIn(img, inner(l.short), BuyOrderColor) > 0, "buy order line")
			require.Equal(t, tc.levels, countIn(img, inner(l.prob), LevelColor) > 0, "resale levels")
			// Nothing of one panel's series leaks into another.
			require.Zero(t, countIn(img, inner(l.prob), PriceColor))
			require.Zero(t, countIn(img, inner(l.short), ProbColor))
			for _, prefix := range tc.wantLabelsWithPrefix {
				found := false
				for _, lb := range labels {
					found = found || strings.HasPrefix(lb.text, prefix)
				}
				require.True(t, found, "a label starting %q", prefix)
			}
		})
	}
}

func TestHoursWithoutSalesStayOpen(t *testing.T) {
	l := pictureLayout()
	start := fixtureNow.Add(-72 * time.Hour)
	cases := []struct {
		name    string
		view    image.Rectangle
		span    time.Duration
		step    time.Duration
		second  time.Duration // after the first point
		connect bool
	}{
		{name: "7 days: the next hour is joined", view: l.short, span: ShortView, step: time.Hour, second: time.Hour, connect: true},
		{name: "7 days: an hour without sales stays open", view: l.short, span: ShortView, step: time.Hour, second: 2 * time.Hour},
		{name: "30 days: the next day is joined", view: l.long, span: LongView, step: 24 * time.Hour, second: 24 * time.Hour, connect: true},
		{name: "30 days: a day without sales stays open", view: l.long, span: LongView, step: 24 * time.Hour, second: 48 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A cheap sale, then an expensive one: a joining line crosses the middle height between them.
			first := start.Truncate(tc.step)
			d := Data{Title: "X", Now: fixtureNow, Points: []sellhistory.Point{
				{Hour: first, Mean: 10, Count: 1}, {Hour: first.Add(tc.second), Mean: 30, Count: 1},
			}}
			img, _ := drawn(t, d)
			x := timeAxis(fixtureNow.Add(-tc.span), fixtureNow, tc.view.Min.X, tc.view.Max.X, tc.span)
			a := x.px(float64(first.Add(tc.step / 2).Unix()))
			b := x.px(float64(first.Add(tc.second + tc.step/2).Unix()))
			mid := image.Rect(min(a, b), tc.view.Min.Y+tc.view.Dy()/2-4, max(a, b)+1, tc.view.Min.Y+tc.view.Dy()/2+4)
			require.Equal(t, tc.connect, countIn(img, mid, PriceColor) > 0)
		})
	}
}

func TestThirtyDayViewShadesWhatIsNotStored(t *testing.T) {
	l := pictureLayout()
	img, labels := drawn(t, Data{Title: "X", Now: fixtureNow, Points: sparse()})
	x := timeAxis(fixtureNow.Add(-LongView), fixtureNow, l.long.Min.X, l.long.Max.X, LongView)
	edge := x.px(float64(fixtureNow.Add(-sellhistory.Week).Unix()))
	require.Positive(t, countIn(img, image.Rect(l.long.Min.X+1, l.long.Min.Y+1, edge, l.long.Max.Y), NoDataColor))
	require.Zero(t, countIn(img, image.Rect(edge+1, l.long.Min.Y+1, l.long.Max.X, l.long.Max.Y), NoDataColor))
	require.Zero(t, countIn(img, inner(l.short), NoDataColor), "the 7-day view is all stored")
	var texts []string
	for _, lb := range labels {
		texts = append(texts, lb.text)
	}
	require.Contains(t, texts, "sales not stored")
	require.Contains(t, strings.Join(texts, "\n"), "Sales older than 7 days are not stored")
}

func TestGlyphCoverage(t *testing.T) {
	f, err := newFonts()
	require.NoError(t, err)
	img := image.NewRGBA(image.Rect(0, 0, 800, 40))
	cases := []struct {
		text    string
		missing int
	}{
		{"★ StatTrak™ M4A1-S | Printstream", 0},
		{"Нож-бабочка · Ωμέγα · Żółć · שלום · مرحبا", 0},
		{"蝴蝶刀", 3},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			f.label.missing = 0
			box := f.label.draw(img, tc.text, 0, 20, TextColor)
			require.Positive(t, box.Dx())
			require.Equal(t, tc.missing, f.label.missing)
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestRenderWriteError(t *testing.T) {
	err := Render(failWriter{}, Data{Title: "X"})
	require.ErrorIs(t, err, ErrEncode)
	require.ErrorContains(t, err, "closed")
}

func TestHelpers(t *testing.T) {
	require.Equal(t, "ab", printable("a\x00\nb"))
	f, err := newFonts()
	require.NoError(t, err)
	long := strings.Repeat("long title ", 40)
	fitted := f.title.fit(long, 300)
	require.True(t, strings.HasSuffix(fitted, "…"))
	require.LessOrEqual(t, f.title.width(fitted), 300)
	require.Equal(t, "short", f.title.fit("short", 300))
	cases := []struct{ raw, want float64 }{{0.004, 0.01}, {0.03, 0.05}, {0.15, 0.2}, {1.2, 2}, {7, 10}, {10, 10}, {35, 50}}
	for _, tc := range cases {
		require.InDelta(t, tc.want, niceStep(tc.raw, 0.01), 1e-12, "%v", tc.raw)
	}
	require.Equal(t, 1, sign(5))
	require.Equal(t, -1, sign(-5))
	require.Equal(t, 0, sign(0))
}

// TestExample writes the README's example charts when -example names a directory.
func TestExample(t *testing.T) {
	if *example == "" {
		t.Skip("set -example DIR to write the example charts")
	}
	for name, tc := range map[string]int{"price-history-example.png": 0, "price-history-thin-market.png": 1} {
		var buf bytes.Buffer
		require.NoError(t, Render(&buf, goldenCases(t)[tc].data))
		require.NoError(t, os.WriteFile(filepath.Join(*example, name), buf.Bytes(), 0o644))
	}
}

// daily is a 30-day series ending at fixtureNow: one day in three without sales.
func daily() []sellhistory.Point {
	var out []sellhistory.Point
	for k := 30; k >= 0; k-- {
		if k%3 == 1 {
			continue
		}
		out = append(out, sellhistory.Point{Hour: fixtureNow.Add(time.Duration(-k) * 24 * time.Hour).Truncate(24 * time.Hour),
			Mean: 40 + float64(k%5), Count: 1 + k%4})
	}
	return out
}

func TestThirtyDayViewDrawsDailySeries(t *testing.T) {
	l := pictureLayout()
	x := timeAxis(fixtureNow.Add(-LongView), fixtureNow, l.long.Min.X, l.long.Max.X, LongView)
	weekEdge := x.px(float64(fixtureNow.Add(-sellhistory.Week).Unix()))
	cases := []struct {
		name     string
		from     time.Time
		shadedTo int // x the shading reaches; 0: none
	}{
		{name: "all 30 days stored"},
		{name: "stored for 12 days", from: fixtureNow.Add(-12 * 24 * time.Hour), shadedTo: x.px(float64(fixtureNow.Add(-12 * 24 * time.Hour).Unix()))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, labels := drawn(t, Data{Title: "X", Now: fixtureNow, Points: sparse(), Days: daily(), DaysFrom: tc.from})
			var texts []string
			for _, lb := range labels {
				texts = append(texts, lb.text)
			}
			before := image.Rect(l.long.Min.X+1, l.long.Min.Y+1, weekEdge, l.long.Max.Y)
			if tc.shadedTo == 0 {
				require.Zero(t, countIn(img, inner(l.long), NoDataColor))
				require.NotContains(t, texts, "sales not stored")
				require.Positive(t, countIn(img, before, PriceColor), "days older than a week are drawn")
				require.Positive(t, countIn(img, image.Rect(l.longVol.Min.X+1, l.longVol.Min.Y+1, weekEdge, l.longVol.Max.Y), VolumeColor))
			} else {
				require.Positive(t, countIn(img, image.Rect(l.long.Min.X+1, l.long.Min.Y+1, tc.shadedTo, l.long.Max.Y), NoDataColor))
				require.Zero(t, countIn(img, image.Rect(tc.shadedTo+1, l.long.Min.Y+1, l.long.Max.X, l.long.Max.Y), NoDataColor))
				require.Contains(t, texts, "sales not stored")
			}
			require.Zero(t, countIn(img, inner(l.short), NoDataColor), "the 7-day view is all stored")
			require.Contains(t, strings.Join(texts, "\n"), "daily ones for 30")
			require.NotContains(t, strings.Join(texts, "\n"), "Sales older than 7 days are not stored")
		})
	}
}

func TestThirtyDayViewIgnoresHourlyPointsWithDays(t *testing.T) {
	l := pictureLayout()
	// Daily points exist only for the last 2 days: the hourly points of older days are not drawn
	// in the 30-day view, though the 7-day view still shows them.
	days := []sellhistory.Point{{Hour: fixtureNow.Add(-24 * time.Hour).Truncate(24 * time.Hour), Mean: 43, Count: 2}}
	img, _ := drawn(t, Data{Title: "X", Now: fixtureNow, Points: sparse(), Days: days, DaysFrom: fixtureNow.Add(-30 * 24 * time.Hour)})
	x := timeAxis(fixtureNow.Add(-LongView), fixtureNow, l.long.Min.X, l.long.Max.X, LongView)
	edge := x.px(float64(fixtureNow.Add(-48 * time.Hour).Unix()))
	require.Zero(t, countIn(img, image.Rect(l.long.Min.X+1, l.long.Min.Y+1, edge, l.long.Max.Y), PriceColor))
	require.Positive(t, countIn(img, image.Rect(edge, l.long.Min.Y+1, l.long.Max.X, l.long.Max.Y), PriceColor))
	require.Positive(t, countIn(img, inner(l.short), PriceColor))
}
