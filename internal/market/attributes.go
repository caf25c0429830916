package market

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// Limits of the attributes a listing or sale may carry (SPEC §9.2); the worker's validation enforces
// them and drops what breaks them.
const (
	// MaxStickers is the most stickers one item may carry.
	MaxStickers = 6
	// MaxStickerNameRunes is the longest sticker name kept, in Unicode code points.
	MaxStickerNameRunes = 128
	// MaxPaintSeed is the highest paint seed (CS2 seeds are 0…1000).
	MaxPaintSeed = 100000
	// ItemsPerStatus is how many of a title's cheapest listings with attributes are kept per status (and
	// per phase on phased titles).
	ItemsPerStatus = 20
)

// Attributes are what tells one item of a title from another: its wear float, paint seed, Doppler phase
// and applied stickers. The zero value is an item without attributes.
type Attributes struct {
	// Float is the wear float in [0, 1]; meaningful only when HasFloat.
	Float float64
	// HasFloat says the item has a wear float.
	HasFloat bool
	// PaintSeed is the pattern seed; meaningful only when HasSeed.
	PaintSeed int
	// HasSeed says the item has a paint seed.
	HasSeed bool
	// Phase is the Doppler phase, PhaseNone when the item has none.
	Phase Phase
	// Stickers are the names of the applied stickers as DMarket sent them (sanitised), at most
	// MaxStickers; a name may be bare ("Crown (Foil)") or a market title ("Sticker | Crown (Foil)").
	Stickers []string
}

// Empty reports whether a carries no attribute.
func (a *Attributes) Empty() bool {
	return !a.HasFloat && !a.HasSeed && a.Phase == PhaseNone && len(a.Stickers) == 0
}

// ItemListing is one listing of a title kept with its attributes (the cheapest ItemsPerStatus of each
// status, and of each phase on phased titles).
type ItemListing struct {
	// ItemID is DMarket's asset id.
	ItemID string
	// Price is what a buyer pays.
	Price Cents
	// Locked is true while the item cannot be traded.
	Locked bool
	// LockDays is the trade lock left in whole days.
	LockDays int
	// Attrs are the item's attributes.
	Attrs Attributes
	// UpdatedAt is when the listing was last seen.
	UpdatedAt time.Time
	// ExpiresAt is when the listing stops counting unless seen again.
	ExpiresAt time.Time
}

// Phase is a Doppler or Gamma Doppler phase. Phased titles (PhasedTitle) are one market per phase.
type Phase string

// The phases; PhaseNone is an item without a phase.
const (
	// PhaseNone is no phase.
	PhaseNone Phase = ""
	// Phase1 is Doppler or Gamma Doppler Phase 1.
	Phase1 Phase = "Phase 1"
	// Phase2 is Phase 2.
	Phase2 Phase = "Phase 2"
	// Phase3 is Phase 3.
	Phase3 Phase = "Phase 3"
	// Phase4 is Phase 4.
	Phase4 Phase = "Phase 4"
	// PhaseRuby is the Doppler Ruby.
	PhaseRuby Phase = "Ruby"
	// PhaseSapphire is the Doppler Sapphire.
	PhaseSapphire Phase = "Sapphire"
	// PhaseBlackPearl is the Doppler Black Pearl.
	PhaseBlackPearl Phase = "Black Pearl"
	// PhaseEmerald is the Gamma Doppler Emerald.
	PhaseEmerald Phase = "Emerald"
)

// phases lists the known phases in their display and sort order; a phase's Index is its position + 1.
var phases = [...]Phase{Phase1, Phase2, Phase3, Phase4, PhaseRuby, PhaseSapphire, PhaseBlackPearl, PhaseEmerald}

// Phases returns the known phases in their sort order. The slice is the caller's.
func Phases() []Phase { return append([]Phase(nil), phases[:]...) }

