package redisdbtest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
)

// Dump returns every key of c's database (every master's keys on a cluster client) with its content, for
// whole-state comparisons: a string's value, a hash's fields (map[string]string), a sorted set's members
// with scores ([]redis.Z), and the type name of any other key.
func Dump(t testing.TB, c redis.UniversalClient) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	err := redisdb.ScanEach(ctx, c, "*", 100, func(keys []string) error {
		for _, k := range keys {
			switch typ := c.Type(ctx, k).Val(); typ {
			case "string":
				out[k] = c.Get(ctx, k).Val()
			case "hash":
				out[k] = c.HGetAll(ctx, k).Val()
			case "zset":
				out[k] = c.ZRangeWithScores(ctx, k, 0, -1).Val()
			default:
				out[k] = typ
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redisdbtest: dump: %v", err)
	}
	return out
}
