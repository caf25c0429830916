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

	"github.com/skinflip/dmarket-monitor/internal/sellhistory"
)

// example, when set, makes TestExample write the fixture's chart there, e.g.
// go test ./internal/chart -run TestExample -example "$PWD/docs/images/price-history-example.png"
var example = flag.String("example", "", "write the example chart to this PNG path")

var fixtureNow = time.Date(2022, 4, 22, 18, 0, 0, 0, time.UTC)

func fixture(t *testing.T) ([]sellhistory.Point, map[int64]int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "test_data_9.json"))
	require.NoError(t, err)
	defer f.Close()
	all, err := sellhistory.ParseSteamHistory(f)
	require.NoError(t, err)
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

var (
	topPanel    = image.Rect(90, 70, Width-30, 351)
	bottomPanel = image.Rect(90, 410, Width-30, Height-49)
)

func render(t *testing.T, title string, points []sellhistory.Point, prob map[int64]int) image.Image {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Render(&buf, title, points, prob))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, Width, Height), img.Bounds())
	return img
}

func TestRender(t *testing.T) {
	points, prob := fixture(t)
	one := []sellhistory.Point{{Hour: fixtureNow, Mean: 12.5, Count: 3}}
	cases := []struct {
		name         string
		title        string
		points       []sellhistory.Point
		prob         map[int64]int
		priceMin     int // plotted price pixels in the top panel
		probMin      int // plotted curve pixels in the bottom panel
		levelsPlaced bool
	}{
		{"fixture", "★ StatTrak™ AK-47 | Redline (Field-Tested)", points, prob, 500, 500, true},
		{"one point", "Sticker", one, map[int64]int{1250: 100}, 10, 10, true},
		{"two points same price", "X", []sellhistory.Point{{Hour: fixtureNow, Mean: 1, Count: 1}, {Hour: fixtureNow.Add(time.Hour), Mean: 1, Count: 1}}, map[int64]int{100: 100}, 50, 10, true},
		{"short span", "X", []sellhistory.Point{{Hour: fixtureNow, Mean: 1, Count: 1}, {Hour: fixtureNow.Add(30 * time.Hour), Mean: 2, Count: 1}}, map[int64]int{100: 100, 200: 50}, 50, 50, true},
		{"long span", "X", []sellhistory.Point{{Hour: fixtureNow, Mean: 1, Count: 1}, {Hour: fixtureNow.Add(30 * 24 * time.Hour), Mean: 2, Count: 1}}, map[int64]int{100: 100, 200: 10}, 50, 50, true},
		{"empty", strings.Repeat("long title ", 30), nil, nil, 0, 0, false},
		{"probability without points", "X", nil, map[int64]int{100: 100, 200: 50}, 0, 50, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := render(t, tc.title, tc.points, tc.prob)
			price := countIn(img, topPanel, PriceColor)
			curve := countIn(img, bottomPanel, ProbColor)
			require.GreaterOrEqual(t, price, tc.priceMin)
			require.GreaterOrEqual(t, curve, tc.probMin)
			if tc.priceMin == 0 {
				require.Zero(t, price)
			}
			if tc.probMin == 0 {
				require.Zero(t, curve)
			}
			require.Equal(t, tc.levelsPlaced, countIn(img, bottomPanel, LevelColor) > 0)
			// Axes and text are drawn in every case.
			require.Positive(t, countIn(img, image.Rect(0, 0, Width, 50), TextColor), "title")
			require.Positive(t, countIn(img, topPanel, AxisColor), "frame")
			// Nothing of the price series leaks into the probability panel and vice versa.
			require.Zero(t, countIn(img, bottomPanel, PriceColor))
			require.Zero(t, countIn(img, topPanel, ProbColor))
		})
	}
}

func TestRenderPlacesPricesByValue(t *testing.T) {
	// Rising prices: the newest point is right of and above the oldest.
	pts := []sellhistory.Point{
		{Hour: fixtureNow, Mean: 10, Count: 1},
		{Hour: fixtureNow.Add(48 * time.Hour), Mean: 20, Count: 1},
	}
	img := render(t, "X", pts, nil)
	left := image.Rect(topPanel.Min.X, topPanel.Min.Y, topPanel.Min.X+40, topPanel.Max.Y)
	right := image.Rect(topPanel.Max.X-40, topPanel.Min.Y, topPanel.Max.X, topPanel.Max.Y)
	lowHalf := image.Rect(topPanel.Min.X, topPanel.Min.Y+topPanel.Dy()/2, topPanel.Max.X, topPanel.Max.Y)
	require.Positive(t, countIn(img, left.Intersect(lowHalf), PriceColor), "oldest low on the left")
	require.Zero(t, countIn(img, right.Intersect(lowHalf), PriceColor), "newest not low on the right")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestRenderWriteError(t *testing.T) {
	err := Render(failWriter{}, "X", nil, nil)
	require.ErrorIs(t, err, ErrEncode)
	require.ErrorContains(t, err, "closed")
}

func TestHelpers(t *testing.T) {
	require.Equal(t, "* StatTrak(TM) ?", asciiOnly("★ StatTrak™ é"))
	require.Equal(t, "abcdefg", fitText("abcdefg", 7))
	require.Equal(t, "abcd...", fitText("abcdefgh", 7))
	cases := []struct{ raw, want float64 }{{0.004, 0.01}, {0.03, 0.05}, {0.15, 0.2}, {1.2, 2}, {7, 10}, {10, 10}, {35, 50}}
	for _, tc := range cases {
		require.InDelta(t, tc.want, niceStep(tc.raw, 0.01), 1e-12, "%v", tc.raw)
	}
	require.Equal(t, 1, sign(5))
	require.Equal(t, -1, sign(-5))
	require.Equal(t, 0, sign(0))
}

func TestExample(t *testing.T) {
	if *example == "" {
		t.Skip("set -example PATH to write the example chart")
	}
	points, prob := fixture(t)
	f, err := os.Create(*example)
	require.NoError(t, err)
	require.NoError(t, Render(f, "★ Karambit | Doppler (Factory New)", points, prob))
	require.NoError(t, f.Close())
}
