package dmarket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// errDecode is wrapped by every decoder error; the client turns it into ClassBadBody.
var errDecode = errors.New("decode body")

// MarketItem is the part of one market listing the crawler needs.
type MarketItem struct {
	// ItemID is DMarket's asset id.
	ItemID string
	// OfferID is the listing's offer id (extra.offerId).
	OfferID string
	// Title is the full market hash name.
	Title string
	// PriceCents is the listing price the buyer pays.
	PriceCents market.Cents
	// SuggestedCents is DMarket's suggested price, 0 if absent.
	SuggestedCents market.Cents
	// Tradable is false while a Steam trade lock is active.
	Tradable bool
	// LockDays is extra.tradeLock (whole days, 0 when absent).
	LockDays int
	// LockSeconds is extra.tradeLockDuration.
	LockSeconds int64
	// CreatedAt is the listing time.
	CreatedAt time.Time
	// Attrs are the item's attributes (extra.floatValue, paintSeed, phaseTitle, stickers) that meet the
	// rules of SPEC §9.2; the others are left out and counted in MarketItemsBody.BadAttrs.
	Attrs market.Attributes
}

// Locked reports whether the listing is trade-locked.
func (m MarketItem) Locked() bool { return !m.Tradable || m.LockSeconds > 0 || m.LockDays > 0 }

// MarketItemsBody is a decoded market-items page.
type MarketItemsBody struct {
	// Cursor is the next page's cursor, "" on the last page.
	Cursor string
	// TotalItems is total.items (capped at 10 000 by DMarket).
	TotalItems int
	// Items are the page's valid listings, in the page's order.
	Items []MarketItem
	// Invalid counts listings left out of Items because a required field was missing or malformed.
	Invalid int
	// BadAttrs counts the attributes left out of Items because they broke a rule of SPEC §9.2 (a phase
	// on a title without phases among them).
	BadAttrs int
	// Titles are the distinct titles of Items, in order of first appearance.
	Titles []string
	// MinPriceCents and MaxPriceCents bound the prices of Items (0 when Items is empty).
	MinPriceCents, MaxPriceCents market.Cents
}

