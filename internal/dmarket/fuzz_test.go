package dmarket

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

var fuzzSeeds = []string{
	"market-items-page.json", "market-items-last-page.json", "market-items-attrs.json", "aggregated-prices.json", "last-sales.json",
	"customized-fees.json", "error-400-bad-request.json", "error-429-rate-limit.json",
}

// seedItems is how many elements of each array a fixture keeps as a seed. Small seeds keep the engine
// fuzzing: every input that finds new coverage is minimised first, which takes most of a short run on a
// 20 kB page.
const seedItems = 2

// smallSeed returns fixture name with every array cut to its first seedItems elements.
func smallSeed(f *testing.F, name string) []byte {
	f.Helper()
	dec := json.NewDecoder(bytes.NewReader(fixture(f, name)))
	dec.UseNumber()
	var v any
	require.NoError(f, dec.Decode(&v))
	b, err := json.Marshal(cutArrays(v))
	require.NoError(f, err)
	return b
}

func cutArrays(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) > seedItems {
			x = x[:seedItems]
		}
		for i := range x {
			x[i] = cutArrays(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = cutArrays(x[k])
		}
	}
	return v
}

func addSeeds(f *testing.F) {
	for _, name := range fuzzSeeds {
		f.Add(smallSeed(f, name))
	}
	f.Add([]byte(`{"objects":null,"cursor":""}`))
	f.Add([]byte(`{"objects":[{"title":"A","price":{"USD":"1"},"createdAt":"9"}],"cursor":"x","total":{"items":"3"}}`))
	f.Add([]byte(``))
}

// fuzzDecoder fuzzes decode from the seeds: every body either fails with errDecode or decodes into a
// value that check accepts.
func fuzzDecoder[T any](f *testing.F, decode func([]byte) (*T, error), check func(t *testing.T, v *T)) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decode(body)
		if err != nil {
			require.ErrorIs(t, err, errDecode)
			return
		}
		check(t, v)
	})
}

func FuzzDecodeMarketItems(f *testing.F) {
	fuzzDecoder(f, DecodeMarketItems, func(t *testing.T, p *MarketItemsBody) {
		for _, it := range p.Items {
			require.GreaterOrEqual(t, it.PriceCents, market.Cents(0))
			require.NotEmpty(t, it.Title)
			require.GreaterOrEqual(t, it.PriceCents, p.MinPriceCents)
			require.LessOrEqual(t, it.PriceCents, p.MaxPriceCents)
			requireValidAttrs(t, it.Attrs)
		}
		require.LessOrEqual(t, len(p.Titles), len(p.Items))
	})
}

func FuzzDecodeAggregatedPrices(f *testing.F) {
	fuzzDecoder(f, DecodeAggregatedPrices, func(t *testing.T, p *AggregatedPricesBody) {
		for _, o := range p.Orders {
			require.NotEmpty(t, o.Order.Title)
			require.GreaterOrEqual(t, o.Order.Price, market.Cents(0))
			require.GreaterOrEqual(t, o.AskCents, market.Cents(0))
			if !o.Order.Exists() {
				require.Zero(t, o.Order.Count)
			}
		}
	})
}

func FuzzDecodeLastSales(f *testing.F) {
	fuzzDecoder(f, DecodeLastSales, func(t *testing.T, p *LastSalesBody) {
		for _, s := range p.Sales {
			require.GreaterOrEqual(t, s.Price, market.Cents(0))
			require.Positive(t, s.At.Unix())
			requireValidAttrs(t, s.Attrs)
		}
	})
}

func FuzzDecodeCustomizedFees(f *testing.F) {
	fuzzDecoder(f, DecodeCustomizedFees, func(t *testing.T, p *CustomizedFeesBody) {
		require.GreaterOrEqual(t, p.Default.FractionValue, 0.0)
		require.LessOrEqual(t, p.Default.FractionValue, 1.0)
		for _, r := range p.Reduced {
			require.NotEmpty(t, r.Title)
			require.GreaterOrEqual(t, r.FractionValue, 0.0)
			require.LessOrEqual(t, r.FractionValue, 1.0)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg, ok := DecodeError(body)
		require.Equal(t, code != "" || msg != "", ok)
		require.LessOrEqual(t, len(msg), 200)
	})
}

func FuzzParseDollars(f *testing.F) {
	for _, s := range []string{"12.57", "0.03", "12", "", "1.999", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseDollars(s)
		if err == nil {
			require.GreaterOrEqual(t, c, market.Cents(0))
		}
	})
}
