package offers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// Key prefixes of SPEC §5.2.
const (
	PricesPrefix  = "prices:dmarket:"
	OrdersPrefix  = "orders:dmarket:"
	HistoryPrefix = "history:dmarket:"
	FeesPrefix    = "fees:dmarket:"
)

// Read defaults of RedisSourceConfig.
const (
	DefaultScanCount = 20000
	DefaultBatchSize = 1000
)

// Malformed-data kinds, the values of the `kind` label of dmarket_offers_malformed_keys_total.
const (
	malformedPrices  = "prices"
	malformedOrders  = "orders"
	malformedHistory = "history"
	malformedFees    = "fees"
)

// errMalformed marks stored data that cannot be read; the title or game it belongs to is skipped.
var errMalformed = errors.New("malformed stored value")

// RedisSourceConfig tunes a RedisSource.
type RedisSourceConfig struct {
	// FallbackFee is DMARKET_FEE_PERCENT as a fraction (see ParsePercent), used for games without fees.
	FallbackFee Fraction
	// ScanCount is the COUNT hint of each SCAN; 0 means DefaultScanCount.
	ScanCount int
	// BatchSize is the number of titles read in one pipeline; 0 means DefaultBatchSize.
	BatchSize int
	// Parallel is the number of pipelines in flight; 0 means the number of CPUs plus one.
	Parallel int
}

// RedisSource reads the whole market from the Redis layout of SPEC §5.2 with SCAN plus pipelined HGETALL
// and MGET batches. It is safe for concurrent use.
type RedisSource struct {
	rdb    *redis.Client
	cfg    RedisSourceConfig
	clock  clock.Clock
	logger *slog.Logger

	reads     *prometheus.CounterVec
	duration  prometheus.Histogram
	titles    prometheus.Gauge
	malformed *prometheus.CounterVec
}

// NewRedisSource returns a source reading from rdb. Its metrics are dmarket_offers_market_reads_total
// {result}, dmarket_offers_market_read_duration_seconds, dmarket_offers_market_titles and
// dmarket_offers_malformed_keys_total{kind}.
func NewRedisSource(rdb *redis.Client, cfg RedisSourceConfig, clk clock.Clock, logger *slog.Logger, reg prometheus.Registerer) *RedisSource {
	if cfg.ScanCount <= 0 {
		cfg.ScanCount = DefaultScanCount
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = runtime.GOMAXPROCS(0) + 1
	}
	f := promauto.With(reg)
	s := &RedisSource{
		rdb:    rdb,
		cfg:    cfg,
		clock:  clk,
		logger: logger,
		reads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_offers_market_reads_total",
			Help: "Reads of the whole market from Redis, by result (ok, error).",
		}, []string{"result"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "dmarket_offers_market_read_duration_seconds",
			Help:    "Duration of a read of the whole market from Redis.",
			Buckets: []float64{.01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10},
		}),
		titles: f.NewGauge(prometheus.GaugeOpts{
			Name: "dmarket_offers_market_titles",
			Help: "Titles with at least one live listing in the last market read.",
		}),
		malformed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_offers_malformed_keys_total",
			Help: "Stored keys skipped because their data could not be read, by key kind (prices, orders, history, fees).",
		}, []string{"kind"}),
	}
	for _, r := range []string{"ok", "error"} {
		s.reads.WithLabelValues(r)
	}
	for _, k := range []string{malformedPrices, malformedOrders, malformedHistory, malformedFees} {
		s.malformed.WithLabelValues(k)
	}
	return s
}

// Market reads every title with a live listing, sorted by title, and every game's fees. A malformed key
// skips its title (or game), is counted in Market.Malformed and the malformed-keys metric, and is logged
// once per read with a sample; only Redis errors fail the read.
func (s *RedisSource) Market(ctx context.Context) (Market, error) {
	start := time.Now()
	m, err := s.read(ctx)
	s.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		s.reads.WithLabelValues("error").Inc()
		return Market{}, err
	}
	s.reads.WithLabelValues("ok").Inc()
	s.titles.Set(float64(len(m.Titles)))
	return m, nil
}

// batchResult is what one pipeline produced.
type batchResult struct {
	titles    []Title
	malformed map[string]int
	// sampleTitle and sampleErr describe one malformed title, for the log.
	sampleTitle string
	sampleErr   error
}

