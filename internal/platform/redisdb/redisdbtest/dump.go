package redisdbtest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Dump returns every key of c's database with its content, for whole-state comparisons: a string's
// value, a hash's fields (map[string]string), a sorted set's members with scores ([]redis.Z), and the
// type name of any other key.
func Dump(t testing.TB, c *redis.Client) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
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
	if err := iter.Err(); err != nil {
		t.Fatalf("redisdbtest: dump: %v", err)
	}
	return out
}
