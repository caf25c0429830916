package pricestore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// OrderValue is the JSON body of an `orders:dmarket:<title>` key.
type OrderValue struct {
	// T is the fetch time of the message that wrote it (unix ms), used to order writes.
	T int64 `json:"t"`
	// Price is the best buy order's price in cents.
	Price int64 `json:"price"`
	// Count is the number of buy orders.
	Count int `json:"count"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
}

// NewOrderValue returns the stored form of o, a buy order that exists, fetched at fetchedAt.
func NewOrderValue(o market.BuyOrder, fetchedAt time.Time) OrderValue {
	return OrderValue{T: fetchedAt.UnixMilli(), Price: int64(o.Price), Count: o.Count, UpdatedAt: fetchedAt.Unix()}
}

// BuyOrder returns the best buy order of title that v stores.
func (v OrderValue) BuyOrder(title string) market.BuyOrder {
	return market.BuyOrder{Title: title, Price: market.Cents(v.Price), Count: v.Count}
}

// ChartValue is the JSON body of a `chart:dmarket:<title>` key: the hourly sale points of the last week
// of the newest sales message, and the daily points of the last ChartDays days merged from every sales
// message (see WriteHistory), both oldest first. The key lives ChartTTL (or HISTORY_TTL when longer).
type ChartValue struct {
	// T is the fetch time of the message that wrote it (unix ms).
	T int64 `json:"t"`
	// Points are [hour start unix seconds, mean price cents, units sold].
	Points []HourPoint `json:"points"`
	// Daily are [UTC day start unix seconds, unit-weighted mean price cents, units sold] of the days
	// with sales.
	Daily []DayPoint `json:"daily,omitempty"`
	// Since is when the daily series starts (unix seconds): the earliest sale time the merged messages
	// covered, no earlier than the oldest day kept. Days before it are not stored, not without sales.
	Since int64 `json:"since,omitempty"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
}

// DayPoint is one UTC day of sales: JSON [day start unix seconds, mean price cents, units sold]. The
// mean is weighted by units (the day's hourly means times their units, over the day's units, rounded
// to the nearest cent), so it is the day's mean sale price within a cent.
type DayPoint [3]int64

// Daily points of a chart key.
const (
	// ChartDays is how many UTC days of daily points a chart key keeps (plus the partly shown day at
	// the left edge of a 30-day view).
	ChartDays = 30
	// ChartTTL is how long a chart key lives after the sales it was last written from were fetched,
	// unless HISTORY_TTL is longer: as long as its oldest daily point stays in a 30-day view.
	ChartTTL = ChartDays * 24 * time.Hour
)

// HourPoint is one hour of sales: JSON [hour start unix seconds, mean price cents, units sold].
type HourPoint [3]int64

// NewHourPoint returns the stored form of p.
func NewHourPoint(p market.HourPoint) HourPoint {
	return HourPoint{p.Hour.Unix(), int64(p.Mean), int64(p.Units)}
}

// Market returns the hour point p stores.
func (p HourPoint) Market() market.HourPoint {
	return market.HourPoint{Hour: time.Unix(p[0], 0).UTC(), Mean: market.Cents(p[1]), Units: int(p[2])}
}

// hourPoints returns the stored form of points, never nil.
func hourPoints(points []market.HourPoint) []HourPoint {
	out := make([]HourPoint, len(points))
	for i, p := range points {
		out[i] = NewHourPoint(p)
	}
	return out
}

// marketPoints returns the hour points stored as points.
func marketPoints(points []HourPoint) []market.HourPoint {
	if points == nil {
		return nil
	}
	out := make([]market.HourPoint, len(points))
	for i, p := range points {
		out[i] = p.Market()
	}
	return out
}

// HourPoints returns the chart's hourly points, oldest first.
func (v ChartValue) HourPoints() []market.HourPoint { return marketPoints(v.Points) }

