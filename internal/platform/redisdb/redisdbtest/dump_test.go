package redisdbtest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestDump(t *testing.T) {
	Both(t, testDump)
}

func testDump(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	require.Empty(t, Dump(t, c))
	require.NoError(t, c.Set(ctx, "s", "v", 0).Err())
	require.NoError(t, c.HSet(ctx, "h", "f", "1").Err())
	require.NoError(t, c.ZAdd(ctx, "z", redis.Z{Score: 2, Member: "m"}).Err())
	require.NoError(t, c.RPush(ctx, "l", "x").Err())
	require.Equal(t, map[string]any{
		"s": "v",
		"h": map[string]string{"f": "1"},
		"z": []redis.Z{{Score: 2, Member: "m"}},
		"l": "list",
	}, Dump(t, c))
}
