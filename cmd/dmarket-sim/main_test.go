package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle/lifecycletest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

func TestRunServesUntilCancelled(t *testing.T) {
	out, stop := startRun(t, "-titles", "20", "-listings", "3", "-games", "a8db, 9a92",
		"-public-keys", strings.Repeat("ab", 32))
	// The address and the demo keys are printed one after the other: await the last line.
	var base string
	require.Eventually(t, func() bool {
		text := out.String()
		if !strings.Contains(text, "DMARKET_SECRET_KEY=") {
			return false
		}
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, "DMARKET_API_URL="); ok {
				base = v
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the simulator printed its address and keys")
	require.Contains(t, out.String(), "DMARKET_PUBLIC_KEY=")
	require.Contains(t, out.String(), "DMARKET_SECRET_KEY=")

	for _, game := range []string{"a8db", "9a92"} {
		res, err := http.Get(base + "/exchange/v1/market/items?gameId=" + game + "&limit=2")
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Contains(t, string(body), `"cursor":"`)
	}
	require.NoError(t, stop(), "run stops once cancelled")
}

func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"bad key", []string{"-addr", "127.0.0.1:0", "-public-keys", "xyz"}, "public key"},
		{"bad address", []string{"-addr", "256.0.0.1:99999", "-titles", "1"}, "listen"},
		{"negative deal interval", []string{"-deal-every", "-1s"}, "must not be negative"},
		{"negative churn", []string{"-churn", "-2"}, "must not be negative"},
		{"no deal life", []string{"-deal-every", "1s", "-deal-life", "0s"}, "-deal-life must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestRunMovesTheMarketAndPrintsDeals(t *testing.T) {
	out, stop := startRun(t, "-titles", "50", "-listings", "4", "-deal-every", "20ms",
		"-deal-life", "1s", "-churn", "50", "-public-rate", "-1")
	var lines []string
	require.Eventually(t, func() bool {
		lines = lines[:0]
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "deal ") {
				lines = append(lines, line)
			}
		}
		return len(lines) >= 3
	}, 10*time.Second, 10*time.Millisecond, "deals are printed as they are listed")
	for _, line := range lines[:3] {
		require.Regexp(t, `^deal game=a8db title=".+" item=[0-9a-f-]{36} price=\$\d+\.\d\d order=\$\d+\.\d\d profit=\d+\.\d\d% status=tradable created=\d+ sells_in=\ds$`, line)
	}
	require.NoError(t, stop(), "run stops once cancelled, the mover with it")
}

// startRun runs the simulator on a free loopback port with the flags args, printing to out, until stop
// cancels it; stop returns run's result (lifecycletest.Start fails the test if it does not return).
func startRun(t *testing.T, args ...string) (out *loggingtest.Buffer, stop func() error) {
	t.Helper()
	out = &loggingtest.Buffer{}
	return out, lifecycletest.Start(t, 10*time.Second, func(ctx context.Context) error {
		return run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), out, io.Discard)
	})
}
