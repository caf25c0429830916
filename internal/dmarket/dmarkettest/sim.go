// Package dmarkettest owns a DMarket API simulator for tests, benchmarks and the demo: a deterministic
// catalogue generated from a seed and served through the four endpoints the monitor uses, with DMarket's
// shapes and units, cursor paging, per-IP and per-account rate limits, Ed25519 signature checks and
// switchable faults. The catalogue is adversarial by default (prices shared by more than a page of
// listings, awkward titles, reduced fees with extreme bounds, sparse sales; see adversarial.go), its CS2
// items carry attributes (float, paint seed, Doppler phase, stickers) and it holds attribute titles with
// designed cases (attrcat.go); it is exposed as the ground truth a test computes its expectations from. The market is static unless moved:
// AddListing, Sell and SetOrder change it at run time, and a Mover (mover.go) injects designed deals and
// background churn on an injected clock, recording what it listed and sold.
package dmarkettest

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// Endpoint names a simulated endpoint; the values match the client's endpoint labels.
type Endpoint string

// The simulated endpoints.
const (
	EndpointMarketItems      Endpoint = "market_items"
	EndpointAggregatedPrices Endpoint = "aggregated_prices"
	EndpointLastSales        Endpoint = "last_sales"
	EndpointCustomizedFees   Endpoint = "customized_fees"
)

// Endpoints lists every simulated endpoint.
var Endpoints = []Endpoint{EndpointMarketItems, EndpointAggregatedPrices, EndpointLastSales, EndpointCustomizedFees}

// Config sets up a simulator. Zero values take the documented defaults; a negative rate disables that
// limit.
type Config struct {
	// Seed makes the catalogue (and the fault draws) deterministic. Default 1.
	Seed int64
	// Games are the game ids served, default ["a8db"].
	Games []string
	// Titles is the number of titles per game, default 200.
	Titles int
	// ListingsPerTitle is the mean number of listings per title (1..2n-1 each), default 10.
	ListingsPerTitle int
	// MinPriceCents and MaxPriceCents bound suggested prices (log-uniform), default 3 and 200000.
	MinPriceCents, MaxPriceCents int64
	// LockedShare is the share of trade-locked listings (1 s to 8 days), default 0.1.
	LockedShare float64
	// BuyOrderShare is the share of titles with a buy order, default 0.5.
	BuyOrderShare float64
	// StableShare is the share of titles with an hourly sale over the whole history, default 0.3.
	StableShare float64
	// DealShare is the share of titles whose cheapest listing is far below the suggested price,
	// default 0.1.
	DealShare float64
	// SalesDays is how many days of sales history are generated, default 8.
	SalesDays int
	// DefaultFeeFraction is the default fee share, default "0.05"; MinFeeCents the minimum fee,
	// default 1.
	DefaultFeeFraction string
	MinFeeCents        int64
	// ReducedFeeTitles is the number of reduced-fee titles per game, default 3.
	ReducedFeeTitles int
	// Now is the catalogue's reference time, default Clock.Now() truncated to the second.
	Now time.Time
	// Simple turns the adversarial additions off and serves only the ordinary catalogue drawn from the
	// settings above. By default (false) every game also holds the adversarial titles and fees described
	// in adversarial.go, and no sale lies within two hours of Now − 7 days.
	Simple bool

	// PublicKeys are the hex public keys whose signatures are accepted.
	PublicKeys []string
	// SignatureMaxAge is how old (or early) X-Sign-Date may be, default 2m.
	SignatureMaxAge time.Duration

	// PublicMarketRate is the unsigned market-items limit per client IP in requests/s, default 2.
	PublicMarketRate float64
	// PublicOtherRate is the unsigned limit of all other methods together per client IP, default 6.
	PublicOtherRate float64
	// AccountListingsRate, AccountSalesRate and AccountOtherRate are the per-account limits of signed
	// calls, default 10, 6 and 20.
	AccountListingsRate, AccountSalesRate, AccountOtherRate float64

	// Clock drives signature freshness and rate limits, default the real clock.
	Clock clock.Clock
}

