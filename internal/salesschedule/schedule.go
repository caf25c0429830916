// Package salesschedule owns the per-title schedule of sales fetches in Redis (SPEC §3.1). Workers add the
// titles they see; parser instances claim due titles under a lease so that two of them never fetch the
// same title, postpone a title after a successful fetch and back off after a failed one.
//
// The schedule of a game is the sorted set `sales:schedule:dmarket:<game>`: member = title, score = the
// unix time in milliseconds at which the title is next due (or its lease ends).
package salesschedule

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/clock"
)

// KeyPrefix prefixes the schedule key of a game.
const KeyPrefix = "sales:schedule:dmarket:"

// Key returns the schedule key of game.
func Key(game string) string { return KeyPrefix + game }

// Defaults of Config.
const (
	DefaultBaseBackoff = time.Minute
	DefaultMaxBackoff  = 6 * time.Hour
)

// Sentinel errors.
var (
	// ErrConfig means a Config value is out of range.
	ErrConfig = errors.New("invalid sales schedule config")
	// ErrArgument means a call argument is out of range.
	ErrArgument = errors.New("invalid argument")
)

// Config tunes the backoff after failures.
type Config struct {
	// BaseBackoff is the delay after the first failure; it doubles with each further attempt.
	BaseBackoff time.Duration
	// MaxBackoff caps the delay.
	MaxBackoff time.Duration
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
	if cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, fmt.Errorf("%w: negative backoff", ErrConfig)
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		return nil, fmt.Errorf("%w: max backoff %s below base %s", ErrConfig, cfg.MaxBackoff, cfg.BaseBackoff)
	}
	return &Schedule{rdb: rdb, clock: clk, cfg: cfg}, nil
}

func ms(t time.Time) float64 { return float64(t.UnixMilli()) }

// Enqueue adds the titles not yet scheduled as due now; titles already scheduled keep their due time.
// It returns how many were added.
func (s *Schedule) Enqueue(ctx context.Context, game string, titles []string) (int, error) {
	if len(titles) == 0 {
		return 0, nil
	}
	now := ms(s.clock.Now())
	members := make([]redis.Z, len(titles))
	for i, t := range titles {
		members[i] = redis.Z{Score: now, Member: t}
	}
	n, err := s.rdb.ZAddArgs(ctx, Key(game), redis.ZAddArgs{NX: true, Members: members}).Result()
	if err != nil {
		return 0, fmt.Errorf("enqueue %d sales titles: %w", len(titles), err)
	}
	return int(n), nil
}

// claimScript takes up to ARGV[2] members due at ARGV[1] (score <= now), earliest first, and moves them
// to ARGV[3] (the end of the lease) in one atomic step.
var claimScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i])
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
	titles, err := claimScript.Run(ctx, s.rdb, []string{Key(game)}, int64(ms(now)), n, int64(ms(now.Add(lease)))).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim sales titles: %w", err)
	}
	return titles, nil
}

// Done postpones title by next after a successful fetch.
func (s *Schedule) Done(ctx context.Context, game, title string, next time.Duration) error {
	if next < 0 {
		return fmt.Errorf("%w: negative delay %s", ErrArgument, next)
	}
	return s.set(ctx, game, title, s.clock.Now().Add(next))
}

// Backoff returns the delay after failed attempt number attempt (1 = first failure): BaseBackoff doubled
// per further attempt, capped at MaxBackoff.
func (s *Schedule) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	exp := math.Min(float64(attempt-1), 40)
	d := float64(s.cfg.BaseBackoff) * math.Pow(2, exp)
	if d >= float64(s.cfg.MaxBackoff) {
		return s.cfg.MaxBackoff
	}
	return time.Duration(d)
}

// Failed reschedules title after failed attempt number attempt with Backoff(attempt).
func (s *Schedule) Failed(ctx context.Context, game, title string, attempt int) error {
	return s.set(ctx, game, title, s.clock.Now().Add(s.Backoff(attempt)))
}

func (s *Schedule) set(ctx context.Context, game, title string, due time.Time) error {
	err := s.rdb.ZAddArgs(ctx, Key(game), redis.ZAddArgs{Members: []redis.Z{{Score: ms(due), Member: title}}}).Err()
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
