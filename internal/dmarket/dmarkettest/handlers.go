package dmarkettest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"InternalServerError","message":"encode"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func badRequest(w http.ResponseWriter, code, msg string) {
	writeJSON(w, http.StatusBadRequest, errExchange(code, msg))
}

type money struct {
	DMC string `json:"DMC"`
	USD string `json:"USD"`
}

func cents(c int64) money { return money{USD: strconv.FormatInt(c, 10)} }

type feeLeaf struct {
	Default struct {
		Percentage string `json:"percentage"`
		MinFee     money  `json:"minFee"`
	} `json:"default"`
}

type feeGroup struct {
	Sell        feeLeaf `json:"sell"`
	InstantSell feeLeaf `json:"instantSell"`
	Exchange    feeLeaf `json:"exchange"`
}

type itemExtra struct {
	NameColor         string        `json:"nameColor"`
	BackgroundColor   string        `json:"backgroundColor"`
	Tradable          bool          `json:"tradable"`
	OfferID           string        `json:"offerId"`
	IsNew             bool          `json:"isNew"`
	GameID            string        `json:"gameId"`
	Name              string        `json:"name"`
	CategoryPath      string        `json:"categoryPath,omitempty"`
	Withdrawable      bool          `json:"withdrawable,omitempty"`
	Exterior          string        `json:"exterior,omitempty"`
	Quality           string        `json:"quality"`
	Category          string        `json:"category"`
	TradeLock         int           `json:"tradeLock,omitempty"`
	TradeLockDuration int64         `json:"tradeLockDuration"`
	FloatValue        any           `json:"floatValue,omitempty"`
	PaintSeed         any           `json:"paintSeed,omitempty"`
	PhaseTitle        string        `json:"phaseTitle,omitempty"`
	Phase             string        `json:"phase,omitempty"`
	Stickers          []stickerJSON `json:"stickers,omitempty"`
	Collection        []string      `json:"collection"`
	SaleRestricted    bool          `json:"saleRestricted"`
}

type itemJSON struct {
	ItemID           string `json:"itemId"`
	Type             string `json:"type"`
	Amount           int    `json:"amount"`
	ClassID          string `json:"classId"`
	GameID           string `json:"gameId"`
	GameType         string `json:"gameType"`
	InMarket         bool   `json:"inMarket"`
	LockStatus       bool   `json:"lockStatus"`
	Title            string `json:"title"`
	Description      string `json:"description"`
	Image            string `json:"image"`
	Slug             string `json:"slug"`
	Owner            string `json:"owner"`
	Status           string `json:"status"`
	Discount         int64  `json:"discount"`
	Price            money  `json:"price"`
	InstantPrice     money  `json:"instantPrice"`
	ExchangePrice    money  `json:"exchangePrice"`
	InstantTargetID  string `json:"instantTargetId"`
	SuggestedPrice   money  `json:"suggestedPrice"`
	RecommendedPrice struct {
		OfferPrice money `json:"offerPrice"`
		D3         money `json:"d3"`
		D7         money `json:"d7"`
		D7Plus     money `json:"d7Plus"`
	} `json:"recommendedPrice"`
	Extra         itemExtra `json:"extra"`
	CreatedAt     int64     `json:"createdAt"`
	DeliveryStats struct {
		Rate string `json:"rate"`
		Time string `json:"time"`
	} `json:"deliveryStats"`
	Fees struct {
		F2F     feeGroup `json:"f2f"`
		DMarket feeGroup `json:"dmarket"`
	} `json:"fees"`
	DiscountPrice money  `json:"discountPrice"`
	ProductID     string `json:"productId"`
}

type totalJSON struct {
	Offers          int `json:"offers"`
	Targets         int `json:"targets"`
	Items           int `json:"items"`
	CompletedOffers int `json:"completedOffers"`
	ClosedTargets   int `json:"closedTargets"`
}

type marketItemsJSON struct {
	Objects []itemJSON `json:"objects"`
	Total   totalJSON  `json:"total"`
	Cursor  string     `json:"cursor"`
}

