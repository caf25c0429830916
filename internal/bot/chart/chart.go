// Package chart owns the price-history picture the bot sends under the 📈 button: a PNG with the item's
// title, hourly sale prices of the last 7 days beside daily ones of the last 30, units sold as volume
// bars, horizontal lines at the current cheapest listing and the best buy order, and the sell-probability
// curve (price against the share of units sold at that price or higher) with the resale levels marked.
// Hours or days without sales are left as gaps; labels sit outside the plotted areas so they never cover
// data. Text is drawn with the embedded DejaVu Sans (★, ™, Cyrillic, Greek, ...), falling back to Go's
// own font and then to a box for characters neither has. It needs no cgo and no font files at run time.
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

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
)

// Picture size in pixels.
const (
	Width  = 1200
	Height = 900
)

// ErrEncode reports a picture that could not be written.
var ErrEncode = errors.New("encode chart")

// Colours of the picture; exported so that tests and callers can find plotted pixels.
var (
	Background    = color.RGBA{0xff, 0xff, 0xff, 0xff}
	AxisColor     = color.RGBA{0x33, 0x33, 0x33, 0xff}
	GridColor     = color.RGBA{0xe6, 0xe6, 0xe6, 0xff}
	TextColor     = color.RGBA{0x22, 0x22, 0x22, 0xff}
	NoteColor     = color.RGBA{0x66, 0x66, 0x66, 0xff}
	NoDataColor   = color.RGBA{0xf3, 0xf3, 0xf3, 0xff}
	PriceColor    = color.RGBA{0x1f, 0x6f, 0xd1, 0xff}
	VolumeColor   = color.RGBA{0x9c, 0xb9, 0xe0, 0xff}
	CheapestColor = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	BuyOrderColor = color.RGBA{0x2e, 0x9d, 0x4a, 0xff}
	ProbColor     = color.RGBA{0x7b, 0x3f, 0xb5, 0xff}
	LevelColor    = color.RGBA{0xb0, 0x78, 0x00, 0xff}
)

// levels are the sell-probability levels marked on the curve (SPEC §6.1 resale prices).
var levels = []int{50, 20}

// Views of the price panels.
const (
	ShortView = 7 * 24 * time.Hour
	LongView  = 30 * 24 * time.Hour
)

// Data is what one chart shows.
type Data struct {
	// Title is the item's title.
	Title string
	// Now is the right edge of both price views (the time the history was computed).
	Now time.Time
	// Points are hourly sale points (mean price in dollars), in any order.
	Points []sellhistory.Point
	// Probability maps a price in cents to the percent of last week's units sold at that price or higher.
	Probability map[int64]int
	// CheapestCents is the current cheapest listing; 0 when there is none.
	CheapestCents int64
	// CheapestLocked says the cheapest listing is trade-locked (there is no tradable one).
	CheapestLocked bool
	// BuyOrderCents is the best buy order; 0 when there is none.
	BuyOrderCents int64
	// Stored is how far back hourly sales are kept; default sellhistory.Week. Without Days, the older
	// days of the 30-day view are shaded as not stored.
	Stored time.Duration
	// Days are daily sale points (Hour is the UTC day start, Mean the day's mean price in dollars), in
	// any order. When set, the 30-day view draws them instead of the hourly points grouped by day.
	Days []sellhistory.Point
	// DaysFrom is when the daily series starts: with Days set, the 30-day view shades what lies before
	// it as not stored. Zero means the whole 30 days are stored.
	DaysFrom time.Time
}

// layout is where the parts of the picture go.
type layout struct {
	short, shortVol, long, longVol, prob image.Rectangle
}

// gutter is the room right of a plot for the labels of its horizontal lines.
const gutter = 118

func pictureLayout() layout {
	return layout{
		short:    image.Rect(78, 124, 560, 352),
		shortVol: image.Rect(78, 360, 560, 420),
		long:     image.Rect(760, 124, Width-gutter-6, 352),
		longVol:  image.Rect(760, 360, Width-gutter-6, 420),
		prob:     image.Rect(78, 510, Width-gutter-6, 830),
	}
}

