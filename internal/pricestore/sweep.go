package pricestore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// Keys that find stale levels (SPEC §9.1), additions to SPEC §5.2.
const (
	// BucketPrefix prefixes the price buckets: `prices:bucket:dmarket:<game>:<bucket>` is a SET of the
	// titles a listings page showed with a level in the bucket (see BucketOf). Every listings page adds
	// its titles (one SADD and PEXPIRE PRICE_TTL per bucket, in the page's pipeline); a sweep drops a title
	// from the buckets inside its range once no level of the title is left there.
	BucketPrefix = "prices:bucket:dmarket:"
	// CrawlPrefix prefixes the progress of one range crawl: `crawl:range:dmarket:<game>:<range>:<cycle>` is
	// a HASH with a field per written page ("<page>": "1"), "last" (the index of the page that had
	// Crawl.Last), "lease" (unix ms until which a worker sweeps the range) and "done" once the sweep ran.
	// It expires PRICE_TTL after its last write.
	CrawlPrefix = "crawl:range:dmarket:"
)

// bucketsPerOctave is how many price buckets each doubling of the price spans (a bucket is about 9 %
// wide).
const bucketsPerOctave = 8

// maxBucket is the bucket of 10^9 cents, the last one an open range's sweep looks into.
var maxBucket = BucketOf(1_000_000_000)

// sweepLease bounds how long a worker holds a range's sweep before another may take it over.
const sweepLease = time.Minute

// sweepBatch bounds the titles one pipeline of a range sweep handles.
const sweepBatch = 500

// BucketOf returns the price bucket of a price in cents: floor(8·log2(price)), 0 below 2 cents.
func BucketOf(price int64) int {
	if price < 2 {
		return 0
	}
	return int(math.Log2(float64(price)) * bucketsPerOctave)
}

// BucketKey returns the key of a game's price bucket.
func BucketKey(game string, bucket int) string {
	return BucketPrefix + game + ":" + strconv.Itoa(bucket)
}

// CrawlKey returns the progress key of one crawl (cycle) of a game's price range.
func CrawlKey(game, priceRange string, cycle int64) string {
	return CrawlPrefix + game + ":" + priceRange + ":" + strconv.FormatInt(cycle, 10)
}

// ListingsPage is one listings message to apply.
type ListingsPage struct {
	// Game is the page's game.
	Game string
	// FetchedAt is when the parser fetched the page.
	FetchedAt time.Time
	// Crawl is the page's place in a range crawl, nil for other pages.
	Crawl *message.Crawl
	// Scan marks a page of one title's cheapest listings, nil for other pages.
	Scan *message.Scan
	// Items are the page's valid listings.
	Items []validate.Listing
}

// Applied is what applying a listings page did.
type Applied struct {
	// Titles is the number of prices keys the page left holding prices.
	Titles int
	// Changed lists, once each, the titles whose levels changed: a level appeared, disappeared (expired,
	// or removed by a sweep) or changed its count.
	Changed []string
}

// ApplyListings writes a listings page (see WriteListingsPage) and removes the levels it proves gone:
//   - a Scan page removes, from the scanned title only, every level (both statuses) priced below the
//     page's last listing (every level when Complete) that the page does not show and whose stored "t"
//     is older than the page's fetch time;
//   - a page of a range crawl records itself in the crawl's progress key; the write that completes the
//     crawl (pages 0 to N all written, page N marked Last) sweeps the range once: every level of the
//     range's titles priced in the range that this crawl did not write and that no page fetched after
//     the crawl started showed (stored "c" absent or older than the cycle, and stored "t" before the
//     cycle) is removed. An interrupted crawl never completes and removes nothing.
//
// Sweeps are idempotent, so a redelivered page changes nothing more; a sweep that fails releases its
// lease and returns the error, so the page is retried and the sweep with it.
func (s *Store) ApplyListings(ctx context.Context, p ListingsPage) (Applied, error) {
	track := s.newCrawlTrack(p.Game, p.Crawl)
	changed, n, err := s.writeListings(ctx, p, track)
	if err != nil {
		s.untrack(ctx, track)
		return Applied{}, err
	}
	a := Applied{Titles: n, Changed: changed}
	if p.Scan != nil {
		title, removed, err := s.sweepScan(ctx, p)
		if err != nil {
			return a, err
		}
		if removed && !slices.Contains(a.Changed, title) {
			a.Changed = append(a.Changed, title)
		}
	}
	if track != nil {
		swept, err := s.completeCrawl(ctx, p.Game, track)
		if err != nil {
			return a, err
		}
		for _, t := range swept {
			if !slices.Contains(a.Changed, t) {
				a.Changed = append(a.Changed, t)
			}
		}
	}
	return a, nil
}

