package dmarket

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// MarketItemsQuery selects one page of GET /exchange/v1/market/items, ordered by price ascending.
type MarketItemsQuery struct {
	// GameID is the DMarket game id (a8db, 9a92, tf2, rust). Required.
	GameID string
	// PriceFrom and PriceTo bound the listing price in cents, inclusive; 0 means no bound.
	PriceFrom, PriceTo int64
	// Cursor is the previous page's cursor; "" for the first page.
	Cursor string
	// Limit is the page size, 1..100; 0 means 100.
	Limit int
	// Title optionally narrows the search (a prefix search on DMarket's side, not an exact match).
	Title string
	// OrderBy is the sort key: OrderByPrice (the default when empty) or OrderByUpdated (newest first
	// with OrderDesc: the fresh lane of SPEC §9.1).
	OrderBy string
	// OrderDir is OrderAsc (the default when empty) or OrderDesc.
	OrderDir string
}

// Sort keys and directions of MarketItemsQuery.
const (
	OrderByPrice   = "price"
	OrderByUpdated = "updated"
	OrderAsc       = "asc"
	OrderDesc      = "desc"
)

// MarketItemsPage is one page of listings: the raw body to publish and the decoded minimum.
type MarketItemsPage struct {
	// Request is the request that produced the page, for the message envelope.
	Request message.Request
	// Raw is the answer body exactly as received.
	Raw []byte
	// MarketItemsBody is the decoded page.
	MarketItemsBody
}

// Count returns the number of objects on the page, valid or not.
func (p *MarketItemsPage) Count() int { return len(p.Items) + p.Invalid }

// AggregatedPricesResult is one aggregated-prices answer.
type AggregatedPricesResult struct {
	// Request is the request that produced the answer (its JSON body is not included).
	Request message.Request
	// Raw is the answer body exactly as received.
	Raw []byte
	// AggregatedPricesBody is the decoded answer (Orders holds one row per title found).
	AggregatedPricesBody
}

// LastSalesResult is one last-sales answer.
type LastSalesResult struct {
	// Request is the request that produced the answer; Request.Title is the title.
	Request message.Request
	// Raw is the answer body exactly as received.
	Raw []byte
	// LastSalesBody is the decoded answer.
	LastSalesBody
}

// CustomizedFeesResult is one game's customized fees, read over one or more pages.
type CustomizedFeesResult struct {
	// Request is the request of the first page; Pages counts the requests when there were several.
	Request message.Request
	// Raw is the answer body exactly as received when one page held everything, else the pages merged
	// (see Client.CustomizedFees).
	Raw []byte
	// CustomizedFeesBody is the decoded answer.
	CustomizedFeesBody
}

// MarketItems fetches one page of listings. Unsigned calls are limited per egress IP (the egress paces
// them); signed calls use the account's listings budget.
func (c *Client) MarketItems(ctx context.Context, q MarketItemsQuery, signed bool) (*MarketItemsPage, error) {
	if err := validGame(EndpointMarketItems, q.GameID); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = MaxMarketItemsLimit
	}
	orderBy, orderDir := cmp.Or(q.OrderBy, OrderByPrice), cmp.Or(q.OrderDir, OrderAsc)
	if limit < 0 || limit > MaxMarketItemsLimit || q.PriceFrom < 0 || q.PriceTo < 0 || (q.PriceTo > 0 && q.PriceTo < q.PriceFrom) ||
		(orderBy != OrderByPrice && orderBy != OrderByUpdated) || (orderDir != OrderAsc && orderDir != OrderDesc) {
		return nil, &Error{Class: ClassBadRequest, Endpoint: EndpointMarketItems,
			Err: fmt.Errorf("invalid query: limit %d, price range [%d, %d], order %.16q %.16q", q.Limit, q.PriceFrom, q.PriceTo, orderBy, orderDir)}
	}
	qs := newQuery().
		add("gameId", q.GameID).
		add("currency", "USD").
		add("limit", strconv.Itoa(limit)).
		add("orderBy", orderBy).
		add("orderDir", orderDir).
		add("priceFrom", strconv.FormatInt(q.PriceFrom, 10)).
		add("priceTo", strconv.FormatInt(q.PriceTo, 10))
	if q.Title != "" {
		qs.add("title", q.Title)
	}
	if q.Cursor != "" {
		qs.add("cursor", q.Cursor)
	}
	cl := call{endpoint: EndpointMarketItems, method: http.MethodGet, path: PathMarketItems, rawQuery: qs.String(), signed: signed}
	raw, decoded, err := fetch(ctx, c, cl, DecodeMarketItems)
	if err != nil {
		return nil, fmt.Errorf("fetch market items: %w", err)
	}
	return &MarketItemsPage{Request: cl.request(), Raw: raw, MarketItemsBody: *decoded}, nil
}