// label is a piece of text drawn on the picture; inside marks text deliberately placed in an empty plot
// (a "no data" message), which covers no data by construction.
type label struct {
	text   string
	box    image.Rectangle
	inside bool
}

type canvas struct {
	img    *image.RGBA
	f      *fonts
	labels []label
}

// Render writes the PNG chart of d.
func Render(w io.Writer, d Data) error {
	img, _, err := render(d)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return nil
}

// render draws d and returns the picture and the labels it placed.
func render(d Data) (*image.RGBA, []label, error) {
	f, err := newFonts()
	if err != nil {
		return nil, nil, err
	}
	if d.Stored <= 0 {
		d.Stored = sellhistory.Week
	}
	if d.Now.IsZero() {
		d.Now = latest(d.Points)
	}
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.Draw(img, img.Bounds(), &image.Uniform{Background}, image.Point{}, draw.Src)
	c := &canvas{img: img, f: f}
	l := pictureLayout()

	c.header(d)
	lo, hi := priceRange(d, d.Points)
	y := dollarAxis(lo, hi, l.short.Max.Y, l.short.Min.Y, 5)
	c.pricePanel(l.short, l.shortVol, d, y, series{points: d.Points, width: time.Hour, from: d.Now.Add(-d.Stored)},
		ShortView, time.Hour, "Last 7 days · hourly mean sale price and units sold")
	long := series{points: d.Points, width: time.Hour, from: d.Now.Add(-d.Stored)}
	longLo, longHi := lo, hi
	if d.Days != nil {
		long = series{points: d.Days, width: 24 * time.Hour, from: d.DaysFrom}
		longLo, longHi = priceRange(d, d.Days)
	}
	c.pricePanel(l.long, l.longVol, d, dollarAxis(longLo, longHi, l.long.Max.Y, l.long.Min.Y, 5), long, LongView,
		24*time.Hour, "Last 30 days · daily")
	c.probabilityPanel(l.prob, d, lo, hi)
	c.footer(d)
	return img, c.labels, nil
}

// latest is the end of the hour of the newest point, or the zero time.
func latest(points []sellhistory.Point) time.Time {
	var t time.Time
	for _, p := range points {
		if e := p.Hour.Add(time.Hour); e.After(t) {
			t = e
		}
	}
	return t
}

func (c *canvas) header(d Data) {
	title := c.f.title.fit(printable(d.Title), Width-40)
	c.text(c.f.title, title, 20, 32, TextColor, false)
	sold := 0
	for _, p := range d.Points {
		if age := d.Now.Sub(p.Hour); age < sellhistory.Week && age > 0 {
			sold += p.Count
		}
	}
	parts := []string{fmt.Sprintf("%d sold in the last 7 days", sold)}
	for _, level := range levels {
		if price, ok := sellhistory.PriceAt(d.Probability, level); ok {
			parts = append(parts, fmt.Sprintf("%d %% sold at %s or more", level, market.Cents(price).Dollars()))
		}
	}
	if !d.Now.IsZero() {
		parts = append(parts, "as of "+d.Now.UTC().Format("Jan 02 15:04")+" UTC")
	}
	c.text(c.f.label, strings.Join(parts, "  ·  "), 20, 56, AxisColor, false)

	// Legend: swatch and words per series.
	x := 20
	item := func(col color.RGBA, dashed bool, words string) {
		for i := range 18 {
			if !dashed || (i/4)%2 == 0 {
				c.img.SetRGBA(x+i, 75, col)
				c.img.SetRGBA(x+i, 76, col)
			}
		}
		x += 24
		x = c.text(c.f.label, words, x, 80, TextColor, false).Max.X + 18
	}
	item(PriceColor, false, "sale price")
	c.fillRect(image.Rect(x, 70, x+18, 80), VolumeColor)
	x = c.text(c.f.label, "units sold", x+24, 80, TextColor, false).Max.X + 18
	cheapest := "cheapest listing: none"
	if d.CheapestCents > 0 {
		cheapest = "cheapest listing " + market.Cents(d.CheapestCents).Dollars()
		if d.CheapestLocked {
			cheapest += " (trade-locked)"
		}
	}
	item(CheapestColor, true, cheapest)
	order := "best buy order: none"
	if d.BuyOrderCents > 0 {
		order = "best buy order " + market.Cents(d.BuyOrderCents).Dollars()
	}
	item(BuyOrderColor, true, order)
	item(ProbColor, false, "sell probability")
	item(LevelColor, true, "resale levels")
}

