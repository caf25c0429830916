package redisdbtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServerCPUGrowsWithWork: the server's CPU time is positive and grows when the server works.
func TestServerCPUGrowsWithWork(t *testing.T) {
	rdb := New(t)
	before := ServerCPU(t, rdb)
	require.Positive(t, before)
	// A script that loops long enough to take well over the counter's 1 µs resolution.
	require.NoError(t, rdb.Eval(context.Background(), `local x = 0 for i = 1, 3000000 do x = x + i end return 1`, nil).Err())
	require.Greater(t, ServerCPU(t, rdb), before)
}