func (s *RedisSource) read(ctx context.Context) (Market, error) {
	now := s.clock.Now()
	m := Market{FallbackFee: s.cfg.FallbackFee}
	fees, bad, err := s.readFees(ctx)
	if err != nil {
		return Market{}, err
	}
	m.Fees = fees
	m.Malformed += bad

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	var results []*batchResult
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(gctx, cursor, PricesPrefix+"*", int64(s.cfg.ScanCount)).Result()
		if err != nil {
			_ = g.Wait()
			return Market{}, fmt.Errorf("scan prices: %w", err)
		}
		for len(keys) > 0 {
			n := min(len(keys), s.cfg.BatchSize)
			batch := keys[:n:n]
			keys = keys[n:]
			res := &batchResult{}
			results = append(results, res)
			g.Go(func() error { return s.readBatch(gctx, batch, now, res) })
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return Market{}, err
	}
	total := 0
	for _, r := range results {
		total += len(r.titles)
	}
	m.Titles = make([]Title, 0, total)
	skipped := 0
	var sampleTitle string
	var sampleErr error
	for _, r := range results {
		m.Titles = append(m.Titles, r.titles...)
		for kind, n := range r.malformed {
			skipped += n
			s.malformed.WithLabelValues(kind).Add(float64(n))
		}
		if sampleErr == nil && r.sampleErr != nil {
			sampleTitle, sampleErr = r.sampleTitle, r.sampleErr
		}
	}
	if skipped > 0 {
		s.logger.Warn("skipped titles with malformed stored data", "count", skipped, "sample_title", sampleTitle,
			"err", sampleErr)
	}
	m.Malformed += skipped
	// Sorted titles let Compute order offers by title with integer comparisons; SCAN may return a key
	// twice, and sorting puts the copies side by side.
	slices.SortFunc(m.Titles, func(a, b Title) int { return strings.Compare(a.Title, b.Title) })
	m.Titles = slices.CompactFunc(m.Titles, func(a, b Title) bool { return a.Title == b.Title })
	return m, nil
}

// readBatch reads the prices hashes of keys with their orders and history keys in one pipeline.
func (s *RedisSource) readBatch(ctx context.Context, keys []string, now time.Time, res *batchResult) error {
	titles := make([]string, len(keys))
	orderKeys := make([]string, len(keys))
	historyKeys := make([]string, len(keys))
	for i, k := range keys {
		titles[i] = strings.TrimPrefix(k, PricesPrefix)
		orderKeys[i] = OrdersPrefix + titles[i]
		historyKeys[i] = HistoryPrefix + titles[i]
	}
	pipe := s.rdb.Pipeline()
	hashes := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		hashes[i] = pipe.HGetAll(ctx, k)
	}
	orders := pipe.MGet(ctx, orderKeys...)
	histories := pipe.MGet(ctx, historyKeys...)
	if _, err := pipe.Exec(ctx); err != nil {
		// A key of the wrong type is bad data of one title; anything else fails the read.
		for _, c := range []redis.Cmder{orders, histories} {
			if c.Err() != nil {
				return fmt.Errorf("read prices batch of %d titles: %w", len(keys), c.Err())
			}
		}
		for _, h := range hashes {
			if h.Err() != nil && !isWrongType(h.Err()) {
				return fmt.Errorf("read prices batch of %d titles: %w", len(keys), h.Err())
			}
		}
	}
	orderVals, historyVals := orders.Val(), histories.Val()
	if len(orderVals) != len(keys) || len(historyVals) != len(keys) {
		return fmt.Errorf("read prices batch of %d titles: short MGET answer", len(keys))
	}
	res.titles = make([]Title, 0, len(keys))
	for i, title := range titles {
		var t Title
		var kind string
		var err error
		if herr := hashes[i].Err(); herr != nil {
			kind, err = malformedPrices, fmt.Errorf("%w: %w", errMalformed, herr)
		} else {
			t, kind, err = decodeTitle(title, hashes[i].Val(), orderVals[i], historyVals[i], now)
		}
		if err != nil {
			if res.malformed == nil {
				res.malformed = make(map[string]int)
			}
			res.malformed[kind]++
			if res.sampleErr == nil {
				res.sampleTitle, res.sampleErr = title, err
			}
			continue
		}
		if t.Available != nil || t.Locked != nil {
			res.titles = append(res.titles, t)
		}
	}
	return nil
}

func isWrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