// Index returns 1…8 for a known phase (its sort position), 0 for PhaseNone or an unknown phase.
func (p Phase) Index() int {
	for i, q := range phases {
		if q == p {
			return i + 1
		}
	}
	return 0
}

// ParsePhase returns the known phase s names, ignoring case, spaces, hyphens and underscores ("Phase 1",
// "phase-1", "phase1", "ruby", "black_pearl", "BlackPearl"); ok is false for anything else. The empty
// string is PhaseNone with ok true.
func ParsePhase(s string) (Phase, bool) {
	key := phaseKey(s)
	if key == "" {
		return PhaseNone, true
	}
	for _, p := range phases {
		if phaseKey(string(p)) == key {
			return p, true
		}
	}
	return PhaseNone, false
}

// phaseKey folds s to lower-case letters and digits only.
func phaseKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// PhasedTitle reports whether title is a Doppler or Gamma Doppler skin, whose phases are separate
// markets (SPEC §9.2).
func PhasedTitle(title string) bool {
	return strings.Contains(title, "| Doppler") || strings.Contains(title, "| Gamma Doppler")
}

// Wear is a CS2 exterior: the float band [Min, Max) its title names (Max inclusive for Battle-Scarred).
type Wear struct {
	// Name is the exterior as titles write it ("Factory New").
	Name string
	// Short is its abbreviation ("FN").
	Short string
	// Min is the lowest float of the band.
	Min float64
	// Max is the highest float of the band.
	Max float64
}

// wears are the CS2 exteriors in float order.
var wears = [...]Wear{
	{Name: "Factory New", Short: "FN", Min: 0, Max: 0.07},
	{Name: "Minimal Wear", Short: "MW", Min: 0.07, Max: 0.15},
	{Name: "Field-Tested", Short: "FT", Min: 0.15, Max: 0.38},
	{Name: "Well-Worn", Short: "WW", Min: 0.38, Max: 0.45},
	{Name: "Battle-Scarred", Short: "BS", Min: 0.45, Max: 1},
}

// WearOf returns the exterior a title ends with ("… (Field-Tested)"); ok is false when it names none.
func WearOf(title string) (Wear, bool) {
	for _, w := range wears {
		if strings.HasSuffix(title, "("+w.Name+")") {
			return w, true
		}
	}
	return Wear{}, false
}

// TopPercent returns where f lies in the band as "top N %": 1 for the lowest floats, 100 for the
// highest, ⌈(f − Min) / (Max − Min) × 100⌉ clamped to 1…100. The binary rounding error of the division
// (at most topPercentSlack) does not push an exact percent (0.265 in 0.15…0.38 is 50) to the next one.
func (w Wear) TopPercent(f float64) int {
	if w.Max <= w.Min {
		return 100
	}
	p := int(math.Ceil((f-w.Min)/(w.Max-w.Min)*100 - topPercentSlack))
	return min(max(p, 1), 100)
}

// topPercentSlack is how far above a whole percent TopPercent still counts as that percent.
const topPercentSlack = 1e-9

// StickerTitlePrefix starts the market title of a sticker.
const StickerTitlePrefix = "Sticker | "

// StickerTitle returns the market title of a sticker named name: names given bare ("Crown (Foil)") get
// StickerTitlePrefix, market titles ("Sticker | Crown (Foil)") stay as they are.
func StickerTitle(name string) string {
	name = strings.TrimSpace(name)
	if strings.HasPrefix(name, StickerTitlePrefix) {
		return name
	}
	return StickerTitlePrefix + name
}

// Float-value method (README, "Attributes"): a title's sales of the last 7 days that carry a float,
// sorted by float, are cut into FloatBuckets groups of equal size (the first groups take one more when
// they do not divide evenly); each group's value is its median price (the lower middle one for an even
// count), and adjacent groups whose values rise with the float are pooled into their sales-weighted mean
// (floored to the cent) until values never rise as the float grows. A listing is worth the value of
// the first group whose highest float is at or above its own float (the last group above it).
const (
	// FloatMinSales is the fewest float-carrying sales in the last 7 days a curve needs.
	FloatMinSales = 12
	// FloatBuckets is the number of float groups a curve is cut into (fewer when there are fewer than
	// FloatBucketMinSales sales per group).
	FloatBuckets = 6
	// FloatBucketMinSales is the fewest sales of one group.
	FloatBucketMinSales = 4
)

