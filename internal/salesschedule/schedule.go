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
	ZRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd
	ZRem(ctx context.Context, key string, members ...any) *redis.IntCmd
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

// seenScript runs on the last-seen set KEYS[1] alone (SPEC §9.3: one key per atomic unit). It records
// the titles ARGV[4...] as seen at ARGV[1] (now, unix ms; a later time already stored is kept), then
// removes at most ARGV[3] titles last seen before ARGV[2]. It returns {1 when the set existed before the
// call else 0, the removed titles...}.
var seenScript = redis.NewScript(`
local now, cutoff, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local existed = redis.call('EXISTS', KEYS[1])
for i = 4, #ARGV, 500 do
  local seen = {}
  for j = i, math.min(i + 499, #ARGV) do
    seen[#seen + 1] = now
    seen[#seen + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], 'GT', unpack(seen))
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff, 'LIMIT', 0, limit)
for i = 1, #stale, 500 do
  redis.call('ZREM', KEYS[1], unpack(stale, i, math.min(i + 499, #stale)))
end
table.insert(stale, 1, tostring(existed))
return stale
`)

// claimScript runs on the schedule KEYS[1] alone: it takes up to ARGV[2] members due at ARGV[1] (score <=
// now, unix ms), earliest first, and moves them to ARGV[3] (the end of the lease) in one atomic step.
var claimScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i])
end
return due
`)

// The schedule and the last-seen set of a game may live on different nodes of a Redis Cluster, so no
// step changes both atomically; each step is atomic on its one key and the steps run in an order that
// keeps what the callers rely on:
//
//   - Claim leases titles in one script on the schedule, so two parsers never get the same title.
//   - Enqueue adds a title to the schedule before it records it as seen. A title dropped by a concurrent
//     prune right as it is seen again may miss from the schedule until it is next enqueued (workers
//     enqueue every title they see at least once an hour); one scheduled without a last-seen time (a
//     crash between the steps, or a schedule written before the set existed) gets one when it is adopted
//     or claimed, so it still ages out.
//   - A prune removes the stale titles from the last-seen set atomically (only those still stale), then
//     from the schedule; a prune cut short in between leaves titles without a last-seen time, handled as
//     above.

// touch records titles (none for a pure prune) as seen now in game's last-seen set, drops at most limit
// titles not seen since cutoff from both sets, and adopts the schedule's titles when the set did not
// exist before. It returns how many titles it dropped.
func (s *Schedule) touch(ctx context.Context, game string, now, cutoff time.Time, limit int, titles []string) (int, error) {
	args := make([]any, 0, 3+len(titles))
	args = append(args, now.UnixMilli(), cutoff.UnixMilli(), limit)
	for _, t := range titles {
		args = append(args, t)
	}
	res, err := seenScript.Run(ctx, s.rdb, []string{SeenKey(game)}, args...).StringSlice()
	if err != nil {
		return 0, err
	}
	if len(res) == 0 {
		return 0, fmt.Errorf("unexpected reply %v", res)
	}
	existed, stale := res[0] == "1", res[1:]
	for i := 0; i < len(stale); i += removeBatch {
		if err := s.rdb.ZRem(ctx, Key(game), toAny(stale[i:min(i+removeBatch, len(stale))])...).Err(); err != nil {
			return 0, err
		}
	}
	if !existed {
		if err := s.adopt(ctx, game, now); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// removeBatch is how many members one ZREM or ZADD of the schedule names at most.
const removeBatch = 500

// adopt gives every title of game's schedule without a last-seen time one of now, so that titles of a
// schedule written before the last-seen set existed age out like the others.
func (s *Schedule) adopt(ctx context.Context, game string, now time.Time) error {
	for start := int64(0); ; start += removeBatch {
		titles, err := s.rdb.ZRange(ctx, Key(game), start, start+removeBatch-1).Result()
		if err != nil || len(titles) == 0 {
			return err
		}
		if err := s.markSeen(ctx, game, now, titles); err != nil {
			return err
		}
	}
}

// markSeen gives titles without a last-seen time in game one of now.
func (s *Schedule) markSeen(ctx context.Context, game string, now time.Time, titles []string) error {
	members := make([]redis.Z, len(titles))
	for i, t := range titles {
		members[i] = redis.Z{Score: ms(now), Member: t}
	}
	return s.rdb.ZAddArgs(ctx, SeenKey(game), redis.ZAddArgs{NX: true, Members: members}).Err()
}

// toAny returns ss as a slice of any.
func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

// Enqueue adds the titles not yet scheduled as due now; titles already scheduled keep their due time.
// Every title given is recorded as seen now, and titles not seen for Config.Retention are dropped from
// the schedule. It returns how many titles were added.
func (s *Schedule) Enqueue(ctx context.Context, game string, titles []string) (int, error) {
	return s.enqueue(ctx, game, titles, 0)
}

// PriorityLead is how much earlier than now EnqueueFirst makes its titles due: more than the backlog of
// titles Enqueue added, so a Claim takes them first.
const PriorityLead = 24 * time.Hour

// EnqueueFirst is Enqueue for titles that could become offers: those not yet scheduled are made due
// PriorityLead before now, ahead of every title Enqueue added since, so their sell histories are
// fetched first. Titles already scheduled keep their due time.
func (s *Schedule) EnqueueFirst(ctx context.Context, game string, titles []string) (int, error) {
	return s.enqueue(ctx, game, titles, PriorityLead)
}

// enqueue adds the titles not yet scheduled as due lead before now (see Enqueue).
func (s *Schedule) enqueue(ctx context.Context, game string, titles []string, lead time.Duration) (int, error) {
	if len(titles) == 0 {
		return 0, nil
	}
	now := s.clock.Now()
	due := now.Add(-lead)
	added := 0
	for i := 0; i < len(titles); i += removeBatch {
		batch := titles[i:min(i+removeBatch, len(titles))]
		members := make([]redis.Z, len(batch))
		for j, t := range batch {
			members[j] = redis.Z{Score: ms(due), Member: t}
		}
		n, err := s.rdb.ZAddArgs(ctx, Key(game), redis.ZAddArgs{NX: true, Members: members}).Result()
		if err != nil {
			return 0, fmt.Errorf("enqueue %d sales titles: %w", len(titles), err)
		}
		added += int(n)
	}
	if _, err := s.touch(ctx, game, now, now.Add(-s.cfg.Retention), pruneBatch+len(titles), titles); err != nil {
		return 0, fmt.Errorf("enqueue %d sales titles: %w", len(titles), err)
	}
	return added, nil
}

// Prune drops every title of game not seen for Config.Retention and returns how many it dropped.
// Enqueue and Claim already prune as they go; Prune empties the backlog at once.
func (s *Schedule) Prune(ctx context.Context, game string) (int, error) {
	now := s.clock.Now()
	total := 0
	for {
		n, err := s.touch(ctx, game, now, now.Add(-s.cfg.Retention), pruneBatch, nil)
		if err != nil {
			return total, fmt.Errorf("prune sales schedule: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// Claim atomically takes up to n due titles of game, earliest due first, and leases them: they are not
// due again until the lease ends, so a parser that dies while fetching them only delays them. Call Done
// or Failed for every claimed title. Stale titles are dropped first, like Enqueue does, and a claimed
// title without a last-seen time (scheduled by other means) is given one of now, so that it ages out too.
func (s *Schedule) Claim(ctx context.Context, game string, n int, lease time.Duration) ([]string, error) {
	if n <= 0 || lease <= 0 {
		return nil, fmt.Errorf("%w: claim n=%d lease=%s", ErrArgument, n, lease)
	}
	now := s.clock.Now()
	if _, err := s.touch(ctx, game, now, now.Add(-s.cfg.Retention), pruneBatch, nil); err != nil {
		return nil, fmt.Errorf("claim sales titles: %w", err)
	}
	titles, err := claimScript.Run(ctx, s.rdb, []string{Key(game)}, now.UnixMilli(), n, now.Add(lease).UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim sales titles: %w", err)
	}
	if len(titles) > 0 {
		if err := s.markSeen(ctx, game, now, titles); err != nil {
			return nil, fmt.Errorf("claim sales titles: %w", err)
		}
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