// HistoryValue is the JSON body of a `history:dmarket:<title>` key; probability keys are prices in cents
// written as decimal strings.
type HistoryValue struct {
	// T is the fetch time of the message that wrote it (unix ms).
	T int64 `json:"t"`
	// Stable says whether last week's price was stable.
	Stable bool `json:"stable"`
	// SoldPerWeek is the number of units sold in the last week.
	SoldPerWeek int `json:"sold_per_week"`
	// Probability maps a price in cents to a percent.
	Probability map[int64]int `json:"probability"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
	// Points are last week's hourly sale points, oldest first (an addition to SPEC §5.2, for charts).
	Points []HourPoint `json:"points,omitempty"`
	// Float is the float curve of the sales (SPEC §9.2), absent when there is none.
	Float *FloatCurveValue `json:"float,omitempty"`
	// Phases holds, on a phased title, each phase's own analysis and float curve by phase name.
	Phases map[string]PhaseValue `json:"phases,omitempty"`
}

// PhaseValue is the analysis of one phase's sales inside HistoryValue.
type PhaseValue struct {
	// Stable says whether last week's price of the phase was stable.
	Stable bool `json:"stable"`
	// SoldPerWeek is the number of units of the phase sold in the last week.
	SoldPerWeek int `json:"sold_per_week"`
	// Probability maps a price in cents to a percent.
	Probability map[int64]int `json:"probability"`
	// Float is the phase's float curve, absent when there is none.
	Float *FloatCurveValue `json:"float,omitempty"`
}

// FloatCurveValue is the stored form of a market.FloatCurve.
type FloatCurveValue struct {
	// Buckets are the curve's float groups, by highest float ascending.
	Buckets []FloatBucketValue `json:"buckets"`
}

// FloatBucketValue is one group of a stored float curve.
type FloatBucketValue struct {
	// Max is the group's highest float as a decimal string (strconv 'g', -1), so nothing is rounded.
	Max string `json:"max"`
	// Price is the group's value in cents.
	Price int64 `json:"price"`
	// N is the number of sales in the group.
	N int `json:"n"`
}

// newFloatCurveValue returns the stored form of c, nil for a nil or empty curve.
func newFloatCurveValue(c *market.FloatCurve) *FloatCurveValue {
	if c == nil || len(c.Buckets) == 0 {
		return nil
	}
	v := &FloatCurveValue{Buckets: make([]FloatBucketValue, len(c.Buckets))}
	for i, b := range c.Buckets {
		v.Buckets[i] = FloatBucketValue{Max: strconv.FormatFloat(b.MaxFloat, 'g', -1, 64), Price: int64(b.Price), N: b.Sales}
	}
	return v
}

// Curve returns the float curve v stores, nil for a nil v; a bucket whose Max is not a number is left out.
func (v *FloatCurveValue) Curve() *market.FloatCurve {
	if v == nil {
		return nil
	}
	c := &market.FloatCurve{Buckets: make([]market.FloatBucket, 0, len(v.Buckets))}
	for _, b := range v.Buckets {
		f, err := strconv.ParseFloat(b.Max, 64)
		if err != nil {
			continue
		}
		c.Buckets = append(c.Buckets, market.FloatBucket{MaxFloat: f, Price: market.Cents(b.Price), Sales: b.N})
	}
	return c
}

// probabilityValue returns the stored form of a probability table, never nil.
func probabilityValue(p map[market.Cents]int) map[int64]int {
	out := make(map[int64]int, len(p))
	for price, pct := range p {
		out[int64(price)] = pct
	}
	return out
}

// probabilityOf returns the probability table stored as p, nil for nil.
func probabilityOf(p map[int64]int) map[market.Cents]int {
	if p == nil {
		return nil
	}
	out := make(map[market.Cents]int, len(p))
	for price, pct := range p {
		out[market.Cents(price)] = pct
	}
	return out
}

// NewHistoryValue returns the stored form of h fetched at fetchedAt. Its hourly points go to the chart
// key, not here; a nil probability is stored as an empty object.
func NewHistoryValue(h market.History, fetchedAt time.Time) HistoryValue {
	v := HistoryValue{T: fetchedAt.UnixMilli(), Stable: h.Stable, SoldPerWeek: h.SoldPerWeek,
		Probability: probabilityValue(h.Probability), UpdatedAt: fetchedAt.Unix(), Float: newFloatCurveValue(h.Float)}
	for p, ph := range h.Phases {
		if ph == nil {
			continue
		}
		if v.Phases == nil {
			v.Phases = make(map[string]PhaseValue, len(h.Phases))
		}
		v.Phases[string(p)] = PhaseValue{Stable: ph.Stable, SoldPerWeek: ph.SoldPerWeek,
			Probability: probabilityValue(ph.Probability), Float: newFloatCurveValue(ph.Float)}
	}
	return v
}

// History returns the sell-history analysis v stores (without Oldest, which is not stored).
func (v HistoryValue) History() market.History {
	h := market.History{Stable: v.Stable, SoldPerWeek: v.SoldPerWeek, Probability: probabilityOf(v.Probability),
		Points: marketPoints(v.Points), Float: v.Float.Curve()}
	for p, ph := range v.Phases {
		if h.Phases == nil {
			h.Phases = make(map[market.Phase]*market.History, len(v.Phases))
		}
		h.Phases[market.Phase(p)] = &market.History{Stable: ph.Stable, SoldPerWeek: ph.SoldPerWeek,
			Probability: probabilityOf(ph.Probability), Float: ph.Float.Curve()}
	}
	return h
}

// FeesValue is the JSON body of a `fees:dmarket:<game>` key.
type FeesValue struct {
	// T is the fetch time of the message that wrote it (unix ms).
	T int64 `json:"t"`
	// Fraction is the default fee share as an exact decimal string.
	Fraction string `json:"fraction"`
	// Min is the default minimum fee in cents.
	Min int64 `json:"min"`
	// Reduced are the per-title reduced fees.
	Reduced []ReducedFeeValue `json:"reduced"`
	// UpdatedAt is the fetch time in unix seconds.
	UpdatedAt int64 `json:"updated_at"`
}

// ReducedFeeValue is one reduced fee inside FeesValue; a null bound is open, a null expiry unknown.
type ReducedFeeValue struct {
	// Title is the sanitised title.
	Title string `json:"title"`
	// Fraction is the fee share as an exact decimal string.
	Fraction string `json:"fraction"`
	// MinPrice is the lowest price in cents the fee applies to, or null.
	MinPrice *int64 `json:"min_price"`
	// MaxPrice is the highest price in cents the fee applies to, or null.
	MaxPrice *int64 `json:"max_price"`
	// ExpiresAt is when the fee ends (unix seconds), or null.
	ExpiresAt *int64 `json:"expires_at"`
}

// NewFeesValue returns the stored form of f fetched at fetchedAt; a zero ExpiresAt is stored as null.
func NewFeesValue(f market.Fees, fetchedAt time.Time) FeesValue {
	v := FeesValue{T: fetchedAt.UnixMilli(), Fraction: f.Fraction, Min: int64(f.Min),
		Reduced: make([]ReducedFeeValue, 0, len(f.Reduced)), UpdatedAt: fetchedAt.Unix()}
	for _, r := range f.Reduced {
		rv := ReducedFeeValue{Title: r.Title, Fraction: r.Fraction, MinPrice: convertPtr[int64](r.MinPrice),
			MaxPrice: convertPtr[int64](r.MaxPrice)}
		if !r.ExpiresAt.IsZero() {
			e := r.ExpiresAt.Unix()
			rv.ExpiresAt = &e
		}
		v.Reduced = append(v.Reduced, rv)
	}
	return v
}

// Fees returns the fees v stores.
func (v FeesValue) Fees() market.Fees {
	f := market.Fees{Fraction: v.Fraction, Min: market.Cents(v.Min)}
	if v.Reduced != nil {
		f.Reduced = make([]market.ReducedFee, len(v.Reduced))
	}
	for i, r := range v.Reduced {
		f.Reduced[i] = market.ReducedFee{Title: r.Title, Fraction: r.Fraction, MinPrice: convertPtr[market.Cents](r.MinPrice),
			MaxPrice: convertPtr[market.Cents](r.MaxPrice)}
		if r.ExpiresAt != nil {
			f.Reduced[i].ExpiresAt = time.Unix(*r.ExpiresAt, 0).UTC()
		}
	}
	return f
}

// convertPtr returns a pointer to *p converted to To, or nil for a nil p.
func convertPtr[To, From ~int64](p *From) *To {
	if p == nil {
		return nil
	}
	v := To(*p)
	return &v
}

// casArgs returns one key's arguments of casScript.
func casArgs(t int64, ttl time.Duration, value []byte) []any {
	return []any{t, ttl.Milliseconds(), value}
}

// lifetime returns how long a value fetched at fetchedAt with lifetime ttl has left, or false when it
// is already over. A fetch time ahead of the clock (skew within validate.MaxFetchSkew) counts as now, so
// nothing lives longer than ttl.
func (s *Store) lifetime(fetchedAt time.Time, ttl time.Duration) (time.Duration, bool) {
	now := s.clock.Now()
	left := notAfter(fetchedAt, now).Add(ttl).Sub(now)
	return left, left > 0
}

// notAfter returns t, or now when t lies ahead of now.
func notAfter(t, now time.Time) time.Time {
	if t.After(now) {
		return now
	}
	return t
}

// WriteOrders stores the best buy order of every title of one aggregated-prices answer fetched at
// fetchedAt. A title without buy order loses its key. It returns the number of keys changed.
func (s *Store) WriteOrders(ctx context.Context, fetchedAt time.Time, orders []validate.Order) (int, error) {
	n, _, err := s.WriteOrdersChanged(ctx, fetchedAt, orders)
	return n, err
}

// WriteOrdersChanged is WriteOrders that also returns the titles whose best buy order changed: it
// appeared, vanished, or changed its price or count.
func (s *Store) WriteOrdersChanged(ctx context.Context, fetchedAt time.Time, orders []validate.Order) (int, []string, error) {
	ttl, ok := s.lifetime(fetchedAt, s.cfg.PriceTTL)
	if !ok || len(orders) == 0 {
		return 0, nil, nil
	}
	t := fetchedAt.UnixMilli()
	keys := make([]string, 0, len(orders))
	args := make([][]any, 0, len(orders))
	for _, o := range orders {
		keys = append(keys, OrdersKey(o.Title))
		var value []byte
		if bo := orderOf(o); bo.Exists() {
			var err error
			value, err = json.Marshal(NewOrderValue(bo, fetchedAt))
			if err != nil {
				return 0, nil, fmt.Errorf("encode order: %w", err)
			}
		}
		args = append(args, casArgs(t, ttl, value))
	}
	n, idx, err := s.cas(ctx, "orders", keys, args)
	if err != nil {
		return 0, nil, err
	}
	changed := make([]string, 0, len(idx))
	for _, i := range idx {
		changed = append(changed, orders[i].Title)
	}
	return n, changed, nil
}

// orderOf is the buy order a validated aggregated-prices entry describes.
func orderOf(o validate.Order) market.BuyOrder {
	if !o.HasOrder {
		return market.BuyOrder{Title: o.Title}
	}
	return market.BuyOrder{Title: o.Title, Price: market.Cents(o.PriceCents), Count: o.Count}
}

// WriteHistory stores the sell-history analysis of title made from sales fetched at fetchedAt. A nil h
// (no sales) removes the history key. The chart key gets h's hourly points and merges h's sales into
// its daily series (see mergeChart). It returns the number of history keys changed.
func (s *Store) WriteHistory(ctx context.Context, title string, fetchedAt time.Time, h *market.History) (int, error) {
	n, _, err := s.WriteHistoryChanged(ctx, title, fetchedAt, h)
	return n, err
}

// WriteHistoryChanged is WriteHistory that also reports whether the analysis changed: it appeared,
// vanished, or changed its stability, sales per week or price levels (not merely its times).
func (s *Store) WriteHistoryChanged(ctx context.Context, title string, fetchedAt time.Time, h *market.History) (int, bool, error) {
	n, changed := 0, false
	if ttl, ok := s.lifetime(fetchedAt, s.cfg.HistoryTTL); ok {
		t := fetchedAt.UnixMilli()
		var value []byte
		if h != nil {
			var err error
			value, err = json.Marshal(NewHistoryValue(*h, fetchedAt))
			if err != nil {
				return 0, false, fmt.Errorf("encode history: %w", err)
			}
		}
		var (
			idx []int
			err error
		)
		if n, idx, err = s.cas(ctx, "history", []string{HistoryKey(title)}, [][]any{casArgs(t, ttl, value)}); err != nil {
			return n, false, err
		}
		changed = len(idx) > 0
	}
	if err := s.mergeChart(ctx, title, fetchedAt, h); err != nil {
		return n, changed, err
	}
	return n, changed, nil
}

// mergeChart writes the chart key of title from the sales of one message fetched at fetchedAt (h nil:
// none). The hourly points are replaced. The message covers the sales after from = max(h.Oldest,
// fetchedAt − 7 days); every UTC day starting at or after from takes the message's data (a day without
// sales in it loses its point), the day holding from keeps its stored point when it has one (an earlier
// message covered more of it) and takes the message's otherwise, and older days are kept. Days before
// the UTC day of fetchedAt − ChartDays days are dropped. The merge runs in Redis (chartScript) under the
// same compare-and-set on "t" as every value, so a redelivered message changes nothing and an older one
// is ignored.
func (s *Store) mergeChart(ctx context.Context, title string, fetchedAt time.Time, h *market.History) error {
	ttl, ok := s.lifetime(fetchedAt, max(ChartTTL, s.cfg.HistoryTTL))
	if !ok {
		return nil
	}
	const day = 24 * time.Hour
	points := []HourPoint{}
	from := fetchedAt // an empty message covers nothing
	if h != nil {
		if h.Points != nil {
			points = hourPoints(h.Points)
		}
		from = fetchedAt.Add(-sellhistory.Week)
		if h.Oldest.After(from) {
			from = notAfter(h.Oldest, fetchedAt)
		}
	}
	firstDay := from.UTC().Truncate(day)
	if firstDay.Before(from) {
		firstDay = firstDay.Add(day)
	}
	cutoff := fetchedAt.Add(-ChartDays * day).UTC().Truncate(day)
	hourly, err := json.Marshal(points)
	if err != nil {
		return fmt.Errorf("encode chart: %w", err)
	}
	daily, err := json.Marshal(dailyPoints(points))
	if err != nil {
		return fmt.Errorf("encode chart: %w", err)
	}
	since := from.Unix()
	if h == nil {
		since = 0 // nothing covered: the stored start stays
	}
	err = chartScript.Run(ctx, s.rdb, []string{ChartKey(title)}, fetchedAt.UnixMilli(), ttl.Milliseconds(), hourly, daily,
		firstDay.Unix(), cutoff.Unix(), since, fetchedAt.Unix()).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("write chart of %q: %w", title, err)
	}
	return nil
}

// dailyPoints groups hourly points per UTC day, oldest first, with the unit-weighted mean price rounded
// half away from zero.
func dailyPoints(points []HourPoint) []DayPoint {
	out := []DayPoint{}
	var sum int64
	flush := func() {
		if n := len(out); n > 0 && out[n-1][2] > 0 {
			out[n-1][1] = (2*sum + out[n-1][2]) / (2 * out[n-1][2])
		}
	}
	for _, p := range sortedHours(points) {
		if p[2] <= 0 {
			continue
		}
		d := time.Unix(p[0], 0).UTC().Truncate(24 * time.Hour).Unix()
		if n := len(out); n == 0 || out[n-1][0] != d {
			flush()
			out = append(out, DayPoint{d, 0, 0})
			sum = 0
		}
		out[len(out)-1][2] += p[2]
		sum += p[1] * p[2]
	}
	flush()
	return out
}

// sortedHours returns points sorted by hour (a copy when they are not already).
func sortedHours(points []HourPoint) []HourPoint {
	if slices.IsSortedFunc(points, func(a, b HourPoint) int { return cmp.Compare(a[0], b[0]) }) {
		return points
	}
	out := slices.Clone(points)
	slices.SortFunc(out, func(a, b HourPoint) int { return cmp.Compare(a[0], b[0]) })
	return out
}

// chartScript merges one sales message into one chart key (see mergeChart); one key per call, so it is
// safe in a cluster. ARGV: t (fetch ms), ttl (ms), the hourly points (JSON), the message's daily points
// (JSON), the first day it fully covers, the oldest day kept, the start of what it covers (0: nothing)
// and the fetch time (s). A stored value with a newer "t" is left alone. It returns 1 when it wrote.
var chartScript = redis.NewScript(`
local t = tonumber(ARGV[1])
local firstDay = tonumber(ARGV[5])
local cutoff = tonumber(ARGV[6])
local since = tonumber(ARGV[7])
local cur = redis.call('GET', KEYS[1])
local days = {}
local byDay = {}
if cur then
  local ct = tonumber(string.match(cur, '"t":(%d+)')) or -1
  if t < ct then return 0 end
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' then
    if type(old.daily) == 'table' then
      for _, d in ipairs(old.daily) do
        local day = type(d) == 'table' and tonumber(d[1])
        if day and day < firstDay and day >= cutoff and tonumber(d[2]) and tonumber(d[3]) then
          days[#days + 1] = d
          byDay[day] = true
        end
      end
    end
    local olds = tonumber(old.since)
    if olds and olds > 0 and (since == 0 or olds < since) then since = olds end
  end
end
for _, d in ipairs(cjson.decode(ARGV[4])) do
  local day = d[1]
  if day >= cutoff and (day >= firstDay or not byDay[day]) then days[#days + 1] = d end
end
if #days == 0 and ARGV[3] == '[]' then
  redis.call('DEL', KEYS[1])
  return 1
end
table.sort(days, function(a, b) return a[1] < b[1] end)
if since > 0 and since < cutoff then since = cutoff end
local parts = {}
for i, d in ipairs(days) do
  parts[i] = string.format('[%.0f,%.0f,%.0f]', d[1], d[2], d[3])
end
local v = '{"t":' .. ARGV[1] .. ',"points":' .. ARGV[3] .. ',"daily":[' .. table.concat(parts, ',') .. ']'
if since > 0 then v = v .. ',"since":' .. string.format('%.0f', since) end
v = v .. ',"updated_at":' .. ARGV[8] .. '}'
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return 1
`)

// WriteFees stores the fees of game fetched at fetchedAt.
func (s *Store) WriteFees(ctx context.Context, game string, fetchedAt time.Time, f validate.Fees) (int, error) {
	ttl, ok := s.lifetime(fetchedAt, FeesTTL)
	if !ok {
		return 0, nil
	}
	t := fetchedAt.UnixMilli()
	value, err := json.Marshal(NewFeesValue(feesOf(f), fetchedAt))
	if err != nil {
		return 0, fmt.Errorf("encode fees: %w", err)
	}
	n, _, err := s.cas(ctx, "fees", []string{FeesKey(game)}, [][]any{casArgs(t, ttl, value)})
	return n, err
}

// feesOf is the fees a validated fees answer describes.
func feesOf(f validate.Fees) market.Fees {
	out := market.Fees{Fraction: f.Fraction, Min: market.Cents(f.MinCents), Reduced: make([]market.ReducedFee, len(f.Reduced))}
	for i, r := range f.Reduced {
		out.Reduced[i] = market.ReducedFee{Title: r.Title, Fraction: r.Fraction, MinPrice: convertPtr[market.Cents](r.MinPriceCents),
			MaxPrice: convertPtr[market.Cents](r.MaxPriceCents), ExpiresAt: r.ExpiresAt}
	}
	return out
}

// cas runs casScript on keys[i] with args[i], one call per key in one pipeline (cluster-safe: the keys
// are independent values, each compared and set atomically on its own). It returns the number of keys
// written and the indexes of the keys whose value changed (see casScript).
func (s *Store) cas(ctx context.Context, what string, keys []string, args [][]any) (int, []int, error) {
	cmds, err := s.evalPerKey(ctx, casScript, keys, args, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("write %s of %d keys: %w", what, len(keys), err)
	}
	n := 0
	var changed []int
	for i, c := range cmds {
		code, _ := c.Int()
		if code > 0 {
			n++
		}
		if code == 2 {
			changed = append(changed, i)
		}
	}
	return n, changed, nil
}

// getJSON reads the string key key as a T; found is false when the key does not exist.
func getJSON[T any](ctx context.Context, s *Store, key string) (v T, found bool, err error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, false, fmt.Errorf("%w: %s: %w", ErrCorrupt, key, err)
	}
	return v, true, nil
}

// Order reads the best buy order of title.
func (s *Store) Order(ctx context.Context, title string) (OrderValue, bool, error) {
	return getJSON[OrderValue](ctx, s, OrdersKey(title))
}

// History reads the sell-history analysis of title.
func (s *Store) History(ctx context.Context, title string) (HistoryValue, bool, error) {
	return getJSON[HistoryValue](ctx, s, HistoryKey(title))
}

// Chart reads the chart points of title.
func (s *Store) Chart(ctx context.Context, title string) (ChartValue, bool, error) {
	return getJSON[ChartValue](ctx, s, ChartKey(title))
}

// Fees reads the fees of game.
func (s *Store) Fees(ctx context.Context, game string) (FeesValue, bool, error) {
	return getJSON[FeesValue](ctx, s, FeesKey(game))
}

// OrderPrices returns the best buy order's price in cents of each of titles that has one stored,
// read with one GET per key in one pipeline (cluster-safe).
func (s *Store) OrderPrices(ctx context.Context, titles []string) (map[string]int64, error) {
	out := make(map[string]int64, len(titles))
	if len(titles) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(titles))
	for i, t := range titles {
		cmds[i] = pipe.Get(ctx, OrdersKey(t))
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	for i, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %d buy orders: %w", len(titles), err)
		}
		var v OrderValue
		if json.Unmarshal(b, &v) == nil && v.Price > 0 {
			out[titles[i]] = v.Price
		}
	}
	return out, nil
}