type aggregatedRequest struct {
	Filter struct {
		Game   string   `json:"game"`
		Titles []string `json:"titles"`
	} `json:"filter"`
	Limit  string `json:"limit"`
	Cursor string `json:"cursor"`
}

// AggregatedPrices fetches the best buy order and best listing of up to 100 titles (signed).
func (c *Client) AggregatedPrices(ctx context.Context, gameID string, titles []string) (*AggregatedPricesResult, error) {
	if err := validGame(EndpointAggregatedPrices, gameID); err != nil {
		return nil, err
	}
	if len(titles) == 0 || len(titles) > MaxAggregatedTitles {
		return nil, &Error{Class: ClassBadRequest, Endpoint: EndpointAggregatedPrices,
			Err: fmt.Errorf("need 1..%d titles, got %d", MaxAggregatedTitles, len(titles))}
	}
	var reqBody aggregatedRequest
	reqBody.Filter.Game = gameID
	reqBody.Filter.Titles = titles
	reqBody.Limit = strconv.Itoa(MaxAggregatedTitles)
	body, err := json.Marshal(reqBody)
	if err != nil {
		return nil, fmt.Errorf("fetch aggregated prices: encode request: %w", err)
	}
	cl := call{endpoint: EndpointAggregatedPrices, method: http.MethodPost, path: PathAggregatedPrices, body: body, signed: true}
	raw, decoded, err := fetch(ctx, c, cl, DecodeAggregatedPrices)
	if err != nil {
		return nil, fmt.Errorf("fetch aggregated prices: %w", err)
	}
	return &AggregatedPricesResult{Request: cl.request(), Raw: raw, AggregatedPricesBody: *decoded}, nil
}

// LastSales fetches up to limit (1..20; 0 means 20) sales of title, skipping offset newer ones (signed).
func (c *Client) LastSales(ctx context.Context, gameID, title string, offset, limit int) (*LastSalesResult, error) {
	if err := validGame(EndpointLastSales, gameID); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = MaxLastSalesLimit
	}
	if title == "" || offset < 0 || limit < 0 || limit > MaxLastSalesLimit {
		return nil, &Error{Class: ClassBadRequest, Endpoint: EndpointLastSales,
			Err: fmt.Errorf("invalid query: title empty=%t offset %d limit %d", title == "", offset, limit)}
	}
	qs := newQuery().
		add("gameId", gameID).
		add("title", title).
		add("limit", strconv.Itoa(limit)).
		addIf(offset > 0, "offset", strconv.Itoa(offset))
	cl := call{endpoint: EndpointLastSales, method: http.MethodGet, path: PathLastSales, rawQuery: qs.String(), signed: true}
	raw, decoded, err := fetch(ctx, c, cl, DecodeLastSales)
	if err != nil {
		return nil, fmt.Errorf("fetch last sales: %w", err)
	}
	req := cl.request()
	req.Title = title
	return &LastSalesResult{Request: req, Raw: raw, LastSalesBody: *decoded}, nil
}

// customizedFeesLimit is the page size asked of customized-fees.
const customizedFeesLimit = 1000

// maxCustomizedFeesPages bounds the pages of one game's customized fees (a million reduced fees), so that
// a server that never ends the list cannot keep the client paging.
const maxCustomizedFeesPages = 1000

