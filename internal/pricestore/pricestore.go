// Package pricestore owns the market state the workers keep in Redis (SPEC §5.2): per-title listing
// prices (`prices:dmarket:<title>`), best buy orders (`orders:dmarket:<title>`), sell-history analyses
// (`history:dmarket:<title>`) and per-game fees (`fees:dmarket:<game>`). It writes them in batches, atomically
// per title through Lua scripts, and idempotently: every stored value carries the fetch time ("t", unix
// milliseconds) of the message that wrote it, a write older than what is stored is ignored and a
// redelivered message rewrites exactly what it wrote before. It also reads the prices back, one title or
// all of them with SCAN plus pipelined reads.
//
// Layout of `prices:dmarket:<title>` (a HASH):
//
//   - field `meta`: {"t","title","game_id","image","suggested_price","updated_at"}.
//   - field `a:<price>` (tradable now) and `l:<price>` (trade-locked): {"n","exp","t"} plus "days" on `l:`
//     fields. "n" is the number of listings at that (status, price) on the newest page that showed it;
//     "exp" (unix seconds) is PRICE_TTL after that page was fetched. Readers ignore a field whose exp is in
//     the past; writers delete such fields. "days" is the lowest lock, in whole days, among those listings.
//
// The key expires with its newest field; a key left without live price fields is deleted.
package pricestore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/clock"
	"github.com/skinflip/dmarket-monitor/internal/validate"
)

// Key prefixes of SPEC §5.2.
const (
	PricesPrefix  = "prices:dmarket:"
	OrdersPrefix  = "orders:dmarket:"
	HistoryPrefix = "history:dmarket:"
	FeesPrefix    = "fees:dmarket:"
	// ChartPrefix prefixes the chart points of a title (an addition to SPEC §5.2, read only for charts so
	// that the bulk reads of offers stay small).
	ChartPrefix = "chart:dmarket:"
)

// Field prefixes of the prices hash, and its meta field.
const (
	FieldAvailable = "a:"
	FieldLocked    = "l:"
	FieldMeta      = "meta"
)

// Defaults of Config.
const (
	DefaultPriceTTL   = time.Hour
	DefaultHistoryTTL = 24 * time.Hour
	// FeesTTL is the lifetime of a fees key.
	FeesTTL = 48 * time.Hour
)

// PricesKey returns the prices key of a sanitised title.
func PricesKey(title string) string { return PricesPrefix + title }

// OrdersKey returns the buy-order key of a sanitised title.
func OrdersKey(title string) string { return OrdersPrefix + title }

// HistoryKey returns the sell-history key of a sanitised title.
func HistoryKey(title string) string { return HistoryPrefix + title }

// ChartKey returns the chart-points key of a sanitised title.
func ChartKey(title string) string { return ChartPrefix + title }

// FeesKey returns the fees key of a game.
func FeesKey(game string) string { return FeesPrefix + game }

// Sentinel errors.
var (
	// ErrConfig means a Config value is out of range.
	ErrConfig = errors.New("invalid price store config")
	// ErrCorrupt means a stored value could not be read.
	ErrCorrupt = errors.New("corrupt stored value")
)

// Config holds the lifetimes of the stored values.
type Config struct {
	// PriceTTL is how long a (status, price) field, a prices key and an orders key live after the page
	// that showed them was fetched (PRICE_TTL).
	PriceTTL time.Duration
	// HistoryTTL is how long a history key lives after its sales were fetched (HISTORY_TTL).
	HistoryTTL time.Duration
}

// Client is the part of go-redis the store uses.
type Client interface {
	redis.Scripter
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	Get(ctx context.Context, key string) *redis.StringCmd
	Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd
	Pipeline() redis.Pipeliner
}

// Store reads and writes the market state.
type Store struct {
	rdb   Client
	clock clock.Clock
	cfg   Config
}

