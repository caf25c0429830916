// Package pricestore owns the market state the workers keep in Redis (SPEC §5.2): per-title listing
// prices (`prices:dmarket:<title>`), best buy orders (`orders:dmarket:<title>`), sell-history analyses
// (`history:dmarket:<title>`) and per-game fees (`fees:dmarket:<game>`). It writes them in batches, atomically
// per title through Lua scripts, and idempotently: every stored value carries the fetch time ("t", unix
// milliseconds) of the message that wrote it, a write older than what is stored is ignored and a
// redelivered message rewrites exactly what it wrote before. It also reads the values back: one title's
// prices (Title), one buy order, analysis, chart or game's fees, and the whole market for the offers
// engine (MarketReader, with SCAN plus pipelined reads). The stored JSON bodies convert to and from the
// types of package market.
//
// Layout of `prices:dmarket:<title>` (a HASH):
//
//   - field `meta`: {"t","title","game_id","image","suggested_price","updated_at"}.
//
//   - field `a:<price>` (tradable now) and `l:<price>` (trade-locked): {"n","exp","t"} plus "days" on `l:`
//     fields. "n" is the number of listings at that (status, price): for pages of a range crawl (listings
//     messages carrying message.Crawl) it is their number over every page of the newest crawl that showed
//     it, and the field also holds that crawl ("c") and its per-page counts ("pg": {"<page>": count});
//     for other pages it is the count on the newest page that showed it. "exp" (unix seconds) is PRICE_TTL
//     after that page was fetched. Readers ignore a field whose exp is in the past; the next write after
//     it expired deletes it. "days" is the lowest lock, in whole days, among those listings.
//
//   - fields `x:a` (tradable) and `x:l` (trade-locked): the title's cheapest listings that carry
//     attributes (SPEC §9.2), a JSON array of ItemValue sorted by price then item id, at most
//     market.ItemsPerStatus per phase, written in the same script call as the levels. An item counts only
//     while its own exp has not passed and its level field is live.
//
//   - field `expiry`: {"first","last_ms","mt"}: a lower bound (unix seconds) of every price field's exp,
//     the newest field's expiry (unix ms) and the t of meta, kept by the writers so that a write reads the
//     whole hash to delete expired fields only once one may have expired, and sets the key's expiry and
//     decides whether to write meta without reading the fields or meta (readers ignore it).
//
// The key expires with its newest field; a key left without live price fields is deleted.
//
// Stale levels leave before they expire (SPEC §9.1, see ApplyListings): the price buckets
// (`prices:bucket:dmarket:<game>:<bucket>`, SETs of titles) find the titles of a price range without a
// SCAN, and a range crawl's progress key (`crawl:range:dmarket:<game>:<range>:<cycle>`) tells when the
// crawl completed, so that its range is swept once. Every write reports what it changed, for the change
// events.
package pricestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
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
	// FieldExpiry holds the bounds of the price fields' expiries that the writers keep (see
	// listingsScript); readers ignore it.
	FieldExpiry = "expiry"
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
	// ItemCacheTitles bounds the titles whose written items the Store remembers so as not to send an
	// unchanged item again within PriceTTL/4 of writing it (see writeListings); 0 takes
	// DefaultItemCacheTitles, a negative value sends every item every time.
	ItemCacheTitles int
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
	items *itemCache // nil when disabled
}

// New returns a Store. Zero TTLs take the defaults; negative ones are an error.
func New(rdb Client, clk clock.Clock, cfg Config) (*Store, error) {
	if cfg.PriceTTL < 0 || cfg.HistoryTTL < 0 {
		return nil, fmt.Errorf("%w: negative ttl", ErrConfig)
	}
	cfg.PriceTTL = cmp.Or(cfg.PriceTTL, DefaultPriceTTL)
	cfg.HistoryTTL = cmp.Or(cfg.HistoryTTL, DefaultHistoryTTL)
	if rdb == nil || clk == nil {
		return nil, fmt.Errorf("%w: nil dependency", ErrConfig)
	}
	s := &Store{rdb: rdb, clock: clk, cfg: cfg}
	if cfg.ItemCacheTitles >= 0 {
		s.items = newItemCache(cmp.Or(cfg.ItemCacheTitles, DefaultItemCacheTitles))
	}
	return s, nil
}

