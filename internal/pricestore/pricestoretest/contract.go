// Package pricestoretest holds the contract of the market store the worker writes through: what the
// worker and the readers rely on from pricestore.Store, checked against it and against every store that
// stands in for it.
package pricestoretest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/worker"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// Store is the worker's port to the market store (implemented by *pricestore.Store).
type Store = worker.Store

// Reader reads back what a Store wrote (implemented by *pricestore.Store).
type Reader interface {
	Title(ctx context.Context, title string) (pricestore.Prices, bool, error)
	Order(ctx context.Context, title string) (pricestore.OrderValue, bool, error)
	History(ctx context.Context, title string) (pricestore.HistoryValue, bool, error)
	Fees(ctx context.Context, game string) (pricestore.FeesValue, bool, error)
}

// Subject is a store under test, empty when made.
type Subject struct {
	Store Store
	Read  Reader
	// Now is the time on the store's clock; the suite writes values fetched shortly before it.
	Now time.Time
}

const game = "a8db"

// Contract checks the behaviour the worker and the readers rely on against the subjects newSubject
// makes: every value is compare-and-set by its fetch time, so a redelivered message changes nothing and
// an older one never overwrites a newer one; the pages of one range crawl add up; a title without buy
// order or sales loses its key; a history's float curves and per-phase analyses read back exactly.
func Contract(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("listings by fetch time", func(t *testing.T) { listingsByFetchTime(t, newSubject(t)) })
	t.Run("crawl pages add up", func(t *testing.T) { crawlPagesAddUp(t, newSubject(t)) })
	t.Run("orders by fetch time", func(t *testing.T) { ordersByFetchTime(t, newSubject(t)) })
	t.Run("history by fetch time", func(t *testing.T) { historyByFetchTime(t, newSubject(t)) })
	t.Run("history keeps float curves and phases", func(t *testing.T) { historyAttributes(t, newSubject(t)) })
	t.Run("fees by fetch time", func(t *testing.T) { feesByFetchTime(t, newSubject(t)) })
}

// listing returns a tradable listing of title at price.
func listing(title string, price int64) validate.Listing {
	return validate.Listing{ItemID: title, Title: title, GameID: game, PriceCents: price}
}

// repeat returns n copies of l.
func repeat(l validate.Listing, n int) []validate.Listing {
	out := make([]validate.Listing, n)
	for i := range out {
		out[i] = l
	}
	return out
}

// requireCount requires title's tradable level at price to count n listings (0: no such level).
func requireCount(t *testing.T, r Reader, title string, price int64, n int) {
	t.Helper()
	p, _, err := r.Title(context.Background(), title)
	require.NoError(t, err)
	got := 0
	for _, l := range p.Available {
		if l.PriceCents == price {
			got = l.Count
		}
	}
	require.Equal(t, n, got, "%s at %d", title, price)
}

func listingsByFetchTime(t *testing.T, s Subject) {
	ctx := context.Background()
	at := s.Now.Add(-time.Minute)
	write := func(fetched time.Time, n int) {
		t.Helper()
		_, err := s.Store.ApplyListings(ctx, pricestore.ListingsPage{Game: game, FetchedAt: fetched, Items: repeat(listing("A", 100), n)})
		require.NoError(t, err)
	}
	write(at, 2)
	requireCount(t, s.Read, "A", 100, 2)
	write(at, 2)
	requireCount(t, s.Read, "A", 100, 2)
	write(at.Add(-time.Second), 5)
	requireCount(t, s.Read, "A", 100, 2)
	write(at.Add(time.Second), 3)
	requireCount(t, s.Read, "A", 100, 3)
	a, err := s.Store.ApplyListings(ctx, pricestore.ListingsPage{Game: game, FetchedAt: at})
	require.NoError(t, err)
	require.Zero(t, a.Titles, "an empty page writes nothing")
	require.Empty(t, a.Changed)
}

func crawlPagesAddUp(t *testing.T, s Subject) {
	ctx := context.Background()
	at := s.Now.Add(-time.Minute)
	page := func(cycle int64, idx, n int) {
		t.Helper()
		_, err := s.Store.ApplyListings(ctx, pricestore.ListingsPage{Game: game, FetchedAt: at,
			Crawl: &message.Crawl{Range: "0-1000", Cycle: cycle, Page: idx}, Items: repeat(listing("A", 100), n)})
		require.NoError(t, err)
	}
	page(10, 0, 2)
	page(10, 1, 3)
	page(10, 1, 3)
	requireCount(t, s.Read, "A", 100, 5)
	page(9, 2, 7)
	requireCount(t, s.Read, "A", 100, 5)
	page(11, 0, 1)
	requireCount(t, s.Read, "A", 100, 1)
}