func slug(title string) string {
	name, _, _ := strings.Cut(title, " (")
	name = strings.ToLower(strings.NewReplacer(" | ", "-", " ", "-", "™", "").Replace(name))
	return name
}

func renderItem(l *Listing) itemJSON {
	name, wear, _ := strings.Cut(l.Title, " (")
	it := itemJSON{
		ItemID: l.ItemID, Type: "offer", Amount: 1, ClassID: fmt.Sprintf("%d:%d", l.PaintSeed+100000000, len(l.Title)),
		GameID: l.GameID, GameType: "steam", InMarket: true, Title: l.Title,
		Image: l.Image(),
		Slug:  slug(l.Title), Owner: l.OfferID, Status: "active",
		Price: cents(l.PriceCents), SuggestedPrice: cents(l.SuggestedCents),
		CreatedAt: l.CreatedAt.Unix(), ProductID: l.GameID + ":" + strings.ReplaceAll(l.ItemID, "-", ""),
	}
	if l.PriceCents < l.SuggestedCents {
		it.Discount = (l.SuggestedCents - l.PriceCents) * 100 / l.SuggestedCents
	}
	category := "normal"
	if strings.HasPrefix(l.Title, "StatTrak™ ") {
		category = "stattrak™"
	}
	it.Extra = itemExtra{
		NameColor: "d2d2d2", BackgroundColor: "4b69ff", Tradable: l.Tradable(), OfferID: l.OfferID,
		GameID: l.GameID, Name: name, Quality: "restricted", Category: category,
		TradeLock: l.LockDays(), TradeLockDuration: l.LockSeconds, Withdrawable: l.Tradable(),
		Collection: []string{""},
	}
	setExtraAttrs(&it.Extra, &l.Attrs)
	if wear != "" {
		it.Extra.Exterior = strings.ToLower(strings.TrimSuffix(wear, ")"))
	}
	return it
}

// setExtraAttrs writes a listing's attributes into its extra.
func setExtraAttrs(e *itemExtra, a *Attrs) {
	if a.HasFloat {
		e.FloatValue = a.floatJSON()
	}
	if a.HasSeed {
		e.PaintSeed = a.Seed
	}
	if a.phaseKey() == "phase" {
		e.Phase = a.Phase
	} else {
		e.PhaseTitle = a.Phase
	}
	e.Stickers = a.stickersJSON()
}

// cursorKey is the position a cursor stands for: after the listing with this price and offer id in the
// price order, after the listing with this creation time and item id in the updated order.
type cursorKey struct {
	price   int64
	offerID string
	created int64 // unix nanoseconds
	itemID  string
}

// encodeCursor returns the opaque cursor after l: [price, createdAt (unix ns), offerId, itemId] in
// base64, good for either order.
func encodeCursor(l *Listing) string {
	b, _ := json.Marshal([]any{l.PriceCents, l.CreatedAt.UnixNano(), l.OfferID, l.ItemID})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursorKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return cursorKey{}, err
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 3 || len(parts) > 4 {
		return cursorKey{}, fmt.Errorf("cursor shape")
	}
	var k cursorKey
	targets := []any{&k.price, &k.created, &k.offerID, &k.itemID}
	for i, p := range parts {
		if err := json.Unmarshal(p, targets[i]); err != nil {
			return cursorKey{}, err
		}
	}
	return k, nil
}

// priceKeyCompare orders l against the cursor in the price order.
func priceKeyCompare(l *Listing, k cursorKey) int {
	switch {
	case l.PriceCents < k.price:
		return -1
	case l.PriceCents > k.price:
		return 1
	}
	return strings.Compare(l.OfferID, k.offerID)
}

// createdKeyCompare orders l against the cursor in the updated order.
func createdKeyCompare(l *Listing, k cursorKey) int {
	if n := l.CreatedAt.UnixNano(); n != k.created {
		if n < k.created {
			return -1
		}
		return 1
	}
	return strings.Compare(l.ItemID, k.itemID)
}