func unixSeconds(x float64) time.Time {
	sec, frac := math.Modf(x)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// decodeTitle builds one title from its stored values; on error it returns the kind of key at fault.
func decodeTitle(title string, hash map[string]string, order, history any, now time.Time) (Title, string, error) {
	t := Title{Title: title}
	if len(hash) == 0 {
		return t, "", nil // the key expired between SCAN and HGETALL
	}
	rawMeta, ok := hash["meta"]
	if !ok {
		return t, malformedPrices, fmt.Errorf("%w: no meta field", errMalformed)
	}
	var metaUpdated float64
	err := eachMember(rawMeta, func(key, raw string) error {
		var err error
		switch key {
		case "game_id":
			t.GameID, err = stringValue(raw)
		case "image":
			t.Image, err = stringValue(raw)
		case "updated_at":
			metaUpdated, err = floatValue(raw)
		}
		return err
	})
	if err != nil {
		return t, malformedPrices, fmt.Errorf("%w: meta: %w", errMalformed, err)
	}
	// A field whose exp is in the past is expired, to the nanosecond: comparing with the time truncated
	// to whole seconds would keep a field up to a second after its expiry.
	nowUnix := float64(now.UnixNano()) / 1e9
	for field, raw := range hash {
		var locked bool
		switch {
		case strings.HasPrefix(field, "a:"):
		case strings.HasPrefix(field, "l:"):
			locked = true
		default:
			continue
		}
		price, err := strconv.ParseInt(field[2:], 10, 64)
		if err != nil || price <= 0 {
			return t, malformedPrices, fmt.Errorf("%w: field %q: bad price", errMalformed, field)
		}
		lv, err := decodeLevel(raw)
		if err != nil {
			return t, malformedPrices, fmt.Errorf("%w: field %q: %w", errMalformed, field, err)
		}
		if lv.exp < nowUnix || lv.n <= 0 {
			continue
		}
		dst := &t.Available
		if locked {
			dst = &t.Locked
		}
		if *dst != nil && (*dst).Price <= price {
			continue
		}
		updated := unixSeconds(metaUpdated)
		if lv.t > 0 {
			updated = time.UnixMilli(lv.t).UTC()
		}
		*dst = &Listing{Price: price, Count: int(lv.n), LockDays: lv.days, UpdatedAt: updated, ExpiresAt: unixSeconds(lv.exp)}
	}
	if t.Available == nil && t.Locked == nil {
		return t, "", nil
	}
	if s, ok := order.(string); ok {
		o, err := decodeOrder(s)
		if err != nil {
			return t, malformedOrders, fmt.Errorf("%w: order: %w", errMalformed, err)
		}
		t.Order = o
	}
	if s, ok := history.(string); ok {
		h, err := decodeHistory(s)
		if err != nil {
			return t, malformedHistory, fmt.Errorf("%w: history: %w", errMalformed, err)
		}
		t.History = h
	}
	return t, "", nil
}

// level is one decoded `a:`/`l:` field.
type level struct {
	n, t      int64
	exp, days float64
}

func decodeLevel(raw string) (level, error) {
	var lv level
	hasExp := false
	err := eachMember(raw, func(key, v string) error {
		var err error
		switch key {
		case "n":
			lv.n, err = intValue(v)
		case "exp":
			lv.exp, err = floatValue(v)
			hasExp = v != "null"
		case "days":
			lv.days, err = floatValue(v)
		case "t":
			lv.t, err = intValue(v)
		}
		return err
	})
	if err == nil && !hasExp {
		err = errors.New("no exp")
	}
	return lv, err
}

func decodeOrder(raw string) (*Order, error) {
	var o Order
	var count int64
	var updated float64
	err := eachMember(raw, func(key, v string) error {
		var err error
		switch key {
		case "price":
			o.Price, err = intValue(v)
		case "count":
			count, err = intValue(v)
		case "updated_at":
			updated, err = floatValue(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	o.Count, o.UpdatedAt = int(count), unixSeconds(updated)
	return &o, nil
}

// scanProbability parses the sell-probability object starting at v[i] ({"<price cents>": percent, …}),
// keeping the highest price of each resale level, and returns the index after it. Prices must be plain
// decimal integers and percents integers.
func scanProbability(v string, i int, h *History) (int, error) {
	if i >= len(v) || v[i] != '{' {
		return 0, fmt.Errorf("%w: probability is not an object", errJSON)
	}
	i = skipWS(v, i+1)
	if i < len(v) && v[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(v) || v[i] != '"' {
			return 0, fmt.Errorf("%w: expected a probability price", errJSON)
		}
		end := strings.IndexByte(v[i+1:], '"')
		if end < 0 {
			return 0, fmt.Errorf("%w: unterminated probability price", errJSON)
		}
		end += i + 1
		cents, ok := parseDigits(v[i+1 : end])
		if !ok {
			return 0, fmt.Errorf("%w: probability price %q", errJSON, v[i+1:end])
		}
		i = skipWS(v, end+1)
		if i >= len(v) || v[i] != ':' {
			return 0, fmt.Errorf("%w: expected ':'", errJSON)
		}
		i = skipWS(v, i+1)
		if i >= len(v) {
			return 0, fmt.Errorf("%w: missing percent", errJSON)
		}
		vEnd, err := walkNumber(v, i)
		if err != nil {
			return 0, err
		}
		p, ok := parseDigits(v[i:vEnd])
		if !ok {
			if p, err = intValue(v[i:vEnd]); err != nil {
				return 0, err
			}
		}
		if p >= HistoryLevelLow && cents > h.PriceAtLow {
			h.PriceAtLow = cents
		}
		if p >= HistoryLevelHigh && cents > h.PriceAtHigh {
			h.PriceAtHigh = cents
		}
		i = skipWS(v, vEnd)
		if i >= len(v) {
			return 0, fmt.Errorf("%w: unterminated probability", errJSON)
		}
		switch v[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = skipWS(v, i+1)
		default:
			return 0, fmt.Errorf("%w: expected ',' or '}'", errJSON)
		}
	}
}

// parseDigits parses a non-empty run of at most 18 decimal digits.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// decodeHistory reads a `history:` value, keeping of the probability table only the two resale prices.
func decodeHistory(raw string) (*History, error) {
	var h History
	err := eachMemberAt(raw, func(key string, i int) (int, error) {
		switch key {
		case "probability":
			if !strings.HasPrefix(raw[i:], "null") {
				return scanProbability(raw, i, &h)
			}
		case "stable", "sold_per_week":
		default:
			return skipValue(raw, i) // chart points and the like are not needed here
		}
		end, err := walkValue(raw, i)
		if err != nil {
			return 0, err
		}
		v := raw[i:end]
		switch key {
		case "stable":
			h.Stable, err = boolValue(v)
		case "sold_per_week":
			var n int64
			n, err = intValue(v)
			h.SoldPerWeek = int(n)
		}
		return end, err
	})
	if err != nil {
		return nil, err
	}
	return &h, nil
}

type feesJSON struct {
	Fraction *Fraction     `json:"fraction"`
	Min      int64         `json:"min"`
	Reduced  []reducedJSON `json:"reduced"`
}

type reducedJSON struct {
	Title     string    `json:"title"`
	Fraction  *Fraction `json:"fraction"`
	Min       *int64    `json:"min"`
	MinPrice  *int64    `json:"min_price"`
	MaxPrice  *int64    `json:"max_price"`
	ExpiresAt *float64  `json:"expires_at"`
}

// readFees reads every game's fees; malformed games are skipped and counted.
func (s *RedisSource) readFees(ctx context.Context) (map[string]GameFee, int, error) {
	var keys []string
	iter := s.rdb.Scan(ctx, 0, FeesPrefix+"*", int64(s.cfg.ScanCount)).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, 0, fmt.Errorf("scan fees: %w", err)
	}
	fees := make(map[string]GameFee, len(keys))
	if len(keys) == 0 {
		return fees, 0, nil
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read fees: %w", err)
	}
	bad := 0
	for i, k := range keys {
		raw, ok := vals[i].(string)
		if !ok {
			continue
		}
		game := strings.TrimPrefix(k, FeesPrefix)
		gf, err := decodeFees(raw)
		if err != nil {
			bad++
			s.malformed.WithLabelValues(malformedFees).Inc()
			s.logger.Warn("skip game fees with malformed stored data", "game", game, "err", err)
			continue
		}
		fees[game] = gf
	}
	return fees, bad, nil
}

func decodeFees(raw string) (GameFee, error) {
	var f feesJSON
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return GameFee{}, fmt.Errorf("%w: fees: %w", errMalformed, err)
	}
	if f.Fraction == nil {
		return GameFee{}, fmt.Errorf("%w: fees: no fraction", errMalformed)
	}
	if f.Min < 0 {
		return GameFee{}, fmt.Errorf("%w: fees: negative min", errMalformed)
	}
	gf := GameFee{Fraction: *f.Fraction, MinCents: f.Min}
	for i, r := range f.Reduced {
		if r.Fraction == nil || r.Title == "" {
			return GameFee{}, fmt.Errorf("%w: fees: reduced fee %d lacks title or fraction", errMalformed, i)
		}
		rf := ReducedFee{Fraction: *r.Fraction, MinCents: r.Min, MinPrice: r.MinPrice, MaxPrice: r.MaxPrice}
		if r.ExpiresAt != nil {
			rf.ExpiresAt = unixSeconds(*r.ExpiresAt)
		}
		if gf.Reduced == nil {
			gf.Reduced = make(map[string][]ReducedFee)
		}
		gf.Reduced[r.Title] = append(gf.Reduced[r.Title], rf)
	}
	return gf, nil
}