// CustomizedFees fetches the default fee and today's reduced-fee titles of a game (signed). It pages
// through the list with limit and offset until a page brings nothing new (an empty page, or one that
// only repeats entries already read, as an answer that ignores offset does), so that no reduced fee is
// lost whatever page size the server grants. Several pages are merged into one answer
// {"defaultFee": <first page's>, "reducedFees": [every distinct entry, in order]}; Request is the first
// page's with Pages set to the number of requests made.
func (c *Client) CustomizedFees(ctx context.Context, gameID string) (*CustomizedFeesResult, error) {
	if err := validGame(EndpointCustomizedFees, gameID); err != nil {
		return nil, err
	}
	var (
		first   *CustomizedFeesResult
		entries []json.RawMessage
		seen    = map[string]struct{}{}
		offset  int
	)
	for pages := 1; ; pages++ {
		if pages > maxCustomizedFeesPages {
			return nil, fmt.Errorf("fetch customized fees: %w", &Error{Class: ClassBadBody, Endpoint: EndpointCustomizedFees,
				Err: fmt.Errorf("the list did not end within %d pages", maxCustomizedFeesPages)})
		}
		page, err := c.customizedFeesPage(ctx, gameID, offset)
		if err != nil {
			return nil, fmt.Errorf("fetch customized fees: %w", err)
		}
		var raw struct {
			DefaultFee  json.RawMessage   `json:"defaultFee"`
			ReducedFees []json.RawMessage `json:"reducedFees"`
		}
		if err := json.Unmarshal(page.Raw, &raw); err != nil {
			return nil, fmt.Errorf("fetch customized fees: %w", &Error{Class: ClassBadBody, Endpoint: EndpointCustomizedFees, Err: err})
		}
		if first == nil {
			first = page
			if len(raw.ReducedFees) == 0 {
				return first, nil
			}
			entries = make([]json.RawMessage, 0, len(raw.ReducedFees))
		}
		fresh := 0
		for _, e := range raw.ReducedFees {
			if _, dup := seen[string(e)]; dup {
				continue
			}
			seen[string(e)] = struct{}{}
			entries = append(entries, e)
			fresh++
		}
		offset += len(raw.ReducedFees)
		if fresh > 0 {
			continue
		}
		first.Request.Pages = pages
		return mergeCustomizedFees(first, entries)
	}
}

// customizedFeesPage fetches one page of customized-fees starting at offset.
func (c *Client) customizedFeesPage(ctx context.Context, gameID string, offset int) (*CustomizedFeesResult, error) {
	qs := newQuery().
		add("gameId", gameID).
		add("offerType", "dmarket").
		add("limit", strconv.Itoa(customizedFeesLimit)).
		addIf(offset > 0, "offset", strconv.Itoa(offset))
	cl := call{endpoint: EndpointCustomizedFees, method: http.MethodGet, path: PathCustomizedFees, rawQuery: qs.String(), signed: true}
	raw, decoded, err := fetch(ctx, c, cl, DecodeCustomizedFees)
	if err != nil {
		return nil, err
	}
	return &CustomizedFeesResult{Request: cl.request(), Raw: raw, CustomizedFeesBody: *decoded}, nil
}

// mergeCustomizedFees replaces first's body with one holding its default fee and entries.
func mergeCustomizedFees(first *CustomizedFeesResult, entries []json.RawMessage) (*CustomizedFeesResult, error) {
	var head struct {
		DefaultFee json.RawMessage `json:"defaultFee"`
	}
	if err := json.Unmarshal(first.Raw, &head); err != nil {
		return nil, fmt.Errorf("merge customized fees: %w", err)
	}
	raw, err := json.Marshal(struct {
		DefaultFee  json.RawMessage   `json:"defaultFee"`
		ReducedFees []json.RawMessage `json:"reducedFees"`
	}{head.DefaultFee, entries})
	if err != nil {
		return nil, fmt.Errorf("merge customized fees: %w", err)
	}
	decoded, err := DecodeCustomizedFees(raw)
	if err != nil {
		return nil, fmt.Errorf("merge customized fees: %w", err)
	}
	first.Raw, first.CustomizedFeesBody = raw, *decoded
	return first, nil
}

// fetch runs cl, an answer being valid when decode accepts it, and returns the raw body with its decoded
// form.
func fetch[T any](ctx context.Context, c *Client, cl call, decode func([]byte) (*T, error)) ([]byte, *T, error) {
	var decoded *T
	cl.validate = func(b []byte) (err error) { decoded, err = decode(b); return err }
	raw, err := c.do(ctx, cl)
	return raw, decoded, err
}

func validGame(ep Endpoint, gameID string) error {
	if gameID == "" || strings.ContainsAny(gameID, " /?&#") {
		return &Error{Class: ClassBadRequest, Endpoint: ep, Err: fmt.Errorf("invalid game id %q", truncate(gameID, 16))}
	}
	return nil
}

// query builds a query string in insertion order, encoding spaces as %20.
type query struct{ b strings.Builder }

func newQuery() *query { return &query{} }

func (q *query) add(k, v string) *query {
	if q.b.Len() > 0 {
		q.b.WriteByte('&')
	}
	q.b.WriteString(escape(k))
	q.b.WriteByte('=')
	q.b.WriteString(escape(v))
	return q
}

// addIf adds k=v when ok.
func (q *query) addIf(ok bool, k, v string) *query {
	if ok {
		q.add(k, v)
	}
	return q
}

func (q *query) String() string { return q.b.String() }

func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
