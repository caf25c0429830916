package dmarket

import (
	"bytes"
	"encoding/json"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// attrsJSON are the item attributes of a listing's extra or a sale's offerAttributes, kept raw so that
// an attribute of any shape leaves the item valid; decodeAttrs applies the rules.
type attrsJSON struct {
	FloatValue json.RawMessage `json:"floatValue"`
	PaintSeed  json.RawMessage `json:"paintSeed"`
	PhaseTitle json.RawMessage `json:"phaseTitle"`
	Phase      json.RawMessage `json:"phase"`
	Stickers   json.RawMessage `json:"stickers"`
}

// stickerJSON is one applied sticker.
type stickerJSON struct {
	Name *string `json:"name"`
}

// decodeOfferAttrs decodes a sale's offerAttributes (any shape; only an object carries attributes).
func decodeOfferAttrs(raw json.RawMessage, bad *int) market.Attributes {
	var a attrsJSON
	if json.Unmarshal(raw, &a) != nil {
		return market.Attributes{}
	}
	return decodeAttrs(&a, bad)
}

// decodeAttrs validates raw attributes with the rules of market's attrcheck.go (SPEC §9.2): an
// attribute that breaks one is left out and counted in *bad; null and empty strings are absent.
func decodeAttrs(a *attrsJSON, bad *int) market.Attributes {
	var out market.Attributes
	if text, given := numberOrString(a.FloatValue); given {
		out.Float, out.HasFloat = market.ParseFloatValue(text)
		countIf(bad, !out.HasFloat)
	}
	if text, given := numberOrString(a.PaintSeed); given {
		out.PaintSeed, out.HasSeed = market.ParsePaintSeed(text)
		countIf(bad, !out.HasSeed)
	}
	phase := a.PhaseTitle
	if absent(phase) {
		phase = a.Phase
	}
	if !absent(phase) {
		var text string
		ok := json.Unmarshal(phase, &text) == nil
		if ok && text != "" {
			out.Phase, ok = market.CanonicalPhase(text)
		}
		countIf(bad, !ok)
	}
	out.Stickers = decodeStickers(a.Stickers, bad)
	return out
}

// decodeStickers returns the valid sticker names of raw (at most market.MaxStickers), counting each
// bad sticker, a stickers value that is not an array, and more than market.MaxStickers valid stickers
// (once) in *bad.
func decodeStickers(raw json.RawMessage, bad *int) []string {
	if absent(raw) {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		*bad++
		return nil
	}
	var names []string
	tooMany := false
	for _, e := range elems {
		var st stickerJSON
		if json.Unmarshal(e, &st) != nil || st.Name == nil {
			*bad++
			continue
		}
		name, ok := market.CleanStickerName(*st.Name)
		switch {
		case !ok:
			*bad++
		case len(names) == market.MaxStickers:
			tooMany = true
		default:
			names = append(names, name)
		}
	}
	countIf(bad, tooMany)
	return names
}

// numberOrString returns the text of a JSON number or the content of a JSON string; given is false
// for an absent value, null and the empty string. Any other value, and a string with escapes, is
// returned as is (and fails the number rules).
func numberOrString(raw json.RawMessage) (text string, given bool) {
	if absent(raw) {
		return "", false
	}
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), len(raw) > 2
	}
	return string(raw), true
}

// absent reports whether raw is no value or null.
func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func countIf(bad *int, cond bool) {
	if cond {
		*bad++
	}
}
