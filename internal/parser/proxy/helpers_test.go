package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/ratelimit"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newLogger returns a debug logger and what it writes, so that tests can assert that no secret was logged.
func newLogger() (*slog.Logger, *loggingtest.Buffer) {
	lb := &loggingtest.Buffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// scriptedClock is a fake clock whose waits do what the test says instead of advancing the time.
type scriptedClock struct {
	*clocktest.Fake
	sleep func(ctx context.Context) error
}

func (c scriptedClock) Sleep(ctx context.Context, _ time.Duration) error { return c.sleep(ctx) }

// upstreams returns a plain and a TLS echo server answering "hello from <remote ip>" and a pool that
// trusts the TLS server's certificate.
func upstreams(t *testing.T) (plain, tlsSrv *httptest.Server, roots *x509.CertPool) {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.RemoteAddr[:strings.LastIndex(r.RemoteAddr, ":")]
		_, _ = io.WriteString(w, "hello from "+host)
	})
	plain = httptest.NewServer(h)
	t.Cleanup(plain.Close)
	tlsSrv = httptest.NewUnstartedServer(h)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures are not news
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	roots = x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	return plain, tlsSrv, roots
}

func newPool(t *testing.T, cfg Config, clk ratelimit.Clock) (*Pool, *prometheus.Registry, *loggingtest.Buffer) {
	t.Helper()
	log, lb := newLogger()
	reg := prometheus.NewPedanticRegistry()
	p, err := NewPool(cfg, clk, log, reg)
	require.NoError(t, err)
	return p, reg, lb
}

func get(t *testing.T, l *Lease, url string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := l.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), nil
}

// Classify maps the result of Lease.Do to an outcome: 429 is Throttled, other answers below 400 are
// Success, other answers APIError; an error is EgressFailure (connect errors, proxy refusals, timeouts,
// TLS failures), except a cancellation by the caller, which is APIError so that it changes nothing
// (as does a nil response without error).
func Classify(resp *http.Response, err error) dmarket.Outcome {
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		return dmarket.APIError
	case err != nil:
		return dmarket.EgressFailure
	case resp == nil:
		return dmarket.APIError
	case resp.StatusCode == http.StatusTooManyRequests:
		return dmarket.Throttled
	case resp.StatusCode < 400:
		return dmarket.Success
	default:
		return dmarket.APIError
	}
}

// ParseLine parses one proxy URL. Its error never contains the credentials.
func ParseLine(line string) (Proxy, error) {
	p, reason := parseLine(strings.TrimSpace(line))
	if reason != "" {
		return Proxy{}, fmt.Errorf("%w: %s", ErrInvalidLine, reason)
	}
	return p, nil
}
