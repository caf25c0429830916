package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// salesPayload returns a last-sales body: one sale per (price, phase, float) of sales, an hour apart
// before now; phase "" leaves phaseTitle out, float < 0 leaves floatValue out.
func salesPayload(t *testing.T, now time.Time, sales []saleSpec) []byte {
	t.Helper()
	out := make([]map[string]any, len(sales))
	for i, s := range sales {
		attrs := map[string]any{}
		if s.phase != "" {
			attrs["phaseTitle"] = s.phase
		}
		if s.float >= 0 {
			attrs["floatValue"] = s.float
		}
		out[i] = map[string]any{"price": fmt.Sprintf("%d.%02d", s.cents/100, s.cents%100),
			"date": strconv.FormatInt(now.Add(-time.Duration(i+1)*time.Hour).Unix(), 10), "txOperationType": "Offer",
			"offerAttributes": attrs}
	}
	b, err := json.Marshal(map[string]any{"sales": out})
	require.NoError(t, err)
	return b
}

type saleSpec struct {
	cents int64
	phase string
	float float64
}

func TestSalesOfPhasedTitleArePerPhase(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 10, 18, 0, 0, 0, time.UTC)
	e := newEnv(t, now)
	const title = "★ Karambit | Doppler (Factory New)"
	var sales []saleSpec
	for i := range 14 { // Ruby: enough float sales for a curve, cheaper at higher floats
		sales = append(sales, saleSpec{cents: 100000 - int64(i)*1000, phase: "Ruby", float: 0.001 + float64(i)*0.002})
	}
	for i := range 5 {
		sales = append(sales, saleSpec{cents: 20000 + int64(i)*100, phase: "phase-2", float: 0.01})
	}
	sales = append(sales, saleSpec{cents: 15000, float: -1}) // no phase: in no phase, still in the title's analysis

	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindSales, "a8db", now, title, salesPayload(t, now, sales))))
	hv, ok, err := e.store.History(ctx, title)
	require.NoError(t, err)
	require.True(t, ok)
	h := hv.History()
	require.Equal(t, len(sales), h.SoldPerWeek, "the title-level analysis covers every sale")
	require.Nil(t, h.Float, "a phased title has no title-level curve")
	require.Len(t, h.Phases, 2)
	ruby, p2 := h.Phases[market.PhaseRuby], h.Phases[market.Phase2]
	require.NotNil(t, ruby)
	require.NotNil(t, p2)
	require.Equal(t, 14, ruby.SoldPerWeek)
	require.Equal(t, 5, p2.SoldPerWeek)
	require.NotNil(t, ruby.Float)
	require.Nil(t, p2.Float, "too few float sales")
	require.Equal(t, market.Cents(98000), ruby.Float.ValueAt(0), "median of the 5 lowest floats")
	require.Less(t, ruby.Float.ValueAt(1), ruby.Float.ValueAt(0))
	require.Equal(t, 100, p2.Probability[20000])

	// The same sales decoded and analysed directly give what is stored.
	decoded, err := validate.DecodeSales(salesPayload(t, now, sales))
	require.NoError(t, err)
	want := SellHistory(title, decoded.Items, now)
	require.Equal(t, want.Phases[market.PhaseRuby].Float, ruby.Float)
}

func TestSellHistoryFloatCurveOfPlainTitle(t *testing.T) {
	now := time.Date(2026, 6, 10, 18, 0, 0, 0, time.UTC)
	var sales []validate.Sale
	for i := range 12 {
		sales = append(sales, validate.Sale{Price: market.Cents(1000 + i), At: now.Add(-time.Duration(i+1) * time.Hour),
			Attrs: market.Attributes{Float: 0.2 + float64(i)/100, HasFloat: true, Phase: market.PhaseRuby}})
	}
	h := SellHistory("AK-47 | Redline (Field-Tested)", sales, now)
	require.Equal(t, market.FitFloatCurve(sales, now), h.Float)
	require.NotNil(t, h.Float)
	require.Nil(t, h.Phases, "phases count only on phased titles")
	require.Equal(t, 12, h.SoldPerWeek)
}
