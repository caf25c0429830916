package crawler

import (
	"fmt"
	"slices"
	"strconv"
)

// Range is an inclusive price range in cents. To == 0 means no upper bound.
type Range struct {
	// From is the lowest price (inclusive).
	From int64
	// To is the highest price (inclusive), 0 for none.
	To int64
}

// String renders the range for logs, e.g. "100-199" or "5000-".
func (r Range) String() string {
	if r.To == 0 {
		return strconv.FormatInt(r.From, 10) + "-"
	}
	return strconv.FormatInt(r.From, 10) + "-" + strconv.FormatInt(r.To, 10)
}

// RangesFromBounds turns ascending range starts (the first must be 0) into contiguous ranges that cover
// every price exactly once; the last range is open-ended.
func RangesFromBounds(starts []int64) ([]Range, error) {
	if len(starts) == 0 || starts[0] != 0 {
		return nil, fmt.Errorf("price bounds: the first bound must be 0")
	}
	out := make([]Range, 0, len(starts))
	for i, s := range starts {
		if i > 0 && s <= starts[i-1] {
			return nil, fmt.Errorf("price bounds: %d is not above %d", s, starts[i-1])
		}
		r := Range{From: s}
		if i+1 < len(starts) {
			r.To = starts[i+1] - 1
		}
		out = append(out, r)
	}
	return out, nil
}

// splitRange cuts r at the given prices (each becomes the start of a new range). Cuts outside (From, To]
// and duplicates are ignored. The result covers r exactly.
func splitRange(r Range, cuts []int64) []Range {
	cs := slices.Clone(cuts)
	slices.Sort(cs)
	cs = slices.Compact(cs)
	out := make([]Range, 0, len(cs)+1)
	cur := r
	for _, c := range cs {
		if c <= cur.From || (cur.To != 0 && c > cur.To) {
			continue
		}
		out = append(out, Range{From: cur.From, To: c - 1})
		cur.From = c
	}
	return append(out, cur)
}