func ordersByFetchTime(t *testing.T, s Subject) {
	ctx := context.Background()
	at := s.Now.Add(-time.Minute)
	write := func(fetched time.Time, o validate.Order) {
		t.Helper()
		_, _, err := s.Store.WriteOrdersChanged(ctx, fetched, []validate.Order{o})
		require.NoError(t, err)
	}
	read := func() (int64, bool) {
		t.Helper()
		v, ok, err := s.Read.Order(ctx, "A")
		require.NoError(t, err)
		return v.Price, ok
	}
	write(at, validate.Order{Title: "A", HasOrder: true, PriceCents: 1251, Count: 3})
	write(at, validate.Order{Title: "A", HasOrder: true, PriceCents: 1251, Count: 3})
	write(at.Add(-time.Second), validate.Order{Title: "A", HasOrder: true, PriceCents: 1, Count: 1})
	price, ok := read()
	require.True(t, ok)
	require.Equal(t, int64(1251), price)
	write(at.Add(time.Second), validate.Order{Title: "A"})
	_, ok = read()
	require.False(t, ok, "a newer answer without buy order removes it")
}

func historyByFetchTime(t *testing.T, s Subject) {
	ctx := context.Background()
	at := s.Now.Add(-time.Minute)
	write := func(fetched time.Time, h *market.History) {
		t.Helper()
		_, _, err := s.Store.WriteHistoryChanged(ctx, "A", fetched, h)
		require.NoError(t, err)
	}
	read := func() (int, bool) {
		t.Helper()
		v, ok, err := s.Read.History(ctx, "A")
		require.NoError(t, err)
		return v.SoldPerWeek, ok
	}
	write(at, &market.History{SoldPerWeek: 7, Probability: map[market.Cents]int{100: 100}})
	write(at.Add(-time.Second), &market.History{SoldPerWeek: 1})
	sold, ok := read()
	require.True(t, ok)
	require.Equal(t, 7, sold)
	write(at.Add(time.Second), nil)
	_, ok = read()
	require.False(t, ok, "a newer message without sales removes it")
}

func historyAttributes(t *testing.T, s Subject) {
	ctx := context.Background()
	curve := &market.FloatCurve{Buckets: []market.FloatBucket{{MaxFloat: 0.30000000000000004, Price: 900, Sales: 5},
		{MaxFloat: 0.37, Price: 800, Sales: 7}}}
	plain := &market.History{SoldPerWeek: 12, Probability: map[market.Cents]int{800: 100}, Float: curve}
	phased := &market.History{SoldPerWeek: 9, Probability: map[market.Cents]int{700: 100}, Phases: map[market.Phase]*market.History{
		market.PhaseRuby: {Stable: true, SoldPerWeek: 4, Probability: map[market.Cents]int{9000: 100}, Float: curve},
		market.Phase1:    {SoldPerWeek: 5, Probability: map[market.Cents]int{700: 100}},
	}}
	for title, h := range map[string]*market.History{"A": plain, "★ Karambit | Doppler (Factory New)": phased} {
		_, changed, err := s.Store.WriteHistoryChanged(ctx, title, s.Now.Add(-time.Minute), h)
		require.NoError(t, err)
		require.True(t, changed)
		v, ok, err := s.Read.History(ctx, title)
		require.NoError(t, err)
		require.True(t, ok)
		got := v.History()
		require.Equal(t, h.Float, got.Float, title)
		require.Equal(t, h.Phases, got.Phases, title)
	}
}

func feesByFetchTime(t *testing.T, s Subject) {
	ctx := context.Background()
	at := s.Now.Add(-time.Minute)
	write := func(fetched time.Time, fraction string) {
		t.Helper()
		_, err := s.Store.WriteFees(ctx, game, fetched, validate.Fees{Fraction: fraction, MinCents: 1,
			Reduced: []validate.ReducedFee{{Title: "A", Fraction: "0.02"}}})
		require.NoError(t, err)
	}
	write(at, "0.05")
	write(at.Add(-time.Second), "0.09")
	v, ok, err := s.Read.Fees(ctx, game)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, market.Fees{Fraction: "0.05", Min: 1, Reduced: []market.ReducedFee{{Title: "A", Fraction: "0.02"}}}, v.Fees())
	write(at.Add(time.Second), "0.07")
	v, _, err = s.Read.Fees(ctx, game)
	require.NoError(t, err)
	require.Equal(t, "0.07", v.Fraction)
}
