// Package salesschedule owns the per-title schedule of sales fetches in Redis (SPEC §3.1). Workers add the
// titles they see; parser instances claim due titles under a lease so that two of them never fetch the
// same title, postpone a title after a successful fetch and back off after a failed one.
//
// The schedule of a game is the sorted set `sales:schedule:dmarket:<game>`: member = title, score = the
// unix time in milliseconds at which the title is next due (or its lease ends). Beside it the sorted set
// `sales:seen:dmarket:<game>` holds the same titles scored by when a worker last enqueued them (unix
// milliseconds). A title not enqueued for Config.Retention has left the market: the next Enqueue or Claim
// of its game drops it from both sets. Both sets are therefore bounded by the titles seen in listings
// within the retention, not by every title ever listed.
package salesschedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/backoff"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// KeyPrefix prefixes the schedule key of a game.
const KeyPrefix = "sales:schedule:dmarket:"

// SeenKeyPrefix prefixes the key of a game's last-seen times.
const SeenKeyPrefix = "sales:seen:dmarket:"

// Key returns the schedule key of game.
func Key(game string) string { return KeyPrefix + game }

// SeenKey returns the key of game's last-seen times.
func SeenKey(game string) string { return SeenKeyPrefix + game }

// Defaults of Config.
const (
	DefaultBaseBackoff = time.Minute
	DefaultMaxBackoff  = 6 * time.Hour
	// DefaultRetention is how long a title stays scheduled after it was last enqueued. Workers enqueue
	// every title they see at least once an hour, so only titles gone from the market reach it.
	DefaultRetention = 6 * time.Hour
)

// pruneBatch is the least number of stale titles one Enqueue or Claim drops.
const pruneBatch = 1000

// Sentinel errors.
var (
	// ErrConfig means a Config value is out of range.
	ErrConfig = errors.New("invalid sales schedule config")
	// ErrArgument means a call argument is out of range.
	ErrArgument = errors.New("invalid argument")
)

// Config tunes the backoff after failures and the retention of titles gone from the market.
type Config struct {
	// BaseBackoff is the delay after the first failure; it doubles with each further attempt.
	BaseBackoff time.Duration
	// MaxBackoff caps the delay.
	MaxBackoff time.Duration
	// Retention is how long a title that is no longer enqueued stays scheduled.
	Retention time.Duration
}

// Client is the part of go-redis the schedule uses.
type Client interface {
	redis.Scripter
	ZAddArgs(ctx context.Context, key string, args redis.ZAddArgs) *redis.IntCmd
	ZScore(ctx context.Context, key, member string) *redis.FloatCmd
}

// Schedule is the sales schedule of every game.
type Schedule struct {
	rdb   Client
	clock clock.Clock
	cfg   Config
}

// New returns a Schedule. Zero durations take the defaults.
func New(rdb Client, clk clock.Clock, cfg Config) (*Schedule, error) {
	if rdb == nil || clk == nil {
		return nil, fmt.Errorf("%w: nil dependency", ErrConfig)
	}
	if cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 || cfg.Retention < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	}
	cfg.Retention = cmp.Or(cfg.Retention, DefaultRetention)
	cfg.BaseBackoff = cmp.Or(cfg.BaseBackoff, DefaultBaseBackoff)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.MaxBackoff < cfg.BaseBackoff {
		return nil, fmt.Errorf("%w: max backoff %s below base %s", ErrConfig, cfg.MaxBackoff, cfg.BaseBackoff)
	}
	return &Schedule{rdb: rdb, clock: clk, cfg: cfg}, nil
}

func ms(t time.Time) float64 { return float64(t.UnixMilli()) }

