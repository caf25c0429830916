package dmarket

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestDecodeMarketItemsFixtures(t *testing.T) {
	page, err := DecodeMarketItems(fixture(t, "market-items-page.json"))
	require.NoError(t, err)
	require.Equal(t, 10000, page.TotalItems)
	require.NotEmpty(t, page.Cursor)
	require.Zero(t, page.Invalid)
	require.Len(t, page.Items, 5)
	prices := make([]market.Cents, 0, len(page.Items))
	for _, it := range page.Items {
		prices = append(prices, it.PriceCents)
	}
	require.Equal(t, []market.Cents{1289, 2874, 10250, 3, 62917}, prices)
	require.Equal(t, market.Cents(3), page.MinPriceCents)
	require.Equal(t, market.Cents(62917), page.MaxPriceCents)
	require.Equal(t, []string{
		"AK-47 | Redline (Field-Tested)",
		"StatTrak™ MP9 | Hydra (Minimal Wear)",
		"AWP | Asiimov (Field-Tested)",
		"Sticker | Battle Scarred",
		"★ Sport Gloves | Vice (Battle-Scarred)",
	}, page.Titles)

	awp := page.Items[2]
	require.False(t, awp.Tradable)
	require.True(t, awp.Locked())
	require.Equal(t, 5, awp.LockDays)
	require.Equal(t, int64(470312), awp.LockSeconds)
	require.Equal(t, "fb98289b-e6e4-4f89-a86c-065db70ebd13", awp.OfferID)
	require.Equal(t, "2f10414a-faaf-43ad-a762-a74dffbb5d22", awp.ItemID)
	require.Equal(t, market.Cents(10990), awp.SuggestedCents)
	require.Equal(t, time.Unix(1749551310, 0).UTC(), awp.CreatedAt)

	ak := page.Items[0]
	require.True(t, ak.Tradable)
	require.False(t, ak.Locked())
	require.Zero(t, ak.LockDays)

	last, err := DecodeMarketItems(fixture(t, "market-items-last-page.json"))
	require.NoError(t, err)
	require.Empty(t, last.Cursor)
	require.Equal(t, 7, last.TotalItems)
	require.Len(t, last.Items, 2)
	require.Equal(t, []string{"AWP | Asiimov (Field-Tested)"}, last.Titles)
	sub := last.Items[1]
	require.True(t, sub.Locked(), "a lock under a day has no tradeLock key but is still locked")
	require.Zero(t, sub.LockDays)
	require.Equal(t, int64(58213), sub.LockSeconds)
}

func TestDecodeAggregatedPricesFixture(t *testing.T) {
	got, err := DecodeAggregatedPrices(fixture(t, "aggregated-prices.json"))
	require.NoError(t, err)
	require.Empty(t, got.NextCursor)
	require.Equal(t, []AggregatedPrice{
		{Order: market.BuyOrder{Title: "AK-47 | Redline (Field-Tested)", Price: 1251, Count: 143}, AskCents: 1289, AskCount: 612, HasAsk: true},
		{Order: market.BuyOrder{Title: "AWP | Asiimov (Field-Tested)", Price: 9720, Count: 38}, AskCents: 10130, AskCount: 97, HasAsk: true},
		{Order: market.BuyOrder{Title: "Sticker | Battle Scarred", Price: 2, Count: 5}, AskCents: 3, AskCount: 1890, HasAsk: true},
	}, got.Orders)
}

