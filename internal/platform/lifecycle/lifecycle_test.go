package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIgnoreCanceled(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		in   error
		want error
	}{
		{name: "nil", in: nil, want: nil},
		{name: "canceled", in: context.Canceled, want: nil},
		{name: "wrapped canceled", in: fmt.Errorf("run: %w", context.Canceled), want: nil},
		{name: "deadline is an error", in: context.DeadlineExceeded, want: context.DeadlineExceeded},
		{name: "other", in: boom, want: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, IgnoreCanceled(tc.in))
		})
	}
}

func TestShutdown(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	Shutdown(log, "fast", time.Second, func(context.Context) error { return nil })
	require.Empty(t, buf.String())

	Shutdown(log, "slow", 10*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	require.Contains(t, buf.String(), "component=slow")
	require.Contains(t, buf.String(), "deadline exceeded")
}