// addToBuckets adds the page's titles to the price buckets of their levels: one SADD and one PEXPIRE
// per bucket, queued on pipe.
func (s *Store) addToBuckets(ctx context.Context, pipe redis.Pipeliner, game string, titles []titleAgg, fields []fieldAgg) {
	members := map[int][]any{}
	var order []int
	for i := range titles {
		for f := titles[i].head; f >= 0; f = fields[f].next {
			b := BucketOf(fields[f].price)
			list, ok := members[b]
			if !ok {
				order = append(order, b)
			}
			if n := len(list); n == 0 || list[n-1] != any(titles[i].title) {
				members[b] = append(list, titles[i].title)
			}
		}
	}
	for _, b := range order {
		k := BucketKey(game, b)
		pipe.SAdd(ctx, k, members[b]...)
		pipe.PExpire(ctx, k, s.cfg.PriceTTL)
	}
}

// ParseRange parses a crawl's price range "<from>-<to>" (cents, inclusive) or "<from>-" (open: to is
// -1).
func ParseRange(r string) (from, to int64, ok bool) {
	lo, hi, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	from, err := strconv.ParseInt(lo, 10, 64)
	if err != nil || from < 0 {
		return 0, 0, false
	}
	if hi == "" {
		return from, -1, true
	}
	to, err = strconv.ParseInt(hi, 10, 64)
	if err != nil || to < from {
		return 0, 0, false
	}
	return from, to, true
}

// trackScript records page ARGV[1] of the crawl whose progress key is KEYS[1] (ARGV[2] = 1 when it had
// Last) and sets the key to expire in ARGV[5] ms. It returns 1 to the one caller that may sweep now —
// every page up to the last is written, no sweep is done and no other worker's lease (ARGV[3] now and
// ARGV[4] the lease, in ms) is running — and takes the lease for it; else 0.
var trackScript = redis.NewScript(`
local key = KEYS[1]
redis.call('HSET', key, ARGV[1], '1')
if ARGV[2] == '1' then redis.call('HSET', key, 'last', ARGV[1]) end
redis.call('PEXPIRE', key, tonumber(ARGV[5]))
local st = redis.call('HMGET', key, 'last', 'done', 'lease')
if st[2] or not st[1] then return 0 end
local now = tonumber(ARGV[3])
if st[3] and tonumber(st[3]) > now then return 0 end
for p = 0, tonumber(st[1]) do
  if redis.call('HEXISTS', key, tostring(p)) == 0 then return 0 end
end
redis.call('HSET', key, 'lease', now + tonumber(ARGV[4]))
return 1
`)

// crawlTrack is the record of one range-crawl page in its progress key (see trackScript). It goes in
// the pipeline of the page's levels, after them, so that a crawl page costs one round trip.
type crawlTrack struct {
	key      string
	rng      string
	from, to int64
	cycle    int64
	page     int
	args     []any
	cmd      *redis.Cmd // set once queued
}

// newCrawlTrack returns the record of a crawl page, nil when the page is not a valid range-crawl page.
func (s *Store) newCrawlTrack(game string, c *message.Crawl) *crawlTrack {
	if c == nil {
		return nil
	}
	from, to, ok := ParseRange(c.Range)
	if !ok || c.Cycle <= 0 || c.Page < 0 {
		return nil
	}
	last := 0
	if c.Last {
		last = 1
	}
	return &crawlTrack{key: CrawlKey(game, c.Range, c.Cycle), rng: c.Range, from: from, to: to, cycle: c.Cycle,
		page: c.Page, args: []any{c.Page, last, s.clock.Now().UnixMilli(), sweepLease.Milliseconds(),
			s.cfg.PriceTTL.Milliseconds()}}
}

// queue adds the record to pipe (nothing when t is nil). It goes as EVAL: a NOSCRIPT reply could not be
// told apart from a failed write of the page.
func (t *crawlTrack) queue(ctx context.Context, pipe redis.Pipeliner) {
	if t != nil {
		t.cmd = trackScript.Eval(ctx, pipe, []string{t.key}, t.args...)
	}
}

