package pricestore

import (
	"cmp"
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

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
)

// Read defaults of MarketReaderConfig.
const (
	DefaultMarketScanCount = 20000
	DefaultMarketBatchSize = 1000
)

// Kinds of malformed stored data, the keys of market.Snapshot.Malformed.
const (
	MalformedPrices  = "prices"
	MalformedOrders  = "orders"
	MalformedHistory = "history"
	MalformedFees    = "fees"
)

// MalformedKinds lists every kind of malformed stored data.
var MalformedKinds = []string{MalformedPrices, MalformedOrders, MalformedHistory, MalformedFees}

// MarketReaderConfig tunes a MarketReader.
type MarketReaderConfig struct {
	// FallbackFee is DMARKET_FEE_PERCENT as a fraction (see market.ParsePercent), used for games without fees.
	FallbackFee market.Fraction
	// ScanCount is the COUNT hint of each SCAN; 0 means DefaultMarketScanCount.
	ScanCount int
	// BatchSize is the number of titles read in one pipeline; 0 means DefaultMarketBatchSize.
	BatchSize int
	// Parallel is the number of pipelines in flight; 0 means the number of CPUs plus one.
	Parallel int
}

// MarketReader reads the whole market into a market.Snapshot, the values offers are computed from, with
// SCAN plus pipelined HGETALL and MGET batches (on a Redis Cluster: SCAN on every master and one GET per
// key, since an MGET must stay within one hash slot). It is safe for concurrent use.
type MarketReader struct {
	rdb     redis.UniversalClient
	cluster bool
	cfg     MarketReaderConfig
	clock   clock.Clock
	logger  *slog.Logger
}

// NewMarketReader returns a reader of rdb.
func NewMarketReader(rdb redis.UniversalClient, cfg MarketReaderConfig, clk clock.Clock, logger *slog.Logger) *MarketReader {
	if cfg.ScanCount <= 0 {
		cfg.ScanCount = DefaultMarketScanCount
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultMarketBatchSize
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = runtime.GOMAXPROCS(0) + 1
	}
	_, cluster := rdb.(*redis.ClusterClient)
	return &MarketReader{rdb: rdb, cluster: cluster, cfg: cfg, clock: clk, logger: logger}
}

// Market reads every title with a live listing, sorted by title, and every game's fees. A malformed key
// skips its title (or game), is counted by kind in Snapshot.Malformed and is logged once per read with a
// sample; only Redis errors fail the read.
func (s *MarketReader) Market(ctx context.Context) (market.Snapshot, error) {
	return s.read(ctx)
}

// Titles reads the current state of the named titles (cheapest levels, best buy order, sell history),
// sorted by title, as Market reads them: a title without a prices key, without a live level or with
// malformed stored data is absent from the result (malformed ones are logged). Fees are not read: they
// come from the latest Market snapshot. The reads are pipelined in batches of BatchSize, also on a Redis
// Cluster, and cost what the titles do, not the market.
func (s *MarketReader) Titles(ctx context.Context, titles []string) ([]market.TitleState, error) {
	names := slices.Clone(titles)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return nil, nil
	}
	now := s.clock.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	keys := make([]string, len(names))
	for i, t := range names {
		keys[i] = PricesKey(t)
	}
	results := s.goBatches(gctx, g, keys, now, nil)
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("read titles: %w", err)
	}
	out := make([]market.TitleState, 0, len(names))
	for _, r := range results {
		out = append(out, r.titles...)
		if r.sampleErr != nil {
			s.logger.Warn("skipped titles with malformed stored data", "sample_title", r.sampleTitle, "err", r.sampleErr)
		}
	}
	return out, nil
}

// StickerHistories reads the `history:` keys of the named titles (sticker titles without a live listing,
// whose stickers are valued from their sales), pipelined in batches of BatchSize, and returns the resale
// summary of each that has one. A malformed value is logged and left out; only Redis errors fail the read.
func (s *MarketReader) StickerHistories(ctx context.Context, titles []string) (map[string]*market.ResaleHistory, error) {
	names := slices.Clone(titles)
	slices.Sort(names)
	hist, bad, sample, err := s.readStickerHistory(ctx, slices.Compact(names))
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		s.logger.Warn("skipped sticker histories with malformed stored data", "count", bad, "err", sample)
	}
	return hist, nil
}

