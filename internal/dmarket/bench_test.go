package dmarket

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
)

// BenchmarkDecodeMarketItems decodes one full 100-listing page as the simulator renders it.
func BenchmarkDecodeMarketItems(b *testing.B) {
	sim := dmarkettest.New(dmarkettest.Config{Titles: 50, ListingsPerTitle: 10, PublicMarketRate: -1})
	defer sim.Close()
	c := newTestClient(b, sim.URL(), Config{}, nil)
	page, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(b, err)
	require.Len(b, page.Items, 100)
	b.SetBytes(int64(len(page.Raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMarketItems(page.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarketItemsCall is one unsigned page request through the client against the simulator.
func BenchmarkMarketItemsCall(b *testing.B) {
	sim := dmarkettest.New(dmarkettest.Config{Titles: 2000, ListingsPerTitle: 100, PublicMarketRate: -1})
	defer sim.Close()
	c := newTestClient(b, sim.URL(), Config{}, nil)
	all := sim.Catalogue().Listings("a8db")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		from := all[(i*7919)%len(all)].PriceCents
		i++
		if _, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db", PriceFrom: from}, false); err != nil {
			b.Fatal(err)
		}
	}
}
