package dmarkettest

import (
	"math"
	"strconv"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// AttrGame is the game whose listings and sales carry item attributes (CS2): its listings are served
// with a wear float and a paint seed, and the attribute titles of attrcat.go belong to it.
const AttrGame = "a8db"

// Attrs are the attributes an item is served with: a listing's extra or a sale's offerAttributes. They
// are stored as served (a phase may be written "phase2" or "RUBY", a sticker name bare or as a market
// title, with white space around it); the zero value serves none.
type Attrs struct {
	// Float is the wear float, served when HasFloat: a JSON number, or a string holding it when
	// FloatAsString.
	Float         float64
	HasFloat      bool
	FloatAsString bool
	// FloatText, when not empty, is sent as the float instead (a string that may be no number at all).
	FloatText string
	// Seed is the paint seed, served when HasSeed.
	Seed    int
	HasSeed bool
	// Phase is the Doppler phase as served ("" for none), under the key PhaseKey ("phaseTitle" when
	// empty, or "phase").
	Phase    string
	PhaseKey string
	// Stickers are the applied stickers' names as served.
	Stickers []string
}

// Empty reports whether a serves no attribute.
func (a *Attrs) Empty() bool {
	return !a.HasFloat && !a.HasSeed && a.Phase == "" && len(a.Stickers) == 0
}

// stickerJSON is one applied sticker as DMarket serves it.
type stickerJSON struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// floatJSON returns the float as it is served.
func (a *Attrs) floatJSON() any {
	if a.FloatText != "" {
		return a.FloatText
	}
	if a.FloatAsString {
		return strconv.FormatFloat(a.Float, 'g', -1, 64)
	}
	return a.Float
}

// stickersJSON returns the stickers as they are served, nil when there are none.
func (a *Attrs) stickersJSON() []stickerJSON {
	if len(a.Stickers) == 0 {
		return nil
	}
	out := make([]stickerJSON, len(a.Stickers))
	for i, n := range a.Stickers {
		out[i] = stickerJSON{Name: n, Image: "https://steamcommunity-a.akamaihd.net/economy/image/sticker-" + slug(n)}
	}
	return out
}

// phaseKey returns the key the phase is served under.
func (a *Attrs) phaseKey() string {
	if a.PhaseKey != "" {
		return a.PhaseKey
	}
	return "phaseTitle"
}

// offerAttributes returns a sale's offerAttributes: the attributes, an empty object when there are none.
func (a *Attrs) offerAttributes() map[string]any {
	m := map[string]any{}
	if a.HasFloat {
		m["floatValue"] = a.floatJSON()
	}
	if a.HasSeed {
		m["paintSeed"] = a.Seed
	}
	if a.Phase != "" {
		m[a.phaseKey()] = a.Phase
	}
	if s := a.stickersJSON(); s != nil {
		m["stickers"] = s
	}
	return m
}

// plainAttrs returns the attributes of an ordinary listing of game: on AttrGame the drawn float (mapped
// into the wear band of the title when it names one) and paint seed, none elsewhere.
func plainAttrs(game, title string, drawn float64, seed int) Attrs {
	if game != AttrGame {
		return Attrs{}
	}
	f := drawn
	if w, ok := market.WearOf(title); ok {
		f = bandFloat(w, drawn)
	}
	return Attrs{Float: f, HasFloat: true, Seed: seed, HasSeed: true}
}

// bandFloat maps u in [0, 1] into w's band, rounded to 1e-9 and kept below the band's top unless the
// top is 1.
func bandFloat(w market.Wear, u float64) float64 {
	f := math.Round((w.Min+u*(w.Max-w.Min))*1e9) / 1e9
	if f >= w.Max && w.Max < 1 {
		f = math.Round((w.Max-1e-9)*1e9) / 1e9
	}
	return min(max(f, w.Min), 1)
}