// positiveOr sets *v to d unless *v is positive.
func positiveOr[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// zeroOr sets *v to d when *v is zero (a negative rate stays: it disables the limit).
func zeroOr[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func (c *Config) setDefaults() {
	zeroOr(&c.Seed, 1)
	if len(c.Games) == 0 {
		c.Games = []string{"a8db"}
	}
	positiveOr(&c.Titles, 200)
	positiveOr(&c.ListingsPerTitle, 10)
	positiveOr(&c.MinPriceCents, 3)
	if c.MaxPriceCents <= c.MinPriceCents {
		c.MaxPriceCents = max(200000, c.MinPriceCents+1)
	}
	for v, d := range map[*float64]float64{
		&c.LockedShare: 0.1, &c.BuyOrderShare: 0.5, &c.StableShare: 0.3, &c.DealShare: 0.1,
		&c.PublicMarketRate: 2, &c.PublicOtherRate: 6,
		&c.AccountListingsRate: 10, &c.AccountSalesRate: 6, &c.AccountOtherRate: 20,
	} {
		zeroOr(v, d)
	}
	positiveOr(&c.SalesDays, 8)
	zeroOr(&c.DefaultFeeFraction, "0.05")
	positiveOr(&c.MinFeeCents, 1)
	zeroOr(&c.ReducedFeeTitles, 3)
	positiveOr(&c.SignatureMaxAge, 2*time.Minute)
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Now.IsZero() {
		c.Now = c.Clock.Now().Truncate(time.Second)
	}
}

// Fault is a runtime misbehaviour of one endpoint.
type Fault struct {
	// ServerErrorRate is the share of requests answered 500, 502 or 503 (0..1).
	ServerErrorRate float64
	// MalformedRate is the share of requests answered 200 with a truncated, invalid JSON body (0..1).
	MalformedRate float64
	// Delay holds every answer this long (or until the client goes away).
	Delay time.Duration
	// Gone answers every request 410, as a retired endpoint does.
	Gone bool
	// Status, when non-zero, answers every request with this status and a DMarket error body.
	Status int
}

// Stats are request counters since start or the last ResetStats.
type Stats struct {
	// Requests counts requests per client IP.
	Requests map[string]int64
	// RateLimited counts 429 answers per client IP.
	RateLimited map[string]int64
	// ByEndpoint counts requests per endpoint.
	ByEndpoint map[Endpoint]int64
	// Unauthorized counts 401 answers.
	Unauthorized int64
	// Pages counts the listings pages answered (status 200), by query and cursor: a count above one is a
	// page fetched more than once.
	Pages map[PageKey]int64
	// PagesByIP counts the listings pages answered per client IP (the egress that fetched them).
	PagesByIP map[string]int64
	// Held is the number of requests Pause holds right now, per client IP (not reset by ResetStats).
	Held map[string]int64
	// Lanes counts the market-items requests and their 429 answers by lane, so that a test can check how
	// a crawler splits its budget.
	Lanes map[Lane]LaneStats
}

// Lane is a kind of market-items request, as a crawler's lanes spend the listings budget.
type Lane string

// The lanes of market-items requests.
const (
	// LaneRange is the price-ordered crawl: orderBy=price (or none) without a title filter.
	LaneRange Lane = "range"
	// LaneFresh is the newest-listings poll: orderBy=updated without a title filter.
	LaneFresh Lane = "fresh"
	// LaneTitle is a title scan: any market-items request with a title filter.
	LaneTitle Lane = "title"
)

// laneOf returns the lane of a market-items query.
func laneOf(q url.Values) Lane {
	switch {
	case q.Get("title") != "":
		return LaneTitle
	case strings.EqualFold(q.Get("orderBy"), orderUpdated):
		return LaneFresh
	}
	return LaneRange
}

// LaneStats counts one lane's market-items requests.
type LaneStats struct {
	// Requests and RateLimited count the lane's requests and its 429 answers.
	Requests, RateLimited int64
	// RequestsByIP and RateLimitedByIP count them per client IP.
	RequestsByIP, RateLimitedByIP map[string]int64
}

// count records a request of the lane from ip, and its 429 when limited.
func (l *LaneStats) count(ip string, limited bool) {
	if l.RequestsByIP == nil {
		l.RequestsByIP, l.RateLimitedByIP = map[string]int64{}, map[string]int64{}
	}
	if limited {
		l.RateLimited++
		l.RateLimitedByIP[ip]++
		return
	}
	l.Requests++
	l.RequestsByIP[ip]++
}

func (l LaneStats) clone() LaneStats {
	l.RequestsByIP, l.RateLimitedByIP = maps.Clone(l.RequestsByIP), maps.Clone(l.RateLimitedByIP)
	return l
}

// PageKey identifies a listings page: its query without the cursor (parameters sorted, URL-encoded) and
// its cursor ("" for a chain's first page).
type PageKey struct {
	Query, Cursor string
}

// pageKey returns the PageKey of a market-items request's query.
func pageKey(q url.Values) PageKey {
	rest := maps.Clone(q)
	delete(rest, "cursor")
	return PageKey{Query: rest.Encode(), Cursor: q.Get("cursor")}
}

// Handler is the simulator as an http.Handler, for serving on a real address.
type Handler struct {
	cfg  Config
	cat  *Catalogue
	keys map[string]ed25519.PublicKey

	mu       sync.Mutex
	faults   map[Endpoint]Fault
	rng      *rand.Rand
	limiters map[string]*rate.Limiter
	stats    Stats
	// paused, while not nil, holds every request until it is closed (Resume); held counts the requests
	// it holds per client IP.
	paused chan struct{}
	held   map[string]int64
	// lanes counts the market-items requests by lane.
	lanes map[Lane]*LaneStats
}

// NewHandler builds the simulator: it generates the catalogue and checks the public keys.
func NewHandler(cfg Config) (*Handler, error) {
	cfg.setDefaults()
	if cfg.Titles > 10_000_000 || cfg.ListingsPerTitle > 100_000 {
		return nil, errors.New("dmarket simulator: catalogue too large")
	}
	h := &Handler{
		cfg:      cfg,
		keys:     make(map[string]ed25519.PublicKey, len(cfg.PublicKeys)),
		faults:   make(map[Endpoint]Fault),
		rng:      newRand(cfg.Seed, "faults"),
		limiters: make(map[string]*rate.Limiter),
		held:     make(map[string]int64),
	}
	for i, k := range cfg.PublicKeys {
		k = strings.ToLower(strings.TrimSpace(k))
		b, err := hex.DecodeString(k)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("dmarket simulator: public key %d is not %d hex characters", i, 2*ed25519.PublicKeySize)
		}
		h.keys[k] = ed25519.PublicKey(b)
	}
	h.ResetStats()
	h.cat = generate(&h.cfg)
	return h, nil
}

// Catalogue returns the ground truth served. Do not modify it.
func (h *Handler) Catalogue() *Catalogue { return h.cat }

// SetFault sets (replaces) the fault of an endpoint; the zero Fault clears it.
func (h *Handler) SetFault(ep Endpoint, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f == (Fault{}) {
		delete(h.faults, ep)
		return
	}
	h.faults[ep] = f
}

// ClearFaults removes every fault.
func (h *Handler) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.faults)
}

