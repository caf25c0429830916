// Package crawler owns the parser's crawl: it splits each game's market into price ranges crawled in
// parallel (one cursor chain each), publishes every page as it arrives (the final page of a completed
// range crawl marked last), learns range boundaries so that chains stay short, paces cycles, fetches buy
// orders for the titles it saw, fees once a day and sales per title from the shared schedule. Beside the
// range crawl, two lanes spend fixed shares of the listings budget (lanes.go): the fresh lane polls each
// game's newest listings, the watch lane scans the titles of the shared watchlist; with keys, the buy
// orders of the titles they find follow at once (orders.go).
package crawler

import (
	"context"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// ListingsQuery asks for one page of a game's listings in an inclusive cents price range.
type ListingsQuery struct {
	// GameID is the DMarket game id.
	GameID string
	// PriceFrom is the lowest price in cents (inclusive).
	PriceFrom int64
	// PriceTo is the highest price in cents (inclusive); 0 means no upper bound.
	PriceTo int64
	// Cursor continues a chain; empty starts it.
	Cursor string
	// Signed spends the account's signed budget instead of an egress's per-IP budget.
	Signed bool
	// Title narrows the search to one title (the watch lane's scans); empty for every title.
	Title string
	// OrderBy and OrderDir choose the order: dmarket.OrderByPrice ascending when empty (the range crawl),
	// dmarket.OrderByUpdated descending for the fresh lane.
	OrderBy, OrderDir string
	// Limit is the page size; 0 means 100.
	Limit int
	// WithKeys asks for ListingsPage.Keys and KeyTitles (the fresh lane's); other pages leave them empty.
	WithKeys bool
}

// Result is one raw API answer and the request that produced it.
type Result struct {
	// Raw is the answer body exactly as received.
	Raw []byte
	// Request describes the request.
	Request message.Request
}

// ListingsPage is one page of listings.
type ListingsPage struct {
	Result
	// Cursor continues the chain; empty on the last page.
	Cursor string
	// Items is the number of listings on the page.
	Items int
	// Titles are the titles on the page.
	Titles []string
	// LastPrice is the price in cents of the page's last (most expensive) listing.
	LastPrice int64
	// Keys identify each valid listing of the page at its price (item id and price), in the page's
	// order, when the query asked WithKeys: the fresh lane's memory of what it has seen.
	Keys []string
	// KeyTitles are the titles of the listings of Keys, index by index: the fresh lane asks for the buy
	// orders of its new listings' titles.
	KeyTitles []string
}

// SalesPage is one page of a title's last sales.
type SalesPage struct {
	Result
	// Sales are the raw sale objects of the page, newest first.
	Sales [][]byte
	// Oldest is the time of the page's oldest sale (zero when the page is empty).
	Oldest time.Time
}

// API is what the crawler needs from DMarket.
type API interface {
	MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error)
	AggregatedPrices(ctx context.Context, gameID string, titles []string) (Result, error)
	LastSales(ctx context.Context, gameID, title string, offset, limit int) (SalesPage, error)
	CustomizedFees(ctx context.Context, gameID string) (Result, error)
}

// Schedule hands out titles whose sales are due, so that two parsers never fetch the same title.
type Schedule interface {
	Claim(ctx context.Context, game string, n int, lease time.Duration) ([]string, error)
	Done(ctx context.Context, game, title string, next time.Duration) error
	Failed(ctx context.Context, game, title string, attempt int) error
}

// Gate says whether a once-per-period job is due; it is shared by every parser instance.
type Gate interface {
	// Due reports true at most once per period for key across all callers.
	Due(ctx context.Context, key string, period time.Duration) (bool, error)
	// Release makes key due again (the job failed).
	Release(ctx context.Context, key string) error
}
