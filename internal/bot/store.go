package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
)

// UserSettings are one user's effective settings.
type UserSettings struct {
	// MinPriceCents hides offers cheaper than this.
	MinPriceCents int64
	// LimitBasisPoints hides offers with less profit (percent times 100).
	LimitBasisPoints int64
	// Games are the game ids the user wants; empty means none.
	Games []string
	// Notifications says whether new offers are pushed.
	Notifications bool
	// Muted are titles never notified.
	Muted []string
	// Volume is how many notifications the user gets and when (volume.go).
	Volume Volume
}

// storedSettings is the JSON of telegram:settings:<user id>; a missing field takes the default, so an
// explicit 0 stays a value.
type storedSettings struct {
	MinPrice      *int64    `json:"min_price,omitempty"`
	Limit         *int64    `json:"limit,omitempty"`
	Games         *[]string `json:"games,omitempty"`
	Notifications *bool     `json:"notifications,omitempty"`
	Muted         []string  `json:"muted,omitempty"`
	storedVolume
}

// store keeps the bot's state in Redis under a key prefix (default "telegram:").
type store struct {
	rdb      redis.Cmdable
	prefix   string
	defaults UserSettings
	// titleRetention and maxTitles override the bounds of telegram:titles when positive.
	titleRetention time.Duration
	maxTitles      int
}

func (s *store) key(parts ...string) string {
	k := s.prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

func uid(id int64) string { return strconv.FormatInt(id, 10) }

// syncWhitelist replaces telegram:whitelist with ids.
func (s *store) syncWhitelist(ctx context.Context, ids []int64) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.key("whitelist"))
		if len(ids) > 0 {
			members := make([]any, len(ids))
			for i, id := range ids {
				members[i] = uid(id)
			}
			p.SAdd(ctx, s.key("whitelist"), members...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync whitelist: %w", err)
	}
	return nil
}

// markStarted remembers that user can be messaged in chat.
func (s *store) markStarted(ctx context.Context, user, chat int64) error {
	if err := s.rdb.HSet(ctx, s.key("started"), uid(user), uid(chat)).Err(); err != nil {
		return fmt.Errorf("mark started: %w", err)
	}
	return nil
}

// forget removes a user that can no longer be messaged.
func (s *store) forget(ctx context.Context, user int64) error {
	if err := s.rdb.HDel(ctx, s.key("started"), uid(user)).Err(); err != nil {
		return fmt.Errorf("forget started user: %w", err)
	}
	return nil
}

// started returns user id -> chat id of every user that started the bot.
func (s *store) started(ctx context.Context) (map[int64]int64, error) {
	raw, err := s.rdb.HGetAll(ctx, s.key("started")).Result()
	if err != nil {
		return nil, fmt.Errorf("read started users: %w", err)
	}
	out := make(map[int64]int64, len(raw))
	for k, v := range raw {
		u, err1 := strconv.ParseInt(k, 10, 64)
		c, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[u] = c
	}
	return out, nil
}

func (s *store) loadRaw(ctx context.Context, user int64) (storedSettings, error) {
	var st storedSettings
	raw, err := s.rdb.Get(ctx, s.key("settings", uid(user))).Bytes()
	if errors.Is(err, redis.Nil) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read settings: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		// A corrupt value falls back to the defaults rather than locking the user out.
		return storedSettings{}, nil
	}
	return st, nil
}

// settings returns user's settings with defaults for what was never set.
func (s *store) settings(ctx context.Context, user int64) (UserSettings, error) {
	st, err := s.loadRaw(ctx, user)
	if err != nil {
		return UserSettings{}, err
	}
	out := s.defaults
	out.Games = slices.Clone(s.defaults.Games)
	if st.MinPrice != nil {
		out.MinPriceCents = *st.MinPrice
	}
	if st.Limit != nil {
		out.LimitBasisPoints = *st.Limit
	}
	if st.Games != nil {
		// Games no longer in DMARKET_GAME_IDS are dropped.
		out.Games = slices.DeleteFunc(slices.Clone(*st.Games), func(g string) bool { return !slices.Contains(s.defaults.Games, g) })
	}
	if st.Notifications != nil {
		out.Notifications = *st.Notifications
	}
	out.Muted = st.Muted
	out.Volume = st.storedVolume.resolve(s.defaults.Volume)
	return out, nil
}

