package validate

import (
	"github.com/skinflip/dmarket-monitor/internal/market"
)

// The reasons an item attribute is left out; the item itself is kept. They are counted apart from the
// dropped items (ListingsPage.BadAttrs, Sales.BadAttrs).
const (
	// ReasonBadFloat: floatValue is not a finite number in [0, 1] (or a string holding one).
	ReasonBadFloat Reason = "bad_float"
	// ReasonBadSeed: paintSeed is not an integer in 0…market.MaxPaintSeed.
	ReasonBadSeed Reason = "bad_seed"
	// ReasonBadPhase: phaseTitle (or phase) names no known phase, or a listing's title has no phases
	// (it is not a Doppler or Gamma Doppler, see market.PhasedTitle).
	ReasonBadPhase Reason = "bad_phase"
	// ReasonBadSticker: a sticker is not an object with a name that is valid text of at most
	// market.MaxStickerNameRunes code points, or stickers is not an array.
	ReasonBadSticker Reason = "bad_sticker"
	// ReasonTooManyStickers: an item has more than market.MaxStickers valid stickers; the first ones
	// are kept.
	ReasonTooManyStickers Reason = "too_many_stickers"
)

// AttrReasons lists every reason an attribute is left out, in a stable order.
var AttrReasons = []Reason{ReasonBadFloat, ReasonBadSeed, ReasonBadPhase, ReasonBadSticker, ReasonTooManyStickers}

// attrState says whether an attribute was sent and whether its JSON type was usable.
type attrState int8

const (
	attrAbsent attrState = iota
	attrGiven
	attrWrongType
)

// rawText is the raw content of a JSON string or number token.
type rawText struct {
	b     []byte
	esc   bool
	state attrState
}

// rawAttrs holds the raw tokens of an item's attributes (a listing's extra or a sale's
// offerAttributes) until the item is known to be valid. Sticker names are cleaned as they are read.
type rawAttrs struct {
	float, seed      rawText
	phase, phaseAlt  rawText
	stickers         []string
	badStickers      int
	tooManyStickers  bool
	stickersWrongTyp bool
	// seen says an attribute member was read; without one there is nothing to resolve.
	seen bool
}

// attrMember reads the value of the attribute member key into a. The caller sends only the keys
// floatValue, paintSeed, phaseTitle, phase and stickers; any other value is skipped.
func (s *scanner) attrMember(a *rawAttrs, key []byte) error {
	a.seen = true
	switch string(key) {
	case "floatValue":
		return s.attrNumber(&a.float)
	case "paintSeed":
		return s.attrNumber(&a.seed)
	case "phaseTitle":
		return s.attrString(&a.phase)
	case "phase":
		return s.attrString(&a.phaseAlt)
	case "stickers":
		return s.stickers(a)
	}
	return s.skip()
}

// attrNumber reads a number, or a string holding one; null and the empty string are absent.
func (s *scanner) attrNumber(t *rawText) error {
	b, present, ok, err := s.intText()
	t.set(b, false, present, ok)
	return err
}

// attrString reads a string; null and the empty string are absent.
func (s *scanner) attrString(t *rawText) error {
	b, esc, present, ok, err := s.text()
	t.set(b, esc, present, ok)
	return err
}

// set records a value read as b: one of the wrong type, or a non-empty one (null and the empty string
// leave t absent).
func (t *rawText) set(b []byte, esc, present, ok bool) {
	switch {
	case !ok:
		t.state = attrWrongType
	case present && len(b) > 0:
		*t = rawText{b: b, esc: esc, state: attrGiven}
	}
}

// stickers reads a stickers array: each element an object whose name member is the sticker's name.
func (s *scanner) stickers(a *rawAttrs) error {
	switch s.kind() {
	case kindNull:
		return s.literal("null")
	case kindArray:
	default:
		a.stickersWrongTyp = true
		return s.skip()
	}
	return s.array(func() error {
		raw, esc, ok, err := s.stickerName()
		if err != nil {
			return err
		}
		name, reason := cleanText(raw, esc, market.MaxStickerNameRunes)
		switch {
		case !ok || reason != "":
			a.badStickers++
		case len(a.stickers) == market.MaxStickers:
			a.tooManyStickers = true
		default:
			if a.stickers == nil {
				a.stickers = make([]string, 0, market.MaxStickers)
			}
			a.stickers = append(a.stickers, name)
		}
		return nil
	})
}

// stickerName reads one element of stickers; ok is false unless it is an object with a string name.
func (s *scanner) stickerName() (raw []byte, esc, ok bool, err error) {
	if s.kind() != kindObject {
		return nil, false, false, s.skip()
	}
	err = s.object(func(key []byte) error {
		if string(key) != "name" {
			return s.skip()
		}
		b, e, present, good, err := s.text()
		raw, esc, ok = b, e, present && good
		return err
	})
	return raw, esc, ok, err
}

// resolve validates the raw attributes into the item's Attributes, counting each attribute left out
// in bad.
func (a *rawAttrs) resolve(bad *Invalid) market.Attributes {
	var out market.Attributes
	if !a.seen {
		return out
	}
	out.Float, out.HasFloat = checkNumber(a.float, market.ParseFloatValue, bad, ReasonBadFloat)
	out.PaintSeed, out.HasSeed = checkNumber(a.seed, market.ParsePaintSeed, bad, ReasonBadSeed)
	out.Phase = a.resolvePhase(bad)
	for range a.badStickers {
		bad.add(ReasonBadSticker)
	}
	if a.stickersWrongTyp {
		bad.add(ReasonBadSticker)
	}
	if a.tooManyStickers {
		bad.add(ReasonTooManyStickers)
	}
	out.Stickers = a.stickers
	return out
}

// checkNumber returns what parse makes of t; ok is false when t is absent or broken, and a value of the
// wrong type or one parse refuses is counted as reason in bad.
func checkNumber[T any](t rawText, parse func(string) (T, bool), bad *Invalid, reason Reason) (v T, ok bool) {
	switch t.state {
	case attrAbsent:
		return v, false
	case attrGiven:
		if v, ok = parse(string(t.b)); ok {
			return v, true
		}
	}
	bad.add(reason)
	return v, false
}

// resolvePhase returns the phase phaseTitle names, or phase when phaseTitle is absent.
func (a *rawAttrs) resolvePhase(bad *Invalid) market.Phase {
	t := a.phase
	if t.state == attrAbsent {
		t = a.phaseAlt
	}
	switch t.state {
	case attrAbsent:
		return market.PhaseNone
	case attrGiven:
		text := string(t.b)
		if t.esc {
			var reason Reason
			if text, reason = cleanText(t.b, true, 0); reason != "" {
				break
			}
		}
		if p, ok := market.CanonicalPhase(text); ok {
			return p
		}
	}
	bad.add(ReasonBadPhase)
	return market.PhaseNone
}