// goBatches starts on g a readBatch of every BatchSize keys of keys (prices keys), each into a new result
// appended to results, and returns results.
func (s *MarketReader) goBatches(ctx context.Context, g *errgroup.Group, keys []string, now time.Time,
	results []*batchResult,
) []*batchResult {
	for len(keys) > 0 {
		n := min(len(keys), s.cfg.BatchSize)
		batch := keys[:n:n]
		keys = keys[n:]
		res := &batchResult{}
		results = append(results, res)
		g.Go(func() error { return s.readBatch(ctx, batch, now, res) })
	}
	return results
}

// batchResult is what one pipeline produced.
type batchResult struct {
	titles    []market.TitleState
	malformed map[string]int
	// sampleTitle and sampleErr describe one malformed title, for the log.
	sampleTitle string
	sampleErr   error
}

func (s *MarketReader) read(ctx context.Context) (market.Snapshot, error) {
	now := s.clock.Now()
	m := market.Snapshot{FallbackFee: s.cfg.FallbackFee}
	fees, bad, err := s.readFees(ctx)
	if err != nil {
		return market.Snapshot{}, err
	}
	m.Fees = fees
	if bad > 0 {
		m.Malformed = map[string]int{MalformedFees: bad}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	var results []*batchResult
	scanErr := redisdb.ScanEach(gctx, s.rdb, PricesKey("*"), int64(s.cfg.ScanCount), func(keys []string) error {
		results = s.goBatches(gctx, g, keys, now, results)
		return nil
	})
	if scanErr != nil {
		_ = g.Wait()
		return market.Snapshot{}, fmt.Errorf("scan prices: %w", scanErr)
	}
	if err := g.Wait(); err != nil {
		return market.Snapshot{}, err
	}
	total := 0
	for _, r := range results {
		total += len(r.titles)
	}
	m.Titles = make([]market.TitleState, 0, total)
	skipped := 0
	var sampleTitle string
	var sampleErr error
	for _, r := range results {
		m.Titles = append(m.Titles, r.titles...)
		for kind, n := range r.malformed {
			skipped += n
			if m.Malformed == nil {
				m.Malformed = make(map[string]int)
			}
			m.Malformed[kind] += n
		}
		if sampleErr == nil && r.sampleErr != nil {
			sampleTitle, sampleErr = r.sampleTitle, r.sampleErr
		}
	}
	if skipped > 0 {
		s.logger.Warn("skipped titles with malformed stored data", "count", skipped, "sample_title", sampleTitle,
			"err", sampleErr)
	}
	// Sorted titles let Compute order offers by title with integer comparisons; SCAN may return a key
	// twice, and sorting puts the copies side by side.
	slices.SortFunc(m.Titles, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
	m.Titles = slices.CompactFunc(m.Titles, func(a, b market.TitleState) bool { return a.Title == b.Title })
	hist, bad, sampleErr, err := s.readStickerHistory(ctx, missingStickerTitles(m.Titles))
	if err != nil {
		return market.Snapshot{}, err
	}
	m.StickerHistory = hist
	if bad > 0 {
		if m.Malformed == nil {
			m.Malformed = make(map[string]int)
		}
		m.Malformed[MalformedHistory] += bad
		s.logger.Warn("skipped sticker histories with malformed stored data", "count", bad, "err", sampleErr)
	}
	return m, nil
}

// missingStickerTitles returns the market titles of the stickers that kept items of titles (sorted by
// title) carry but that are not among titles, sorted and without duplicates.
func missingStickerTitles(titles []market.TitleState) []string {
	var out []string
	checked := map[string]struct{}{} // sticker names already looked up: many items carry the same ones
	for i := range titles {
		for k := range titles[i].Items {
			for _, name := range titles[i].Items[k].Attrs.Stickers {
				if _, ok := checked[name]; ok {
					continue
				}
				checked[name] = struct{}{}
				st := market.StickerTitle(name)
				_, found := slices.BinarySearchFunc(titles, st, func(t market.TitleState, name string) int {
					return strings.Compare(t.Title, name)
				})
				if !found {
					out = append(out, st)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// readStickerHistory reads the `history:` keys of the sticker titles names, pipelined in batches of
// BatchSize, and returns the resale summary of each that has one; a malformed value is counted (bad, with
// a sample error) and left out. Only Redis errors fail the read.
func (s *MarketReader) readStickerHistory(ctx context.Context, names []string) (_ map[string]*market.ResaleHistory,
	bad int, sample, _ error) {
	var out map[string]*market.ResaleHistory
	for len(names) > 0 {
		batch := names[:min(len(names), s.cfg.BatchSize)]
		names = names[len(batch):]
		keys := make([]string, len(batch))
		for i, name := range batch {
			keys[i] = HistoryKey(name)
		}
		pipe := s.rdb.Pipeline()
		gets := s.queueGets(ctx, pipe, keys)
		_, _ = pipe.Exec(ctx) // each value's error is read below
		vals, err := gets.values(len(keys))
		if err != nil {
			return nil, 0, nil, fmt.Errorf("read sticker histories: %w", err)
		}
		for i, v := range vals {
			raw, ok := v.(string)
			if !ok {
				continue
			}
			h, err := decodeHistory(raw)
			if err != nil {
				bad++
				sample = cmp.Or(sample, fmt.Errorf("%w: history of %s: %w", ErrCorrupt, batch[i], err))
				continue
			}
			if h.resale != nil {
				if out == nil {
					out = make(map[string]*market.ResaleHistory)
				}
				out[batch[i]] = h.resale
			}
		}
	}
	return out, bad, sample, nil
}

// readBatch reads the prices hashes of keys with their orders and history keys in one pipeline.
func (s *MarketReader) readBatch(ctx context.Context, keys []string, now time.Time, res *batchResult) error {
	titles := make([]string, len(keys))
	orderKeys := make([]string, len(keys))
	historyKeys := make([]string, len(keys))
	for i, k := range keys {
		titles[i] = strings.TrimPrefix(k, PricesPrefix)
		orderKeys[i] = OrdersKey(titles[i])
		historyKeys[i] = HistoryKey(titles[i])
	}
	pipe := s.rdb.Pipeline()
	hashes := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		hashes[i] = pipe.HGetAll(ctx, k)
	}
	orders := s.queueGets(ctx, pipe, orderKeys)
	histories := s.queueGets(ctx, pipe, historyKeys)
	if _, err := pipe.Exec(ctx); err != nil {
		// A key of the wrong type is bad data of one title; anything else fails the read.
		for _, h := range hashes {
			if h.Err() != nil && !isWrongType(h.Err()) {
				return fmt.Errorf("read prices batch of %d titles: %w", len(keys), h.Err())
			}
		}
	}
	orderVals, err := orders.values(len(keys))
	if err != nil {
		return fmt.Errorf("read prices batch of %d titles: %w", len(keys), err)
	}
	historyVals, err := histories.values(len(keys))
	if err != nil {
		return fmt.Errorf("read prices batch of %d titles: %w", len(keys), err)
	}
	res.titles = make([]market.TitleState, 0, len(keys))
	for i, title := range titles {
		var t market.TitleState
		var kind string
		var err error
		if herr := hashes[i].Err(); herr != nil {
			kind, err = MalformedPrices, fmt.Errorf("%w: %w", ErrCorrupt, herr)
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
		if t.Listed() {
			res.titles = append(res.titles, t)
		}
	}
	return nil
}

// multiGet is the string values of some keys queued on a pipeline: one MGET on a single server; on a
// cluster, where an MGET must stay within one hash slot, one GET per key (go-redis sends each to its node).
type multiGet struct {
	mget *redis.SliceCmd
	gets []*redis.StringCmd
}

// queueGets queues the reads of keys on pipe.
func (s *MarketReader) queueGets(ctx context.Context, pipe redis.Pipeliner, keys []string) multiGet {
	if !s.cluster {
		return multiGet{mget: pipe.MGet(ctx, keys...)}
	}
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = pipe.Get(ctx, k)
	}
	return multiGet{gets: gets}
}

// values returns the n values after the pipeline ran, as MGET answers: a string, or nil for a key that is
// missing or holds another type. Any other failure is returned.
func (m multiGet) values(n int) ([]any, error) {
	if m.mget != nil {
		if err := m.mget.Err(); err != nil {
			return nil, err
		}
		if v := m.mget.Val(); len(v) == n {
			return v, nil
		}
		return nil, errShortMGET
	}
	vals := make([]any, n)
	for i, c := range m.gets {
		switch err := c.Err(); {
		case err == nil:
			vals[i] = c.Val()
		case errors.Is(err, redis.Nil) || isWrongType(err):
		default:
			return nil, err
		}
	}
	return vals, nil
}

// errShortMGET means an MGET answered fewer values than it was asked for.
var errShortMGET = errors.New("short MGET answer")

func isWrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

func unixSeconds(x float64) time.Time {
	sec, frac := math.Modf(x)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// decodeTitle builds one title from its stored values; on error it returns the kind of key at fault.
func decodeTitle(title string, hash map[string]string, order, history any, now time.Time) (market.TitleState, string, error) {
	t := market.TitleState{Title: title}
	if len(hash) == 0 {
		return t, "", nil // the key expired between SCAN and HGETALL
	}
	rawMeta, ok := hash[FieldMeta]
	if !ok {
		return t, MalformedPrices, fmt.Errorf("%w: no meta field", ErrCorrupt)
	}
	meta, err := decodeMeta(rawMeta)
	if err != nil {
		return t, MalformedPrices, err
	}
	t.GameID, t.Image = meta.gameID, meta.image
	metaUpdated := meta.updatedAt
	nowUnix := unixNow(now)
	var items [2]string
	for field, raw := range hash {
		lv, ok, err := liveLevel(field, raw, nowUnix)
		if err != nil {
			return t, MalformedPrices, err
		}
		if !ok {
			if len(field) == 3 && field[0] == 'x' {
				switch field {
				case FieldItemsAvailable:
					items[0] = raw
				case FieldItemsLocked:
					items[1] = raw
				}
			}
			continue
		}
		dst := &t.Available
		if lv.locked {
			dst = &t.Locked
		}
		price := market.Cents(lv.price)
		if *dst != nil && (*dst).Price <= price {
			continue
		}
		updated := unixSeconds(metaUpdated)
		if lv.t > 0 {
			updated = time.UnixMilli(lv.t).UTC()
		}
		*dst = &market.PriceLevel{Price: price, Count: int(lv.n), LockDays: lv.days, UpdatedAt: updated, ExpiresAt: unixSeconds(lv.exp)}
	}
	if !t.Listed() {
		return t, "", nil
	}
	if items[0] != "" || items[1] != "" {
		if t.Items, err = liveItems(items, hash, nowUnix); err != nil {
			return t, MalformedPrices, err
		}
	}
	if s, ok := order.(string); ok {
		o, err := decodeOrder(s)
		if err != nil {
			return t, MalformedOrders, fmt.Errorf("%w: order: %w", ErrCorrupt, err)
		}
		t.Order = o
	}
	if s, ok := history.(string); ok {
		h, err := decodeHistory(s)
		if err != nil {
			return t, MalformedHistory, fmt.Errorf("%w: history: %w", ErrCorrupt, err)
		}
		t.History, t.Float, t.Phases = h.resale, h.float, h.phases
	}
	return t, "", nil
}

// storedMeta is the decoded meta field of a prices hash.
type storedMeta struct {
	gameID, image string
	suggested     int64
	updatedAt     float64
}

func decodeMeta(raw string) (storedMeta, error) {
	var m storedMeta
	err := eachMember(raw, func(key, raw string) error {
		var err error
		switch key {
		case "game_id":
			m.gameID, err = stringValue(raw)
		case "image":
			m.image, err = stringValue(raw)
		case "suggested_price":
			m.suggested, err = intValue(raw)
		case "updated_at":
			m.updatedAt, err = floatValue(raw)
		}
		return err
	})
	if err != nil {
		return m, fmt.Errorf("%w: meta: %w", ErrCorrupt, err)
	}
	return m, nil
}

// storedLevel is one decoded `a:`/`l:` field of a prices hash.
type storedLevel struct {
	locked    bool
	price     int64
	n, t      int64
	exp, days float64
}

// unixNow is now in unix seconds with its fraction: a field whose exp is in the past is expired to the
// nanosecond, since comparing with the time truncated to whole seconds would keep a field up to a second
// after its expiry.
func unixNow(now time.Time) float64 { return float64(now.UnixNano()) / 1e9 }

// liveLevel decodes one field of a prices hash. ok is false for a field that is not a price field and for
// a level that no longer counts: one whose exp is before nowUnix (see unixNow) or without listings.
func liveLevel(field, raw string, nowUnix float64) (lv storedLevel, ok bool, err error) {
	var locked bool
	switch {
	case strings.HasPrefix(field, FieldAvailable):
	case strings.HasPrefix(field, FieldLocked):
		locked = true
	default:
		return lv, false, nil
	}
	price, err := strconv.ParseInt(field[2:], 10, 64)
	if err != nil || price <= 0 {
		return lv, false, fmt.Errorf("%w: field %q: bad price", ErrCorrupt, field)
	}
	if lv, err = decodeLevel(raw); err != nil {
		return lv, false, fmt.Errorf("%w: field %q: %w", ErrCorrupt, field, err)
	}
	lv.locked, lv.price = locked, price
	return lv, lv.exp >= nowUnix && lv.n > 0, nil
}

func decodeLevel(raw string) (storedLevel, error) {
	var lv storedLevel
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

func decodeOrder(raw string) (*market.OrderLevel, error) {
	var o market.OrderLevel
	var price, count int64
	var updated float64
	err := eachMember(raw, func(key, v string) error {
		var err error
		switch key {
		case "price":
			price, err = intValue(v)
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
	o.Price, o.Count, o.UpdatedAt = market.Cents(price), int(count), unixSeconds(updated)
	return &o, nil
}

// scanProbability parses the sell-probability object starting at v[i] ({"<price cents>": percent, …}),
// keeping the highest price of each resale level, and returns the index after it. Prices must be plain
// decimal integers and percents integers.
func scanProbability(v string, i int, h *market.ResaleHistory) (int, error) {
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
		if c := market.Cents(cents); p >= market.ResaleLevelLow && c > h.PriceAtLow {
			h.PriceAtLow = c
		}
		if c := market.Cents(cents); p >= market.ResaleLevelHigh && c > h.PriceAtHigh {
			h.PriceAtHigh = c
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

// storedHistory is a decoded `history:` value: the resale summary, the float curve and the phases.
type storedHistory struct {
	resale *market.ResaleHistory
	float  *market.FloatCurve
	phases map[market.Phase]*market.PhaseState
}

// decodeHistory reads a `history:` value, keeping of the probability table only the two resale prices,
// with its float curve and, on phased titles, each phase's summary and curve.
func decodeHistory(raw string) (storedHistory, error) {
	var out storedHistory
	var h market.ResaleHistory
	err := eachMemberAt(raw, func(key string, i int) (int, error) {
		switch key {
		case "probability":
			if !strings.HasPrefix(raw[i:], "null") {
				return scanProbability(raw, i, &h)
			}
		case "float":
			return scanFloatCurve(raw, i, &out.float)
		case "phases":
			return scanPhases(raw, i, &out.phases)
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
		return out, err
	}
	out.resale = &h
	return out, nil
}

type feesJSON struct {
	Fraction *market.Fraction `json:"fraction"`
	Min      market.Cents     `json:"min"`
	Reduced  []reducedJSON    `json:"reduced"`
}

type reducedJSON struct {
	Title     string           `json:"title"`
	Fraction  *market.Fraction `json:"fraction"`
	Min       *market.Cents    `json:"min"`
	MinPrice  *market.Cents    `json:"min_price"`
	MaxPrice  *market.Cents    `json:"max_price"`
	ExpiresAt *float64         `json:"expires_at"`
}

// readFees reads every game's fees; malformed games are skipped and counted.
func (s *MarketReader) readFees(ctx context.Context) (map[string]market.FeeSchedule, int, error) {
	var keys []string
	if err := redisdb.ScanEach(ctx, s.rdb, FeesKey("*"), int64(s.cfg.ScanCount), func(k []string) error {
		keys = append(keys, k...)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("scan fees: %w", err)
	}
	fees := make(map[string]market.FeeSchedule, len(keys))
	if len(keys) == 0 {
		return fees, 0, nil
	}
	pipe := s.rdb.Pipeline()
	gets := s.queueGets(ctx, pipe, keys)
	_, _ = pipe.Exec(ctx) // the errors are the commands' own, judged by values
	vals, err := gets.values(len(keys))
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
			s.logger.Warn("skip game fees with malformed stored data", "game", game, "err", err)
			continue
		}
		fees[game] = gf
	}
	return fees, bad, nil
}

func decodeFees(raw string) (market.FeeSchedule, error) {
	var f feesJSON
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return market.FeeSchedule{}, fmt.Errorf("%w: fees: %w", ErrCorrupt, err)
	}
	if f.Fraction == nil {
		return market.FeeSchedule{}, fmt.Errorf("%w: fees: no fraction", ErrCorrupt)
	}
	if f.Min < 0 {
		return market.FeeSchedule{}, fmt.Errorf("%w: fees: negative min", ErrCorrupt)
	}
	gf := market.FeeSchedule{Fraction: *f.Fraction, Min: f.Min}
	for i, r := range f.Reduced {
		if r.Fraction == nil || r.Title == "" {
			return market.FeeSchedule{}, fmt.Errorf("%w: fees: reduced fee %d lacks title or fraction", ErrCorrupt, i)
		}
		rf := market.TitleFee{Fraction: *r.Fraction, Min: r.Min, MinPrice: r.MinPrice, MaxPrice: r.MaxPrice}
		if r.ExpiresAt != nil {
			rf.ExpiresAt = unixSeconds(*r.ExpiresAt)
		}
		if gf.Reduced == nil {
			gf.Reduced = make(map[string][]market.TitleFee)
		}
		gf.Reduced[r.Title] = append(gf.Reduced[r.Title], rf)
	}
	return gf, nil
}