// DecodeMarketItems decodes a GET /exchange/v1/market/items body. The envelope must be a JSON object
// with an "objects" array (null counts as empty) and a "cursor" string; listings without a title or a
// valid integer-cents price are counted in Invalid and left out.
func DecodeMarketItems(body []byte) (*MarketItemsBody, error) {
	// Fast path: one pass when every listing has the expected types.
	var fast struct {
		Objects *[]marketItemJSON `json:"objects"`
		Total   *struct {
			Items flexInt `json:"items"`
		} `json:"total"`
		Cursor *string `json:"cursor"`
	}
	if err := unmarshalObject(body, &fast); err == nil && fast.Objects != nil && fast.Cursor != nil {
		out := &MarketItemsBody{Cursor: *fast.Cursor, Items: make([]MarketItem, 0, len(*fast.Objects))}
		if fast.Total != nil {
			out.TotalItems = int(fast.Total.Items)
		}
		seen := make(map[string]struct{}, len(*fast.Objects))
		for i := range *fast.Objects {
			out.add(&(*fast.Objects)[i], seen)
		}
		return out, nil
	}
	// Slow path: tell a broken envelope from broken listings.
	var env marketItemsJSON
	if err := unmarshalObject(body, &env); err != nil {
		return nil, err
	}
	if env.Cursor == nil {
		return nil, fmt.Errorf("%w: market items: missing cursor", errDecode)
	}
	if len(env.Objects) == 0 {
		return nil, fmt.Errorf("%w: market items: missing objects", errDecode)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(env.Objects, &raw); err != nil {
		return nil, fmt.Errorf("%w: market items: objects is not an array", errDecode)
	}
	out := &MarketItemsBody{Cursor: *env.Cursor, Items: make([]MarketItem, 0, len(raw))}
	if env.Total != nil {
		out.TotalItems = int(env.Total.Items)
	}
	seen := make(map[string]struct{}, len(raw))
	for _, r := range raw {
		var it marketItemJSON
		if err := json.Unmarshal(r, &it); err != nil {
			out.Invalid++
			continue
		}
		out.add(&it, seen)
	}
	return out, nil
}

// add appends one decoded listing, or counts it as invalid.
func (out *MarketItemsBody) add(it *marketItemJSON, seen map[string]struct{}) {
	if it.Title == "" || it.Price == nil {
		out.Invalid++
		return
	}
	price, err := parseCents(it.Price.USD)
	if err != nil {
		out.Invalid++
		return
	}
	var suggested market.Cents
	if it.SuggestedPrice != nil && it.SuggestedPrice.USD != "" {
		if suggested, err = parseCents(it.SuggestedPrice.USD); err != nil {
			suggested = 0
		}
	}
	item := MarketItem{
		ItemID:         it.ItemID,
		OfferID:        it.Extra.OfferID,
		Title:          it.Title,
		PriceCents:     price,
		SuggestedCents: suggested,
		Tradable:       it.Extra.Tradable == nil || *it.Extra.Tradable,
		LockDays:       int(it.Extra.TradeLock),
		LockSeconds:    int64(it.Extra.TradeLockDuration),
	}
	if it.CreatedAt > 0 {
		item.CreatedAt = time.Unix(int64(it.CreatedAt), 0).UTC()
	}
	item.Attrs = decodeAttrs(&it.Extra.attrsJSON, &out.BadAttrs)
	if item.Attrs.DropStrayPhase(it.Title) {
		out.BadAttrs++
	}
	if len(out.Items) == 0 || price < out.MinPriceCents {
		out.MinPriceCents = price
	}
	if price > out.MaxPriceCents {
		out.MaxPriceCents = price
	}
	out.Items = append(out.Items, item)
	if _, ok := seen[it.Title]; !ok {
		seen[it.Title] = struct{}{}
		out.Titles = append(out.Titles, it.Title)
	}
}

// AggregatedPrice is the top of the book of one title.
type AggregatedPrice struct {
	// Order is the title's best buy order: its Title is the row's market hash name; Price and Count are 0
	// when there is none (orderBestPrice absent or 0), so that Order.Exists reports whether one exists.
	Order market.BuyOrder
	// AskCents is the best listing; 0 (with HasAsk false) when there is none.
	AskCents market.Cents
	// AskCount is the number of listings.
	AskCount int
	// HasAsk reports whether a listing exists.
	HasAsk bool
}

// AggregatedPricesBody is a decoded aggregated-prices answer.
type AggregatedPricesBody struct {
	// Orders are the valid rows, in the answer's order.
	Orders []AggregatedPrice
	// Invalid counts rows left out because the title was missing or a number was malformed.
	Invalid int
	// NextCursor is nextCursor, "" when there is no further page.
	NextCursor string
}

// DecodeAggregatedPrices decodes a POST /marketplace-api/v1/aggregated-prices body. Amounts are integer
// cents in strings; a missing price or an amount of 0 means no order (or no listing).
func DecodeAggregatedPrices(body []byte) (*AggregatedPricesBody, error) {
	env, err := decodeEnvelope(body, "aggregated prices: missing aggregatedPrices",
		func(e *aggregatedJSON) bool { return e.AggregatedPrices != nil })
	if err != nil {
		return nil, err
	}
	out := &AggregatedPricesBody{NextCursor: env.NextCursor}
	out.Orders = decodeRows(*env.AggregatedPrices, &out.Invalid, aggregatedPrice)
	return out, nil
}

// aggregatedPrice converts one row; ok is false when the title is missing or an amount is malformed.
func aggregatedPrice(row *aggregatedRowJSON) (p AggregatedPrice, ok bool) {
	if row.Title == "" {
		return p, false
	}
	p = AggregatedPrice{Order: market.BuyOrder{Title: row.Title, Count: int(row.OrderCount)}, AskCount: int(row.OfferCount)}
	var err error
	if p.Order.Price, err = optionalAmount(row.OrderBestPrice); err != nil {
		return p, false
	}
	if p.AskCents, err = optionalAmount(row.OfferBestPrice); err != nil {
		return p, false
	}
	p.HasAsk = p.AskCents > 0
	if !p.Order.Exists() {
		p.Order.Count = 0
	}
	return p, true
}

func optionalAmount(a *amountJSON) (market.Cents, error) {
	if a == nil || a.Amount == "" {
		return 0, nil
	}
	if a.Currency != "" && a.Currency != "USD" {
		return 0, fmt.Errorf("%w: currency %q", errDecode, a.Currency)
	}
	return parseCents(a.Amount)
}

// Sale is one sale of a title: its price (converted from decimal dollars) and time, and how it came
// about.
type Sale struct {
	market.Sale
	// TxOperationType is Offer (a listing was bought), Target or Order (a buy order was filled).
	TxOperationType string
}

// LastSalesBody is a decoded last-sales answer.
type LastSalesBody struct {
	// Sales are the valid sales, newest first as DMarket sends them.
	Sales []Sale
	// Invalid counts sales left out because the price or date was malformed.
	Invalid int
	// BadAttrs counts the offerAttributes left out of Sales because they broke a rule of SPEC §9.2.
	BadAttrs int
}

// DecodeLastSales decodes a GET /trade-aggregator/v1/last-sales body. Prices are decimal-dollar strings
// ("12.57"); dates are unix seconds sent as strings.
func DecodeLastSales(body []byte) (*LastSalesBody, error) {
	env, err := decodeEnvelope(body, "last sales: missing sales", func(e *lastSalesJSON) bool { return e.Sales != nil })
	if err != nil {
		return nil, err
	}
	out := &LastSalesBody{}
	out.Sales = decodeRows(*env.Sales, &out.Invalid, func(s *saleJSON) (Sale, bool) {
		if s.Date <= 0 {
			return Sale{}, false
		}
		cents, err := parseDollars(s.Price)
		if err != nil {
			return Sale{}, false
		}
		return Sale{Sale: market.Sale{Price: cents, At: time.Unix(int64(s.Date), 0).UTC(),
			Attrs: decodeOfferAttrs(s.OfferAttributes, &out.BadAttrs)}, TxOperationType: s.TxOperationType}, true
	})
	return out, nil
}

// Fee is a fee rate: a fraction of the price with a minimum amount.
type Fee struct {
	// Fraction is the share of the price, as DMarket sends it (e.g. "0.05").
	Fraction string
	// FractionValue is Fraction parsed.
	FractionValue float64
	// MinAmountCents is the minimum fee.
	MinAmountCents market.Cents
}

// ReducedFee is a title with a lower fee while its price is within [MinPriceCents, MaxPriceCents] and
// until ExpiresAt.
type ReducedFee struct {
	// Title is the market hash name.
	Title string
	// Fraction is the share of the price, as sent.
	Fraction string
	// FractionValue is Fraction parsed.
	FractionValue float64
	// MinPriceCents and MaxPriceCents bound the listing prices the reduced fee applies to.
	MinPriceCents, MaxPriceCents market.Cents
	// ExpiresAt is when the reduced fee ends; zero when not given.
	ExpiresAt time.Time
}

// CustomizedFeesBody is a decoded customized-fees answer.
type CustomizedFeesBody struct {
	// Default is the default fee.
	Default Fee
	// Reduced are the valid reduced-fee titles.
	Reduced []ReducedFee
	// Invalid counts reduced fees left out because a field was malformed.
	Invalid int
}

// DecodeCustomizedFees decodes a GET /exchange/v1/customized-fees body. Fractions are decimal strings
// in [0, 1]; minAmount, minPrice and maxPrice are integer cents; expiresAt is unix seconds.
func DecodeCustomizedFees(body []byte) (*CustomizedFeesBody, error) {
	env, err := decodeEnvelope(body, "customized fees: missing defaultFee", func(e *feesJSON) bool { return e.DefaultFee != nil })
	if err != nil {
		return nil, err
	}
	frac, err := parseFraction(env.DefaultFee.Fraction)
	if err != nil {
		return nil, fmt.Errorf("%w: customized fees: default fraction: %w", errDecode, err)
	}
	if env.DefaultFee.MinAmount < 0 {
		return nil, fmt.Errorf("%w: customized fees: negative minAmount", errDecode)
	}
	out := &CustomizedFeesBody{
		Default: Fee{Fraction: env.DefaultFee.Fraction, FractionValue: frac, MinAmountCents: market.Cents(env.DefaultFee.MinAmount)},
	}
	out.Reduced = decodeRows(env.ReducedFees, &out.Invalid, func(rf *reducedFeeJSON) (ReducedFee, bool) {
		if rf.Title == "" || rf.MinPrice < 0 || rf.MaxPrice < 0 {
			return ReducedFee{}, false
		}
		f, err := parseFraction(rf.Fraction)
		if err != nil {
			return ReducedFee{}, false
		}
		red := ReducedFee{Title: rf.Title, Fraction: rf.Fraction, FractionValue: f,
			MinPriceCents: market.Cents(rf.MinPrice), MaxPriceCents: market.Cents(rf.MaxPrice)}
		if rf.ExpiresAt > 0 {
			red.ExpiresAt = time.Unix(int64(rf.ExpiresAt), 0).UTC()
		}
		return red, true
	})
	return out, nil
}

// The answers as they arrive on the wire.
type (
	// moneyJSON is an exchange amount: integer cents in a string.
	moneyJSON struct {
		USD string `json:"USD"`
	}

	// marketItemJSON is the part of a market-items object the client reads.
	marketItemJSON struct {
		ItemID         string     `json:"itemId"`
		Title          string     `json:"title"`
		Price          *moneyJSON `json:"price"`
		SuggestedPrice *moneyJSON `json:"suggestedPrice"`
		CreatedAt      flexInt    `json:"createdAt"`
		Extra          struct {
			attrsJSON
			OfferID           string  `json:"offerId"`
			Tradable          *bool   `json:"tradable"`
			TradeLock         flexInt `json:"tradeLock"`
			TradeLockDuration flexInt `json:"tradeLockDuration"`
		} `json:"extra"`
	}

	// marketItemsJSON is a market-items page whose objects are decoded one by one.
	marketItemsJSON struct {
		Objects json.RawMessage `json:"objects"`
		Total   *struct {
			Items flexInt `json:"items"`
		} `json:"total"`
		Cursor *string `json:"cursor"`
	}

	// amountJSON is a marketplace amount: integer cents in a string, and its currency.
	amountJSON struct {
		Currency string `json:"Currency"`
		Amount   string `json:"Amount"`
	}

	// aggregatedJSON is an aggregated-prices answer whose rows are decoded one by one.
	aggregatedJSON struct {
		AggregatedPrices *[]json.RawMessage `json:"aggregatedPrices"`
		NextCursor       string             `json:"nextCursor"`
	}

	// aggregatedRowJSON is one title's row of aggregated prices.
	aggregatedRowJSON struct {
		Title          string      `json:"title"`
		OrderBestPrice *amountJSON `json:"orderBestPrice"`
		OrderCount     flexInt     `json:"orderCount"`
		OfferBestPrice *amountJSON `json:"offerBestPrice"`
		OfferCount     flexInt     `json:"offerCount"`
	}

	// lastSalesJSON is a last-sales answer whose sales are decoded one by one.
	lastSalesJSON struct {
		Sales *[]json.RawMessage `json:"sales"`
	}

	// saleJSON is one sale: decimal dollars and unix seconds.
	saleJSON struct {
		Price           string  `json:"price"`
		Date            flexInt `json:"date"`
		TxOperationType string  `json:"txOperationType"`
		// OfferAttributes is kept raw: attributes of any shape leave the sale valid.
		OfferAttributes json.RawMessage `json:"offerAttributes"`
	}

	// feesJSON is a customized-fees answer whose reduced fees are decoded one by one.
	feesJSON struct {
		DefaultFee *struct {
			Fraction  string  `json:"fraction"`
			MinAmount flexInt `json:"minAmount"`
		} `json:"defaultFee"`
		ReducedFees []json.RawMessage `json:"reducedFees"`
	}

	// reducedFeeJSON is one reduced fee.
	reducedFeeJSON struct {
		Title     string  `json:"title"`
		Fraction  string  `json:"fraction"`
		MinPrice  flexInt `json:"minPrice"`
		MaxPrice  flexInt `json:"maxPrice"`
		ExpiresAt flexInt `json:"expiresAt"`
	}
)

// errorBody covers both DMarket error shapes (code/message and Code/Message); code may be a string or
// a number (gRPC-gateway).
type errorBody struct {
	Code     json.RawMessage `json:"code"`
	Message  string          `json:"message"`
	CodeP    json.RawMessage `json:"Code"`
	MessageP string          `json:"Message"`
	Error    string          `json:"error"`
}

// DecodeError extracts DMarket's error code and message from an error body of either shape. ok is
// false when the body is not a JSON object carrying a code or a message.
func DecodeError(body []byte) (code, message string, ok bool) {
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		return "", "", false
	}
	code = rawCode(e.Code)
	if code == "" {
		code = rawCode(e.CodeP)
	}
	message = e.Message
	if message == "" {
		message = e.MessageP
	}
	if message == "" {
		message = e.Error
	}
	const maxLen = 200
	if len(message) > maxLen {
		message = message[:maxLen]
	}
	if len(code) > maxLen {
		code = code[:maxLen]
	}
	return code, message, code != "" || message != ""
}

