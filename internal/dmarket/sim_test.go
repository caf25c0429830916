package dmarket

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func newSim(t *testing.T, mod func(*dmarkettest.Config)) *dmarkettest.Server {
	t.Helper()
	pub, _ := dmarkettest.DemoKeys()
	cfg := dmarkettest.Config{Seed: 3, Simple: true, Titles: 150, ListingsPerTitle: 6, PublicKeys: []string{pub},
		PublicMarketRate: -1, PublicOtherRate: -1, AccountListingsRate: -1, AccountSalesRate: -1, AccountOtherRate: -1}
	if mod != nil {
		mod(&cfg)
	}
	s := dmarkettest.New(cfg)
	t.Cleanup(s.Close)
	return s
}

func demoSignerFor(t *testing.T) *Signer {
	pub, sec := dmarkettest.DemoKeys()
	s, err := NewSigner(pub, sec)
	require.NoError(t, err)
	return s
}

func TestCrawlSimulatorInPriceRanges(t *testing.T) {
	sim := newSim(t, nil)
	c := newTestClient(t, sim.URL(), Config{}, nil)
	all := sim.Catalogue().Listings("a8db")
	split := market.Cents(all[len(all)/2].PriceCents)
	ranges := [][2]market.Cents{{0, split}, {split + 1, 0}}
	got := map[string]MarketItem{}
	for _, rg := range ranges {
		cursor := ""
		for pages := 0; pages < 100; pages++ {
			p, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db", PriceFrom: int64(rg[0]), PriceTo: int64(rg[1]), Cursor: cursor}, false)
			require.NoError(t, err)
			require.Zero(t, p.Invalid)
			for _, it := range p.Items {
				_, dup := got[it.ItemID]
				require.False(t, dup, "listing %s twice", it.ItemID)
				got[it.ItemID] = it
				require.GreaterOrEqual(t, it.PriceCents, rg[0])
				if rg[1] > 0 {
					require.LessOrEqual(t, it.PriceCents, rg[1])
				}
			}
			if len(p.Items) > 0 {
				require.Equal(t, p.Items[0].PriceCents, p.MinPriceCents)
				require.Equal(t, p.Items[len(p.Items)-1].PriceCents, p.MaxPriceCents)
			}
			if cursor = p.Cursor; cursor == "" {
				break
			}
		}
		require.Empty(t, cursor, "every chain ends")
	}
	require.Len(t, got, len(all))
	for _, l := range all {
		it := got[l.ItemID]
		require.Equal(t, market.Cents(l.PriceCents), it.PriceCents)
		require.Equal(t, l.OfferID, it.OfferID)
		require.Equal(t, l.Title, it.Title)
		require.Equal(t, l.Tradable(), !it.Locked())
		require.Equal(t, l.LockDays(), it.LockDays)
		require.Equal(t, l.LockSeconds, it.LockSeconds)
		require.Equal(t, market.Cents(l.SuggestedCents), it.SuggestedCents)
		require.Equal(t, l.CreatedAt.Unix(), it.CreatedAt.Unix())
	}
}

func TestSignedEndpointsAgainstSimulator(t *testing.T) {
	sim := newSim(t, nil)
	c := newTestClient(t, sim.URL(), Config{}, nil, WithSigner(demoSignerFor(t)))
	ctx := context.Background()
	cat := sim.Catalogue()
	titles := cat.Titles["a8db"]

	names := make([]string, 0, 100)
	for _, ti := range titles[:100] {
		names = append(names, ti.Name)
	}
	agg, err := c.AggregatedPrices(ctx, "a8db", names)
	require.NoError(t, err)
	require.Len(t, agg.Orders, 100)
	for i, o := range agg.Orders {
		ti := titles[i]
		require.Equal(t, ti.Name, o.Order.Title)
		require.Equal(t, market.Cents(ti.Listings[0].PriceCents), o.AskCents)
		require.Equal(t, len(ti.Listings), o.AskCount)
		if ti.BuyOrder == nil {
			require.False(t, o.Order.Exists())
			continue
		}
		require.True(t, o.Order.Exists())
		require.Equal(t, market.Cents(ti.BuyOrder.PriceCents), o.Order.Price)
		require.Equal(t, ti.BuyOrder.Count, o.Order.Count)
	}

	var stable *dmarkettest.Title
	for _, ti := range titles {
		if ti.Stable {
			stable = ti
			break
		}
	}
	require.NotNil(t, stable)
	var sales []Sale
	for offset := 0; ; offset += 20 {
		res, err := c.LastSales(ctx, "a8db", stable.Name, offset, 20)
		require.NoError(t, err)
		if len(res.Sales) == 0 {
			break
		}
		sales = append(sales, res.Sales...)
	}
	require.Len(t, sales, len(stable.Sales))
	for i, s := range stable.Sales {
		require.Equal(t, market.Cents(s.PriceCents), sales[i].Price, "decimal dollars become the same cents")
		require.Equal(t, s.Date.Unix(), sales[i].At.Unix())
		require.Equal(t, s.TxOperationType, sales[i].TxOperationType)
	}

	fees, err := c.CustomizedFees(ctx, "a8db")
	require.NoError(t, err)
	want := cat.Fees["a8db"]
	require.Equal(t, want.DefaultFraction, fees.Default.Fraction)
	require.Equal(t, market.Cents(want.MinAmountCents), fees.Default.MinAmountCents)
	require.Len(t, fees.Reduced, len(want.Reduced))
	for i, r := range want.Reduced {
		require.Equal(t, r.Title, fees.Reduced[i].Title)
		require.Equal(t, market.Cents(r.MaxPriceCents), fees.Reduced[i].MaxPriceCents)
		require.Equal(t, r.ExpiresAt.Unix(), fees.Reduced[i].ExpiresAt.Unix())
	}

	page, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", Limit: 10}, true)
	require.NoError(t, err)
	require.Len(t, page.Items, 10)
	require.Zero(t, sim.Stats().Unauthorized)
}