func intParam(q url.Values, name string, def int64) (int64, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// gameParam reads the gameId an exchange endpoint requires; known tells whether the catalogue has the
// game. When the game is missing or unknown it answers 400 and returns false.
func gameParam(w http.ResponseWriter, q url.Values, known func(game string) bool) (string, bool) {
	game := q.Get("gameId")
	if game == "" {
		badRequest(w, "GameIDRequired", "gameId: cannot be blank.")
		return "", false
	}
	if !known(game) {
		badRequest(w, "BadRequest", "gameId: must be a valid value.")
		return "", false
	}
	return game, true
}

// The orders of the market-items endpoint.
const (
	orderPrice   = "price"
	orderUpdated = "updated"
)

// itemsQuery is a valid market-items query.
type itemsQuery struct {
	game     string
	limit    int
	from, to int64 // price bounds in cents, 0 = none
	orderBy  string
	desc     bool
	title    string
	cursor   *cursorKey
}

// orderParams reads orderBy (price by default, or updated) and orderDir (asc by default, or desc),
// answering 400 and returning false for any other value.
func orderParams(w http.ResponseWriter, q url.Values) (orderBy string, desc, ok bool) {
	switch by := strings.ToLower(q.Get("orderBy")); by {
	case "", orderPrice:
		orderBy = orderPrice
	case orderUpdated:
		orderBy = orderUpdated
	default:
		badRequest(w, "BadRequest", "orderBy: must be a valid value.")
		return "", false, false
	}
	switch dir := strings.ToLower(q.Get("orderDir")); dir {
	case "", "asc":
	case "desc":
		desc = true
	default:
		badRequest(w, "BadRequest", "orderDir: must be a valid value.")
		return "", false, false
	}
	return orderBy, desc, true
}

// parseItemsQuery validates a market-items query, answering 400 and returning false when it is not.
func (h *Handler) parseItemsQuery(w http.ResponseWriter, q url.Values) (itemsQuery, bool) {
	game, ok := gameParam(w, q, func(g string) bool { _, ok := h.cat.Fees[g]; return ok })
	if !ok {
		return itemsQuery{}, false
	}
	limit, ok := intParam(q, "limit", 50)
	switch {
	case !ok:
		badRequest(w, "BadRequest", "limit: must be an integer.")
		return itemsQuery{}, false
	case limit > 100:
		badRequest(w, "BadRequest", "limit: must be no greater than 100.")
		return itemsQuery{}, false
	case limit < 1:
		badRequest(w, "BadRequest", "limit: must be no less than 1.")
		return itemsQuery{}, false
	}
	from, ok1 := intParam(q, "priceFrom", 0)
	to, ok2 := intParam(q, "priceTo", 0)
	if !ok1 || !ok2 || from < 0 || to < 0 {
		badRequest(w, "BadRequest", "priceFrom, priceTo: must be non-negative integers.")
		return itemsQuery{}, false
	}
	orderBy, desc, ok := orderParams(w, q)
	if !ok {
		return itemsQuery{}, false
	}
	iq := itemsQuery{game: game, limit: int(limit), from: from, to: to, orderBy: orderBy, desc: desc, title: q.Get("title")}
	if c := q.Get("cursor"); c != "" {
		k, err := decodeCursor(c)
		if err != nil {
			badRequest(w, "BadRequest", "cursor: invalid value.")
			return itemsQuery{}, false
		}
		iq.cursor = &k
	}
	return iq, true
}

// priceRange returns the indexes [lo, hi) of the listings of all (sorted by price) within from..to.
func priceRange(all []*Listing, from, to int64) (lo, hi int) {
	lo, hi = 0, len(all)
	if from > 0 {
		lo = sort.Search(len(all), func(i int) bool { return all[i].PriceCents >= from })
	}
	if to > 0 {
		hi = sort.Search(len(all), func(i int) bool { return all[i].PriceCents > to })
	}
	return lo, max(lo, hi)
}

// itemsView is the listings a query pages through: list[lo:hi] sorted ascending in the query's order
// (compared with a cursor by cmp), of which keep (nil: all) are served.
type itemsView struct {
	list   []*Listing
	lo, hi int
	cmp    func(l *Listing, k cursorKey) int
	keep   func(l *Listing) bool
}

// total is the number of listings the view serves, cursor aside.
func (v itemsView) total() int {
	if v.keep == nil {
		return v.hi - v.lo
	}
	n := 0
	for _, l := range v.list[v.lo:v.hi] {
		if v.keep(l) {
			n++
		}
	}
	return n
}

// page returns a copy of the page iq asks for and whether more listings follow it.
func (v itemsView) page(iq itemsQuery) (page []*Listing, more bool) {
	lo, hi := v.lo, v.hi
	if k := iq.cursor; k != nil {
		if iq.desc {
			hi = min(hi, sort.Search(len(v.list), func(i int) bool { return v.cmp(v.list[i], *k) >= 0 }))
		} else {
			lo = max(lo, sort.Search(len(v.list), func(i int) bool { return v.cmp(v.list[i], *k) > 0 }))
		}
	}
	step, i, end := 1, lo, hi
	if iq.desc {
		step, i, end = -1, hi-1, lo-1
	}
	for ; (step > 0 && i < end) || (step < 0 && i > end); i += step {
		l := v.list[i]
		if v.keep != nil && !v.keep(l) {
			continue
		}
		if len(page) == iq.limit {
			return page, true
		}
		page = append(page, l)
	}
	return page, false
}

// view returns the listings iq pages through. The caller holds the catalogue's read lock.
func (h *Handler) view(iq itemsQuery) itemsView {
	if iq.orderBy == orderUpdated {
		list := h.cat.byCreated[iq.game]
		if iq.title != "" {
			list = h.titleListings(iq.game, iq.title, true)
		}
		v := itemsView{list: list, lo: 0, hi: len(list), cmp: createdKeyCompare}
		if iq.from > 0 || iq.to > 0 {
			v.keep = func(l *Listing) bool {
				return l.PriceCents >= iq.from && (iq.to == 0 || l.PriceCents <= iq.to)
			}
		}
		return v
	}
	list := h.cat.byPrice[iq.game]
	if iq.title != "" {
		list = h.titleListings(iq.game, iq.title, false)
	}
	lo, hi := priceRange(list, iq.from, iq.to)
	return itemsView{list: list, lo: lo, hi: hi, cmp: priceKeyCompare}
}

// marketItems serves GET /exchange/v1/market/items: the price order (binary search on the game's sorted
// listings, priceFrom/priceTo in cents, 0 = no bound) or the updated order (the game's listings by
// creation time), either direction, an optional title prefix filter, opaque cursors that stay valid while
// listings are added or sold.
func (h *Handler) marketItems(w http.ResponseWriter, r *http.Request) {
	iq, ok := h.parseItemsQuery(w, r.URL.Query())
	if !ok {
		return
	}
	h.cat.mu.RLock()
	v := h.view(iq)
	page, more := v.page(iq)
	total := v.total()
	h.cat.mu.RUnlock()
	out := marketItemsJSON{Objects: make([]itemJSON, 0, len(page)), Total: totalJSON{Items: min(total, 10000)}}
	for _, l := range page {
		out.Objects = append(out.Objects, renderItem(l))
	}
	if more {
		out.Cursor = encodeCursor(page[len(page)-1])
	}
	h.countPage(r)
	writeJSON(w, http.StatusOK, out)
}

// titleListings returns the listings of the titles whose name starts with prefix (case-insensitive),
// sorted by price (ties by offer id) or, when updated, by creation time (ties by item id). The caller
// holds the catalogue's read lock and must not modify the slice (it may be a title's own Listings).
func (h *Handler) titleListings(game, prefix string, updated bool) []*Listing {
	prefix = strings.ToLower(prefix)
	names := h.cat.byLower[game]
	i := sort.Search(len(names), func(i int) bool { return names[i].lower >= prefix })
	j := i
	for j < len(names) && strings.HasPrefix(names[j].lower, prefix) {
		j++
	}
	if j == i+1 && !updated {
		return names[i].t.Listings
	}
	var out []*Listing
	for _, n := range names[i:j] {
		out = append(out, n.t.Listings...)
	}
	if updated {
		slices.SortFunc(out, createdLess)
	} else {
		slices.SortFunc(out, listingLess)
	}
	return out
}

// aggregatedRequestJSON is the aggregated-prices request; encoding/json matches its keys (filter.game,
// filter.titles, limit, cursor) to the fields regardless of case.
type aggregatedRequestJSON struct {
	Filter struct {
		Game   string
		Titles []string
	}
	Limit, Cursor string
}

// amountJSON is a marketplace amount: {"Currency": "USD", "Amount": "<cents>"}.
type amountJSON struct{ Currency, Amount string }

type aggregatedRowJSON struct {
	Title          string      `json:"title"`
	OrderBestPrice *amountJSON `json:"orderBestPrice,omitempty"`
	OrderCount     string      `json:"orderCount"`
	OfferBestPrice *amountJSON `json:"offerBestPrice,omitempty"`
	OfferCount     string      `json:"offerCount"`
}

type aggregatedJSON struct {
	AggregatedPrices []aggregatedRowJSON `json:"aggregatedPrices"`
	NextCursor       string              `json:"nextCursor"`
}

func aggregatedRow(t *Title) aggregatedRowJSON {
	row := aggregatedRowJSON{Title: t.Name, OrderCount: "0", OfferCount: strconv.Itoa(len(t.Listings))}
	if t.BuyOrder != nil {
		row.OrderBestPrice = &amountJSON{Currency: "USD", Amount: strconv.FormatInt(t.BuyOrder.PriceCents, 10)}
		row.OrderCount = strconv.Itoa(t.BuyOrder.Count)
	}
	if len(t.Listings) > 0 {
		row.OfferBestPrice = &amountJSON{Currency: "USD", Amount: strconv.FormatInt(t.Listings[0].PriceCents, 10)}
	}
	return row
}

// aggregatedPrices serves POST /marketplace-api/v1/aggregated-prices: one row per known requested
// title; without titles it pages through the game's titles.
func (h *Handler) aggregatedPrices(w http.ResponseWriter, body []byte) {
	var req aggregatedRequestJSON
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid request body"})
		return
	}
	if _, ok := h.cat.Fees[req.Filter.Game]; !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "filter.game: unknown game"})
		return
	}
	out := aggregatedJSON{AggregatedPrices: []aggregatedRowJSON{}}
	if len(req.Filter.Titles) > 0 {
		h.cat.mu.RLock()
		for _, name := range req.Filter.Titles {
			if t := h.cat.byName[req.Filter.Game][name]; t != nil {
				out.AggregatedPrices = append(out.AggregatedPrices, aggregatedRow(t))
			}
		}
		h.cat.mu.RUnlock()
		writeJSON(w, http.StatusOK, out)
		return
	}
	limit, err := strconv.Atoi(req.Limit)
	if req.Limit == "" {
		limit, err = 100, nil
	}
	start := 0
	if req.Cursor != "" {
		b, derr := base64.StdEncoding.DecodeString(req.Cursor)
		start, err = strconv.Atoi(string(b))
		if derr != nil {
			err = derr
		}
	}
	if err != nil || limit < 1 || start < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid limit or cursor"})
		return
	}
	h.cat.mu.RLock()
	titles := h.cat.Titles[req.Filter.Game]
	end := min(len(titles), start+limit)
	for i := start; i < end; i++ {
		out.AggregatedPrices = append(out.AggregatedPrices, aggregatedRow(titles[i]))
	}
	if end < len(titles) {
		out.NextCursor = base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	h.cat.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

type saleJSON struct {
	Price           string         `json:"price"`
	Date            string         `json:"date"`
	TxOperationType string         `json:"txOperationType"`
	OfferAttributes map[string]any `json:"offerAttributes"`
	OrderAttributes map[string]any `json:"orderAttributes"`
}

// Dollars formats cents as the decimal-dollar string last-sales sends ("12.57").
func Dollars(c int64) string { return market.Cents(c).String() }

// lastSales serves GET /trade-aggregator/v1/last-sales: newest first, limit 1..20 (larger is clamped),
// offset skips newer sales.
func (h *Handler) lastSales(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	game, title := q.Get("gameId"), q.Get("title")
	if game == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "GameIDRequired"})
		return
	}
	if title == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "TitleRequired"})
		return
	}
	limit, ok1 := intParam(q, "limit", 20)
	offset, ok2 := intParam(q, "offset", 0)
	if !ok1 || !ok2 || limit < 1 || offset < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid limit or offset"})
		return
	}
	limit = min(limit, 20)
	out := struct {
		Sales []saleJSON `json:"sales"`
	}{Sales: []saleJSON{}}
	h.cat.mu.RLock()
	var page []Sale
	if t := h.cat.byName[game][title]; t != nil && offset < int64(len(t.Sales)) {
		page = slices.Clone(t.Sales[offset:min(int64(len(t.Sales)), offset+limit)])
	}
	h.cat.mu.RUnlock()
	for _, s := range page {
		out.Sales = append(out.Sales, saleJSON{
			Price: Dollars(s.PriceCents), Date: strconv.FormatInt(s.Date.Unix(), 10), TxOperationType: s.TxOperationType,
			OfferAttributes: s.Attrs.offerAttributes(), OrderAttributes: map[string]any{},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

type reducedFeeJSON struct {
	Title     string `json:"title"`
	Fraction  string `json:"fraction"`
	MinPrice  *int64 `json:"minPrice,omitempty"`
	MaxPrice  *int64 `json:"maxPrice,omitempty"`
	ExpiresAt int64  `json:"expiresAt"`
}

func renderReducedFee(rf ReducedFee) reducedFeeJSON {
	out := reducedFeeJSON{Title: rf.Title, Fraction: rf.Fraction, ExpiresAt: rf.ExpiresAt.Unix()}
	if !rf.OpenMin {
		v := rf.MinPriceCents
		out.MinPrice = &v
	}
	if !rf.OpenMax {
		v := rf.MaxPriceCents
		out.MaxPrice = &v
	}
	return out
}

// customizedFees serves GET /exchange/v1/customized-fees (limit default 10, at most MaxFeesPage; offset).
func (h *Handler) customizedFees(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	game, ok := gameParam(w, q, func(g string) bool { _, ok := h.cat.Fees[g]; return ok })
	if !ok {
		return
	}
	fees := h.cat.Fees[game]
	if ot := q.Get("offerType"); ot != "" && ot != "dmarket" && ot != "p2p" {
		badRequest(w, "BadRequest", "offerType: must be a valid value.")
		return
	}
	limit, ok1 := intParam(q, "limit", 10)
	offset, ok2 := intParam(q, "offset", 0)
	if !ok1 || !ok2 || limit < 1 || offset < 0 {
		badRequest(w, "BadRequest", "limit, offset: must be non-negative integers.")
		return
	}
	type defaultFee struct {
		Fraction  string `json:"fraction"`
		MinAmount int64  `json:"minAmount"`
	}
	out := struct {
		DefaultFee  defaultFee       `json:"defaultFee"`
		ReducedFees []reducedFeeJSON `json:"reducedFees"`
	}{DefaultFee: defaultFee{Fraction: fees.DefaultFraction, MinAmount: fees.MinAmountCents}, ReducedFees: []reducedFeeJSON{}}
	limit = min(limit, MaxFeesPage)
	if offset < int64(len(fees.Reduced)) {
		end := min(int64(len(fees.Reduced)), offset+limit)
		for _, rf := range fees.Reduced[offset:end] {
			out.ReducedFees = append(out.ReducedFees, renderReducedFee(rf))
		}
	}
	writeJSON(w, http.StatusOK, out)
}