// Stats returns a copy of the counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	lanes := make(map[Lane]LaneStats, len(h.lanes))
	for k, l := range h.lanes {
		lanes[k] = l.clone()
	}
	return Stats{
		Requests:     maps.Clone(h.stats.Requests),
		RateLimited:  maps.Clone(h.stats.RateLimited),
		ByEndpoint:   maps.Clone(h.stats.ByEndpoint),
		Unauthorized: h.stats.Unauthorized,
		Pages:        maps.Clone(h.stats.Pages),
		PagesByIP:    maps.Clone(h.stats.PagesByIP),
		Held:         maps.Clone(h.held),
		Lanes:        lanes,
	}
}

// Pause holds every request from now on, unanswered and uncounted, until Resume or until its client goes
// away: a test can stop every client at a request boundary, e.g. before killing one of them.
func (h *Handler) Pause() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.paused == nil {
		h.paused = make(chan struct{})
	}
}

// Resume lets the requests held since Pause (and every later one) through.
func (h *Handler) Resume() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.paused != nil {
		close(h.paused)
		h.paused = nil
	}
}

// hold waits while the simulator is paused and reports whether r's client is still there.
func (h *Handler) hold(r *http.Request) bool {
	ip := clientIP(r)
	h.mu.Lock()
	paused := h.paused
	if paused != nil {
		h.held[ip]++
	}
	h.mu.Unlock()
	if paused == nil {
		return true
	}
	defer func() {
		h.mu.Lock()
		if h.held[ip]--; h.held[ip] == 0 {
			delete(h.held, ip)
		}
		h.mu.Unlock()
	}()
	select {
	case <-paused:
		return true
	case <-r.Context().Done():
		return false
	}
}

// countPage records a listings page answered to the client of r.
func (h *Handler) countPage(r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Pages[pageKey(r.URL.Query())]++
	h.stats.PagesByIP[clientIP(r)]++
}

// lane returns the counters of a lane; the caller holds h.mu.
func (h *Handler) lane(l Lane) *LaneStats {
	st := h.lanes[l]
	if st == nil {
		st = &LaneStats{}
		h.lanes[l] = st
	}
	return st
}