func rawCode(r json.RawMessage) string {
	if len(r) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		return n.String()
	}
	return ""
}

// decodeRows decodes each of rows as an R and converts it with convert, in order; a row that does not
// decode, or that convert refuses, is counted in *invalid and left out. The result is never nil.
func decodeRows[R, V any](rows []json.RawMessage, invalid *int, convert func(*R) (V, bool)) []V {
	out := make([]V, 0, len(rows))
	for _, raw := range rows {
		var r R
		if err := json.Unmarshal(raw, &r); err != nil {
			*invalid++
			continue
		}
		v, ok := convert(&r)
		if !ok {
			*invalid++
			continue
		}
		out = append(out, v)
	}
	return out
}

// decodeEnvelope decodes body, which must be one JSON object, into a T that complete accepts; missing
// describes what a body that complete refuses lacks.
func decodeEnvelope[T any](body []byte, missing string, complete func(*T) bool) (*T, error) {
	var env T
	if err := unmarshalObject(body, &env); err != nil {
		return nil, err
	}
	if !complete(&env) {
		return nil, fmt.Errorf("%w: %s", errDecode, missing)
	}
	return &env, nil
}

// unmarshalObject decodes body, which must be exactly one JSON object, into v.
func unmarshalObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("%w: not a JSON object", errDecode)
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return fmt.Errorf("%w: %w", errDecode, err)
	}
	return nil
}