// adoptLua gives every title of a schedule written before the last-seen set existed a last-seen time of
// now, so that such titles age out like the others. KEYS[1] is the schedule, KEYS[2] the last-seen set.
const adoptLua = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  local start = 0
  while true do
    local m = redis.call('ZRANGE', KEYS[1], start, start + 499)
    if #m == 0 then break end
    local args = {}
    for i = 1, #m do
      args[#args + 1] = now
      args[#args + 1] = m[i]
    end
    redis.call('ZADD', KEYS[2], 'NX', unpack(args))
    start = start + 500
  end
end
`

// pruneLua drops up to limit titles last seen before cutoff from both sets and sets pruned to their count.
const pruneLua = `
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff, 'LIMIT', 0, limit)
for i = 1, #stale, 500 do
  local j = math.min(i + 499, #stale)
  redis.call('ZREM', KEYS[1], unpack(stale, i, j))
  redis.call('ZREM', KEYS[2], unpack(stale, i, j))
end
local pruned = #stale
`

// enqueueScript adds the titles ARGV[4...] not yet scheduled as due at ARGV[1] (now, unix ms), records
// them all as seen at now, then drops at most ARGV[3] titles last seen before ARGV[2]. It returns
// {titles added, titles dropped}.
var enqueueScript = redis.NewScript(`
local now, cutoff, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
` + adoptLua + `
local added = 0
for i = 4, #ARGV, 500 do
  local due = {}
  for j = i, math.min(i + 499, #ARGV) do
    due[#due + 1] = now
    due[#due + 1] = ARGV[j]
  end
  added = added + redis.call('ZADD', KEYS[1], 'NX', unpack(due))
  redis.call('ZADD', KEYS[2], 'GT', unpack(due))
end
` + pruneLua + `
return {added, pruned}
`)

// Enqueue adds the titles not yet scheduled as due now; titles already scheduled keep their due time.
// Every title given is recorded as seen now, and titles not seen for Config.Retention are dropped from
// the schedule. It returns how many titles were added.
func (s *Schedule) Enqueue(ctx context.Context, game string, titles []string) (int, error) {
	if len(titles) == 0 {
		return 0, nil
	}
	now := s.clock.Now()
	args := make([]any, 0, 3+len(titles))
	args = append(args, now.UnixMilli(), now.Add(-s.cfg.Retention).UnixMilli(), pruneBatch+len(titles))
	for _, t := range titles {
		args = append(args, t)
	}
	res, err := enqueueScript.Run(ctx, s.rdb, []string{Key(game), SeenKey(game)}, args...).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("enqueue %d sales titles: %w", len(titles), err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("enqueue %d sales titles: unexpected reply %v", len(titles), res)
	}
	return int(res[0]), nil
}

// pruneScript drops at most ARGV[2] titles last seen before ARGV[1] and returns how many it dropped.
var pruneScript = redis.NewScript(`
local now, cutoff, limit = ARGV[3], ARGV[1], tonumber(ARGV[2])
` + adoptLua + pruneLua + `
return pruned
`)

// Prune drops every title of game not seen for Config.Retention and returns how many it dropped.
// Enqueue and Claim already prune as they go; Prune empties the backlog at once.
func (s *Schedule) Prune(ctx context.Context, game string) (int, error) {
	now := s.clock.Now()
	total := 0
	for {
		n, err := pruneScript.Run(ctx, s.rdb, []string{Key(game), SeenKey(game)},
			now.Add(-s.cfg.Retention).UnixMilli(), pruneBatch, now.UnixMilli()).Int()
		if err != nil {
			return total, fmt.Errorf("prune sales schedule: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// claimScript first drops stale titles like Enqueue (ARGV[4] = cutoff), then takes up to ARGV[2] members
// due at ARGV[1] (score <= now), earliest first, and moves them to ARGV[3] (the end of the lease) in one
// atomic step. A due title without a last-seen time (scheduled by other means) is given one of now, so
// that it ages out too.
var claimScript = redis.NewScript(`
local now, cutoff, limit = ARGV[1], ARGV[4], ` + strconv.Itoa(pruneBatch) + `
` + adoptLua + pruneLua + `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i])
  redis.call('ZADD', KEYS[2], 'NX', now, due[i])
end
return due
`)

// Claim atomically takes up to n due titles of game, earliest due first, and leases them: they are not
// due again until the lease ends, so a parser that dies while fetching them only delays them. Call Done
// or Failed for every claimed title.
func (s *Schedule) Claim(ctx context.Context, game string, n int, lease time.Duration) ([]string, error) {
	if n <= 0 || lease <= 0 {
		return nil, fmt.Errorf("%w: claim n=%d lease=%s", ErrArgument, n, lease)
	}
	now := s.clock.Now()
	titles, err := claimScript.Run(ctx, s.rdb, []string{Key(game), SeenKey(game)}, now.UnixMilli(), n,
		now.Add(lease).UnixMilli(), now.Add(-s.cfg.Retention).UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim sales titles: %w", err)
	}
	return titles, nil
}

// Done postpones title by next after a successful fetch. A title dropped from the schedule meanwhile
// stays dropped.
func (s *Schedule) Done(ctx context.Context, game, title string, next time.Duration) error {
	if next < 0 {
		return fmt.Errorf("%w: negative delay %s", ErrArgument, next)
	}
	return s.set(ctx, game, title, s.clock.Now().Add(next))
}

// Backoff returns the delay after failed attempt number attempt (1 = first failure): BaseBackoff doubled
// per further attempt, capped at MaxBackoff, without jitter.
func (s *Schedule) Backoff(attempt int) time.Duration {
	return backoff.Policy{Initial: s.cfg.BaseBackoff, Max: s.cfg.MaxBackoff}.Ceiling(attempt)
}

// Failed reschedules title after failed attempt number attempt with Backoff(attempt). A title dropped
// from the schedule meanwhile stays dropped.
func (s *Schedule) Failed(ctx context.Context, game, title string, attempt int) error {
	return s.set(ctx, game, title, s.clock.Now().Add(s.Backoff(attempt)))
}

func (s *Schedule) set(ctx context.Context, game, title string, due time.Time) error {
	err := s.rdb.ZAddArgs(ctx, Key(game), redis.ZAddArgs{XX: true, Members: []redis.Z{{Score: ms(due), Member: title}}}).Err()
	if err != nil {
		return fmt.Errorf("reschedule sales title: %w", err)
	}
	return nil
}

// Due returns when title is next due; ok is false when it is not scheduled.
func (s *Schedule) Due(ctx context.Context, game, title string) (due time.Time, ok bool, err error) {
	score, err := s.rdb.ZScore(ctx, Key(game), title).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read sales schedule: %w", err)
	}
	return time.UnixMilli(int64(score)).UTC(), true, nil
}