func (c *canvas) footer(d Data) {
	if d.Days != nil {
		note := fmt.Sprintf("Hours and days without sales are left open. The 30-day view shows each day's mean sale "+
			"price (weighted by units); hourly sales are kept for %d days, daily ones for 30.", int(d.Stored.Hours()/24))
		c.text(c.f.label, c.f.label.fit(note, Width-40), 20, Height-20, NoteColor, false)
		return
	}
	note := fmt.Sprintf("Hours and days without sales are left open. Sales older than %d days are not stored, so the "+
		"30-day view shows only the last %d.", int(d.Stored.Hours()/24), int(d.Stored.Hours()/24))
	c.text(c.f.label, c.f.label.fit(note, Width-40), 20, Height-20, NoteColor, false)
}

func cents(v int64) float64 { return float64(v) / 100 }

// priceRange returns the dollar range the panels show: the prices from the 2nd to the 96th percentile of
// units sold (so a few outliers do not flatten the picture), widened to the resale prices and to the
// cheapest listing and best buy order when they are near the sales.
func priceRange(d Data, points []sellhistory.Point) (lo, hi float64) {
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
		for price := range d.Probability {
			ws = append(ws, weighted{cents(price), 1})
			total++
		}
	}
	if total == 0 {
		var vs []float64
		for _, v := range []int64{d.CheapestCents, d.BuyOrderCents} {
			if v > 0 {
				vs = append(vs, cents(v))
			}
		}
		if len(vs) == 0 {
			return 0, 1
		}
		return slices.Min(vs), slices.Max(vs)
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
		if price, ok := sellhistory.PriceAt(d.Probability, level); ok {
			lo, hi = min(lo, cents(price)), max(hi, cents(price))
		}
	}
	for _, v := range []int64{d.CheapestCents, d.BuyOrderCents} {
		if p := cents(v); v > 0 && p >= lo/1.5 && p <= hi*1.5 {
			lo, hi = min(lo, p), max(hi, p)
		}
	}
	return lo, hi
}

// bucket is the sales of one hour or day.
type bucket struct {
	start time.Time
	mean  float64
	count int
}

// series is what one price view draws: points each covering width from their Hour, stored from from on
// (a zero from: all of the view).
type series struct {
	points []sellhistory.Point
	width  time.Duration
	from   time.Time
}

// buckets groups points of the given width by step (an hour or a day, UTC), count-weighted, oldest
// first, keeping only the points that end after from and start before to.
func buckets(points []sellhistory.Point, width, step time.Duration, from, to time.Time) []bucket {
	type acc struct {
		sum float64
		n   int
	}
	m := map[int64]*acc{}
	for _, p := range points {
		if p.Count <= 0 || !p.Hour.Add(width).After(from) || !p.Hour.Before(to) {
			continue
		}
		k := p.Hour.UTC().Truncate(step).Unix()
		a := m[k]
		if a == nil {
			a = &acc{}
			m[k] = a
		}
		a.sum += p.Mean * float64(p.Count)
		a.n += p.Count
	}
	out := make([]bucket, 0, len(m))
	for k, a := range m {
		out = append(out, bucket{start: time.Unix(k, 0).UTC(), mean: a.sum / float64(a.n), count: a.n})
	}
	slices.SortFunc(out, func(a, b bucket) int { return a.start.Compare(b.start) })
	return out
}

