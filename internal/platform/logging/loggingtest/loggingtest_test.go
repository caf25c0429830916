package loggingtest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBufferConcurrentWritesAndReads(t *testing.T) {
	var b Buffer
	require.Empty(t, b.String())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				n, err := fmt.Fprintf(&b, "w%d-%d\n", i, j)
				require.NoError(t, err)
				require.Positive(t, n)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 8*50)
	require.Contains(t, lines, "w7-49")
}

func TestLoggers(t *testing.T) {
	require.False(t, Discard().Enabled(context.Background(), slog.LevelError))
	require.Equal(t, testing.Verbose(), Verbose().Enabled(context.Background(), slog.LevelDebug))
}
