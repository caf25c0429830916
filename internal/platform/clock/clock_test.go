package clock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSleep(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"zero returns at once", context.Background(), 0, nil},
		{"negative returns at once", context.Background(), -time.Second, nil},
		{"short wait ends", context.Background(), time.Millisecond, nil},
		{"ended context wins over a long wait", canceled, time.Hour, context.Canceled},
		{"ended context with zero wait", canceled, 0, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, Real{}.Sleep(tc.ctx, tc.d), tc.want)
			if tc.want == nil {
				require.NoError(t, Real{}.Sleep(tc.ctx, tc.d))
			}
		})
	}
}

func TestRealNow(t *testing.T) {
	require.WithinDuration(t, time.Now(), Real{}.Now(), time.Minute)
}
