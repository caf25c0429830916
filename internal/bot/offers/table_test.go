package offers

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

func TestDollarsPercentLock(t *testing.T) {
	cases := []struct{ name, got, want string }{
		{"dollars", market.Cents(1234).Dollars(), "$12.34"},
		{"dollars zero", market.Cents(0).Dollars(), "$0.00"},
		{"dollars cents", market.Cents(5).Dollars(), "$0.05"},
		{"dollars negative", market.Cents(-5).Dollars(), "-$0.05"},
		{"dollars big", market.Cents(100000000).Dollars(), "$1000000.00"},
		{"percent", Percent(1234), "+12.34%"},
		{"percent zero", Percent(0), "+0.00%"},
		{"percent negative", Percent(-500), "-5.00%"},
		{"percent small negative", Percent(-3), "-0.03%"},
		{"lock", LockText(5), "5d"},
		{"lock below a day", LockText(0), "<1d"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.got) })
	}
}

func TestWriteTable(t *testing.T) {
	offers := []Offer{
		{Title: "AK-47 | Redline (Field-Tested)", Kind: market.KindTarget, Status: market.StatusAvailable, Buy: 1000, Sell: 1150,
			Net: 1127, ProfitBasisPoints: 1270},
		{Title: "★ Karambit", Kind: market.KindHistory, Status: market.StatusLocked, LockDays: 5, Buy: 123456, Sell: 130000,
			Net: 123500, ProfitBasisPoints: 4},
		{Title: "Sticker", Kind: market.KindTarget, Status: market.StatusLocked, Buy: 3, Sell: 2, Net: 1, ProfitBasisPoints: -6667},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, offers, now0))
	want := "" +
		" PROFIT       BUY      SELL       NET  KIND     STATUS      TITLE\n" +
		"+12.70%    $10.00    $11.50    $11.27  TARGET   available   AK-47 | Redline (Field-Tested)\n" +
		" +0.04%  $1234.56  $1300.00  $1235.00  HISTORY  locked 5d   ★ Karambit\n" +
		"-66.67%     $0.03     $0.02     $0.01  TARGET   locked <1d  Sticker\n" +
		"3 offers at 2026-11-25 12:00:00 UTC\n"
	require.Equal(t, want, buf.String())

	buf.Reset()
	require.NoError(t, WriteTable(&buf, nil, now0))
	require.Contains(t, buf.String(), "0 offers at")
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteTableErrors(t *testing.T) {
	err := WriteTable(&failWriter{}, []Offer{{Title: "X"}}, now0)
	require.ErrorContains(t, err, "disk full")
}

func TestDetails(t *testing.T) {
	cases := []struct {
		name string
		o    Offer
		want []string
	}{
		{"none", Offer{}, nil},
		{"an item without attributes", Offer{Item: &ItemInfo{ID: "x"}}, nil},
		{"everything", Offer{Item: &ItemInfo{Phase: market.PhaseRuby, Float: 0.01234, HasFloat: true, Wear: "FN", TopPercent: 18, PaintSeed: 661,
			HasSeed: true, StickersValue: 4510}}, []string{"Ruby", "float 0.0123 (top 18 %)", "seed 661", "stickers $45.10"}},
		{"float without an exterior", Offer{Item: &ItemInfo{Float: 0.5, HasFloat: true}}, []string{"float 0.5000"}},
		{"seed 0 is a seed", Offer{Item: &ItemInfo{HasSeed: true}}, []string{"seed 0"}},
		{"stickers worth nothing are not shown", Offer{Item: &ItemInfo{Phase: market.Phase2}}, []string{"Phase 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { require.Equal(t, c.want, Details(c.o)) })
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, []Offer{{Title: "A", Kind: market.KindFloat, Status: market.StatusAvailable, Buy: 100, Sell: 200,
		Net: 190, ProfitBasisPoints: 9000, Item: &ItemInfo{Float: 0.2, HasFloat: true, Wear: "FT", TopPercent: 22}}}, now0))
	require.Contains(t, buf.String(), "  FLOAT  available  A · float 0.2000 (top 22 %)\n")
}