func TestDecodeLastSalesFixture(t *testing.T) {
	got, err := DecodeLastSales(fixture(t, "last-sales.json"))
	require.NoError(t, err)
	require.Zero(t, got.Invalid)
	require.Len(t, got.Sales, 20)
	require.Equal(t, Sale{Sale: market.Sale{Price: 1257, At: time.Unix(1749568028, 0).UTC(),
		Attrs: market.Attributes{Float: 0.178656073, HasFloat: true, PaintSeed: 106, HasSeed: true}}, TxOperationType: "Target"}, got.Sales[0])
	require.Equal(t, Sale{Sale: market.Sale{Price: 1331, At: time.Unix(1748743786, 0).UTC(),
		Attrs: market.Attributes{Float: 0.2098089657, HasFloat: true, PaintSeed: 462, HasSeed: true}}, TxOperationType: "Offer"}, got.Sales[19])
	require.Zero(t, got.BadAttrs)
	for i := 1; i < len(got.Sales); i++ {
		require.False(t, got.Sales[i].At.After(got.Sales[i-1].At), "newest first")
	}
	require.Equal(t, market.Cents(1290), got.Sales[15].Price, `"12.90" is 1290 cents`)
}

func TestDecodeCustomizedFeesFixture(t *testing.T) {
	got, err := DecodeCustomizedFees(fixture(t, "customized-fees.json"))
	require.NoError(t, err)
	require.Equal(t, Fee{Fraction: "0.05", FractionValue: 0.05, MinAmountCents: 1}, got.Default)
	require.Equal(t, []ReducedFee{
		{Title: "AK-47 | Redline (Field-Tested)", Fraction: "0.02", FractionValue: 0.02, MinPriceCents: 100, MaxPriceCents: 5000, ExpiresAt: time.Unix(1749686400, 0).UTC()},
		{Title: "Sticker | Battle Scarred", Fraction: "0.03", FractionValue: 0.03, MinPriceCents: 1, MaxPriceCents: 100, ExpiresAt: time.Unix(1749686400, 0).UTC()},
	}, got.Reduced)
}

func TestDecodeRejectsUnexpectedBodies(t *testing.T) {
	decoders := map[string]func([]byte) error{
		"market items": func(b []byte) error { _, err := DecodeMarketItems(b); return err },
		"aggregated":   func(b []byte) error { _, err := DecodeAggregatedPrices(b); return err },
		"last sales":   func(b []byte) error { _, err := DecodeLastSales(b); return err },
		"fees":         func(b []byte) error { _, err := DecodeCustomizedFees(b); return err },
	}
	bodies := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"html", "<html>502 Bad Gateway</html>"},
		{"array", "[]"},
		{"null", "null"},
		{"truncated", `{"objects":[{"itemId":"x`},
		{"empty object", "{}"},
		{"error body", `{"code":"BadRequest","message":"limit: must be no greater than 100."}`},
	}
	for dname, dec := range decoders {
		for _, b := range bodies {
			t.Run(dname+"/"+b.name, func(t *testing.T) {
				err := dec([]byte(b.body))
				require.Error(t, err)
				require.ErrorIs(t, err, errDecode)
			})
		}
	}
}