// ResetStats zeroes the counters.
func (h *Handler) ResetStats() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats = Stats{Requests: map[string]int64{}, RateLimited: map[string]int64{}, ByEndpoint: map[Endpoint]int64{},
		Pages: map[PageKey]int64{}, PagesByIP: map[string]int64{}}
	h.lanes = map[Lane]*LaneStats{}
}

// Server is the simulator on a local httptest server (127.0.0.1, random port).
type Server struct {
	*Handler
	srv *httptest.Server
}

// New starts a simulator. It panics on an invalid Config (bad public keys), as httptest does on
// failures to listen.
func New(cfg Config) *Server {
	h, err := NewHandler(cfg)
	if err != nil {
		panic(err)
	}
	return &Server{Handler: h, srv: httptest.NewServer(h)}
}

// URL is the simulator's base URL, to use as the client's BaseURL.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// LoopbackClient returns an HTTP client whose connections leave from localIP (e.g. "127.0.0.2"), so
// that the simulator sees it as a distinct client IP. On Linux every 127.0.0.0/8 address is local.
func LoopbackClient(localIP string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// ServeHTTP answers one request: pause, routing, counters, signature check, rate limits, faults, endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.hold(r) {
		return
	}
	ep, method, ok := route(r.URL.Path)
	ip := clientIP(r)
	var lane Lane
	if ep == EndpointMarketItems {
		lane = laneOf(r.URL.Query())
	}
	h.mu.Lock()
	h.stats.Requests[ip]++
	if ok {
		h.stats.ByEndpoint[ep]++
	}
	if lane != "" {
		h.lane(lane).count(ip, false)
	}
	h.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, errExchange("NotFound", "Not Found"))
		return
	}
	if r.Method != method {
		writeJSON(w, http.StatusMethodNotAllowed, errExchange("MethodNotAllowed", "Method Not Allowed"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errExchange("BadRequest", "cannot read body"))
		return
	}
	account, signed := "", r.Header.Get("X-Request-Sign") != ""
	if signed {
		if account, err = h.verify(r, body); err != nil {
			h.unauthorized(w, ep)
			return
		}
	}
	if !h.allow(w, ep, lane, ip, account) {
		return
	}
	if !signed && ep != EndpointMarketItems {
		h.unauthorized(w, ep)
		return
	}
	if h.fault(w, r, ep) {
		return
	}
	switch ep {
	case EndpointMarketItems:
		h.marketItems(w, r)
	case EndpointAggregatedPrices:
		h.aggregatedPrices(w, body)
	case EndpointLastSales:
		h.lastSales(w, r)
	default:
		h.customizedFees(w, r)
	}
}

func route(path string) (Endpoint, string, bool) {
	switch path {
	case "/exchange/v1/market/items":
		return EndpointMarketItems, http.MethodGet, true
	case "/marketplace-api/v1/aggregated-prices":
		return EndpointAggregatedPrices, http.MethodPost, true
	case "/trade-aggregator/v1/last-sales":
		return EndpointLastSales, http.MethodGet, true
	case "/exchange/v1/customized-fees":
		return EndpointCustomizedFees, http.MethodGet, true
	}
	return "", "", false
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	const maxBody = 1 << 20
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, errors.New("body too large")
	}
	return b, nil
}

// verify checks the Ed25519 signature of a signed request and returns the account's public key.
func (h *Handler) verify(r *http.Request, body []byte) (string, error) {
	key := strings.ToLower(r.Header.Get("X-Api-Key"))
	pub, ok := h.keys[key]
	if !ok {
		return "", errors.New("unknown api key")
	}
	date := r.Header.Get("X-Sign-Date")
	var ts int64
	if _, err := fmt.Sscanf(date, "%d", &ts); err != nil || fmt.Sprint(ts) != date {
		return "", errors.New("bad sign date")
	}
	age := h.cfg.Clock.Now().Sub(time.Unix(ts, 0))
	if math.Abs(float64(age)) > float64(h.cfg.SignatureMaxAge) {
		return "", errors.New("stale signature")
	}
	sigHex, ok := strings.CutPrefix(r.Header.Get("X-Request-Sign"), "dmar ed25519 ")
	if !ok {
		return "", errors.New("bad signature scheme")
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", errors.New("bad signature encoding")
	}
	msg := r.Method + r.URL.Path
	if r.URL.RawQuery != "" {
		msg += "?" + r.URL.RawQuery
	}
	msg += string(body) + date
	if !ed25519.Verify(pub, []byte(msg), sig) {
		return "", errors.New("bad signature")
	}
	return key, nil
}

