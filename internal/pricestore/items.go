package pricestore

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// Fields of the prices hash that keep a title's cheapest listings with attributes (SPEC §9.2), one per
// status: a JSON array of ItemValue sorted by price, then item id, at most market.ItemsPerStatus per
// phase ("" is one phase). The listings script merges a page's items into them (see listingsScript);
// readers count an item only while its own exp has not passed and its (status, price) level is live.
const (
	FieldItemsAvailable = "x:a"
	FieldItemsLocked    = "x:l"
)

// ItemValue is one element of an `x:a`/`x:l` field.
type ItemValue struct {
	// ID is DMarket's asset id.
	ID string `json:"id"`
	// Price is the listing price in cents.
	Price int64 `json:"p"`
	// Exp is when the item stops counting unless seen again (unix s).
	Exp int64 `json:"exp"`
	// T is the fetch time of the page that wrote it (unix ms).
	T int64 `json:"t"`
	// Float is the wear float as the decimal the worker validated (strconv 'g', -1), "" when none.
	Float string `json:"f,omitempty"`
	// Seed is the paint seed; meaningful only with HasSeed when decoded.
	Seed *int `json:"seed,omitempty"`
	// Phase is the Doppler phase, "" when none.
	Phase string `json:"ph,omitempty"`
	// Stickers are the applied stickers' names.
	Stickers []string `json:"st,omitempty"`
	// Days is the trade lock left in whole days (x:l only), 0 when none.
	Days int `json:"days,omitempty"`
}

// keepItems picks, of the page's listings items[idx] of one title, the market.ItemsPerStatus cheapest
// (price, then item id) of each (status, phase), the ones listingsScript is sent, and returns them
// sorted by status (tradable first), phase, price and item id. idx is reordered and reused.
func keepItems(items []validate.Listing, idx []int32) []int32 {
	slices.SortFunc(idx, func(a, b int32) int {
		x, y := &items[a], &items[b]
		if x.Locked != y.Locked {
			if x.Locked {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(x.Attrs.Phase, y.Attrs.Phase), cmp.Compare(x.PriceCents, y.PriceCents),
			cmp.Compare(x.ItemID, y.ItemID))
	})
	out := idx[:0] // writes only at or behind the element read
	kept := 0
	var prev *validate.Listing
	for _, j := range idx {
		it := &items[j]
		if prev != nil && (prev.Locked != it.Locked || prev.Attrs.Phase != it.Attrs.Phase) {
			kept = 0
		}
		prev = it
		if kept == market.ItemsPerStatus {
			continue
		}
		kept++
		out = append(out, j)
	}
	return out
}

// pageItems returns the kept items items[kept] (see keepItems) as the x:a and x:l arguments of
// listingsScript: JSON arrays, "" for a status without items.
func pageItems(buf []byte, items []validate.Listing, kept []int32, exp, t int64) (avail, locked string, _ []byte) {
	var out [2]string
	for s := range 2 {
		buf = buf[:0]
		for _, j := range kept {
			it := &items[j]
			if it.Locked != (s == 1) {
				continue
			}
			if len(buf) == 0 {
				buf = append(buf, '[')
			} else {
				buf = append(buf, ',')
			}
			buf = appendItem(buf, it, exp, t)
		}
		if len(buf) > 0 {
			out[s] = string(append(buf, ']'))
		}
	}
	return out[0], out[1], buf
}

// appendItem appends the ItemValue JSON of it.
func appendItem(b []byte, it *validate.Listing, exp, t int64) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, it.ItemID)
	b = append(b, `,"p":`...)
	b = strconv.AppendInt(b, it.PriceCents, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, t, 10)
	a := &it.Attrs
	if a.HasFloat {
		b = append(b, `,"f":"`...)
		b = strconv.AppendFloat(b, a.Float, 'g', -1, 64)
		b = append(b, '"')
	}
	if a.HasSeed {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, int64(a.PaintSeed), 10)
	}
	if a.Phase != market.PhaseNone {
		b = append(b, `,"ph":`...)
		b = appendJSONString(b, string(a.Phase))
	}
	if len(a.Stickers) > 0 {
		b = append(b, `,"st":[`...)
		for i, s := range a.Stickers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if it.Locked && it.LockDays > 0 {
		b = append(b, `,"days":`...)
		b = strconv.AppendInt(b, int64(it.LockDays), 10)
	}
	return append(b, '}')
}

// decodeItems decodes an x:a or x:l field; an empty array may also be stored as {} or "".
func decodeItems(raw string) ([]ItemValue, error) {
	switch strings.TrimSpace(raw) {
	case "", "[]", "{}":
		return nil, nil
	}
	var v []ItemValue
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, err
	}
	return v, nil
}

// Listing returns the kept listing v stores (locked for an x:l item); it fails when its float is not a
// number.
func (v *ItemValue) Listing(locked bool) (market.ItemListing, error) {
	l := market.ItemListing{ItemID: v.ID, Price: market.Cents(v.Price), Locked: locked, LockDays: v.Days,
		UpdatedAt: time.UnixMilli(v.T).UTC(), ExpiresAt: time.Unix(v.Exp, 0).UTC()}
	if v.Float != "" {
		f, err := strconv.ParseFloat(v.Float, 64)
		if err != nil {
			return l, fmt.Errorf("item %s: float %q: %w", v.ID, v.Float, err)
		}
		l.Attrs.Float, l.Attrs.HasFloat = f, true
	}
	if v.Seed != nil {
		l.Attrs.PaintSeed, l.Attrs.HasSeed = *v.Seed, true
	}
	l.Attrs.Phase = market.Phase(v.Phase)
	l.Attrs.Stickers = v.Stickers
	return l, nil
}

// liveItems returns the items of the x:a (raw[0]) and x:l (raw[1]) fields of hash that count at nowUnix:
// their own exp has not passed and their (status, price) level is live; sorted by status (available
// first), price and item id.
func liveItems(raw [2]string, hash map[string]string, nowUnix float64) ([]market.ItemListing, error) {
	var out []market.ItemListing
	var name []byte
	for s, prefix := range [2]string{FieldAvailable, FieldLocked} {
		if raw[s] == "" {
			continue
		}
		vals, err := decodeItems(raw[s])
		if err != nil {
			return nil, fmt.Errorf("%w: field %s: %w", ErrCorrupt, [2]string{FieldItemsAvailable, FieldItemsLocked}[s], err)
		}
		start := len(out)
		for i := range vals {
			v := &vals[i]
			if float64(v.Exp) < nowUnix {
				continue
			}
			name = strconv.AppendInt(append(name[:0], prefix...), v.Price, 10)
			level, ok := hash[string(name)]
			if !ok {
				continue
			}
			if _, live, err := liveLevel(string(name), level, nowUnix); err != nil || !live {
				continue // a bad level field fails the read where the levels are decoded
			}
			l, err := v.Listing(s == 1)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			out = append(out, l)
		}
		slices.SortFunc(out[start:], func(a, b market.ItemListing) int {
			return cmp.Or(cmp.Compare(a.Price, b.Price), cmp.Compare(a.ItemID, b.ItemID))
		})
	}
	return out, nil
}
