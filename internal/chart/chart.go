// Package chart owns the price-history picture the bot sends under a notification's 📈 button: a PNG
// with last week's hourly sale prices over time and the sell-probability curve (price against the share
// of units sold at that price or higher), with axes, dollar labels and the item's title. It uses only the
// standard image packages and golang.org/x/image's built-in bitmap font, so it needs no cgo or font files.
package chart

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/skinflip/dmarket-monitor/internal/sellhistory"
)

// Picture size in pixels.
const (
	Width  = 960
	Height = 680
)

// ErrEncode reports a picture that could not be written.
var ErrEncode = errors.New("encode chart")

// Colours of the picture; exported so that tests and callers can find plotted pixels.
var (
	Background = color.RGBA{0xff, 0xff, 0xff, 0xff}
	AxisColor  = color.RGBA{0x33, 0x33, 0x33, 0xff}
	GridColor  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	TextColor  = color.RGBA{0x22, 0x22, 0x22, 0xff}
	PriceColor = color.RGBA{0x1f, 0x6f, 0xd1, 0xff}
	ProbColor  = color.RGBA{0xd9, 0x4f, 0x1e, 0xff}
	LevelColor = color.RGBA{0x2e, 0x9d, 0x4a, 0xff}
)

// levels are the sell-probability levels marked on the curve (SPEC §6.1 resale prices).
var levels = []int{50, 20}

var face = basicfont.Face7x13

// Render writes the PNG chart of title's points (hourly mean prices in dollars, any order) and sell
// probabilities (price in cents → percent). Empty data yields panels that say so.
func Render(w io.Writer, title string, points []sellhistory.Point, prob map[int64]int) error {
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.Draw(img, img.Bounds(), &image.Uniform{Background}, image.Point{}, draw.Src)

	c := &canvas{img: img}
	c.text(fitText(asciiOnly(title), (Width-40)/7), 20, 24, TextColor)
	sold := 0
	for _, p := range points {
		sold += p.Count
	}
	c.text(fmt.Sprintf("%d units sold in %d hours with sales", sold, len(points)), 20, 42, AxisColor)

	top := image.Rect(90, 70, Width-30, 350)
	bottom := image.Rect(90, 410, Width-30, Height-50)
	lo, hi := priceRange(points, prob)
	c.pricePanel(top, points, lo, hi, len(prob) > 0)
	c.probabilityPanel(bottom, prob, lo, hi)

	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return nil
}

type canvas struct{ img *image.RGBA }

// axis maps data values onto a pixel range.
type axis struct {
	lo, hi     float64
	pLo, pHi   int // pixel of lo and hi
	ticks      []float64
	tickLabels []string
}

func (a axis) px(v float64) int {
	if a.hi == a.lo {
		return (a.pLo + a.pHi) / 2
	}
	return a.pLo + int(math.Round((v-a.lo)/(a.hi-a.lo)*float64(a.pHi-a.pLo)))
}

// priceRange returns the dollar range both panels show: the prices from the 2nd to the 96th percentile of units sold (so a
// few outliers do not flatten the picture), widened to the marked resale prices.
func priceRange(points []sellhistory.Point, prob map[int64]int) (lo, hi float64) {
	type weighted struct {
		price float64
		w     int
	}
	var ws []weighted
	total := 0
	for _, p := range points {
		if p.Count > 0 {
			ws = append(ws, weighted{p.Mean, p.Count})
			total += p.Count
		}
	}
	if total == 0 {
		for price := range prob {
			ws = append(ws, weighted{float64(price) / 100, 1})
			total++
		}
	}
	if total == 0 {
		return 0, 1
	}
	slices.SortFunc(ws, func(a, b weighted) int { return cmp.Compare(a.price, b.price) })
	lo, hi = ws[0].price, ws[len(ws)-1].price
	cum := 0
	loSet := false
	for _, w := range ws {
		cum += w.w
		if !loSet && float64(cum) >= 0.02*float64(total) {
			lo, loSet = w.price, true
		}
		if float64(cum) >= 0.96*float64(total) {
			hi = w.price
			break
		}
	}
	for _, level := range levels {
		if price, ok := sellhistory.PriceAt(prob, level); ok {
			lo, hi = min(lo, float64(price)/100), max(hi, float64(price)/100)
		}
	}
	return lo, hi
}