// update applies change to user's stored settings. Updates of one user are serialised by the bot.
func (s *store) update(ctx context.Context, user int64, change func(*storedSettings, UserSettings)) (UserSettings, error) {
	st, err := s.loadRaw(ctx, user)
	if err != nil {
		return UserSettings{}, err
	}
	cur, err := s.settings(ctx, user)
	if err != nil {
		return UserSettings{}, err
	}
	change(&st, cur)
	raw, err := json.Marshal(st)
	if err != nil {
		return UserSettings{}, fmt.Errorf("encode settings: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key("settings", uid(user)), raw, 0).Err(); err != nil {
		return UserSettings{}, fmt.Errorf("write settings: %w", err)
	}
	return s.settings(ctx, user)
}

// titleHash is the short id of a title used in callback data.
func titleHash(title string) string {
	sum := sha256.Sum256([]byte(title))
	return hex.EncodeToString(sum[:8])
}

// Bounds of telegram:titles: an id not put on a button for DefaultTitleRetention is forgotten (its old
// buttons answer as stale), and at most DefaultMaxTitles ids are kept, the most recently issued.
const (
	DefaultTitleRetention = 7 * 24 * time.Hour
	DefaultMaxTitles      = 50_000
)

// rememberTitlesScript stores id -> title pairs (ARGV[4...]) in the hash KEYS[1] and their issue time
// ARGV[1] (unix ms) in the sorted set KEYS[2], then forgets ids issued before ARGV[2] and the oldest ids
// beyond ARGV[3]. A hash written before the sorted set existed has its ids adopted as issued now.
var rememberTitlesScript = redis.NewScript(`
local now = ARGV[1]
local function forget(ids)
  for i = 1, #ids, 500 do
    local j = math.min(i + 499, #ids)
    redis.call('HDEL', KEYS[1], unpack(ids, i, j))
    redis.call('ZREM', KEYS[2], unpack(ids, i, j))
  end
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local ids = redis.call('HKEYS', KEYS[1])
  for i = 1, #ids, 500 do
    local args = {}
    for j = i, math.min(i + 499, #ids) do
      args[#args + 1] = now
      args[#args + 1] = ids[j]
    end
    redis.call('ZADD', KEYS[2], unpack(args))
  end
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], now, ARGV[i])
end
forget(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1000))
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if extra > 0 then
  forget(redis.call('ZRANGE', KEYS[2], 0, extra - 1))
end
return 0
`)

// rememberTitles stores the callback ids of titles, issued at now, and forgets ids issued too long ago
// or beyond the most recent DefaultMaxTitles (or the store's own bounds).
func (s *store) rememberTitles(ctx context.Context, now time.Time, titles ...string) error {
	if len(titles) == 0 {
		return nil
	}
	retention, most := DefaultTitleRetention, DefaultMaxTitles
	if s.titleRetention > 0 {
		retention = s.titleRetention
	}
	if s.maxTitles > 0 {
		most = s.maxTitles
	}
	args := make([]any, 0, 3+2*len(titles))
	args = append(args, now.UnixMilli(), now.Add(-retention).UnixMilli(), most)
	for _, t := range titles {
		args = append(args, titleHash(t), t)
	}
	err := rememberTitlesScript.Run(ctx, s.rdb, []string{s.key("titles"), s.key("titles", "issued")}, args...).Err()
	if err != nil {
		return fmt.Errorf("remember titles: %w", err)
	}
	return nil
}

// errUnknownTitle is a callback title id the bot never issued.
var errUnknownTitle = errors.New("unknown title id")

// title resolves a callback title id.
func (s *store) title(ctx context.Context, hash string) (string, error) {
	t, err := s.rdb.HGet(ctx, s.key("titles"), hash).Result()
	if errors.Is(err, redis.Nil) {
		return "", errUnknownTitle
	}
	if err != nil {
		return "", fmt.Errorf("resolve title: %w", err)
	}
	return t, nil
}

// fingerprint identifies an offer for deduplication: (title, kind, status, buy price).
func fingerprint(o offers.Offer) string {
	sum := sha256.Sum256([]byte(o.Title + "\x00" + string(o.Kind) + "\x00" + string(o.Status) + "\x00" + strconv.FormatInt(o.Buy, 10)))
	return hex.EncodeToString(sum[:12])
}

// unsent returns the offers whose fingerprint was not sent to user since now-window, in order.
func (s *store) unsent(ctx context.Context, user int64, list []offers.Offer, now time.Time, window time.Duration) ([]offers.Offer, error) {
	key := s.key("sent", uid(user))
	cutoff := now.Add(-window).UnixMilli()
	if err := s.rdb.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(cutoff, 10)).Err(); err != nil {
		return nil, fmt.Errorf("prune sent offers: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	members := make([]string, len(list))
	for i, o := range list {
		members[i] = fingerprint(o)
	}
	scores, err := s.rdb.ZMScore(ctx, key, members...).Result()
	if err != nil {
		return nil, fmt.Errorf("read sent offers: %w", err)
	}
	var out []offers.Offer
	for i, o := range list {
		if i < len(scores) && scores[i] != 0 {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// markSent records that o was sent to user at now.
func (s *store) markSent(ctx context.Context, user int64, o offers.Offer, now time.Time, window time.Duration) error {
	key := s.key("sent", uid(user))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli()), Member: fingerprint(o)})
		p.Expire(ctx, key, 2*window)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark offer sent: %w", err)
	}
	return nil
}