func TestSimulatorRefusesWrongAndStaleKeys(t *testing.T) {
	sim := newSim(t, nil)
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	wrong, err := NewSigner(hex.EncodeToString(priv.Public().(ed25519.PublicKey)), hex.EncodeToString(priv))
	require.NoError(t, err)
	c := newTestClient(t, sim.URL(), Config{}, nil, WithSigner(wrong))
	_, err = c.LastSales(context.Background(), "a8db", "x", 0, 20)
	require.ErrorIs(t, err, ErrAuth)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "16", e.Code)
	_, err = c.LastSales(context.Background(), "a8db", "x", 0, 20)
	require.ErrorIs(t, err, ErrEndpointStopped)
	_, err = c.AggregatedPrices(context.Background(), "a8db", []string{"x"})
	require.ErrorIs(t, err, ErrAuth)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "Unauthorized", e.Code, "PascalCase body parsed")

	skewed := newTestClient(t, sim.URL(), Config{}, clocktest.NewFake(time.Now().Add(-5*time.Minute)), WithSigner(demoSignerFor(t)))
	_, err = skewed.CustomizedFees(context.Background(), "a8db")
	require.ErrorIs(t, err, ErrAuth, "a stale X-Sign-Date is refused")
}

func TestSimulatorRateLimitReachesTheClient(t *testing.T) {
	sim := newSim(t, func(c *dmarkettest.Config) { c.PublicMarketRate = 0.5 })
	c := newTestClient(t, sim.URL(), Config{MaxAttempts: 1}, nil)
	var limited error
	for i := 0; i < 3 && limited == nil; i++ {
		_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db", Limit: 1}, false)
		if err != nil {
			limited = err
		}
	}
	require.ErrorIs(t, limited, ErrRateLimited)
	require.GreaterOrEqual(t, RetryAfter(limited), time.Second)
	require.Equal(t, Throttled, c.egress.released()[len(c.egress.released())-1])
	require.Positive(t, sim.Stats().RateLimited["127.0.0.1"])
}

func TestSimulatorFaultsThroughTheClient(t *testing.T) {
	sim := newSim(t, nil)
	c := newTestClient(t, sim.URL(), Config{BreakerFailures: 3, BreakerOpenFor: time.Hour}, nil)
	ctx := context.Background()
	q := MarketItemsQuery{GameID: "a8db", Limit: 5}

	sim.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{MalformedRate: 1})
	_, err := c.MarketItems(ctx, q, false)
	require.ErrorIs(t, err, ErrBadBody)
	require.Equal(t, BreakerClosed, c.BreakerState(EndpointMarketItems), "bad bodies do not trip the breaker")

	sim.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{ServerErrorRate: 1})
	_, err = c.MarketItems(ctx, q, false)
	require.ErrorIs(t, err, ErrServer)
	require.Equal(t, BreakerOpen, c.BreakerState(EndpointMarketItems))

	c2 := newTestClient(t, sim.URL(), Config{}, nil)
	sim.SetFault(dmarkettest.EndpointMarketItems, dmarkettest.Fault{Gone: true})
	before := sim.Stats().ByEndpoint[dmarkettest.EndpointMarketItems]
	_, err = c2.MarketItems(ctx, q, false)
	require.ErrorIs(t, err, ErrGone)
	require.Equal(t, before+1, sim.Stats().ByEndpoint[dmarkettest.EndpointMarketItems], "410 is never retried")
}