// untrack takes back the record of a page whose levels failed to be written (and the sweep lease it
// took), so that no sweep runs before the retried page is written; best effort.
func (s *Store) untrack(ctx context.Context, t *crawlTrack) {
	if t == nil || t.cmd == nil {
		return
	}
	sweep, err := t.cmd.Int()
	if err != nil {
		return
	}
	fields := []string{strconv.Itoa(t.page)}
	if sweep == 1 {
		fields = append(fields, "lease")
	}
	pipe := s.rdb.Pipeline()
	pipe.HDel(ctx, t.key, fields...)
	_, _ = pipe.Exec(ctx)
}

// completeCrawl records a crawl page, unless its levels' pipeline already did, and, when it completes
// the crawl, sweeps the range. It returns the titles whose levels the sweep removed.
func (s *Store) completeCrawl(ctx context.Context, game string, t *crawlTrack) ([]string, error) {
	key := t.key
	var sweep int
	var err error
	if t.cmd != nil {
		sweep, err = t.cmd.Int()
	} else {
		sweep, err = trackScript.Run(ctx, s.rdb, []string{key}, t.args...).Int()
	}
	if err != nil {
		return nil, fmt.Errorf("track crawl %s: %w", key, err)
	}
	if sweep == 0 {
		return nil, nil
	}
	swept, err := s.sweepRange(ctx, game, t.from, t.to, t.cycle)
	pipe := s.rdb.Pipeline()
	if err != nil {
		pipe.HDel(ctx, key, "lease") // best effort: the retried page takes the sweep again
		_, _ = pipe.Exec(ctx)
		return nil, fmt.Errorf("sweep range %s of %s: %w", t.rng, game, err)
	}
	pipe.HSet(ctx, key, "done", "1")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("mark crawl %s swept: %w", key, err)
	}
	return swept, nil
}

// sweepRangeScript removes from the prices key KEYS[1] every level priced in [ARGV[2], ARGV[3]] (ARGV[3]
// -1: no upper bound) that the crawl ARGV[1] did not write and no page fetched after its start showed:
// stored "c" absent or below the cycle, and stored "t" below it. The key is deleted when no live level
// is left (ARGV[4] is now, unix s). It returns 2 × the levels removed, plus 1 when levels in the range
// are left.
var sweepRangeScript = redis.NewScript(`
local key = KEYS[1]
local cycle, from, to, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = redis.call('HGETALL', key)
local dead, left, live = {}, 0, 0
for i = 1, #cur, 2 do
  local f, v = cur[i], cur[i + 1]
  local pfx = string.sub(f, 1, 2)
  if pfx == 'a:' or pfx == 'l:' then
    local price = tonumber(string.sub(f, 3))
    local gone = false
    if price and price >= from and (to < 0 or price <= to) then
      local c = tonumber(string.match(v, '"c":(%d+)'))
      local t = tonumber(string.match(v, '"t":(%d+)')) or 0
      if (c == nil or c < cycle) and t < cycle then gone = true else left = left + 1 end
    end
    if gone then
      dead[#dead + 1] = f
    elseif (tonumber(string.match(v, '"exp":(%d+)')) or 0) >= now then
      live = live + 1
    end
  end
end
local rest = 0
if left > 0 then rest = 1 end
if #dead == 0 then return rest end
if live == 0 then
  redis.call('DEL', key)
else
  for i = 1, #dead, 1000 do redis.call('HDEL', key, unpack(dead, i, math.min(i + 999, #dead))) end
end
return 2 * #dead + rest
`)