// pricePanel draws one view: the prices of s per bucket over span ending at d.Now, with gaps where a
// bucket had no sales, the time before s.from shaded as not stored, the lines of the cheapest listing
// and best buy order, and the volume bars below.
func (c *canvas) pricePanel(r, vol image.Rectangle, d Data, y axis, s series, span, step time.Duration, heading string) {
	c.text(c.f.head, heading, r.Min.X, r.Min.Y-12, TextColor, false)
	t1 := d.Now
	t0 := t1.Add(-span)
	x := timeAxis(t0, t1, r.Min.X, r.Max.X, span)
	notStored := s.from
	if notStored.After(t0) {
		px := x.px(float64(notStored.Unix()))
		c.fillRect(image.Rect(r.Min.X+1, r.Min.Y+1, px, r.Max.Y), NoDataColor)
		c.fillRect(image.Rect(vol.Min.X+1, vol.Min.Y+1, px, vol.Max.Y), NoDataColor)
	}
	bs := buckets(s.points, s.width, step, t0, t1)
	c.grid(r, vol, x, y)
	var lineYs []int
	for _, v := range []int64{d.CheapestCents, d.BuyOrderCents} {
		if p := cents(v); v > 0 && p >= y.lo && p <= y.hi {
			lineYs = append(lineYs, y.px(p))
		}
	}
	if notStored.After(t0) {
		c.centeredAvoiding(image.Rect(r.Min.X, r.Min.Y, x.px(float64(notStored.Unix())), r.Max.Y), "sales not stored", lineYs)
	}
	if len(bs) == 0 {
		c.frame(r)
		c.frame(vol)
		stored := image.Rect(max(r.Min.X, x.px(float64(max(notStored.Unix(), t0.Unix())))), r.Min.Y, r.Max.X, r.Max.Y)
		c.centeredAvoiding(stored, "no sales", lineYs)
		c.hLines(r, d, y)
		c.lineLabels(r, d, y)
		return
	}

	c.volumeBars(r, vol, x, bs, step, span)
	c.hLines(r, d, y)
	below, above, minV, maxV := c.priceLine(r, x, y, bs, step)
	c.frame(r)
	c.frame(vol)
	c.lineLabels(r, d, y)
	c.headingNote(r, heading, clampNote(below, above, minV, maxV))
}

// volumeBars draws one bar per bucket in vol, as wide as the bucket allows, with the scale beside it.
func (c *canvas) volumeBars(r, vol image.Rectangle, x axis, bs []bucket, step, span time.Duration) {
	maxCount := 0
	for _, b := range bs {
		maxCount = max(maxCount, b.count)
	}
	barW := max(2, int(math.Round(float64(r.Dx())*step.Seconds()/span.Seconds()))-1)
	for _, b := range bs {
		px := max(x.px(float64(b.start.Unix())), vol.Min.X+1)
		h := int(math.Round(float64(b.count) / float64(maxCount) * float64(vol.Dy()-4)))
		c.fillRect(image.Rect(px, vol.Max.Y-max(h, 1), min(px+barW, vol.Max.X), vol.Max.Y), VolumeColor)
	}
	c.text(c.f.label, fmt.Sprintf("%d", maxCount), vol.Min.X-8-c.f.label.width(fmt.Sprintf("%d", maxCount)), vol.Min.Y+10, TextColor, false)
	c.text(c.f.label, "0", vol.Min.X-8-c.f.label.width("0"), vol.Max.Y, TextColor, false)
	unit := "units/h"
	if step >= 24*time.Hour {
		unit = "units/day"
	}
	c.text(c.f.label, unit, vol.Max.X+6, vol.Min.Y+10, NoteColor, false)

}

// priceLine draws the mean price of each bucket as a dot in the middle of the bucket, joining adjacent
// buckets; prices off the scale are drawn at its edge and counted below and above, with the range of
// every mean.
func (c *canvas) priceLine(r image.Rectangle, x, y axis, bs []bucket, step time.Duration) (below, above int, minV, maxV float64) {
	minV, maxV = math.Inf(1), math.Inf(-1)
	var prev image.Point
	var prevStart time.Time
	for i, b := range bs {
		v := b.mean
		minV, maxV = min(minV, v), max(maxV, v)
		switch {
		case v < y.lo:
			v, below = y.lo, below+1
		case v > y.hi:
			v, above = y.hi, above+1
		}
		// A point sits in the middle of its bucket.
		pt := image.Pt(min(max(x.px(float64(b.start.Add(step/2).Unix())), r.Min.X+3), r.Max.X-3), y.px(v))
		if i > 0 && b.start.Sub(prevStart) == step {
			c.line(prev, pt, PriceColor)
		}
		c.dot(pt, 2, PriceColor)
		prev, prevStart = pt, b.start
	}
	return below, above, minV, maxV
}