func (h *Handler) unauthorized(w http.ResponseWriter, ep Endpoint) {
	h.mu.Lock()
	h.stats.Unauthorized++
	h.mu.Unlock()
	switch ep {
	case EndpointAggregatedPrices:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"Code": "Unauthorized", "Message": "Unauthorized"})
	case EndpointLastSales:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 16, "message": "Unauthorized"})
	default:
		writeJSON(w, http.StatusUnauthorized, errExchange("Unauthorized", "Unauthorized"))
	}
}

// allow applies the per-IP (unsigned) or per-account (signed) limit and answers 429 when exceeded. It
// sets the RateLimit headers either way.
func (h *Handler) allow(w http.ResponseWriter, ep Endpoint, lane Lane, ip, account string) bool {
	var key string
	var limit float64
	switch {
	case account != "" && ep == EndpointMarketItems:
		key, limit = "acct|listings|"+account, h.cfg.AccountListingsRate
	case account != "" && ep == EndpointLastSales:
		key, limit = "acct|sales|"+account, h.cfg.AccountSalesRate
	case account != "":
		key, limit = "acct|other|"+account, h.cfg.AccountOtherRate
	case ep == EndpointMarketItems:
		key, limit = "ip|market|"+ip, h.cfg.PublicMarketRate
	default:
		key, limit = "ip|other|"+ip, h.cfg.PublicOtherRate
	}
	if limit < 0 {
		return true
	}
	now := h.cfg.Clock.Now()
	burst := max(1, int(math.Ceil(limit)))
	h.mu.Lock()
	lim, ok := h.limiters[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(limit), burst)
		h.limiters[key] = lim
	}
	allowed := lim.AllowN(now, 1)
	remaining := max(0, int(lim.TokensAt(now)))
	var wait time.Duration
	if !allowed {
		res := lim.ReserveN(now, 1)
		wait = res.DelayFrom(now)
		res.CancelAt(now)
		h.stats.RateLimited[ip]++
		if lane != "" {
			h.lane(lane).count(ip, true)
		}
	}
	h.mu.Unlock()
	hd := w.Header()
	hd.Set("X-RateLimit-Limit-Second", fmt.Sprint(burst))
	hd.Set("X-RateLimit-Remaining-Second", fmt.Sprint(remaining))
	hd.Set("RateLimit-Limit", fmt.Sprint(burst))
	hd.Set("RateLimit-Remaining", fmt.Sprint(remaining))
	hd.Set("RateLimit-Reset", "1")
	if allowed {
		return true
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	hd.Set("RateLimit-Reset", fmt.Sprint(secs))
	hd.Set("Retry-After", fmt.Sprint(secs))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "API rate limit exceeded"})
	return false
}

// fault applies ep's fault, if any, and reports whether the answer was written.
func (h *Handler) fault(w http.ResponseWriter, r *http.Request, ep Endpoint) bool {
	h.mu.Lock()
	f, ok := h.faults[ep]
	var draw1, draw2 float64
	if ok {
		draw1, draw2 = h.rng.Float64(), h.rng.Float64()
	}
	h.mu.Unlock()
	if !ok {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Gone:
		writeJSON(w, http.StatusGone, errExchange("Gone", "This endpoint is no longer supported."))
	case f.Status != 0:
		writeJSON(w, f.Status, errExchange(http.StatusText(f.Status), http.StatusText(f.Status)))
	case draw1 < f.ServerErrorRate:
		// Alternate between the 5xx answers seen in the wild: 500 with a JSON body, 502/503 from the gateway.
		switch int(draw2*1000) % 3 {
		case 0:
			writeJSON(w, http.StatusInternalServerError, errExchange("InternalServerError", "Internal Server Error"))
		case 1:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "name resolution failed"})
		}
	case draw2 < f.MalformedRate:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"objects":[{"itemId":"truncated`))
	default:
		return false
	}
	return true
}

func errExchange(code, msg string) map[string]string {
	return map[string]string{"code": code, "message": msg}
}

// demoSeed derives the demo key pair; the pair is public on purpose and grants nothing outside the
// simulator.
var demoSeed = [ed25519.SeedSize]byte{'d', 'm', 'a', 'r', 'k', 'e', 't', '-', 's', 'i', 'm', '-', 'd', 'e', 'm', 'o'}

// DemoKeys returns a fixed key pair (hex public key, hex 64-byte secret key) for demos and tests.
func DemoKeys() (publicHex, secretHex string) {
	priv := ed25519.NewKeyFromSeed(demoSeed[:])
	return hex.EncodeToString(priv[ed25519.SeedSize:]), hex.EncodeToString(priv)
}