func TestDecodeCountsInvalidRows(t *testing.T) {
	tests := []struct {
		name    string
		run     func() (valid, invalid int, err error)
		valid   int
		invalid int
	}{
		{"market items bad price", func() (int, int, error) {
			p, err := DecodeMarketItems([]byte(`{"objects":[{"title":"A","price":{"USD":"12x"}},{"title":"B","price":{"USD":"5"}},{"price":{"USD":"5"}},{"title":"C"},"junk",{"title":"D","price":{"USD":"-1"}}],"cursor":""}`))
			if err != nil {
				return 0, 0, err
			}
			return len(p.Items), p.Invalid, nil
		}, 1, 5},
		{"market items null objects", func() (int, int, error) {
			p, err := DecodeMarketItems([]byte(`{"objects":null,"cursor":""}`))
			if err != nil {
				return 0, 0, err
			}
			return len(p.Items), p.Invalid, nil
		}, 0, 0},
		{"aggregated missing bid and bad amounts", func() (int, int, error) {
			p, err := DecodeAggregatedPrices([]byte(`{"aggregatedPrices":[{"title":"A","offerBestPrice":{"Currency":"USD","Amount":"10"},"offerCount":"2","orderCount":"7"},{"title":"B","orderBestPrice":{"Currency":"USD","Amount":"1.5"}},{"title":"C","offerBestPrice":{"Currency":"EUR","Amount":"1"}},{"orderCount":"1"},{"title":"D","orderCount":"x"}],"nextCursor":""}`))
			if err != nil {
				return 0, 0, err
			}
			require.False(t, p.Orders[0].Order.Exists())
			require.Zero(t, p.Orders[0].Order.Count, "no bid means no bid count")
			require.True(t, p.Orders[0].HasAsk)
			return len(p.Orders), p.Invalid, nil
		}, 1, 4},
		{"last sales bad rows", func() (int, int, error) {
			p, err := DecodeLastSales([]byte(`{"sales":[{"price":"1.00","date":"10"},{"price":"abc","date":"10"},{"price":"1.00","date":"x"},{"price":"1.00"},{"price":"-1.00","date":"10"}]}`))
			if err != nil {
				return 0, 0, err
			}
			return len(p.Sales), p.Invalid, nil
		}, 1, 4},
		{"fees bad reduced rows", func() (int, int, error) {
			p, err := DecodeCustomizedFees([]byte(`{"defaultFee":{"fraction":"0.1","minAmount":"2"},"reducedFees":[{"title":"A","fraction":"0.02","minPrice":1,"maxPrice":9},{"title":"B","fraction":"2"},{"fraction":"0.01"},{"title":"C","fraction":"0.01","minPrice":-1}]}`))
			if err != nil {
				return 0, 0, err
			}
			require.Equal(t, market.Cents(2), p.Default.MinAmountCents, "a numeric string is accepted")
			return len(p.Reduced), p.Invalid, nil
		}, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			valid, invalid, err := tt.run()
			require.NoError(t, err)
			require.Equal(t, tt.valid, valid)
			require.Equal(t, tt.invalid, invalid)
		})
	}
}

func TestDecodeCustomizedFeesRejectsBadDefault(t *testing.T) {
	for _, body := range []string{
		`{"defaultFee":{"fraction":"","minAmount":1}}`,
		`{"defaultFee":{"fraction":"1.5","minAmount":1}}`,
		`{"defaultFee":{"fraction":"0.05","minAmount":-1}}`,
		`{"defaultFee":{"fraction":"NaN","minAmount":1}}`,
	} {
		_, err := DecodeCustomizedFees([]byte(body))
		require.ErrorIs(t, err, errDecode, body)
	}
}

func TestParseDollarsToCents(t *testing.T) {
	tests := []struct {
		in      string
		want    market.Cents
		wantErr bool
	}{
		{"12.57", 1257, false},
		{"12.5", 1250, false},
		{"12", 1200, false},
		{"0.03", 3, false},
		{"0.00", 0, false},
		{"12.575", 1258, false},
		{"12.574", 1257, false},
		{"", 0, true},
		{".5", 0, true},
		{"12.", 0, true},
		{"-1.00", 0, true},
		{"1e3", 0, true},
		{"12.34.5", 0, true},
		{"99999999999", 0, true},
		{"1,50", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDollars(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name, body, code, msg string
		ok                    bool
	}{
		{"exchange", string(fixture(t, "error-400-bad-request.json")), "BadRequest", "limit: must be no greater than 100.", true},
		{"marketplace", `{"Code":"Unauthorized","Message":"Unauthorized"}`, "Unauthorized", "Unauthorized", true},
		{"grpc gateway", `{"code":16,"message":"unauthenticated","details":[]}`, "16", "unauthenticated", true},
		{"kong", string(fixture(t, "error-429-rate-limit.json")), "", "API rate limit exceeded", true},
		{"error key", `{"error":"boom"}`, "", "boom", true},
		{"not json", `<html>`, "", "", false},
		{"empty object", `{}`, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, ok := DecodeError([]byte(tt.body))
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.code, code)
			require.Equal(t, tt.msg, msg)
		})
	}
}
