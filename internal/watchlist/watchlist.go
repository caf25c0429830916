// Package watchlist owns the titles the bot asks the parsers to re-scan often (SPEC §9.1, issue 13's
// adaptive refresh): titles whose offer is near some user's threshold. The bot marks titles watched until
// a time; every parser claims the watched titles that are due, scans them by title and finds them due
// again a fixed period later, so that a title is scanned at most once per period in total, however many
// parsers share the list.
//
// A game's watchlist is the one sorted set `parser:watch:<game>`, so that every step is atomic on one
// key (Redis Cluster safe). Each watched title has two members there:
//
//	d:<title>  scored by when the title is next due (unix milliseconds)
//	u:<title>  scored by when its watch ends (unix milliseconds)
//
// A claim drops the titles whose watch ended; the key expires with the last watch.
package watchlist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// KeyPrefix prefixes the watchlist key of a game.
const KeyPrefix = "parser:watch:"

// Key returns the watchlist key of game.
func Key(game string) string { return KeyPrefix + game }

// watchBatch is how many titles one Watch script takes at most.
const watchBatch = 500

// dropLimit bounds how many ended watches one claim removes, so that a claim stays short.
const dropLimit = 1000

// ErrArgument means a call argument is out of range.
var ErrArgument = errors.New("invalid argument")

// Store is the watchlist of every game in Redis. It is safe for concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	clock clock.Clock
}

// New returns the watchlist kept in rdb, telling the time with clk.
func New(rdb redis.UniversalClient, clk clock.Clock) *Store {
	return &Store{rdb: rdb, clock: clk}
}

// watchScript runs on the watchlist KEYS[1] alone. ARGV[1] is now, ARGV[2] the end of the watch (both
// unix ms), ARGV[3...] the titles. A title not watched (or whose watch ended) is watched until ARGV[2]
// and due at once; a watched title keeps its due time and its watch lasts until the later of its end and
// ARGV[2]. The key expires with its last watch.
var watchScript = redis.NewScript(`
local key, now, untl = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV do
  local t = ARGV[i]
  local u = redis.call('ZSCORE', key, 'u:' .. t)
  if not u or tonumber(u) <= now then
    redis.call('ZADD', key, now, 'd:' .. t, untl, 'u:' .. t)
  else
    redis.call('ZADD', key, 'GT', untl, 'u:' .. t)
  end
end
redis.call('PEXPIREAT', key, untl, 'NX')
redis.call('PEXPIREAT', key, untl, 'GT')
return 0
`)

// claimScript runs on the watchlist KEYS[1] alone. ARGV[1] is now, ARGV[2] the most titles to take,
// ARGV[3] when the taken titles are due again (unix ms), ARGV[4] the most ended watches to drop. It
// returns the due titles whose watch has not ended, earliest due first, made due again at ARGV[3]; the
// ended watches it meets are removed.
var claimScript = redis.NewScript(`
local key, now, n, nextDue, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local out, dropped = {}, 0
while #out < n and dropped < limit do
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, n - #out + 16)
  if #due == 0 then break end
  for _, m in ipairs(due) do
    local title = string.sub(m, 3)
    if string.sub(m, 1, 2) == 'u:' then
      redis.call('ZREM', key, m, 'd:' .. title)
      dropped = dropped + 1
    else
      local u = redis.call('ZSCORE', key, 'u:' .. title)
      if not u or tonumber(u) <= now then
        redis.call('ZREM', key, m, 'u:' .. title)
        dropped = dropped + 1
      elseif #out < n then
        redis.call('ZADD', key, 'XX', nextDue, m)
        out[#out + 1] = title
      end
    end
  end
end
return out
`)

// Watch keeps titles of game watched until until (bot side). A title not watched yet is due at once; one
// already watched keeps its due time and stays watched until the later of its current end and until. An
// until not after now changes nothing.
func (s *Store) Watch(ctx context.Context, game string, titles []string, until time.Time) error {
	now := s.clock.Now()
	if !until.After(now) || len(titles) == 0 {
		return nil
	}
	for i := 0; i < len(titles); i += watchBatch {
		batch := titles[i:min(i+watchBatch, len(titles))]
		args := make([]any, 0, 2+len(batch))
		args = append(args, now.UnixMilli(), until.UnixMilli())
		for _, t := range batch {
			args = append(args, t)
		}
		if err := watchScript.Run(ctx, s.rdb, []string{Key(game)}, args...).Err(); err != nil {
			return fmt.Errorf("watch %d titles of %s: %w", len(titles), game, err)
		}
	}
	return nil
}

// Claim returns up to n watched titles of game that are due now, earliest due first, each made due again
// every later (parser side): of concurrent callers, each due title goes to one. Titles whose watch ended
// are dropped.
func (s *Store) Claim(ctx context.Context, game string, n int, every time.Duration) ([]string, error) {
	if n <= 0 || every <= 0 {
		return nil, fmt.Errorf("%w: claim n=%d every=%s", ErrArgument, n, every)
	}
	now := s.clock.Now()
	titles, err := claimScript.Run(ctx, s.rdb, []string{Key(game)},
		now.UnixMilli(), n, now.Add(every).UnixMilli(), dropLimit).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("claim watched titles of %s: %w", game, err)
	}
	return titles, nil
}