// headingNote writes note at the right end of a panel's heading line when the heading leaves room.
func (c *canvas) headingNote(r image.Rectangle, heading, note string) {
	if note == "" {
		return
	}
	room := r.Max.X + gutter - (r.Min.X + c.f.head.width(heading) + 16)
	if room > 40 {
		note = c.f.label.fit(note, room)
		c.text(c.f.label, note, r.Max.X+gutter-c.f.label.width(note), r.Min.Y-12, NoteColor, false)
	}
}

// hLines draws the dashed lines of the cheapest listing and the best buy order across r.
func (c *canvas) hLines(r image.Rectangle, d Data, y axis) {
	for _, ln := range []struct {
		v   int64
		col color.RGBA
	}{{d.BuyOrderCents, BuyOrderColor}, {d.CheapestCents, CheapestColor}} {
		v := cents(ln.v)
		if ln.v <= 0 || v < y.lo || v > y.hi {
			continue
		}
		py := y.px(v)
		c.dashedH(py, r.Min.X+1, r.Max.X-1, ln.col)
		c.dashedH(py+1, r.Min.X+1, r.Max.X-1, ln.col)
	}
}

// lineLabels writes the labels of the cheapest listing and best buy order in the gutter right of r, at
// their lines' heights (or at the edge with an arrow when off scale), pushed apart so they never overlap.
func (c *canvas) lineLabels(r image.Rectangle, d Data, y axis) {
	type gl struct {
		text string
		y    int
		col  color.RGBA
	}
	var ls []gl
	add := func(v int64, name string, col color.RGBA) {
		if v <= 0 {
			return
		}
		p := cents(v)
		arrow, py := "", 0
		switch {
		case p > y.hi:
			arrow, py = "↑ ", r.Min.Y
		case p < y.lo:
			arrow, py = "↓ ", r.Max.Y
		default:
			py = y.px(p)
		}
		// The name goes when the price needs the room; the colour and the legend still say which it is.
		text := arrow + name + " " + market.Cents(v).Dollars()
		if c.f.label.width(text) > gutter-4 {
			text = c.f.label.fit(arrow+market.Cents(v).Dollars(), gutter-4)
		}
		ls = append(ls, gl{text, py, col})
	}
	add(d.CheapestCents, "listing", CheapestColor)
	add(d.BuyOrderCents, "buy order", BuyOrderColor)
	slices.SortFunc(ls, func(a, b gl) int { return cmp.Compare(a.y, b.y) })
	lh := c.f.label.height() + 2
	asc := c.f.label.ascent()
	// Baselines: centred on the line, within the plot's height, at least a line apart.
	for i := range ls {
		ls[i].y = min(max(ls[i].y+asc/2, r.Min.Y+asc), r.Max.Y)
		if i > 0 && ls[i].y < ls[i-1].y+lh {
			ls[i].y = ls[i-1].y + lh
		}
	}
	if n := len(ls); n > 0 && ls[n-1].y > r.Max.Y+lh {
		shift := ls[n-1].y - (r.Max.Y + lh)
		for i := range ls {
			ls[i].y -= shift
		}
	}
	for _, l := range ls {
		c.text(c.f.label, l.text, r.Max.X+6, l.y, l.col, false)
	}
}