// listingsScript applies one listings page to ONE prices key (SPEC §9.3: one key per atomic unit; a
// page's keys are pipelined). KEYS[1] is the key. ARGV (listingsArgs): now (unix ms), t (fetch ms), exp
// (unix s), exp (unix ms, the same instant), the key's time to live in ms when exp is its newest field's
// (exp - now, at least 1), the crawl cycle (0 when the page carries no crawl identity), the page's index
// in the crawl, the meta JSON, the page's items with attributes of the title, tradable then trade-locked
// (JSON arrays of ItemValue, "" when the page has none of the status), "1" when the worker left some or
// all of the page's items out because it wrote them unchanged shortly before (see Store.planItems; the
// items sent are merged as usual, the others stay as stored) else "0", and then each field to write as
// two arguments, its name and its value. Without a crawl a value is the field's JSON, written unless the
// stored one is newer; with a crawl it is "<count>:<lock days or -1>", merged into the stored field (see
// crawlValue). The items are merged into FieldItemsAvailable and FieldItemsLocked (see mergeItems and its
// fast path renewItems, which work on the items as the worker wrote them, without decoding JSON): the
// fields are read and written only when the page brings items of their status, and on a full pass, which
// drops their expired items; "first" below also bounds every kept item's exp.
//
// The script reads only the expiry bounds and the fields it writes, in one HMGET, not the whole hash.
// The bounds (field FieldExpiry) hold "first", a lower bound of every stored field's exp, so no field
// can have expired while now is at or below it, "last_ms", the newest field's expiry in unix ms, and
// "mt", the t of the stored meta, so that meta itself is not read (on bounds without "mt", as a worker
// of the previous version writes them, or without bounds, the script reads meta's t from meta); once
// now passes "first" (or the field is missing, as on keys written before it existed) the script reads
// the whole hash once, deletes the expired fields and sets "first" to the smallest exp left. Every write after a field expired therefore still prunes it, but the whole hash is
// read about once per PRICE_TTL per key instead of on every page. The script writes meta unless the
// stored one is newer and sets the key to expire with its newest field, never later than PRICE_TTL after
// the newest fetch (or deletes it when no live field is left). It returns 1 when the key is left holding
// prices, else 0, plus 2 when a level appeared, disappeared (expired) or changed its count, plus 4 when
// the stored items may no longer hold what the worker sent them (a stored item was dropped or trimmed, a
// page's item was not kept), so that the worker forgets what it wrote of the title. A call that left items
// out on a key without meta (new, expired or deleted) writes nothing and returns 8: the worker sends it
// again with all its items.
//
// A page without crawl identity (fresh lane, scans) over a level a crawl wrote does not lower the
// crawl's count: the level keeps the crawl's identity and per-page counts, with n = max(stored n, page
// count) and the newer t and exp, until a crawl writes it again (overCrawl).
var listingsScript = redis.NewScript(`
local itemsPerGroup = ` + strconv.Itoa(market.ItemsPerStatus) + `
local key = KEYS[1]
-- Redis' Lua pays for every string it makes, number it parses (a strtod) or formats and closure it
-- creates: the common call (no crawl, no items, a few levels) does as few of each as it can. The whole
-- seconds are derived from the milliseconds, exp and expms are parsed only when the page brings levels,
-- and the texts of exp, expms and t build the expiry bounds without formatting numbers.
local nowms = tonumber(ARGV[1])
local now = (nowms - nowms % 1000) / 1000
local t = tonumber(ARGV[2])
local exp, expms = 0, 0 -- parsed below when the page brings levels
local cycle = 0
if ARGV[6] ~= '0' then cycle = tonumber(ARGV[6]) end
local page = ARGV[7]
local meta = ARGV[8]
local itemsA, itemsL = ARGV[9], ARGV[10]
-- The levels follow: field name ARGV[10 + 2i] and value ARGV[11 + 2i] of level i.
local nlevels = (#ARGV - 11) / 2
local lost = false -- the stored items may differ from what the worker sent (see the return value)

-- crawlValue merges this page's count n (and lowest lock days, -1 for tradable fields) into the stored
-- value v (nil when none). A field keeps the per-page counts of the newest crawl that showed it: the
-- same crawl sets this page's count, a newer crawl replaces them all, an older one is ignored (nil).
-- n is their sum, days their minimum, exp and t their maximum, so the result does not depend on the
-- order pages arrive in or on redeliveries. A stored value without crawl identity (a fresh-lane or scan
-- page's, which saw only some listings at the price) takes the crawl's count and keeps its own later time,
-- expiry and lower lock.
local crawlValue = nil
if cycle > 0 then crawlValue = function(v, n, days)
  local pg = {}
  local fexp, ft = exp, t
  if v then
    local c0 = tonumber(string.match(v, '"c":(%d+)'))
    local t0 = tonumber(string.match(v, '"t":(%d+)')) or -1
    if c0 == nil then
      -- A page outside any crawl (fresh lane, title scan) saw only some of the listings at this price:
      -- the crawl's count wins even over a newer such page, whose later time and expiry stay.
      local d0 = tonumber(string.match(v, '"days":(%d+)'))
      if d0 and days >= 0 and d0 < days then days = d0 end
      local e0 = tonumber(string.match(v, '"exp":(%d+)')) or 0
      if e0 > fexp then fexp = e0 end
      if t0 > ft then ft = t0 end
    elseif c0 > cycle then
      return nil
    elseif c0 == cycle then
      local pgs = string.match(v, '"pg":{([^}]*)}')
      if pgs then
        for p, cnt in string.gmatch(pgs, '"(%d+)":(%d+)') do pg[p] = tonumber(cnt) end
      end
      local d0 = tonumber(string.match(v, '"days":(%d+)'))
      if d0 and days >= 0 and d0 < days then days = d0 end
      local e0 = tonumber(string.match(v, '"exp":(%d+)')) or 0
      if e0 > fexp then fexp = e0 end
      if t0 > ft then ft = t0 end
    end
  end
  pg[page] = n
  local pages = {}
  for p in pairs(pg) do pages[#pages + 1] = tonumber(p) end
  table.sort(pages)
  local total = 0
  local parts = {}
  for i, p in ipairs(pages) do
    local cnt = pg[tostring(p)]
    total = total + cnt
    parts[i] = string.format('"%d":%d', p, cnt)
  end
  local out = string.format('{"n":%d,"exp":%d', total, fexp)
  if days >= 0 then out = out .. string.format(',"days":%d', days) end
  return out .. string.format(',"t":%d,"c":%d,"pg":{%s}}', ft, cycle, table.concat(parts, ','))
end end

-- overCrawl merges the value v of a page without crawl identity into the stored value o of a crawl: the
-- count is the larger of both (a fresh page never lowers what the crawl counted over all its pages),
-- exp and t the newer, days the lower; the crawl's identity and per-page counts stay, so the crawl's next
-- page of the same cycle still sums them and its sweep keeps the level (t after the crawl's start).
local function overCrawl(o, v)
  local n = math.max(tonumber(string.match(o, '"n":(%d+)')) or 0, tonumber(string.match(v, '"n":(%d+)')))
  local e = math.max(tonumber(string.match(o, '"exp":(%d+)')) or 0, tonumber(string.match(v, '"exp":(%d+)')))
  local ft = math.max(tonumber(string.match(o, '"t":(%d+)')) or 0, tonumber(string.match(v, '"t":(%d+)')))
  local d0, d1 = tonumber(string.match(o, '"days":(%d+)')), tonumber(string.match(v, '"days":(%d+)'))
  local out = string.format('{"n":%d,"exp":%d', n, e)
  if d0 or d1 then out = out .. string.format(',"days":%d', math.min(d0 or d1, d1 or d0)) end
  return out .. string.format(',"t":%d,"c":%s,"pg":{%s}}', ft, string.match(o, '"c":(%d+)'),
    string.match(o, '"pg":{([^}]*)}') or '')
end

local changed = 0 -- 2 once a level appeared, disappeared or changed its count, or the kept items changed

-- The items' tables (stored fields, deletions) are made only on the calls that use them: a call of a
-- steady crawl sends no items.
local hasItems = itemsA ~= '' or itemsL ~= ''
-- One HMGET reads the expiry bounds (which hold meta's time), the items fields of the statuses the page
-- brings and the fields the page writes; a full pass (below) reads the whole hash again instead.
local read, atA, atL = {'expiry'}, nil, nil -- atA, atL: where the HMGET answers x:a, x:l
if itemsA ~= '' then
  read[#read + 1] = 'x:a'
  atA = #read
end
if itemsL ~= '' then
  read[#read + 1] = 'x:l'
  atL = #read
end
local levelsAt = #read -- head[levelsAt + i] is the stored value of level i
for i = 1, nlevels do read[levelsAt + i] = ARGV[10 + 2 * i] end
local head = redis.call('HMGET', key, unpack(read))
-- hint, lastms and metat are the bounds and meta's time as numbers; firstS, lastS and mtS their texts
-- while they are what the field will say (nil once computed: formatted at the end).
local hint, lastms, metat, firstS, lastS, mtS = nil, 0, nil, nil, '0', nil
if head[1] then
  local f, l, m = string.match(head[1], '^{"first":(%d+),"last_ms":(%d+),"mt":(%d+)}$')
  if f then
    hint, lastms, metat, firstS, lastS, mtS = tonumber(f), tonumber(l), tonumber(m), f, l, m
  else -- the bounds without meta's time, as a worker of the previous version writes them
    firstS = string.match(head[1], '"first":(%d+)')
    hint = tonumber(firstS)
    lastS = string.match(head[1], '"last_ms":(%d+)') or '0'
    lastms = tonumber(lastS)
  end
end
if metat == nil then -- a key without the bounds' meta time (new, or written by the previous version)
  local m = redis.call('HGET', key, 'meta')
  if ARGV[11] == '1' and not m then return 8 end
  metat = -1
  if m then metat = tonumber(string.match(m, '"t":(%d+)')) or -1 end
end
local full = hint == nil or hint < now

local old = {}
local storedItems = nil -- the items fields, read by a full pass
local live = 1      -- live price fields; exact only after a full pass (at least 1 otherwise)
local minexp = hint -- lower bound of the exp of every field left
if full then
  local cur = redis.call('HGETALL', key)
  storedItems = {}
  local vals = {}
  local dead = {}
  live = 0
  minexp, firstS = nil, nil
  for i = 1, #cur, 2 do
    local f, v = cur[i], cur[i + 1]
    if f == 'x:a' or f == 'x:l' then
      storedItems[f] = v
    elseif f ~= 'meta' and f ~= 'expiry' and string.sub(f, 1, 2) ~= 'x:' then
      local e = tonumber(string.match(v, '"exp":(%d+)')) or 0
      if e < now then
        dead[#dead + 1] = f
      else
        vals[f] = v
        live = live + 1
        if e * 1000 > lastms then lastms, lastS = e * 1000, nil end
        if minexp == nil or e < minexp then minexp, firstS = e, nil end
      end
    end
  end
  if #dead > 0 then changed = 2 end
  for i = 1, #dead, 1000 do
    redis.call('HDEL', key, unpack(dead, i, math.min(i + 999, #dead)))
  end
  for i = 1, nlevels do old[i] = vals[ARGV[10 + 2 * i]] end
else
  for i = 1, nlevels do
    if head[levelsAt + i] then old[i] = head[levelsAt + i] end
  end
end

local set, ns = {}, 0 -- set[1..ns]: the HSET's fields and values
if nlevels > 0 then -- parsed here: a crawl value's exp is this page's
  expms = tonumber(ARGV[4])
  exp = (expms - expms % 1000) / 1000
end
for i = 1, nlevels do
  local v = ARGV[11 + 2 * i]
  local o = old[i]
  local nv = nil
  if cycle > 0 then
    local n, days = string.match(v, '^(%d+):(-?%d+)$')
    nv = crawlValue(o, tonumber(n), tonumber(days))
  elseif o == nil or (tonumber(string.match(o, '"t":(%d+)')) or -1) <= t then
    nv = v
    if o and string.find(o, '"c":', 1, true) then
      nv = overCrawl(o, v)
    end
  end
  if nv then
    set[ns + 1], set[ns + 2], ns = ARGV[10 + 2 * i], nv, ns + 2
    if o == nil then
      if full then live = live + 1 end
      changed = 2
    else
      -- Both values start {"n":<count>, : the count changed when the texts up to that comma differ.
      local k = string.find(nv, ',', 6, true)
      if not k or string.sub(o, 1, k) ~= string.sub(nv, 1, k) then changed = 2 end
    end
  end
end
if ns > 0 then
  if minexp == nil or exp < minexp then minexp, firstS = exp, ARGV[3] end
  if expms > lastms then lastms, lastS = expms, ARGV[4] end
end

-- The items fields: merged when the page brings items of their status, and on a full pass (which drops
-- their expired items and keeps "first" a lower bound of every item's exp too).
local itemDel = nil
if hasItems or full then
  -- The items functions are defined only on the calls that use them.
  -- byPriceId orders items as the fields keep them: by price, then id.
  local function byPriceId(a, b)
    if a.p ~= b.p then return a.p < b.p end
    return a.id < b.id
  end

  -- phaseOf returns the phase of one item ("" for none).
  local function phaseOf(v)
    if not string.find(v, 'ph":"', 1, true) then return '' end
    return string.match(v, ',"ph":"([^"]*)"') or ''
  end

  -- itemSig is an items field without the items' times, to tell a change of the kept items from a renewal.
  local function itemSig(v)
    if not v then return '' end
    return (string.gsub(v, '"exp":%d+,"t":%d+,?', ''))
  end

  -- splitItems appends to out the items of an items field as raw strings. The field is a JSON array of
  -- objects that each start with {"id": (see pricestore.ItemValue); no string inside an item can hold that
  -- sequence unescaped, so the array splits before each '{"id":' after the first (and the ',' before it)
  -- without decoding it. Anything else holds no item. The script's plain searches start with a rare byte
  -- ('{"id":', 'ph":"' for the phase key): Lua's plain search stops at every occurrence of the first byte,
  -- and a ',' or '"' occurs ten times in an item.
  local function splitItems(raw, out)
    if not raw or string.byte(raw, 1) ~= 91 or #raw <= 2 then return out end -- 91 is '['
    local pos, last = 2, #raw - 1
    while true do
      local s = string.find(raw, '{"id":', pos + 1, true) -- the next item's '{', after its ','
      if not s or s - 1 > last then
        out[#out + 1] = string.sub(raw, pos, last)
        return out
      end
      out[#out + 1] = string.sub(raw, pos, s - 2)
      pos = s
    end
  end

  -- mergeItems merges the page's items of one status (a JSON array) into the stored field raw (nil when
  -- none): an item replaces the stored one of the same id unless that one has a newer t, items whose exp
  -- passed are dropped, and each phase ("" is one) keeps its cheapest (price, id) items. Items keep the
  -- form the worker wrote (id, p, exp and t first, then the attributes). It returns the field's new value
  -- (nil when no item is left), the lowest exp of the items kept, and whether the kept items changed more
  -- than their times (an item came, went, or changed its price or attributes).
  local function mergeItems(raw, incoming)
    local byId, list, differs = {}, {}, false
    local function put(v, stored)
      local id, p, e, it = string.match(v, '^{"id":(.-),"p":(%d+),"exp":(%d+),"t":(%d+)')
      p, e, it = tonumber(p), tonumber(e), tonumber(it)
      if not id or e < now then
        if stored then differs, lost = true, true end
        return
      end
      local o = byId[id]
      if o and o.t > it then lost = true end
      if o == nil or o.t <= it then
        local ph = phaseOf(v)
        local was, moved = stored, not stored
        if o then
          was = o.was
          moved = o.moved or (o.v ~= v and itemSig(o.v) ~= itemSig(v))
        end
        byId[id] = {id = id, p = p, e = e, t = it, ph = ph, v = v, was = was, moved = moved}
      end
    end
    for _, v in ipairs(splitItems(raw, {})) do put(v, true) end
    for _, v in ipairs(splitItems(incoming, {})) do put(v, false) end
    for _, it in pairs(byId) do list[#list + 1] = it end
    table.sort(list, byPriceId)
    local kept, per, low = {'['}, {}, nil
    for _, it in ipairs(list) do
      local n = (per[it.ph] or 0) + 1
      per[it.ph] = n
      if n <= itemsPerGroup then
        if #kept > 1 then kept[#kept + 1] = ',' end
        kept[#kept + 1] = it.v
        if low == nil or it.e < low then low = it.e end
        if it.moved then differs = true end
      else
        lost = true
        if it.was then differs = true end
      end
    end
    if #kept == 1 then return nil, nil, differs end
    kept[#kept + 1] = ']'
    return table.concat(kept), low, differs
  end

  -- insertPlain is insertItems for a field without phases and new items without phases (news sorted by
  -- byPriceId), the common case: it finds where each item starts with plain searches, places the new
  -- items by binary search on (price, id), reading the price and id of O(log n) stored items per new item,
  -- and builds the field once. A new item past the first ItemsPerStatus is left out; stored items pushed
  -- past them are dropped (both make the worker forget the title). It returns the field and whether an
  -- item was added, or nil when the field does not parse.
  local function insertPlain(out, news)
    local starts, pos = {2}, 2
    while true do
      local nxt = string.find(out, '{"id":', pos + 1, true)
      if not nxt then break end
      pos = nxt
      starts[#starts + 1] = pos
    end
    local count = #starts
    local function endOf(i) -- the last byte of stored item i
      if i < count then return starts[i + 1] - 2 end
      return #out - 1
    end
    local at, lo = {}, 1
    for j, it in ipairs(news) do
      local a, b = lo, count + 1 -- the first stored item after it: a stored item sorts after it unless cheaper or same price, lower id
      while a < b do
        local mid = math.floor((a + b) / 2)
        local sid, sp = string.match(out, '^{"id":("[^"]*"),"p":(%d+),', starts[mid]) -- an id with a quote: merge
        if not sid then return nil end
        sp = tonumber(sp)
        if sp < it.p or (sp == it.p and sid < it.id) then a = mid + 1 else b = mid end
      end
      if a - 1 + j - 1 >= itemsPerGroup then
        lost = true -- this one and the dearer ones would be trimmed at once
        break
      end
      at[j], lo = a, a
    end
    if #at == 0 then return out, false end
    local keep = math.min(count, itemsPerGroup - #at)
    if keep < count then lost = true end
    local pieces, nxt = {'['}, 1
    local function add(v)
      if #pieces > 1 then pieces[#pieces + 1] = ',' end
      pieces[#pieces + 1] = v
    end
    for j = 1, #at do
      if at[j] > nxt then
        add(string.sub(out, starts[nxt], endOf(at[j] - 1)))
        nxt = at[j]
      end
      add(news[j].v)
    end
    if keep >= nxt then add(string.sub(out, starts[nxt], endOf(keep))) end
    pieces[#pieces + 1] = ']'
    return table.concat(pieces), true
  end

  -- insertItems puts the new items news (each {v, id, p, ph}; their ids not stored; sorted by byPriceId)
  -- into the sorted field out at their (price, id) places in one pass over it, and builds the field once
  -- from slices of out. A new item that would be trimmed at once (ItemsPerStatus items of its phase before
  -- its place) is left out. It returns the field and whether an item was added, or nil when the inserts
  -- would push a stored item out (the merge trims then). Past the last place only the stored items'
  -- phases are read.
  local function insertItems(out, news)
    local parts, from, per, n, added = {}, 1, {}, 1, false
    local function place(it, at) -- puts it before position at (nil: after the last stored item)
      local c = per[it.ph] or 0
      if c >= itemsPerGroup then
        lost = true
        return
      end
      per[it.ph], added = c + 1, true
      if at then
        parts[#parts + 1] = string.sub(out, from, at - 1)
        parts[#parts + 1] = it.v
        parts[#parts + 1] = ','
        from = at
      else
        parts[#parts + 1] = ','
        parts[#parts + 1] = it.v
      end
    end
    local pos = 2
    local q = nil -- the next phase member at or after pos (false: none), searched once per item that has one
    while true do
      local nxt = string.find(out, '{"id":', pos + 1, true)
      if n <= #news then
        local sid, sp = string.match(out, '^{"id":(.-),"p":(%d+),', pos)
        if not sid then return nil end
        sp = tonumber(sp)
        while n <= #news and (sp > news[n].p or (sp == news[n].p and sid > news[n].id)) do
          place(news[n], pos)
          n = n + 1
        end
      end
      if q ~= false and (q == nil or q < pos) then q = string.find(out, 'ph":"', pos, true) or false end
      local sph = ''
      if q and q < (nxt or #out) then sph = string.match(out, '^ph":"([^"]*)"', q) end
      per[sph] = (per[sph] or 0) + 1
      if not nxt then break end
      pos = nxt
    end
    parts[#parts + 1] = string.sub(out, from, -2)
    for i = n, #news do place(news[i], nil) end
    if not added then return out, false end
    for _, c in pairs(per) do
      if c > itemsPerGroup then return nil end
    end
    parts[#parts + 1] = ']'
    return table.concat(parts), true
  end

  -- renewItems is mergeItems' fast path for pages whose items are either stored at the same price and
  -- phase (a title seen again), each put over the stored one in place unless that one is newer, or new to
  -- a phase with room left, inserted at their place; the order and the groups stay as the merge would
  -- make them. It returns the new value and whether the items changed more than their times (see
  -- itemSig), nil when the fast path does not apply. It runs only while no field can have expired (see
  -- "first"), so no item needs dropping, and it only raises expiries or adds the page's, so "first" stays
  -- a lower bound of every item's exp.
  local function renewItems(raw, incoming)
    if not raw or string.sub(raw, 1, 2) ~= '[{' then return nil end
    local out, changed, news, pending, reps, at = raw, false, {}, {}, {}, {}
    for _, v in ipairs(splitItems(incoming, {})) do
      local head, id, p = string.match(v, '^({"id":("[^"]*"),"p":(%d+),)') -- an id with a quote: merge
      if not head then return nil end
      local s = string.find(out, head, 1, true)
      if not s then
        if pending[id] or string.find(out, '{"id":' .. id .. ',', 1, true) then return nil end -- stored at another price or twice
        pending[id] = true
        news[#news + 1] = {v = v, id = id, p = tonumber(p), ph = phaseOf(v)}
      else
        local e = string.find(out, '{"id":', s + 1, true)
        local stop = e and e - 2 or #out - 1
        local cur = string.sub(out, s, stop)
        if cur ~= v then
          -- After the head come "exp" and "t", then the attributes (the rest).
          local _, ce, ct = string.find(cur, '^"exp":%d+,"t":(%d+)', #head + 1)
          local _, ve, vt = string.find(v, '^"exp":%d+,"t":(%d+)', #head + 1)
          if not ce or not ve then return nil end
          if tonumber(ct) > tonumber(vt) then
            lost = true
          else
            if string.sub(cur, ce + 1) ~= string.sub(v, ve + 1) then
              if phaseOf(cur) ~= phaseOf(v) then
                return nil
              end
              changed = true
            end
            if at[s] then return nil end -- the page holds the item twice
            at[s] = true
            reps[#reps + 1] = {s = s, stop = stop, v = v}
          end
        end
      end
    end
    if #reps > 0 then -- the renewed items, put over the stored ones in one copy of the field
      table.sort(reps, function(a, b) return a.s < b.s end)
      local pieces, from = {}, 1
      for _, r in ipairs(reps) do
        pieces[#pieces + 1] = string.sub(out, from, r.s - 1)
        pieces[#pieces + 1] = r.v
        from = r.stop + 1
      end
      pieces[#pieces + 1] = string.sub(out, from)
      out = table.concat(pieces)
    end
    if #news > 0 then
      local added
      table.sort(news, byPriceId)
      local plain = not string.find(out, 'ph":"', 1, true)
      for _, it in ipairs(news) do
        if it.ph ~= '' then plain = false end
      end
      if plain then
        out, added = insertPlain(out, news)
      else
        out, added = insertItems(out, news)
      end
      if not out then return nil end
      if added then changed = true end
    end
    return out, changed
  end

  for s, f in ipairs({'x:a', 'x:l'}) do
    local incoming, at = itemsA, atA
    if s == 2 then incoming, at = itemsL, atL end
    local o = nil
    if full then
      o = storedItems[f]
    elseif at then
      o = head[at] or nil -- HMGET answers false for a missing field
    end
    if incoming ~= '' or (full and o) then
      local nv, differs = nil, false
      if not full then nv, differs = renewItems(o, incoming) end
      if nv == nil then
        local low
        nv, low, differs = mergeItems(o, incoming)
        if low and (minexp == nil or low < minexp) then minexp, firstS = low, nil end
      end
      if differs then changed = 2 end
      if nv ~= o then
        if nv then
          set[ns + 1], set[ns + 2], ns = f, nv, ns + 2
        else
          itemDel = itemDel or {}
          itemDel[#itemDel + 1] = f
        end
      end
    end
  end
end

local forget = 0
if lost then forget = 4 end
if live == 0 then
  redis.call('DEL', key)
  return changed -- a later call that leaves its items out finds no meta (8)
end
if itemDel then redis.call('HDEL', key, unpack(itemDel)) end
if t >= metat then
  set[ns + 1], set[ns + 2], ns = 'meta', meta, ns + 2
  mtS = ARGV[2]
end
-- Strings are concatenated, not formatted: a number's text costs a printf in Redis' Lua.
local expiry = '{"first":' .. (firstS or string.format('%d', minexp)) .. ',"last_ms":' ..
  (lastS or string.format('%d', lastms)) .. ',"mt":' .. (mtS or string.format('%d', metat)) .. '}'
if expiry ~= head[1] then
  set[ns + 1], set[ns + 2], ns = 'expiry', expiry, ns + 2
end
if ns > 0 then
  redis.call('HSET', key, unpack(set))
end
-- The key expires with its newest field: a field written now exactly PRICE_TTL after its fetch (ARGV[5],
-- the usual case), one seen only in a full pass at its exp in whole seconds (at most its true expiry).
if lastS == ARGV[4] then -- lastS is ARGV[4] itself or another string of the same text
  redis.call('PEXPIRE', key, ARGV[5])
else
  local ttl = lastms - nowms
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', key, string.format('%d', ttl))
end
return 1 + changed + forget
`)

