package crawler

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
)

// DMarketAPI adapts the DMarket client to the crawler's API.
type DMarketAPI struct{ c *dmarket.Client }

// NewDMarketAPI returns the crawler's view of c.
func NewDMarketAPI(c *dmarket.Client) DMarketAPI { return DMarketAPI{c: c} }

// MarketItems fetches through the client.
func (a DMarketAPI) MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error) {
	p, err := a.c.MarketItems(ctx, dmarket.MarketItemsQuery{
		GameID: q.GameID, PriceFrom: q.PriceFrom, PriceTo: q.PriceTo, Cursor: q.Cursor,
		Title: q.Title, OrderBy: q.OrderBy, OrderDir: q.OrderDir, Limit: q.Limit,
	}, q.Signed)
	if err != nil {
		return ListingsPage{}, err
	}
	page := ListingsPage{
		Result: Result{Raw: p.Raw, Request: p.Request},
		Cursor: p.Cursor, Items: len(p.Items) + p.Invalid, Titles: p.Titles, LastPrice: int64(p.MaxPriceCents),
	}
	if q.WithKeys {
		page.Keys, page.KeyTitles = make([]string, len(p.Items)), make([]string, len(p.Items))
		for i, it := range p.Items {
			page.Keys[i], page.KeyTitles[i] = ListingKey(it.ItemID, int64(it.PriceCents)), it.Title
		}
	}
	return page, nil
}

// ListingKey identifies a listing at its price in ListingsPage.Keys: a listing repriced is news again.
func ListingKey(itemID string, cents int64) string {
	return itemID + "@" + strconv.FormatInt(cents, 10)
}

// AggregatedPrices fetches through the client.
func (a DMarketAPI) AggregatedPrices(ctx context.Context, game string, titles []string) (Result, error) {
	r, err := a.c.AggregatedPrices(ctx, game, titles)
	if err != nil {
		return Result{}, err
	}
	return Result{Raw: r.Raw, Request: r.Request}, nil
}

// LastSales fetches through the client.
func (a DMarketAPI) LastSales(ctx context.Context, game, title string, offset, limit int) (SalesPage, error) {
	r, err := a.c.LastSales(ctx, game, title, offset, limit)
	if err != nil {
		return SalesPage{}, err
	}
	var raw struct {
		Sales []json.RawMessage `json:"sales"`
	}
	if err := json.Unmarshal(r.Raw, &raw); err != nil {
		return SalesPage{}, fmt.Errorf("last sales: %w", err)
	}
	p := SalesPage{Result: Result{Raw: r.Raw, Request: r.Request}}
	for _, s := range raw.Sales {
		p.Sales = append(p.Sales, s)
	}
	for _, s := range r.Sales {
		if p.Oldest.IsZero() || s.At.Before(p.Oldest) {
			p.Oldest = s.At
		}
	}
	return p, nil
}

// CustomizedFees fetches through the client.
func (a DMarketAPI) CustomizedFees(ctx context.Context, game string) (Result, error) {
	r, err := a.c.CustomizedFees(ctx, game)
	if err != nil {
		return Result{}, err
	}
	return Result{Raw: r.Raw, Request: r.Request}, nil
}

// PoolEgress lets the DMarket client send through the proxy pool.
type PoolEgress struct{ pool *proxy.Pool }

// NewPoolEgress returns p as the DMarket client's egress.
func NewPoolEgress(p *proxy.Pool) PoolEgress { return PoolEgress{pool: p} }

// Acquire takes an egress from the pool; its lease is the client's.
func (p PoolEgress) Acquire(ctx context.Context, limited bool) (dmarket.Lease, error) {
	l, err := p.pool.Acquire(ctx, limited)
	if err != nil {
		return nil, err
	}
	return l, nil
}
