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
	"github.com/skinflip/dmarket-monitor/internal/market"
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
	// FloatOffers says whether FLOAT offers are shown and notified (on unless turned off).
	FloatOffers bool
	// StickerOffers says whether STICKERS offers are shown and notified (on unless turned off).
	StickerOffers bool
}

// storedSettings is the JSON of telegram:settings:<user id>; a missing field takes the default, so an
// explicit 0 stays a value.
type storedSettings struct {
	MinPrice      *int64    `json:"min_price,omitempty"`
	Limit         *int64    `json:"limit,omitempty"`
	Games         *[]string `json:"games,omitempty"`
	Notifications *bool     `json:"notifications,omitempty"`
	Muted         []string  `json:"muted,omitempty"`
	FloatOffers   *bool     `json:"float_offers,omitempty"`
	StickerOffers *bool     `json:"sticker_offers,omitempty"`
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
	// Settings stored before the kind switches existed read as on.
	out.FloatOffers = st.FloatOffers == nil || *st.FloatOffers
	out.StickerOffers = st.StickerOffers == nil || *st.StickerOffers
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

// issueTitlesScript runs on the sorted set of issue times KEYS[1] alone (SPEC §9.3: one key per atomic
// unit). It records the ids ARGV[4...] as issued at ARGV[1] (unix ms), then forgets ids issued before
// ARGV[2] (at most 1000 per call) and the oldest ids beyond ARGV[3]. It returns {1 when the set existed
// before the call else 0, the forgotten ids...}.
var issueTitlesScript = redis.NewScript(`
local now = ARGV[1]
local existed = redis.call('EXISTS', KEYS[1])
for i = 4, #ARGV, 500 do
  local args = {}
  for j = i, math.min(i + 499, #ARGV) do
    args[#args + 1] = now
    args[#args + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], unpack(args))
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1000)
for i = 1, #gone, 500 do
  redis.call('ZREM', KEYS[1], unpack(gone, i, math.min(i + 499, #gone)))
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if extra > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  for i = 1, #oldest, 500 do
    redis.call('ZREM', KEYS[1], unpack(oldest, i, math.min(i + 499, #oldest)))
  end
  for _, id in ipairs(oldest) do gone[#gone + 1] = id end
end
table.insert(gone, 1, tostring(existed))
return gone
`)

// titleBatch is how many ids one HSET, HDEL or ZADD names at most.
const titleBatch = 500

// rememberTitles stores the callback ids of titles, issued at now, and forgets ids issued too long ago
// or beyond the most recent DefaultMaxTitles (or the store's own bounds).
//
// The id -> title hash (telegram:titles) and the issue times (telegram:titles:issued) may live on
// different nodes of a Redis Cluster, so each is changed on its own, in an order that keeps every id on
// a button resolvable: the hash first gets the ids, then the issue times record them and forget the old
// ones (atomically on that key), and only then are the forgotten ids removed from the hash. A hash
// written before the issue times existed has its ids adopted as issued now. Should an id be forgotten
// while another call issues it again, it can miss from the hash until it is next issued; its button then
// answers as stale, as any forgotten one does.
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
	pairs := make([]any, 0, 2*len(titles))
	ids := make([]any, 0, len(titles))
	for _, t := range titles {
		pairs = append(pairs, titleHash(t), t)
		ids = append(ids, titleHash(t))
	}
	if err := s.rdb.HSet(ctx, s.key("titles"), pairs...).Err(); err != nil {
		return fmt.Errorf("remember titles: %w", err)
	}
	bounds := []any{now.UnixMilli(), now.Add(-retention).UnixMilli(), most}
	existed, gone, err := s.issueTitles(ctx, append(bounds, ids...))
	if err == nil && !existed {
		err = s.adoptTitles(ctx, now)
		if err == nil {
			var more []string
			_, more, err = s.issueTitles(ctx, bounds)
			gone = append(gone, more...)
		}
	}
	for i := 0; err == nil && i < len(gone); i += titleBatch {
		err = s.rdb.HDel(ctx, s.key("titles"), gone[i:min(i+titleBatch, len(gone))]...).Err()
	}
	if err != nil {
		return fmt.Errorf("remember titles: %w", err)
	}
	return nil
}

// issueTitles runs issueTitlesScript with args and reports whether the issue times existed before and
// which ids it forgot.
func (s *store) issueTitles(ctx context.Context, args []any) (existed bool, gone []string, err error) {
	res, err := issueTitlesScript.Run(ctx, s.rdb, []string{s.key("titles", "issued")}, args...).StringSlice()
	if err != nil {
		return false, nil, err
	}
	if len(res) == 0 {
		return false, nil, fmt.Errorf("unexpected reply %v", res)
	}
	return res[0] == "1", res[1:], nil
}