// casScript writes the string key KEYS[1] unless the stored value is newer (SPEC §9.3: one key per
// atomic unit; the keys of one batch are pipelined, see evalPerKey). ARGV: t (fetch ms), ttl (ms) and the
// value ("" deletes the key). It returns 0 when it left the key alone, 1 when it wrote the key with what
// it held apart from the times ("t", "updated_at") and the hourly points, and 2 when what the key says
// changed (appeared, disappeared or another value).
var casScript = redis.NewScript(`
local function norm(v)
  if not v then return '' end
  v = string.gsub(v, '"t":%d+,?', '')
  v = string.gsub(v, ',?"updated_at":%d+', '')
  v = string.gsub(v, ',?"points":%[.-%]', '')
  return v
end
local t = tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
local ct = -1
if cur then ct = tonumber(string.match(cur, '"t":(%d+)')) or -1 end
if t < ct then return 0 end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  if cur then return 2 end
  return 1
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', tonumber(ARGV[2]))
if norm(cur) ~= norm(ARGV[3]) then return 2 end
return 1
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
	// itemHead and itemTail are the first and last of the title's listings with attributes (indexes in
	// the page, linked through the next list aggregate returns), -1 when none.
	itemHead, itemTail int32
}

// WriteListings stores the valid listings of one page of game fetched at fetchedAt. Listings are counted
// per (title, status, price); the counts replace those of older pages. A page whose fields would already
// be expired writes nothing; a fetch time ahead of the store's clock orders writes as given but expires
// PRICE_TTL from now. It returns the number of titles written.
func (s *Store) WriteListings(ctx context.Context, game string, fetchedAt time.Time, items []validate.Listing) (int, error) {
	return s.WriteListingsPage(ctx, game, fetchedAt, nil, items)
}

// WriteListingsPage is WriteListings for a page that may belong to a range crawl (crawl not nil). Then
// the count of a (title, status, price) is the number of listings at that price over every page of the
// newest crawl that showed it, however many pages the price spans: each field keeps the count of each
// page of that crawl, a page of the same crawl sets its own count, a page of a newer crawl replaces them
// and a page of an older crawl is ignored. The result does not depend on the order in which pages are
// applied, and a redelivered page changes nothing. A nil crawl keeps WriteListings' page-by-page counts.
func (s *Store) WriteListingsPage(ctx context.Context, game string, fetchedAt time.Time, crawl *message.Crawl, items []validate.Listing) (int, error) {
	a, err := s.ApplyListings(ctx, ListingsPage{Game: game, FetchedAt: fetchedAt, Crawl: crawl, Items: items})
	return a.Titles, err
}

// writeListings writes the page's levels (see WriteListingsPage), adds its titles to the price buckets
// and records the crawl page in its progress key (track, may be nil), all in one pipeline. It returns
// the titles whose levels changed and how many keys were left holding prices. A page with nothing to
// write leaves track unsent.
func (s *Store) writeListings(ctx context.Context, p ListingsPage, track *crawlTrack) (changed []string, n int, err error) {
	var cycle int64
	page := 0
	if c := p.Crawl; c != nil && c.Cycle > 0 && c.Page >= 0 {
		cycle, page = c.Cycle, c.Page
	}
	if len(p.Items) == 0 {
		return nil, 0, nil
	}
	now := s.clock.Now()
	expAt := notAfter(p.FetchedAt, now).Add(s.cfg.PriceTTL)
	exp := expAt.Unix()
	if exp < now.Unix() {
		return nil, 0, nil
	}
	// The slices are made here, where they do not escape, and filled by the helpers.
	titles, fields, itemNext := aggregate(p.Items, make([]titleAgg, 0, len(p.Items)), make([]fieldAgg, 0, len(p.Items)))
	t := p.FetchedAt.UnixMilli()
	// The key's time to live when this page brings its newest field (the script's usual case).
	ttl := max(1, expAt.UnixMilli()-now.UnixMilli())
	common := [listingsItemsArg - 1]any{now.UnixMilli(), t, exp, expAt.UnixMilli(), ttl, cycle, page}
	keys, args := make([]string, len(titles)), make([][]any, len(titles))
	plan := s.planItems(titles, p.Items, itemNext, now)
	listingsArgs(keys, args, titles, fields, p.Items, plan, common[:], p.Game, p.FetchedAt, t, exp, cycle > 0)
	cmds, err := s.evalPerKey(ctx, listingsScript, keys, args, func(pipe redis.Pipeliner) {
		s.addToBuckets(ctx, pipe, p.Game, titles, fields)
		track.queue(ctx, pipe)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("write listings of %d titles: %w", len(titles), err)
	}
	codes := make([]int, len(cmds))
	for i, c := range cmds {
		codes[i], _ = c.Int() // evalPerKey checked every result
	}
	if err := s.resendItems(ctx, codes, keys, args, plan, p.Items, exp, t); err != nil {
		return nil, 0, fmt.Errorf("write listings of %d titles: %w", len(titles), err)
	}
	for i, code := range codes {
		n += code & 1
		if code&2 != 0 {
			changed = append(changed, titles[i].title)
		}
	}
	s.rememberItems(titles, codes, plan, p.Items, exp, t, now.Unix())
	return changed, n, nil
}

// aggregate counts a page's listings per title and (status, price), appending titles and each title's
// fields in page order to titles and fields; a title's fields are linked through fieldAgg.next. A title's
// listings with attributes are linked from titleAgg.itemHead through itemNext (nil when the page has
// none), -1 ending the list.
func aggregate(items []validate.Listing, titles []titleAgg, fields []fieldAgg) (_ []titleAgg, _ []fieldAgg, itemNext []int32) {
	index := make(map[string]int, len(items))
	for i := range items {
		it := &items[i]
		ti, ok := index[it.Title]
		if !ok {
			ti = len(titles)
			index[it.Title] = ti
			titles = append(titles, titleAgg{title: it.Title, head: -1, tail: -1, itemHead: -1, itemTail: -1})
		}
		ta := &titles[ti]
		if ta.image == "" {
			ta.image = it.Image
		}
		if ta.suggested == 0 {
			ta.suggested = it.SuggestedCents
		}
		if !it.Attrs.Empty() {
			if itemNext == nil {
				itemNext = make([]int32, len(items))
			}
			itemNext[i] = -1
			if ta.itemTail >= 0 {
				itemNext[ta.itemTail] = int32(i)
			} else {
				ta.itemHead = int32(i)
			}
			ta.itemTail = int32(i)
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
	return titles, fields, itemNext
}

// listingsItemsArg is the index, in a listingsScript call's arguments, of the title's tradable items; the
// trade-locked items and the skipped flag follow it (see listingsArgs, which puts them after the
// listingsItemsArg-1 common arguments and the meta JSON).
const listingsItemsArg = 8

// listingsArgs sets keys[i] to the prices key of titles[i] and args[i] to its listingsScript arguments:
// common, the meta JSON, the title's kept items of each status (see plan and pageItems; "" when none or
// skipped), whether they were skipped, and each field's name and value (crawl counts when crawl is set).
// t is the fetch time (unix ms), exp the fields' expiry (unix s).
//
// The page's arguments share two allocations: one slice of every call's arguments, and one buffer that
// holds every title's meta and field names and values, passed as sub-slices (go-redis sends a []byte
// argument as it is), so that a title costs no string copies.
func listingsArgs(keys []string, args [][]any, titles []titleAgg, fields []fieldAgg, items []validate.Listing,
	plan *itemsPlan, common []any, game string, fetchedAt time.Time, t, exp int64, crawl bool) {
	all := make([]any, 0, len(titles)*(len(common)+4)+2*len(fields)) // never grows: args[i] are slices of it
	text := make([]byte, 0, 256*len(titles))
	var buf []byte // the items' JSON (pageItems)
	for i := range titles {
		ta := &titles[i]
		keys[i] = PricesKey(ta.title)
		start := len(all)
		all = append(all, common...)
		from := len(text)
		text = appendMeta(text, t, ta.title, game, ta.image, ta.suggested, fetchedAt.Unix())
		all = append(all, text[from:len(text):len(text)])
		var avail, locked string
		skip := "0"
		if plan.skipped[i] {
			skip = "1"
		}
		if sent, _ := plan.sent(i); len(sent) > 0 {
			avail, locked, buf = pageItems(buf, items, sent, exp, t)
		}
		all = append(all, avail, locked, skip)
		for f := ta.head; f >= 0; f = fields[f].next {
			from = len(text)
			text = appendFieldName(text, fields[f].locked, fields[f].price)
			name := len(text)
			if crawl {
				text = appendCrawlCount(text, fields[f])
			} else {
				text = appendFieldValue(text, fields[f], exp, t)
			}
			all = append(all, text[from:name:name], text[name:len(text):len(text)])
		}
		args[i] = all[start:len(all):len(all)]
	}
}

// evalPerKey runs script once per key, keys[i] with args[i], all calls in one pipeline together with
// the commands extra (may be nil) adds, and returns the calls, every one of which has an integer result.
// The calls go as EVALSHA; those that find the script not cached on their node are sent again with EVAL,
// which caches it. The first failed call or extra command is the error.
func (s *Store) evalPerKey(ctx context.Context, script *redis.Script, keys []string, args [][]any,
	extra func(redis.Pipeliner)) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(keys))
	pipe := s.rdb.Pipeline()
	for i, k := range keys {
		cmds[i] = script.EvalSha(ctx, pipe, []string{k}, args[i]...)
	}
	if extra != nil {
		extra(pipe)
	}
	all, _ := pipe.Exec(ctx) // errors are read per command below
	var retry []int
	for i, c := range cmds {
		if err := c.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe := s.rdb.Pipeline()
		for _, i := range retry {
			cmds[i] = script.Eval(ctx, pipe, []string{keys[i]}, args[i]...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, c := range cmds {
		if _, err := c.Int(); err != nil {
			return nil, err
		}
	}
	for i := len(keys); i < len(all); i++ {
		if err := all[i].Err(); err != nil {
			return nil, err
		}
	}
	return cmds, nil
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

// appendCrawlCount appends the "<count>:<lock days or -1>" listingsScript merges for a crawl page.
func appendCrawlCount(b []byte, fa fieldAgg) []byte {
	b = strconv.AppendInt(b, int64(fa.n), 10)
	b = append(b, ':')
	if !fa.locked {
		return append(b, '-', '1')
	}
	return strconv.AppendInt(b, int64(fa.days), 10)
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
