package validate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

func TestDecodeOrdersFixture(t *testing.T) {
	got, err := DecodeOrders(readFixture(t, "aggregated-prices.json"))
	require.NoError(t, err)
	require.Empty(t, got.Invalid)
	require.Equal(t, []Order{
		{Title: "AK-47 | Redline (Field-Tested)", HasOrder: true, PriceCents: 1251, Count: 143},
		{Title: "AWP | Asiimov (Field-Tested)", HasOrder: true, PriceCents: 9720, Count: 38},
		{Title: "Sticker | Battle Scarred", HasOrder: true, PriceCents: 2, Count: 5},
	}, got.Items)
}

func TestDecodeOrdersRules(t *testing.T) {
	tests := []struct {
		name   string
		item   string
		want   *Order
		reason Reason
	}{
		{name: "valid", item: `{"title":"A","orderBestPrice":{"Currency":"USD","Amount":"100"},"orderCount":"3"}`,
			want: &Order{Title: "A", HasOrder: true, PriceCents: 100, Count: 3}},
		{name: "count as number", item: `{"title":"A","orderBestPrice":{"Amount":"100"},"orderCount":3}`,
			want: &Order{Title: "A", HasOrder: true, PriceCents: 100, Count: 3}},
		{name: "no order object", item: `{"title":"A","orderCount":"0"}`, want: &Order{Title: "A"}},
		{name: "null order", item: `{"title":"A","orderBestPrice":null}`, want: &Order{Title: "A"}},
		{name: "zero amount", item: `{"title":"A","orderBestPrice":{"Amount":"0"},"orderCount":"2"}`, want: &Order{Title: "A"}},
		{name: "empty amount", item: `{"title":"A","orderBestPrice":{"Amount":""}}`, want: &Order{Title: "A"}},
		{name: "no title", item: `{"orderBestPrice":{"Amount":"1"}}`, reason: ReasonMissingField},
		{name: "null title", item: `{"title":null}`, reason: ReasonMissingField},
		{name: "title number", item: `{"title":1}`, reason: ReasonWrongType},
		{name: "empty title", item: `{"title":""}`, reason: ReasonEmptyTitle},
		{name: "bad amount", item: `{"title":"A","orderBestPrice":{"Amount":"1.5"}}`, reason: ReasonBadPrice},
		{name: "huge amount", item: `{"title":"A","orderBestPrice":{"Amount":"100000000"}}`, reason: ReasonPriceOutOfRange},
		{name: "amount wrong type", item: `{"title":"A","orderBestPrice":{"Amount":[]}}`, reason: ReasonWrongType},
		{name: "order wrong type", item: `{"title":"A","orderBestPrice":"5"}`, reason: ReasonWrongType},
		{name: "bad count", item: `{"title":"A","orderCount":"x"}`, reason: ReasonBadCount},
		{name: "negative count", item: `{"title":"A","orderCount":"-1"}`, reason: ReasonBadCount},
		{name: "count wrong type", item: `{"title":"A","orderCount":{}}`, reason: ReasonBadCount},
		{name: "huge count", item: `{"title":"A","orderCount":"99999999999"}`, reason: ReasonBadCount},
		{name: "not object", item: `"A"`, reason: ReasonWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"aggregatedPrices":[{"title":"B"},` + tc.item + `],"nextCursor":""}`
			got, err := DecodeOrders([]byte(body))
			require.NoError(t, err)
			if tc.reason != "" {
				require.Equal(t, Invalid{tc.reason: 1}, got.Invalid)
				require.Equal(t, []Order{{Title: "B"}}, got.Items)
				return
			}
			require.Empty(t, got.Invalid)
			require.Equal(t, []Order{{Title: "B"}, *tc.want}, got.Items)
		})
	}
}

func TestDecodeWholePayloadErrors(t *testing.T) {
	decoders := map[string]func([]byte) error{
		"orders": func(b []byte) error { _, err := DecodeOrders(b); return err },
		"sales":  func(b []byte) error { _, err := DecodeSales(b); return err },
		"fees":   func(b []byte) error { _, err := DecodeFees(b); return err },
	}
	bodies := map[string][]string{
		"orders": {`nope`, `{}`, `{"aggregatedPrices":{}}`, `{"aggregatedPrices":[}`, `{"aggregatedPrices":[]}]`},
		"sales":  {`[]`, `{"sales":null}`, `{"sales":[{"price":"1"`, `{"sales":[]`},
		"fees": {`{}`, `{"reducedFees":[]}`, `{"defaultFee":{"fraction":"5%"}}`, `{"defaultFee":{"fraction":"1.5"}}`,
			`{"defaultFee":{"minAmount":1}}`, `{"defaultFee":"0.05"}`, `{"defaultFee":{"fraction":"0.05","minAmount":-1}}`,
			`{"defaultFee":{"fraction":"0.05"},"reducedFees":[{]}`, `{"defaultFee":{"fraction":"0.05"}} {}`, `x`,
			`{"defaultFee":{"fraction":"0.05"`, `{"defaultFee":{"fraction":"0.05"},"reducedFees":[1,]}`},
	}
	for kind, list := range bodies {
		for _, body := range list {
			t.Run(kind+" "+body, func(t *testing.T) {
				err := decoders[kind]([]byte(body))
				require.ErrorIs(t, err, ErrInvalidPayload)
				require.True(t, message.IsPermanent(err))
			})
		}
	}
}

func TestDecodeSalesFixture(t *testing.T) {
	got, err := DecodeSales(readFixture(t, "last-sales.json"))
	require.NoError(t, err)
	require.Empty(t, got.Invalid)
	require.Len(t, got.Items, 20)
	require.Equal(t, Sale{Price: 1257, At: time.Unix(1749568028, 0).UTC(),
		Attrs: market.Attributes{Float: 0.178656073, HasFloat: true, PaintSeed: 106, HasSeed: true}}, got.Items[0])
	for i := 1; i < len(got.Items); i++ {
		require.False(t, got.Items[i].At.After(got.Items[i-1].At), "newest first")
	}
}

func TestDecodeSalesRules(t *testing.T) {
	tests := []struct {
		name   string
		item   string
		want   int64
		reason Reason
	}{
		{name: "dollars", item: `{"price":"12.57","date":"1749568028"}`, want: 1257},
		{name: "one decimal", item: `{"price":"12.5","date":"1749568028"}`, want: 1250},
		{name: "whole dollars", item: `{"price":"12","date":"1749568028"}`, want: 1200},
		{name: "number types", item: `{"price":12.57,"date":1749568028}`, want: 1257},
		{name: "cents only", item: `{"price":"0.03","date":"1749568028"}`, want: 3},
		{name: "three decimals", item: `{"price":"12.575","date":"1"}`, reason: ReasonBadPrice},
		{name: "dot only", item: `{"price":"12.","date":"1"}`, reason: ReasonBadPrice},
		{name: "no whole", item: `{"price":".5","date":"1"}`, reason: ReasonBadPrice},
		{name: "letters", item: `{"price":"1a.00","date":"1"}`, reason: ReasonBadPrice},
		{name: "letters in cents", item: `{"price":"1.a0","date":"1"}`, reason: ReasonBadPrice},
		{name: "negative", item: `{"price":"-1.00","date":"1"}`, reason: ReasonPriceOutOfRange},
		{name: "negative below a dollar", item: `{"price":"-0.50","date":"1"}`, reason: ReasonPriceOutOfRange},
		{name: "plus sign", item: `{"price":"+1.00","date":"1"}`, reason: ReasonBadPrice},
		{name: "overflow", item: `{"price":"99999999999999999999.00","date":"1"}`, reason: ReasonPriceOutOfRange},
		{name: "too expensive", item: `{"price":"100000.01","date":"1"}`, reason: ReasonPriceOutOfRange},
		{name: "no price", item: `{"date":"1"}`, reason: ReasonMissingField},
		{name: "empty price", item: `{"price":"","date":"1"}`, reason: ReasonMissingField},
		{name: "price wrong type", item: `{"price":true,"date":"1"}`, reason: ReasonWrongType},
		{name: "no date", item: `{"price":"1.00"}`, reason: ReasonMissingField},
		{name: "bad date", item: `{"price":"1.00","date":"yesterday"}`, reason: ReasonBadTime},
		{name: "zero date", item: `{"price":"1.00","date":"0"}`, reason: ReasonBadTime},
		{name: "date wrong type", item: `{"price":"1.00","date":[]}`, reason: ReasonWrongType},
		{name: "not object", item: `[]`, reason: ReasonWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSales([]byte(`{"sales":[` + tc.item + `]}`))
			require.NoError(t, err)
			if tc.reason != "" {
				require.Empty(t, got.Items)
				require.Equal(t, Invalid{tc.reason: 1}, got.Invalid)
				return
			}
			require.Len(t, got.Items, 1)
			require.Equal(t, market.Cents(tc.want), got.Items[0].Price)
		})
	}
}

func TestDecodeFeesFixture(t *testing.T) {
	got, err := DecodeFees(readFixture(t, "customized-fees.json"))
	require.NoError(t, err)
	require.Equal(t, "0.05", got.Fraction)
	require.Equal(t, int64(1), got.MinCents)
	require.Empty(t, got.Invalid)
	require.Len(t, got.Reduced, 2)
	lo, hi := int64(500), int64(5000)
	require.Equal(t, ReducedFee{Title: "AK-47 | Redline (Field-Tested)", Fraction: "0.02", MinPriceCents: &lo,
		MaxPriceCents: &hi, ExpiresAt: time.Unix(1749600000, 0).UTC()}, got.Reduced[0])
	require.Nil(t, got.Reduced[1].MinPriceCents)
	require.Nil(t, got.Reduced[1].MaxPriceCents)
}

func TestDecodeFeesReducedRules(t *testing.T) {
	tests := []struct {
		name   string
		item   string
		reason Reason
	}{
		{name: "valid", item: `{"title":"A","fraction":"0.01","minPrice":"1","maxPrice":2,"expiresAt":"5"}`},
		{name: "zero fraction", item: `{"title":"A","fraction":"0"}`},
		{name: "empty bounds open", item: `{"title":"A","fraction":"0.01","minPrice":"","maxPrice":null,"expiresAt":0}`},
		{name: "no title", item: `{"fraction":"0.01"}`, reason: ReasonMissingField},
		{name: "no fraction", item: `{"title":"A"}`, reason: ReasonMissingField},
		{name: "fraction one", item: `{"title":"A","fraction":"1"}`, reason: ReasonBadFraction},
		{name: "fraction percent", item: `{"title":"A","fraction":"5"}`, reason: ReasonBadFraction},
		{name: "fraction letters", item: `{"title":"A","fraction":"0.0x"}`, reason: ReasonBadFraction},
		{name: "fraction dot", item: `{"title":"A","fraction":"0."}`, reason: ReasonBadFraction},
		{name: "fraction other", item: `{"title":"A","fraction":"01"}`, reason: ReasonBadFraction},
		{name: "fraction wrong type", item: `{"title":"A","fraction":{}}`, reason: ReasonWrongType},
		{name: "bad bound", item: `{"title":"A","fraction":"0.01","minPrice":"x"}`, reason: ReasonBadPrice},
		{name: "bound wrong type", item: `{"title":"A","fraction":"0.01","maxPrice":true}`, reason: ReasonWrongType},
		{name: "bad expiry", item: `{"title":"A","fraction":"0.01","expiresAt":"soon"}`, reason: ReasonBadTime},
		{name: "not object", item: `1`, reason: ReasonWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"defaultFee":{"fraction":"0.05","minAmount":"2","x":1},"reducedFees":[` + tc.item + `]}`
			got, err := DecodeFees([]byte(body))
			require.NoError(t, err)
			require.Equal(t, int64(2), got.MinCents)
			if tc.reason != "" {
				require.Empty(t, got.Reduced)
				require.Equal(t, Invalid{tc.reason: 1}, got.Invalid)
				return
			}
			require.Empty(t, got.Invalid)
			require.Len(t, got.Reduced, 1)
		})
	}
}

func TestDecodeFeesReducedNotArray(t *testing.T) {
	got, err := DecodeFees([]byte(`{"defaultFee":{"fraction":"0.07"},"reducedFees":null}`))
	require.NoError(t, err)
	require.Equal(t, "0.07", got.Fraction)
	require.Empty(t, got.Reduced)
}

func TestDecodeFeesReducedBounds(t *testing.T) {
	p := func(v int64) *int64 { return &v }
	tests := []struct {
		name     string
		bounds   string
		min, max *int64
		expires  time.Time
		reason   Reason
	}{
		{name: "both bounds", bounds: `"minPrice":500,"maxPrice":"5000"`, min: p(500), max: p(5000)},
		{name: "max at the price ceiling", bounds: `"maxPrice":10000000`, max: p(MaxPriceCents)},
		{name: "very wide max string is open", bounds: `"minPrice":"100","maxPrice":"100000000"`, min: p(100)},
		{name: "very wide max number is open", bounds: `"maxPrice":100000000`},
		{name: "max beyond int64 is open", bounds: `"maxPrice":"99999999999999999999999999"`},
		{name: "zero max is open", bounds: `"minPrice":"300","maxPrice":0`, min: p(300)},
		{name: "zero min is open", bounds: `"minPrice":"0","maxPrice":"700"`, max: p(700)},
		{name: "missing bounds are open", bounds: `"x":1`},
		{name: "null and empty bounds are open", bounds: `"minPrice":null,"maxPrice":""`},
		{name: "min above the ceiling applies to no price", bounds: `"minPrice":"100000000"`, min: p(100000000)},
		{name: "min beyond int64 saturates", bounds: `"minPrice":"99999999999999999999999999"`, min: p(math.MaxInt64)},
		{name: "expired entry kept with its expiry", bounds: `"maxPrice":"100000000","expiresAt":5`,
			expires: time.Unix(5, 0).UTC()},
		{name: "zero expiry means none", bounds: `"expiresAt":"0"`},
		{name: "negative min", bounds: `"minPrice":"-1"`, reason: ReasonPriceOutOfRange},
		{name: "negative max", bounds: `"maxPrice":-100000000`, reason: ReasonPriceOutOfRange},
		{name: "decimal max", bounds: `"maxPrice":"10.5"`, reason: ReasonBadPrice},
		{name: "exponent max", bounds: `"maxPrice":1e8`, reason: ReasonBadPrice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"defaultFee":{"fraction":"0.05","minAmount":1},"reducedFees":[{"title":"A","fraction":"0.02",` +
				tc.bounds + `}]}`
			got, err := DecodeFees([]byte(body))
			require.NoError(t, err)
			if tc.reason != "" {
				require.Empty(t, got.Reduced)
				require.Equal(t, Invalid{tc.reason: 1}, got.Invalid)
				return
			}
			require.Empty(t, got.Invalid)
			require.Equal(t, []ReducedFee{{Title: "A", Fraction: "0.02", MinPriceCents: tc.min, MaxPriceCents: tc.max,
				ExpiresAt: tc.expires}}, got.Reduced)
		})
	}
}