// FloatBucket is one group of a float curve.
type FloatBucket struct {
	// MaxFloat is the highest float of the group's sales.
	MaxFloat float64
	// Price is the group's value after pooling.
	Price Cents
	// Sales is the number of sales in the group.
	Sales int
}

// FloatCurve maps a wear float to the price same-title items of that float sold at. Buckets are sorted
// by MaxFloat ascending and their prices never rise.
type FloatCurve struct {
	// Buckets are the float groups.
	Buckets []FloatBucket
}

// ValueAt returns the value of an item of float f: the price of the first bucket whose MaxFloat is at or
// above f, the last bucket's beyond them; 0 for an empty curve.
func (c *FloatCurve) ValueAt(f float64) Cents {
	if c == nil || len(c.Buckets) == 0 {
		return 0
	}
	for _, b := range c.Buckets {
		if f <= b.MaxFloat {
			return b.Price
		}
	}
	return c.Buckets[len(c.Buckets)-1].Price
}

// FitFloatCurve returns the float curve of sales as of now (see the float-value method above), nil when
// fewer than FloatMinSales sales of the last 7 days carry a float.
func FitFloatCurve(sales []Sale, now time.Time) *FloatCurve {
	type pt struct {
		f float64
		p Cents
	}
	cutoff := now.Add(-7 * 24 * time.Hour)
	var pts []pt
	for _, s := range sales {
		if s.Attrs.HasFloat && s.At.After(cutoff) && !s.At.After(now) {
			pts = append(pts, pt{s.Attrs.Float, s.Price})
		}
	}
	if len(pts) < FloatMinSales {
		return nil
	}
	slices.SortFunc(pts, func(a, b pt) int { return cmp.Or(cmp.Compare(a.f, b.f), cmp.Compare(a.p, b.p)) })
	k := min(FloatBuckets, len(pts)/FloatBucketMinSales)
	type group struct {
		maxF  float64
		sum   int64 // value × sales, for pooling
		sales int
	}
	groups := make([]group, 0, k)
	start := 0
	for g := range k {
		size := len(pts) / k
		if g < len(pts)%k {
			size++
		}
		part := pts[start : start+size]
		prices := make([]Cents, len(part))
		for i, q := range part {
			prices[i] = q.p
		}
		slices.Sort(prices)
		median := prices[(len(prices)-1)/2]
		groups = append(groups, group{maxF: part[len(part)-1].f, sum: int64(median) * int64(size), sales: size})
		start += size
		// Pool while the new group's value is above the one before it (values must not rise with float).
		for len(groups) > 1 {
			a, b := groups[len(groups)-2], groups[len(groups)-1]
			if b.sum*int64(a.sales) <= a.sum*int64(b.sales) {
				break
			}
			groups = groups[:len(groups)-2]
			groups = append(groups, group{maxF: b.maxF, sum: a.sum + b.sum, sales: a.sales + b.sales})
		}
	}
	c := &FloatCurve{Buckets: make([]FloatBucket, len(groups))}
	for i, g := range groups {
		c.Buckets[i] = FloatBucket{MaxFloat: g.maxF, Price: Cents(g.sum / int64(g.sales)), Sales: g.sales}
	}
	return c
}

// DefaultStickerSharePercent is the share of the applied stickers' value, in percent, that a STICKERS
// offer adds to the title's floor (BOT_STICKER_SHARE): buyers pay about a tenth of a sticker's own price
// for it applied to a skin, except for rare crafts.
const DefaultStickerSharePercent = 10