// adoptTitles gives every id of the hash without an issue time one of now.
func (s *store) adoptTitles(ctx context.Context, now time.Time) error {
	ids, err := s.rdb.HKeys(ctx, s.key("titles")).Result()
	if err != nil {
		return err
	}
	for i := 0; i < len(ids); i += titleBatch {
		batch := ids[i:min(i+titleBatch, len(ids))]
		members := make([]redis.Z, len(batch))
		for j, id := range batch {
			members[j] = redis.Z{Score: float64(now.UnixMilli()), Member: id}
		}
		if err := s.rdb.ZAddArgs(ctx, s.key("titles", "issued"), redis.ZAddArgs{NX: true, Members: members}).Err(); err != nil {
			return err
		}
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

// fingerprint identifies an offer for deduplication: (title, kind, status, buy price, phase).
func fingerprint(o offers.Offer) string {
	key := o.Title + "\x00" + string(o.Kind) + "\x00" + string(o.Status) + "\x00" + strconv.FormatInt(o.Buy, 10)
	if ph := o.Phase(); ph != market.PhaseNone {
		key += "\x00" + string(ph) // a phase is a market of its own; offers without one keep their fingerprint
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

// unsentOrBetter returns, in order, the offers whose fingerprint was not sent to user since now-window,
// and (when margin > 0) the ones sent whose profit improved by at least margin basis points over the
// profit sent; again holds the fingerprints of the latter. Sent fingerprints older than the window are
// pruned from both keys.
func (s *store) unsentOrBetter(ctx context.Context, user int64, list []offers.Offer, now time.Time, window time.Duration,
	margin int64) (out []offers.Offer, again map[string]bool, err error) {
	key, profits := s.key("sent", uid(user)), s.key("sentprofit", uid(user))
	cutoff := "(" + strconv.FormatInt(now.Add(-window).UnixMilli(), 10)
	old, err := s.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: cutoff}).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("prune sent offers: %w", err)
	}
	members := make([]string, len(list))
	for i, o := range list {
		members[i] = fingerprint(o)
	}
	// The pruning and the reads go in one round trip, in this order.
	var (
		rem    *redis.IntCmd
		dels   []*redis.IntCmd
		scores *redis.FloatSliceCmd
		hmget  *redis.SliceCmd
	)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		rem = p.ZRemRangeByScore(ctx, key, "-inf", cutoff)
		for i := 0; i < len(old); i += titleBatch {
			dels = append(dels, p.HDel(ctx, profits, old[i:min(i+titleBatch, len(old))]...))
		}
		if len(members) > 0 {
			scores = p.ZMScore(ctx, key, members...)
			if margin > 0 {
				hmget = p.HMGet(ctx, profits, members...)
			}
		}
		return nil
	})
	if err := rem.Err(); err != nil {
		return nil, nil, fmt.Errorf("prune sent offers: %w", err)
	}
	for _, d := range dels {
		if err := d.Err(); err != nil {
			return nil, nil, fmt.Errorf("prune sent profits: %w", err)
		}
	}
	if scores == nil {
		return nil, nil, nil
	}
	if err := scores.Err(); err != nil {
		return nil, nil, fmt.Errorf("read sent offers: %w", err)
	}
	var sent []any
	if hmget != nil {
		if sent, err = hmget.Result(); err != nil {
			return nil, nil, fmt.Errorf("read sent profits: %w", err)
		}
	}
	seen := scores.Val()
	for i, o := range list {
		if i < len(seen) && seen[i] != 0 {
			if !improved(sent, i, o.ProfitBasisPoints, margin) {
				continue
			}
			if again == nil {
				again = map[string]bool{}
			}
			again[members[i]] = true
		}
		out = append(out, o)
	}
	return out, again, nil
}

// improved reports whether profit beats the profit sent (sent[i], a decimal string; absent for offers
// sent before profits were recorded) by at least margin (> 0).
func improved(sent []any, i int, profit, margin int64) bool {
	if margin <= 0 || i >= len(sent) {
		return false
	}
	str, ok := sent[i].(string)
	if !ok {
		return false
	}
	was, err := strconv.ParseInt(str, 10, 64)
	return err == nil && profit-was >= margin
}

// markSent records that o was sent to user at now, with its profit.
func (s *store) markSent(ctx context.Context, user int64, o offers.Offer, now time.Time, window time.Duration) error {
	key, profits := s.key("sent", uid(user)), s.key("sentprofit", uid(user))
	fp := fingerprint(o)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli()), Member: fp})
		p.Expire(ctx, key, 2*window)
		p.HSet(ctx, profits, fp, strconv.FormatInt(o.ProfitBasisPoints, 10))
		p.Expire(ctx, profits, 2*window)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark offer sent: %w", err)
	}
	return nil
}
