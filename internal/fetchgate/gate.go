// Package fetchgate owns once-per-period gates shared by every parser instance through Redis, such as
// "fetch this game's fees once a day".
package fetchgate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix prefixes every gate key.
const KeyPrefix = "parser:gate:"

// Gate is a Redis-backed once-per-period gate.
type Gate struct {
	rdb    redis.Cmdable
	prefix string
}

// New returns a gate storing its keys under prefix+KeyPrefix (prefix may be empty).
func New(rdb redis.Cmdable, prefix string) *Gate {
	return &Gate{rdb: rdb, prefix: prefix + KeyPrefix}
}

// Due reports true when no caller was told key was due within the last period, and then claims the
// period: of concurrent callers exactly one sees true.
func (g *Gate) Due(ctx context.Context, key string, period time.Duration) (bool, error) {
	ok, err := g.rdb.SetArgs(ctx, g.prefix+key, time.Now().Unix(), redis.SetArgs{Mode: "NX", TTL: period}).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gate %s: %w", key, err)
	}
	return ok == "OK", nil
}

// Release makes key due again, for a job that failed after Due said yes.
func (g *Gate) Release(ctx context.Context, key string) error {
	if err := g.rdb.Del(ctx, g.prefix+key).Err(); err != nil {
		return fmt.Errorf("gate %s: release: %w", key, err)
	}
	return nil
}

// FeesKey is the key of the gate that lets the parser fetch game's fees once per period.
func FeesKey(game string) string { return "fees:" + game }