// flexInt accepts an integer JSON number or a string holding one (int64 values through a gRPC gateway
// arrive as strings). Empty strings and null decode as 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*f = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", truncate(s, 32))
	}
	*f = flexInt(n)
	return nil
}

// parseCents parses a non-negative integer-cents string.
func parseCents(s string) (market.Cents, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty price", errDecode)
	}
	c, err := market.ParseCents(s)
	if err != nil || c < 0 {
		return 0, fmt.Errorf("%w: price %q is not integer cents", errDecode, truncate(s, 32))
	}
	return c, nil
}

// maxDollarsPrice keeps converted prices far from int64 overflow: a billion dollars (and 99 cents).
const maxDollarsPrice market.Cents = 1_000_000_000*100 + 99

// parseDollars converts a non-negative decimal-dollar string ("12.57", "12.5", "12") to cents. More than
// two decimals are rounded half up.
func parseDollars(s string) (market.Cents, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty price", errDecode)
	}
	c, err := market.ParseDollarsRounded(s)
	if errors.Is(err, market.ErrRange) || err == nil && c > maxDollarsPrice {
		return 0, fmt.Errorf("%w: price %q out of range", errDecode, truncate(s, 32))
	}
	if err != nil || s[0] == '-' {
		return 0, fmt.Errorf("%w: price %q is not decimal dollars", errDecode, truncate(s, 32))
	}
	return c, nil
}

// parseFraction parses a fee fraction in [0, 1].
func parseFraction(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1 || f != f {
		return 0, fmt.Errorf("fraction %q is not in [0, 1]", truncate(s, 32))
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
