package validate

import (
	"os"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// goccyPage is a listings page with only the fields DecodeListings reads, for github.com/goccy/go-json.
// Unlike DecodeListings it cannot drop one invalid item (a wrong type fails the whole page) and it does
// not validate: its time is a lower bound of what a validating decoder on it would take.
type goccyPage struct {
	Objects []struct {
		ItemID string `json:"itemId"`
		Title  string `json:"title"`
		GameID string `json:"gameId"`
		Image  string `json:"image"`
		Price  struct {
			USD string `json:"USD"`
		} `json:"price"`
		SuggestedPrice struct {
			USD string `json:"USD"`
		} `json:"suggestedPrice"`
		Extra struct {
			Tradable          *bool `json:"tradable"`
			TradeLock         int64 `json:"tradeLock"`
			TradeLockDuration int64 `json:"tradeLockDuration"`
		} `json:"extra"`
	} `json:"objects"`
	Cursor string `json:"cursor"`
}

// BenchmarkListingsDecoder compares the hand-written scanner (DecodeListings: decode and validate every
// item per SPEC §5.1) with github.com/goccy/go-json decoding the same page into the fields it needs,
// without any validation. The scanner is kept unless goccy is faster even before validating.
func BenchmarkListingsDecoder(b *testing.B) {
	page, err := os.ReadFile("testdata/market-items-page.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(page)))
		for i := 0; i < b.N; i++ {
			p, err := DecodeListings(page, market.GameCS2)
			if err != nil || len(p.Items) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("goccy-go-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(page)))
		for i := 0; i < b.N; i++ {
			var p goccyPage
			if err := gojson.Unmarshal(page, &p); err != nil || len(p.Objects) == 0 {
				b.Fatal(err)
			}
		}
	})
}