// New returns a Store. Zero TTLs take the defaults; negative ones are an error.
func New(rdb Client, clk clock.Clock, cfg Config) (*Store, error) {
	if cfg.PriceTTL < 0 || cfg.HistoryTTL < 0 {
		return nil, fmt.Errorf("%w: negative ttl", ErrConfig)
	}
	if cfg.PriceTTL == 0 {
		cfg.PriceTTL = DefaultPriceTTL
	}
	if cfg.HistoryTTL == 0 {
		cfg.HistoryTTL = DefaultHistoryTTL
	}
	if rdb == nil || clk == nil {
		return nil, fmt.Errorf("%w: nil dependency", ErrConfig)
	}
	return &Store{rdb: rdb, clock: clk, cfg: cfg}, nil
}

// listingsScript applies one listings page. KEYS are the prices keys of the page's titles. ARGV: now
// (unix s), now (unix ms), t (fetch ms), exp (unix s), exp (unix ms), then per key: meta JSON and the
// fields to write as lines "<field>=<value>\n". Per key it prunes expired fields, writes each field unless
// the stored one is newer, writes meta unless the stored one is newer, and sets the key to expire with its
// newest field, never later than PRICE_TTL after the newest fetch (or deletes it when no live field is
// left). It returns the number of keys left holding prices.
var listingsScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local nowms = tonumber(ARGV[2])
local t = tonumber(ARGV[3])
local exp = tonumber(ARGV[4])
local expms = tonumber(ARGV[5])
local idx = 6
local kept = 0
for k = 1, #KEYS do
  local key = KEYS[k]
  local meta = ARGV[idx]
  local fields = ARGV[idx + 1]
  idx = idx + 2
  local cur = redis.call('HGETALL', key)
  local seen = {}
  local dead = {}
  local maxexp = 0
  local maxexpms = 0
  local live = 0
  local metat = -1
  for i = 1, #cur, 2 do
    local f, v = cur[i], cur[i + 1]
    if f == 'meta' then
      metat = tonumber(string.match(v, '"t":(%d+)')) or -1
    else
      local e = tonumber(string.match(v, '"exp":(%d+)')) or 0
      if e < now then
        dead[#dead + 1] = f
      else
        seen[f] = tonumber(string.match(v, '"t":(%d+)')) or -1
        if e > maxexp then maxexp = e end
        live = live + 1
      end
    end
  end
  for i = 1, #dead, 1000 do
    redis.call('HDEL', key, unpack(dead, i, math.min(i + 999, #dead)))
  end
  local set = {}
  for f, v in string.gmatch(fields, '([^=\n]+)=([^\n]+)\n') do
    local ft = seen[f]
    if ft == nil or ft <= t then
      set[#set + 1] = f
      set[#set + 1] = v
      if ft == nil then live = live + 1 end
      if expms > maxexpms then maxexpms = expms end
    end
  end
  if live == 0 then
    redis.call('DEL', key)
  else
    if t >= metat then
      set[#set + 1] = 'meta'
      set[#set + 1] = meta
    end
    if #set > 0 then
      redis.call('HSET', key, unpack(set))
    end
    -- A stored field's exp is whole seconds (at most its true expiry); a field written now expires
    -- exactly PRICE_TTL after its fetch.
    if maxexp * 1000 > maxexpms then maxexpms = maxexp * 1000 end
    local ttl = maxexpms - nowms
    if ttl < 1 then ttl = 1 end
    redis.call('PEXPIRE', key, ttl)
    kept = kept + 1
  end
end
return kept
`)

// casScript writes string keys unless the stored value is newer. Per key ARGV holds three values: t
// (fetch ms), ttl (ms) and the value ("" deletes the key). It returns the number of keys changed.
var casScript = redis.NewScript(`
local changed = 0
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local t = tonumber(ARGV[b + 1])
  local ttl = tonumber(ARGV[b + 2])
  local v = ARGV[b + 3]
  local cur = redis.call('GET', KEYS[i])
  local ct = -1
  if cur then ct = tonumber(string.match(cur, '"t":(%d+)')) or -1 end
  if t >= ct then
    if v == '' then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], v, 'PX', ttl)
    end
    changed = changed + 1
  end
end
return changed
`)

type fieldAgg struct {
	locked bool
	price  int64
	n      int
	days   int
	next   int // index of the title's next field, -1 at the end
}

type titleAgg struct {
	title      string
	image      string
	suggested  int64
	head, tail int // first and last field in the page's field list
}

// WriteListings stores the valid listings of one page of game fetched at fetchedAt. Listings are counted
// per (title, status, price); the counts replace those of older pages. A page whose fields would already
// be expired writes nothing; a fetch time ahead of the store's clock orders writes as given but expires
// PRICE_TTL from now. It returns the number of titles written.
func (s *Store) WriteListings(ctx context.Context, game string, fetchedAt time.Time, items []validate.Listing) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	now := s.clock.Now()
	expAt := notAfter(fetchedAt, now).Add(s.cfg.PriceTTL)
	exp := expAt.Unix()
	if exp < now.Unix() {
		return 0, nil
	}
	titles := make([]titleAgg, 0, len(items))
	fields := make([]fieldAgg, 0, len(items))
	index := make(map[string]int, len(items))
	for i := range items {
		it := &items[i]
		ti, ok := index[it.Title]
		if !ok {
			ti = len(titles)
			index[it.Title] = ti
			titles = append(titles, titleAgg{title: it.Title, head: -1, tail: -1})
		}
		ta := &titles[ti]
		if ta.image == "" {
			ta.image = it.Image
		}
		if ta.suggested == 0 {
			ta.suggested = it.SuggestedCents
		}
		found := false
		for f := ta.head; f >= 0; f = fields[f].next {
			fa := &fields[f]
			if fa.locked == it.Locked && fa.price == it.PriceCents {
				fa.n++
				fa.days = min(fa.days, it.LockDays)
				found = true
				break
			}
		}
		if found {
			continue
		}
		fields = append(fields, fieldAgg{locked: it.Locked, price: it.PriceCents, n: 1, days: it.LockDays, next: -1})
		f := len(fields) - 1
		if ta.tail >= 0 {
			fields[ta.tail].next = f
		} else {
			ta.head = f
		}
		ta.tail = f
	}
	t := fetchedAt.UnixMilli()
	keys := make([]string, len(titles))
	args := make([]any, 0, 5+2*len(titles))
	args = append(args, now.Unix(), now.UnixMilli(), t, exp, expAt.UnixMilli())
	buf := make([]byte, 0, 256)
	for i := range titles {
		ta := &titles[i]
		keys[i] = PricesKey(ta.title)
		buf = appendMeta(buf[:0], t, ta.title, game, ta.image, ta.suggested, fetchedAt.Unix())
		args = append(args, string(buf))
		buf = buf[:0]
		for f := ta.head; f >= 0; f = fields[f].next {
			buf = appendFieldName(buf, fields[f].locked, fields[f].price)
			buf = append(buf, '=')
			buf = appendFieldValue(buf, fields[f], exp, t)
			buf = append(buf, '\n')
		}
		args = append(args, string(buf))
	}
	n, err := listingsScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("write listings of %d titles: %w", len(titles), err)
	}
	return n, nil
}

func appendFieldName(b []byte, locked bool, price int64) []byte {
	if locked {
		b = append(b, FieldLocked...)
	} else {
		b = append(b, FieldAvailable...)
	}
	return strconv.AppendInt(b, price, 10)
}

func appendFieldValue(b []byte, fa fieldAgg, exp, t int64) []byte {
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, int64(fa.n), 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	if fa.locked {
		b = append(b, `,"days":`...)
		b = strconv.AppendInt(b, int64(fa.days), 10)
	}
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, t, 10)
	return append(b, '}')
}

func appendMeta(b []byte, t int64, title, game, image string, suggested, updated int64) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, title)
	b = append(b, `,"game_id":`...)
	b = appendJSONString(b, game)
	b = append(b, `,"image":`...)
	b = appendJSONString(b, image)
	b = append(b, `,"suggested_price":`...)
	b = strconv.AppendInt(b, suggested, 10)
	b = append(b, `,"updated_at":`...)
	b = strconv.AppendInt(b, updated, 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (sanitised); control characters are
// escaped anyway.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
