package chart

import (
	_ "embed" // the fonts are embedded so the binary needs no font files
	"fmt"
	"image"
	"image/color"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// DejaVu Sans (fonts/LICENSE) covers Latin, Greek, Cyrillic, Hebrew, Arabic and the symbols of skin
// titles (★, ™); Go Regular is the fallback for the few glyphs DejaVu lacks.
var (
	//go:embed fonts/DejaVuSans.ttf
	dejaVuSans []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	dejaVuSansBold []byte
)

// Text sizes in pixels.
const (
	titleSize = 20
	labelSize = 12
	headSize  = 13
)

// missingGlyph stands in for a character no embedded font has (CJK, emoji).
const missingGlyph = '□'

// typeface draws text of one size, rune by rune from the first font that has the glyph.
type typeface struct {
	fonts []*sfnt.Font
	faces []font.Face
	buf   sfnt.Buffer
	// Missing counts the characters no font had since the typeface was made.
	missing int
}

// fonts holds the faces of one rendering; faces are not safe for concurrent use, so every Render makes
// its own.
type fonts struct {
	title, head, label *typeface
}

func newFonts() (*fonts, error) {
	regular, err := sfnt.Parse(dejaVuSans)
	if err != nil {
		return nil, fmt.Errorf("parse DejaVu Sans: %w", err)
	}
	bold, err := sfnt.Parse(dejaVuSansBold)
	if err != nil {
		return nil, fmt.Errorf("parse DejaVu Sans Bold: %w", err)
	}
	goReg, err := sfnt.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse Go Regular: %w", err)
	}
	title, err := newTypeface(titleSize, bold, goReg)
	if err != nil {
		return nil, err
	}
	head, err := newTypeface(headSize, bold, goReg)
	if err != nil {
		return nil, err
	}
	label, err := newTypeface(labelSize, regular, goReg)
	if err != nil {
		return nil, err
	}
	return &fonts{title: title, head: head, label: label}, nil
}

func newTypeface(size float64, fs ...*sfnt.Font) (*typeface, error) {
	t := &typeface{fonts: fs}
	for _, f := range fs {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return nil, fmt.Errorf("font face: %w", err)
		}
		t.faces = append(t.faces, face)
	}
	return t, nil
}

// faceFor returns the face that draws r and the rune to draw (missingGlyph when no font has r).
func (t *typeface) faceFor(r rune) (font.Face, rune) {
	for i, f := range t.fonts {
		if idx, err := f.GlyphIndex(&t.buf, r); err == nil && idx != 0 {
			return t.faces[i], r
		}
	}
	return t.faces[0], missingGlyph
}

// width is the advance of s in pixels.
func (t *typeface) width(s string) int {
	var w fixed.Int26_6
	for _, r := range s {
		face, g := t.faceFor(r)
		adv, _ := face.GlyphAdvance(g)
		w += adv
	}
	return w.Ceil()
}

// height is the line height in pixels (ascent plus descent).
func (t *typeface) height() int {
	m := t.faces[0].Metrics()
	return (m.Ascent + m.Descent).Ceil()
}

func (t *typeface) ascent() int { return t.faces[0].Metrics().Ascent.Ceil() }

// draw writes s with its baseline at y, starting at x, and returns its bounding box.
func (t *typeface) draw(dst *image.RGBA, s string, x, y int, col color.RGBA) image.Rectangle {
	d := font.Drawer{Dst: dst, Src: &image.Uniform{col}, Dot: fixed.P(x, y)}
	for _, r := range s {
		face, g := t.faceFor(r)
		if g == missingGlyph && r != missingGlyph {
			t.missing++
		}
		d.Face = face
		d.DrawString(string(g))
	}
	m := t.faces[0].Metrics()
	return image.Rect(x, y-m.Ascent.Ceil(), d.Dot.X.Ceil(), y+m.Descent.Ceil())
}

// fit shortens s with "…" until it is at most w pixels wide.
func (t *typeface) fit(s string, w int) string {
	if t.width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && t.width(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return strings.TrimRight(string(r), " ") + "…"
}

// printable removes control characters, which titles should not hold but must not garble the picture.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}
