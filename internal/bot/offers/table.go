package offers

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Percent formats basis points as a signed percent with two decimals: "+12.34%", "+0.00%", "-5.00%".
func Percent(bp int64) string {
	sign := "+"
	u := uint64(bp) //nolint:gosec // the sign is handled below; uint64 also holds -MinInt64
	if bp < 0 {
		sign, u = "-", -u
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, u/100, u%100)
}

// LockText formats whole lock days as "5d", or "<1d" below one day.
func LockText(days int) string {
	if days < 1 {
		return "<1d"
	}
	return strconv.Itoa(days) + "d"
}

// Details returns what an offer's line 2 shows of its item after the kind's own text (SPEC §9.2), each
// part only when known: the phase ("Ruby"), the float with 4 decimals and its rank in the exterior's
// band ("float 0.0123 (top 3 %)", or just "float 0.0123" without an exterior), the paint seed
// ("seed 661") and the stickers' value ("stickers $45.10", only when above zero).
func Details(o Offer) []string {
	in := o.Item
	if in == nil {
		return nil
	}
	var out []string
	if in.Phase != market.PhaseNone {
		out = append(out, string(in.Phase))
	}
	if in.HasFloat {
		f := "float " + strconv.FormatFloat(in.Float, 'f', 4, 64)
		if in.Wear != "" {
			f += fmt.Sprintf(" (top %d %%)", in.TopPercent)
		}
		out = append(out, f)
	}
	if in.HasSeed {
		out = append(out, "seed "+strconv.Itoa(in.PaintSeed))
	}
	if in.StickersValue > 0 {
		out = append(out, "stickers "+market.Cents(in.StickersValue).Dollars())
	}
	return out
}

// WriteTable writes offers as an aligned text table with the columns profit, buy, sell, net (right
// aligned), kind, status and title (left aligned, followed by the offer's Details), followed by a line
// counting them at now.
func WriteTable(w io.Writer, offers []Offer, now time.Time) error {
	rows := make([][7]string, 0, len(offers)+1)
	rows = append(rows, [7]string{"PROFIT", "BUY", "SELL", "NET", "KIND", "STATUS", "TITLE"})
	for _, o := range offers {
		status := string(o.Status)
		if o.Status == market.StatusLocked {
			status += " " + LockText(o.LockDays)
		}
		title := o.Title
		if d := Details(o); len(d) > 0 {
			title += " · " + strings.Join(d, " · ")
		}
		rows = append(rows, [7]string{Percent(o.ProfitBasisPoints), market.Cents(o.Buy).Dollars(), market.Cents(o.Sell).Dollars(), market.Cents(o.Net).Dollars(),
			string(o.Kind), status, title})
	}
	var width [6]int
	for _, r := range rows {
		for i := range width {
			width[i] = max(width[i], len(r[i]))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%*s  %*s  %*s  %*s  %-*s  %-*s  %s\n", width[0], r[0], width[1], r[1], width[2], r[2],
			width[3], r[3], width[4], r[4], width[5], r[5], r[6])
	}
	fmt.Fprintf(&b, "%d offers at %s\n", len(offers), now.UTC().Format("2006-01-02 15:04:05 UTC"))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write offers table: %w", err)
	}
	return nil
}