// sweepRange removes the stale levels of one completed crawl of [from, to] (to -1: open) from every
// title in the range's buckets, and drops the titles left without levels in the range from the buckets
// that lie wholly inside it. It returns the titles that lost levels.
func (s *Store) sweepRange(ctx context.Context, game string, from, to, cycle int64) ([]string, error) {
	lo, hi := BucketOf(from), maxBucket
	if to >= 0 {
		hi = BucketOf(to)
	}
	// Only buckets strictly between those of the bounds hold no price outside the range (and the
	// first and last when the range is open on that side).
	inside := func(b int) bool { return (b > lo || from <= 0) && (b < hi || to < 0) }
	titles, in, err := s.bucketTitles(ctx, game, lo, hi)
	if err != nil || len(titles) == 0 {
		return nil, err
	}
	var swept []string
	gone := map[int][]any{}
	now := s.clock.Now().Unix()
	for start := 0; start < len(titles); start += sweepBatch {
		batch := titles[start:min(start+sweepBatch, len(titles))]
		keys, args := make([]string, len(batch)), make([][]any, len(batch))
		for i, t := range batch {
			keys[i], args[i] = PricesKey(t), []any{cycle, from, to, now}
		}
		cmds, err := s.evalPerKey(ctx, sweepRangeScript, keys, args, nil)
		if err != nil {
			return nil, err
		}
		for i, c := range cmds {
			code, _ := c.Int()
			if code >= 2 {
				swept = append(swept, batch[i])
			}
			if code&1 == 0 {
				for _, b := range in[batch[i]] {
					if inside(b) {
						gone[b] = append(gone[b], batch[i])
					}
				}
			}
		}
	}
	if len(gone) > 0 {
		pipe := s.rdb.Pipeline()
		for b, ts := range gone {
			pipe.SRem(ctx, BucketKey(game, b), ts...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return swept, fmt.Errorf("clean price buckets: %w", err)
		}
	}
	return swept, nil
}

// bucketTitles returns the titles of a game's buckets lo to hi, each once, and the buckets each was in.
func (s *Store) bucketTitles(ctx context.Context, game string, lo, hi int) ([]string, map[string][]int, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, 0, hi-lo+1)
	for b := lo; b <= hi; b++ {
		cmds = append(cmds, pipe.SMembers(ctx, BucketKey(game, b)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("read price buckets: %w", err)
	}
	var titles []string
	in := map[string][]int{}
	for i, c := range cmds {
		for _, t := range c.Val() {
			if _, seen := in[t]; !seen {
				titles = append(titles, t)
			}
			in[t] = append(in[t], lo+i)
		}
	}
	return titles, in, nil
}

// sweepScanScript removes from the prices key KEYS[1] every level priced below ARGV[2] (every level when
// it is -1) that is not among the fields ARGV[4] ("<field>\n" lines) and whose stored "t" is below ARGV[1]
// (the page's fetch time, ms). The key is deleted when no live level is left (ARGV[3] is now, unix s).
// It returns the number of levels removed.
var sweepScanScript = redis.NewScript(`
local key = KEYS[1]
local t, limit, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local shown = {}
for f in string.gmatch(ARGV[4], '([^\n]+)') do shown[f] = true end
local cur = redis.call('HGETALL', key)
local dead, live = {}, 0
for i = 1, #cur, 2 do
  local f, v = cur[i], cur[i + 1]
  local pfx = string.sub(f, 1, 2)
  if pfx == 'a:' or pfx == 'l:' then
    local price = tonumber(string.sub(f, 3))
    local ft = tonumber(string.match(v, '"t":(%d+)')) or 0
    if price and (limit < 0 or price < limit) and not shown[f] and ft < t then
      dead[#dead + 1] = f
    elseif (tonumber(string.match(v, '"exp":(%d+)')) or 0) >= now then
      live = live + 1
    end
  end
end
if #dead == 0 then return 0 end
if live == 0 then
  redis.call('DEL', key)
else
  for i = 1, #dead, 1000 do redis.call('HDEL', key, unpack(dead, i, math.min(i + 999, #dead))) end
end
return #dead
`)

// sweepScan removes the levels of the scanned title that a Scan page proves gone. It returns the title
// (sanitised) and whether levels were removed.
func (s *Store) sweepScan(ctx context.Context, p ListingsPage) (string, bool, error) {
	title, reason := validate.SanitizeTitle(p.Scan.Title)
	if reason != "" || title == "" {
		return "", false, nil
	}
	limit := int64(-1)
	if !p.Scan.Complete {
		if len(p.Items) == 0 {
			return title, false, nil
		}
		for _, it := range p.Items {
			limit = max(limit, it.PriceCents)
		}
	}
	var shown []byte
	for _, it := range p.Items {
		if it.Title == title {
			shown = appendFieldName(shown, it.Locked, it.PriceCents)
			shown = append(shown, '\n')
		}
	}
	args := []any{p.FetchedAt.UnixMilli(), limit, s.clock.Now().Unix(), string(shown)}
	cmds, err := s.evalPerKey(ctx, sweepScanScript, []string{PricesKey(title)}, [][]any{args}, nil)
	if err != nil {
		return title, false, fmt.Errorf("sweep scanned title: %w", err)
	}
	n, _ := cmds[0].Int()
	return title, n > 0, nil
}