// clampNote describes points drawn at the edge because they lie outside the shown range.
func clampNote(below, above int, minV, maxV float64) string {
	var parts []string
	if below > 0 {
		parts = append(parts, fmt.Sprintf("%d below (min %s)", below, dollars(minV)))
	}
	if above > 0 {
		parts = append(parts, fmt.Sprintf("%d above (max %s)", above, dollars(maxV)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "off scale, drawn at the edge: " + strings.Join(parts, ", ")
}

func (c *canvas) pricePanel(r image.Rectangle, points []sellhistory.Point, lo, hi float64, haveProb bool) {
	c.text("Sale price per hour, last week", r.Min.X, r.Min.Y-8, TextColor)
	if len(points) == 0 {
		c.frame(r)
		msg := "no sales in the last week"
		if haveProb {
			msg = "hourly prices not available"
		}
		c.centered(r, msg)
		return
	}
	pts := slices.Clone(points)
	slices.SortFunc(pts, func(a, b sellhistory.Point) int { return a.Hour.Compare(b.Hour) })
	y := dollarAxis(lo, hi, r.Max.Y, r.Min.Y, 6)
	below, above, minV, maxV := 0, 0, math.Inf(1), math.Inf(-1)
	t0, t1 := pts[0].Hour, pts[len(pts)-1].Hour
	if !t1.After(t0) {
		t0, t1 = t0.Add(-time.Hour), t1.Add(time.Hour)
	}
	x := timeAxis(t0, t1, r.Min.X, r.Max.X)
	c.grid(r, x, y)
	prev := image.Point{}
	for i, p := range pts {
		v := p.Mean
		minV, maxV = min(minV, v), max(maxV, v)
		switch {
		case v < y.lo:
			v, below = y.lo, below+1
		case v > y.hi:
			v, above = y.hi, above+1
		}
		pt := image.Pt(x.px(float64(p.Hour.Unix())), y.px(v))
		if i > 0 {
			c.line(prev, pt, PriceColor)
		}
		c.dot(pt, 2, PriceColor)
		prev = pt
	}
	c.frame(r)
	if note := clampNote(below, above, minV, maxV); note != "" {
		c.text(note, r.Max.X-7*len(note), r.Min.Y-8, AxisColor)
	}
	c.text("USD", r.Min.X-70, r.Min.Y+4, AxisColor)
	c.text("UTC", r.Max.X-20, r.Max.Y+32, AxisColor)
}

func (c *canvas) probabilityPanel(r image.Rectangle, prob map[int64]int, lo, hi float64) {
	c.text("Sell probability: share of last week's units sold at a price or higher", r.Min.X, r.Min.Y-8, TextColor)
	if len(prob) == 0 {
		c.frame(r)
		c.centered(r, "no sales in the last week")
		return
	}
	prices := make([]int64, 0, len(prob))
	for p := range prob {
		prices = append(prices, p)
	}
	slices.Sort(prices)
	x := dollarAxis(lo, hi, r.Min.X, r.Max.X, 8)
	y := axis{lo: 0, hi: 105, pLo: r.Max.Y, pHi: r.Min.Y} // 100 % stays off the frame
	for v := 0; v <= 100; v += 20 {
		y.ticks = append(y.ticks, float64(v))
		y.tickLabels = append(y.tickLabels, fmt.Sprintf("%d%%", v))
	}
	c.grid(r, x, y)
	for _, level := range levels {
		price, ok := sellhistory.PriceAt(prob, level)
		if !ok {
			continue
		}
		px := x.px(float64(price) / 100)
		c.dashedV(px, r.Min.Y, r.Max.Y, LevelColor)
		c.dashedH(y.px(float64(level)), r.Min.X, r.Max.X, LevelColor)
		label := fmt.Sprintf("%d%%: %s", level, dollars(float64(price)/100))
		lx := min(px+4, r.Max.X-7*len(label)-2)
		c.text(label, lx, y.px(float64(level))-4, LevelColor)
	}
	// A step curve: each price holds its percent until the next price.
	var prev image.Point
	below, above := 0, 0
	for i, p := range prices {
		v := float64(p) / 100
		switch {
		case v < x.lo:
			v, below = x.lo, below+1
		case v > x.hi:
			v, above = x.hi, above+1
		}
		pt := image.Pt(x.px(v), y.px(float64(prob[p])))
		if i > 0 {
			c.line(prev, image.Pt(pt.X, prev.Y), ProbColor)
			c.line(image.Pt(pt.X, prev.Y), pt, ProbColor)
		}
		c.dot(pt, 2, ProbColor)
		prev = pt
	}
	c.frame(r)
	c.text("USD", r.Max.X-20, r.Max.Y+32, AxisColor)
	if note := clampNote(below, above, float64(prices[0])/100, float64(prices[len(prices)-1])/100); note != "" {
		c.text(note, r.Max.X-7*len(note)-4, r.Min.Y+16, AxisColor)
	}
}

// dollarAxis builds an axis over [lo, hi] dollars with "nice" ticks, padded so the data does not touch
// the frame.
func dollarAxis(lo, hi float64, pLo, pHi int, want int) axis {
	if hi-lo < 0.01 {
		lo, hi = lo-0.05, hi+0.05
	}
	pad := (hi - lo) * 0.05
	lo, hi = max(lo-pad, 0), hi+pad
	step := niceStep((hi-lo)/float64(want), 0.01)
	a := axis{lo: lo, hi: hi, pLo: pLo, pHi: pHi}
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		a.ticks = append(a.ticks, v)
		a.tickLabels = append(a.tickLabels, dollars(v))
	}
	return a
}

// niceStep returns the smallest of 1, 2, 5 × 10^k (not below floor) at least raw.
func niceStep(raw, floor float64) float64 {
	if raw <= floor {
		return floor
	}
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= raw {
			return m * exp
		}
	}
	return 10 * exp
}

// timeAxis builds an axis over unix seconds with ticks at UTC midnights (or every few hours for short
// spans).
func timeAxis(t0, t1 time.Time, pLo, pHi int) axis {
	a := axis{lo: float64(t0.Unix()), hi: float64(t1.Unix()), pLo: pLo, pHi: pHi}
	span := t1.Sub(t0)
	step, layout := 24*time.Hour, "Jan 02"
	switch {
	case span <= 12*time.Hour:
		step, layout = 2*time.Hour, "15:04"
	case span <= 48*time.Hour:
		step, layout = 6*time.Hour, "02 15h"
	case span > 10*24*time.Hour:
		step = time.Duration(math.Ceil(span.Hours()/24/8)) * 24 * time.Hour
	}
	for t := t0.UTC().Truncate(step); !t.After(t1); t = t.Add(step) {
		if t.Before(t0) {
			continue
		}
		a.ticks = append(a.ticks, float64(t.Unix()))
		a.tickLabels = append(a.tickLabels, t.Format(layout))
	}
	return a
}

func dollars(v float64) string { return fmt.Sprintf("$%.2f", v) }

// grid draws the grid lines and tick labels of both axes.
func (c *canvas) grid(r image.Rectangle, x, y axis) {
	for i, v := range y.ticks {
		py := y.px(v)
		c.hline(r.Min.X, r.Max.X, py, GridColor)
		c.hline(r.Min.X-4, r.Min.X, py, AxisColor)
		label := y.tickLabels[i]
		c.text(label, r.Min.X-8-7*len(label), py+4, TextColor)
	}
	for i, v := range x.ticks {
		px := x.px(v)
		c.vline(px, r.Min.Y, r.Max.Y, GridColor)
		c.vline(px, r.Max.Y, r.Max.Y+4, AxisColor)
		label := x.tickLabels[i]
		c.text(label, px-7*len(label)/2, r.Max.Y+18, TextColor)
	}
}

func (c *canvas) frame(r image.Rectangle) {
	c.hline(r.Min.X, r.Max.X, r.Min.Y, AxisColor)
	c.hline(r.Min.X, r.Max.X, r.Max.Y, AxisColor)
	c.vline(r.Min.X, r.Min.Y, r.Max.Y, AxisColor)
	c.vline(r.Max.X, r.Min.Y, r.Max.Y, AxisColor)
}

func (c *canvas) hline(x0, x1, y int, col color.RGBA) {
	for x := x0; x <= x1; x++ {
		c.img.SetRGBA(x, y, col)
	}
}

func (c *canvas) vline(x, y0, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		c.img.SetRGBA(x, y, col)
	}
}

