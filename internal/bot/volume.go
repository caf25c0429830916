package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Volume is how many notifications a user gets and when. Hours are the user's local hours (UTC plus
// ZoneMinutes).
type Volume struct {
	// DedupWindow is how long an offer already sent is not sent again.
	DedupWindow time.Duration
	// MaxPerHour caps the notifications of any 60 minutes; 0 means no cap.
	MaxPerHour int
	// QuietFrom and QuietTo are the local hours [from, to) without notifications; equal means none.
	QuietFrom, QuietTo int
	// DigestHour is the local hour of the daily digest; -1 means no digest.
	DigestHour int
	// ZoneMinutes is the user's offset from UTC in minutes.
	ZoneMinutes int
}

// Presets the /settings buttons step through.
var (
	dedupPresets      = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	maxPerHourPresets = []int{5, 10, 20, 30, 60, 0}
	quietPresets      = [][2]int{{0, 0}, {22, 7}, {23, 8}, {0, 8}}
	digestPresets     = []int{-1, 7, 9, 12, 18, 21}
)

// Bounds of the volume settings.
const (
	minDedup    = time.Minute
	maxDedup    = 7 * 24 * time.Hour
	maxPerHour  = 1000
	minZoneMins = -12 * 60
	maxZoneMins = 14 * 60
)

// storedVolume holds the volume fields of telegram:settings:<user id>; a missing field takes the default.
type storedVolume struct {
	DedupMinutes *int   `json:"dedup_minutes,omitempty"`
	MaxPerHour   *int   `json:"max_per_hour,omitempty"`
	Quiet        *[]int `json:"quiet_hours,omitempty"` // [from, to]; [0, 0] is off
	DigestHour   *int   `json:"digest_hour,omitempty"` // -1 is off
	ZoneMinutes  *int   `json:"zone_minutes,omitempty"`
}

// resolve applies the stored fields over def, ignoring values out of range.
func (v storedVolume) resolve(def Volume) Volume {
	out := def
	if v.DedupMinutes != nil {
		if d := time.Duration(*v.DedupMinutes) * time.Minute; d >= minDedup && d <= maxDedup {
			out.DedupWindow = d
		}
	}
	if v.MaxPerHour != nil && *v.MaxPerHour >= 0 && *v.MaxPerHour <= maxPerHour {
		out.MaxPerHour = *v.MaxPerHour
	}
	if v.Quiet != nil && len(*v.Quiet) == 2 && validHour((*v.Quiet)[0]) && validHour((*v.Quiet)[1]) {
		out.QuietFrom, out.QuietTo = (*v.Quiet)[0], (*v.Quiet)[1]
	}
	if v.DigestHour != nil && (*v.DigestHour == -1 || validHour(*v.DigestHour)) {
		out.DigestHour = *v.DigestHour
	}
	if v.ZoneMinutes != nil && *v.ZoneMinutes >= minZoneMins && *v.ZoneMinutes <= maxZoneMins {
		out.ZoneMinutes = *v.ZoneMinutes
	}
	return out
}

func validHour(h int) bool { return h >= 0 && h <= 23 }

// local is t in the user's time zone.
func (v Volume) local(t time.Time) time.Time {
	return t.UTC().Add(time.Duration(v.ZoneMinutes) * time.Minute)
}

// quiet reports whether t lies in the user's quiet hours.
func (v Volume) quiet(t time.Time) bool {
	if v.QuietFrom == v.QuietTo {
		return false
	}
	h := v.local(t).Hour()
	if v.QuietFrom < v.QuietTo {
		return h >= v.QuietFrom && h < v.QuietTo
	}
	return h >= v.QuietFrom || h < v.QuietTo // over midnight
}

// Lifetimes of the volume keys in Redis.
const (
	// SendLogTTL bounds telegram:sendlog:<user id>, the notifications of the last hour.
	SendLogTTL = 2 * time.Hour
	// DigestMarkTTL bounds telegram:digest:<user id>, the date of the last daily digest.
	DigestMarkTTL = 72 * time.Hour
)

// digestWindow is how long after its hour a missed digest (the bot was down) is still sent.
const digestWindow = 3 * time.Hour

// digestDue returns the local date of the digest due at t, if one is.
func (v Volume) digestDue(t time.Time) (string, bool) {
	if v.DigestHour < 0 {
		return "", false
	}
	lt := v.local(t)
	start := time.Date(lt.Year(), lt.Month(), lt.Day(), v.DigestHour, 0, 0, 0, time.UTC)
	if lt.Before(start) || !lt.Before(start.Add(digestWindow)) {
		return "", false
	}
	return lt.Format(time.DateOnly), true
}

