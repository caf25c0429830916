package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	require.Equal(t, start, f.Now())
	f.Advance(time.Minute)
	require.Equal(t, start.Add(time.Minute), f.Now())
	f.Set(start)
	require.Equal(t, start, f.Now())
	require.WithinDuration(t, time.Now(), Real{}.Now(), time.Minute)
}