func (c *canvas) dashedH(y, x0, x1 int, col color.RGBA) {
	for x := x0; x <= x1; x++ {
		if (x/5)%2 == 0 {
			c.img.SetRGBA(x, y, col)
		}
	}
}

func (c *canvas) dashedV(x, y0, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		if (y/5)%2 == 0 {
			c.img.SetRGBA(x, y, col)
		}
	}
}

// line draws a 2-pixel wide segment with Bresenham's algorithm.
func (c *canvas) line(a, b image.Point, col color.RGBA) {
	dx, dy := abs(b.X-a.X), -abs(b.Y-a.Y)
	sx, sy := sign(b.X-a.X), sign(b.Y-a.Y)
	e := dx + dy
	x, y := a.X, a.Y
	for {
		c.img.SetRGBA(x, y, col)
		c.img.SetRGBA(x, y+1, col)
		if x == b.X && y == b.Y {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x += sx
		} else {
			e += dx
			y += sy
		}
	}
}

func (c *canvas) dot(p image.Point, r int, col color.RGBA) {
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if dx*dx+dy*dy <= r*r+1 {
				c.img.SetRGBA(p.X+dx, p.Y+dy, col)
			}
		}
	}
}

// centered writes msg in the middle of r.
func (c *canvas) centered(r image.Rectangle, msg string) {
	c.text(msg, r.Min.X+(r.Dx()-7*len(msg))/2, r.Min.Y+r.Dy()/2, AxisColor)
}

func (c *canvas) text(s string, x, y int, col color.RGBA) {
	d := font.Drawer{Dst: c.img, Src: &image.Uniform{col}, Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// asciiOnly replaces what the bitmap font cannot draw: ★ and ™ get ASCII spellings, other non-ASCII
// or control characters a '?'.
func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '★':
			b.WriteString("*")
		case r == '™':
			b.WriteString("(TM)")
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fitText cuts s to at most n characters, ending with "..." when cut.
func fitText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