// formatZone formats an offset in minutes as UTC, UTC+3, UTC-5, UTC+5:30.
func formatZone(mins int) string {
	if mins == 0 {
		return "UTC"
	}
	sign := "+"
	if mins < 0 {
		sign, mins = "-", -mins
	}
	if mins%60 == 0 {
		return fmt.Sprintf("UTC%s%d", sign, mins/60)
	}
	return fmt.Sprintf("UTC%s%d:%02d", sign, mins/60, mins%60)
}

// formatWindow formats a dedup window: 15m, 1h, 1h30m, 24h.
func formatWindow(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

func (v Volume) maxText() string {
	if v.MaxPerHour == 0 {
		return "no limit"
	}
	return fmt.Sprintf("%d per hour", v.MaxPerHour)
}

func (v Volume) quietText() string {
	if v.QuietFrom == v.QuietTo {
		return "off"
	}
	return fmt.Sprintf("%02d:00–%02d:00", v.QuietFrom, v.QuietTo)
}

func (v Volume) digestText() string {
	if v.DigestHour < 0 {
		return "off"
	}
	return fmt.Sprintf("at %02d:00", v.DigestHour)
}

// renderVolume renders the volume lines of /settings.
func renderVolume(v Volume) string {
	return fmt.Sprintf("Repeat an offer after: %s\nAt most: %s\nQuiet hours: %s\nDaily digest: %s\nTime zone: %s",
		formatWindow(v.DedupWindow), v.maxText(), v.quietText(), v.digestText(), formatZone(v.ZoneMinutes))
}

// next returns the preset after cur (the first when cur is not a preset).
func next[T comparable](presets []T, cur T) T {
	i := slices.Index(presets, cur)
	return presets[(i+1)%len(presets)]
}

// cycleVolume steps one volume setting ("d" dedup, "n" per hour, "q" quiet hours, "g" digest) to its
// next preset.
func cycleVolume(st *storedSettings, cur Volume, which string) {
	switch which {
	case "d":
		m := int(next(dedupPresets, cur.DedupWindow) / time.Minute)
		st.DedupMinutes = &m
	case "n":
		n := next(maxPerHourPresets, cur.MaxPerHour)
		st.MaxPerHour = &n
	case "q":
		q := next(quietPresets, [2]int{cur.QuietFrom, cur.QuietTo})
		if cur.QuietFrom == cur.QuietTo {
			q = quietPresets[1]
		}
		st.Quiet = &[]int{q[0], q[1]}
	case "g":
		g := next(digestPresets, cur.DigestHour)
		st.DigestHour = &g
	}
}

// volumeButtons are the /settings rows that step the volume settings.
func volumeRows(v Volume) [][2]string {
	return [][2]string{
		{"🔁 Repeat after " + formatWindow(v.DedupWindow), "v:d"},
		{"📶 " + strings.Replace(v.maxText(), " per hour", "/hour", 1), "v:n"},
		{"🌙 Quiet: " + v.quietText(), "v:q"},
		{"📰 Digest: " + v.digestText(), "v:g"},
	}
}

var (
	quietArgRe = regexp.MustCompile(`^([0-9]{1,2})(?::00)?-([0-9]{1,2})(?::00)?$`)
	zoneArgRe  = regexp.MustCompile(`^(?i:utc)?([+-]?)([0-9]{1,2})(?::([0-5][0-9]))?$`)
)

// errBadValue is an argument outside what a command accepts.
var errBadValue = errors.New("bad value")

// parseQuiet parses "22-7", "23:00-08:00" or "off" into [from, to).
func parseQuiet(arg string) (int, int, error) {
	if strings.EqualFold(arg, "off") {
		return 0, 0, nil
	}
	m := quietArgRe.FindStringSubmatch(arg)
	if m == nil {
		return 0, 0, errBadValue
	}
	from, _ := strconv.Atoi(m[1])
	to, _ := strconv.Atoi(m[2])
	if !validHour(from) || !validHour(to) || from == to {
		return 0, 0, errBadValue
	}
	return from, to, nil
}

// parseZone parses "+3", "-5", "0", "UTC", "UTC+5:30" into minutes east of UTC.
func parseZone(arg string) (int, error) {
	if strings.EqualFold(arg, "utc") {
		return 0, nil
	}
	m := zoneArgRe.FindStringSubmatch(arg)
	if m == nil {
		return 0, errBadValue
	}
	h, _ := strconv.Atoi(m[2])
	mins := h * 60
	if m[3] != "" {
		mm, _ := strconv.Atoi(m[3])
		if mm%15 != 0 {
			return 0, errBadValue
		}
		mins += mm
	}
	if m[1] == "-" {
		mins = -mins
	}
	if mins < minZoneMins || mins > maxZoneMins {
		return 0, errBadValue
	}
	return mins, nil
}

func (b *Bot) setQuietHours(ctx context.Context, user, chat int64, s UserSettings, args string) string {
	const accepted = "Send the hours as <code>from-to</code> in your time zone (0 to 23), e.g. <code>/set_quiet_hours 23-8</code>, or <code>off</code>."
	arg, problem := argument(args)
	var from, to int
	if problem == "" {
		var err error
		if from, to, err = parseQuiet(arg); err != nil {
			problem = quoteArg(arg) + " are not valid quiet hours."
		}
	}
	if problem != "" {
		_ = b.reply(ctx, chat, fmt.Sprintf("❌ %s %s Quiet hours stay %s.", problem, accepted, s.Volume.quietText()), nil)
		return "bad_args"
	}
	return b.applySetting(ctx, user, chat, func(st *storedSettings) { st.Quiet = &[]int{from, to} },
		func(ns UserSettings) string {
			return fmt.Sprintf("✅ Quiet hours are now %s (%s).", ns.Volume.quietText(), formatZone(ns.Volume.ZoneMinutes))
		})
}

func (b *Bot) setTimezone(ctx context.Context, user, chat int64, s UserSettings, args string) string {
	const accepted = "Send your offset from UTC in hours from -12 to +14 (minutes in quarters allowed), e.g. <code>/set_timezone +3</code> or <code>/set_timezone -3:30</code>."
	arg, problem := argument(args)
	var mins int
	if problem == "" {
		var err error
		if mins, err = parseZone(arg); err != nil {
			problem = quoteArg(arg) + " is not a valid offset."
		}
	}
	if problem != "" {
		_ = b.reply(ctx, chat, fmt.Sprintf("❌ %s %s Time zone stays %s.", problem, accepted, formatZone(s.Volume.ZoneMinutes)), nil)
		return "bad_args"
	}
	return b.applySetting(ctx, user, chat, func(st *storedSettings) { st.ZoneMinutes = &mins },
		func(ns UserSettings) string {
			return "✅ Time zone is now " + formatZone(ns.Volume.ZoneMinutes) + ". Quiet hours and the digest follow it."
		})
}

// hourlyRoom returns how many more notifications user may get now under max per hour (max 0: no cap,
// room is unlimited as -1).
func (s *store) hourlyRoom(ctx context.Context, user int64, now time.Time, maxN int) (int, error) {
	if maxN <= 0 {
		return -1, nil
	}
	key := s.key("sendlog", uid(user))
	cutoff := strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10)
	if err := s.rdb.ZRemRangeByScore(ctx, key, "-inf", cutoff).Err(); err != nil {
		return 0, fmt.Errorf("prune send log: %w", err)
	}
	n, err := s.rdb.ZCard(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("read send log: %w", err)
	}
	return max(maxN-int(n), 0), nil
}

// logSend records one notification sent to user at now, for the hourly cap.
func (s *store) logSend(ctx context.Context, user int64, now time.Time, id string) error {
	key := s.key("sendlog", uid(user))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli()), Member: id + ":" + strconv.FormatInt(now.UnixNano(), 36)})
		p.Expire(ctx, key, SendLogTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("log send: %w", err)
	}
	return nil
}

// claimDigest marks user's digest of date as sent and reports whether it was not yet.
func (s *store) claimDigest(ctx context.Context, user int64, date string) (bool, error) {
	key := s.key("digest", uid(user))
	prev, err := s.rdb.SetArgs(ctx, key, date, redis.SetArgs{Get: true, TTL: DigestMarkTTL}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("claim digest: %w", err)
	}
	return prev != date, nil
}

// unclaimDigest forgets a digest claim whose message could not be sent, so the next cycle retries.
func (s *store) unclaimDigest(ctx context.Context, user int64) error {
	if err := s.rdb.Del(ctx, s.key("digest", uid(user))).Err(); err != nil {
		return fmt.Errorf("unclaim digest: %w", err)
	}
	return nil
}