// clampNote describes points drawn at the edge because they lie outside the shown range.
func clampNote(below, above int, minV, maxV float64) string {
	var parts []string
	if below > 0 {
		parts = append(parts, fmt.Sprintf("%d below the scale (min %s)", below, dollars(minV)))
	}
	if above > 0 {
		parts = append(parts, fmt.Sprintf("%d above the scale (max %s)", above, dollars(maxV)))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ")
}

func (c *canvas) probabilityPanel(r image.Rectangle, d Data, lo, hi float64) {
	heading := "Sell probability · share of last week's units sold at a price or higher"
	c.text(c.f.head, heading, r.Min.X, r.Min.Y-12, TextColor, false)
	prob := d.Probability
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
	x := dollarAxis(lo, hi, r.Min.X, r.Max.X, 10)
	y := axis{lo: 0, hi: 105, pLo: r.Max.Y, pHi: r.Min.Y} // 100 % stays off the frame
	for v := 0; v <= 100; v += 20 {
		y.ticks = append(y.ticks, float64(v))
		y.tickLabels = append(y.tickLabels, fmt.Sprintf("%d %%", v))
	}
	c.grid(r, image.Rectangle{}, x, y)
	// The current cheapest listing and best buy order as vertical lines: what share sold above them.
	for _, ln := range []struct {
		v   int64
		col color.RGBA
	}{{d.BuyOrderCents, BuyOrderColor}, {d.CheapestCents, CheapestColor}} {
		if v := cents(ln.v); ln.v > 0 && v >= x.lo && v <= x.hi {
			c.dashedV(x.px(v), r.Min.Y+1, r.Max.Y-1, ln.col)
		}
	}
	ls := c.levelLines(r, x, y, prob)
	below, above := c.stepCurve(x, y, prices, prob)
	c.frame(r)
	lh := c.f.label.height() + 2
	last := math.MinInt
	for _, l := range ls { // levels descend, so their heights ascend
		by := max(l.y+c.f.label.ascent()/2, last+lh)
		c.text(c.f.label, l.text, r.Max.X+6, by, LevelColor, false)
		last = by
	}
	c.text(c.f.label, "price, USD", r.Max.X+6, r.Max.Y+18, NoteColor, false)
	c.headingNote(r, heading, clampNote(below, above, cents(prices[0]), cents(prices[len(prices)-1])))
}

// levelLabel is the label of a sell-probability level at its line's height.
type levelLabel struct {
	text string
	y    int
}

// levelLines draws the lines of the sell-probability levels (at their percent and at their price) and
// returns their labels, highest level first.
func (c *canvas) levelLines(r image.Rectangle, x, y axis, prob map[int64]int) []levelLabel {
	var ls []levelLabel
	for _, level := range levels {
		price, ok := sellhistory.PriceAt(prob, level)
		if !ok {
			continue
		}
		if v := cents(price); v >= x.lo && v <= x.hi {
			c.dashedV(x.px(v), r.Min.Y+1, r.Max.Y-1, LevelColor)
		}
		py := y.px(float64(level))
		c.dashedH(py, r.Min.X+1, r.Max.X-1, LevelColor)
		ls = append(ls, levelLabel{fmt.Sprintf("%d %%: %s", level, market.Cents(price).Dollars()), py})
	}
	return ls
}

// stepCurve draws the sell-probability curve over prices, ascending: each price holds its percent until
// the next price. Prices off the scale are drawn at its edge and counted below and above.
func (c *canvas) stepCurve(x, y axis, prices []int64, prob map[int64]int) (below, above int) {
	var prev image.Point
	for i, p := range prices {
		v := cents(p)
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
	return below, above
}

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

// dollarAxis builds an axis over [lo, hi] dollars with "nice" ticks, padded so the data does not touch
// the frame.
func dollarAxis(lo, hi float64, pLo, pHi int, want int) axis {
	if hi-lo < 0.01 {
		lo, hi = lo-0.05, hi+0.05
	}
	pad := (hi - lo) * 0.06
	lo, hi = max(lo-pad, 0), hi+pad
	step := niceStep((hi-lo)/float64(want), 0.01)
	a := axis{lo: lo, hi: hi, pLo: pLo, pHi: pHi}
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		a.ticks = append(a.ticks, v)
		if step >= 1 {
			a.tickLabels = append(a.tickLabels, fmt.Sprintf("$%.0f", v))
		} else {
			a.tickLabels = append(a.tickLabels, dollars(v))
		}
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

// timeAxis builds an axis over [t0, t1] with ticks at UTC midnights: every day for the short view, every
// fifth day for the long one.
func timeAxis(t0, t1 time.Time, pLo, pHi int, span time.Duration) axis {
	a := axis{lo: float64(t0.Unix()), hi: float64(t1.Unix()), pLo: pLo, pHi: pHi}
	every := 1
	if span > ShortView {
		every = 5
	}
	day := 24 * time.Hour
	for t := t0.UTC().Truncate(day); !t.After(t1); t = t.Add(day) {
		if t.Before(t0) || (t.Unix()/int64(day.Seconds()))%int64(every) != 0 {
			continue
		}
		a.ticks = append(a.ticks, float64(t.Unix()))
		a.tickLabels = append(a.tickLabels, t.Format("Jan 02"))
	}
	return a
}

// dollars formats an amount in dollars, such as an axis tick or a mean price, rounded to the cent.
func dollars(v float64) string { return market.Cents(math.Round(v * 100)).Dollars() }

// grid draws the grid lines and tick labels of both axes of r; x labels go below vol when it is not
// empty (a volume strip sharing r's x axis), else below r. Labels that would overlap the previous one are
// left out.
func (c *canvas) grid(r, vol image.Rectangle, x, y axis) {
	for i, v := range y.ticks {
		py := y.px(v)
		c.hline(r.Min.X+1, r.Max.X-1, py, GridColor)
		c.hline(r.Min.X-4, r.Min.X, py, AxisColor)
		label := y.tickLabels[i]
		c.text(c.f.label, label, r.Min.X-8-c.f.label.width(label), py+c.f.label.ascent()/2-1, TextColor, false)
	}
	bottom := r.Max.Y
	if !vol.Empty() {
		bottom = vol.Max.Y
	}
	lastRight := math.MinInt
	for i, v := range x.ticks {
		px := x.px(v)
		c.vline(px, r.Min.Y+1, r.Max.Y-1, GridColor)
		if !vol.Empty() {
			c.vline(px, vol.Min.Y+1, vol.Max.Y-1, GridColor)
		}
		c.vline(px, bottom, bottom+4, AxisColor)
		label := x.tickLabels[i]
		w := c.f.label.width(label)
		lx := px - w/2
		if lx < lastRight+8 {
			continue
		}
		c.text(c.f.label, label, lx, bottom+18, TextColor, false)
		lastRight = lx + w
	}
}

func (c *canvas) frame(r image.Rectangle) {
	c.hline(r.Min.X, r.Max.X, r.Min.Y, AxisColor)
	c.hline(r.Min.X, r.Max.X, r.Max.Y, AxisColor)
	c.vline(r.Min.X, r.Min.Y, r.Max.Y, AxisColor)
	c.vline(r.Max.X, r.Min.Y, r.Max.Y, AxisColor)
}

func (c *canvas) fillRect(r image.Rectangle, col color.RGBA) {
	draw.Draw(c.img, r, &image.Uniform{col}, image.Point{}, draw.Src)
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
		if (x/6)%2 == 0 {
			c.img.SetRGBA(x, y, col)
		}
	}
}

func (c *canvas) dashedV(x, y0, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		if (y/6)%2 == 0 {
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

// centered writes msg in the middle of r, an area holding no data.
func (c *canvas) centered(r image.Rectangle, msg string) {
	msg = c.f.label.fit(msg, max(r.Dx()-8, 10))
	c.text(c.f.label, msg, r.Min.X+(r.Dx()-c.f.label.width(msg))/2, r.Min.Y+r.Dy()/2+c.f.label.ascent()/2, NoteColor, true)
}

// centeredAvoiding writes msg centred in r, moved up or down (to a quarter of r's height) when one of
// the horizontal lines at ys would run through it.
func (c *canvas) centeredAvoiding(r image.Rectangle, msg string, ys []int) {
	half := c.f.label.height()/2 + 4
	for _, cy := range []int{r.Min.Y + r.Dy()/2, r.Min.Y + r.Dy()/4, r.Min.Y + 3*r.Dy()/4} {
		free := true
		for _, y := range ys {
			free = free && abs(y-cy) > half
		}
		if free {
			c.centered(image.Rect(r.Min.X, cy-r.Dy()/2, r.Max.X, cy+r.Dy()/2), msg)
			return
		}
	}
	c.centered(r, msg)
}

// text draws s and records where it went.
func (c *canvas) text(t *typeface, s string, x, y int, col color.RGBA, inside bool) image.Rectangle {
	box := t.draw(c.img, s, x, y, col)
	c.labels = append(c.labels, label{text: s, box: box, inside: inside})
	return box
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
