package dmarket

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/reporter/recorder"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

const emptyPage = `{"objects":[],"total":{"items":0},"cursor":""}`

// scripted serves the answers in order, repeating the last one, and counts requests.
type scripted struct {
	mu      sync.Mutex
	answers []answer
	n       int
	reqs    []*http.Request
	bodies  []string
}

type answer struct {
	status  int
	headers map[string]string
	body    string
	block   bool
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, r.ContentLength)
	if r.ContentLength > 0 {
		_, _ = r.Body.Read(b)
	}
	s.mu.Lock()
	a := s.answers[min(s.n, len(s.answers)-1)]
	s.n++
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	if a.block {
		<-r.Context().Done()
		return
	}
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func serve(t *testing.T, answers ...answer) (*scripted, *httptest.Server) {
	t.Helper()
	s := &scripted{answers: answers}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func TestClientClassifiesErrors(t *testing.T) {
	tests := map[string]struct {
		ans       answer
		class     Class
		retryable bool
		attempts  int
		outcome   Outcome
		code, msg string
	}{
		"400 exchange body": {answer{status: 400, body: `{"code":"BadRequest","message":"limit: must be no greater than 100."}`},
			ClassBadRequest, false, 1, APIError, "BadRequest", "limit: must be no greater than 100."},
		"401 marketplace body": {answer{status: 401, body: `{"Code":"Unauthorized","Message":"Unauthorized"}`},
			ClassAuth, false, 1, APIError, "Unauthorized", "Unauthorized"},
		"403 from dmarket": {answer{status: 403, body: `{"code":"APIKeyDisabled","message":"disabled"}`},
			ClassAuth, false, 1, APIError, "APIKeyDisabled", "disabled"},
		"403 from a proxy": {answer{status: 403, body: `Forbidden`}, ClassNetwork, true, 3, EgressFailure, "", ""},
		"404":              {answer{status: 404, body: `{"code":"NotFound","message":"no"}`}, ClassNotFound, false, 1, APIError, "NotFound", "no"},
		"408":              {answer{status: 408}, ClassTimeout, true, 3, APIError, "", ""},
		"410":              {answer{status: 410, body: `{"code":"Gone","message":"retired"}`}, ClassGone, false, 1, APIError, "Gone", "retired"},
		"418 other 4xx":    {answer{status: 418}, ClassBadRequest, false, 1, APIError, "", ""},
		"429": {answer{status: 429, headers: map[string]string{"Retry-After": "1"}, body: `{"message":"API rate limit exceeded"}`},
			ClassRateLimited, true, 3, Throttled, "", "API rate limit exceeded"},
		"500":            {answer{status: 500, body: `{"code":"InternalServerError","message":"boom"}`}, ClassServer, true, 3, APIError, "InternalServerError", "boom"},
		"502 html":       {answer{status: 502, body: `<html>bad gateway</html>`}, ClassServer, true, 3, APIError, "", ""},
		"200 not json":   {answer{status: 200, body: `<html>hello</html>`}, ClassBadBody, true, 3, APIError, "", ""},
		"200 wrong json": {answer{status: 200, body: `{"items":[]}`}, ClassBadBody, true, 3, APIError, "", ""},
		"304":            {answer{status: 304}, ClassBadBody, true, 3, APIError, "", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, srv := serve(t, tt.ans)
			c := newTestClient(t, srv.URL, Config{}, nil)
			_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.Error(t, err)
			cls, ok := ClassOf(err)
			require.True(t, ok, "error %v is classified", err)
			require.Equal(t, tt.class, cls)
			require.ErrorIs(t, err, tt.class.sentinel())
			require.Equal(t, tt.retryable, IsRetryable(err))
			require.Equal(t, tt.attempts, s.count())
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.msg, e.Message)
			require.Equal(t, EndpointMarketItems, e.Endpoint)
			for _, o := range c.egress.released() {
				require.Equal(t, tt.outcome, o)
			}
			require.Len(t, c.egress.released(), tt.attempts, "every lease is released once")
			require.Len(t, c.sleeper.recorded(), tt.attempts-1)
		})
	}
}

func TestClientSuccessAfterRetries(t *testing.T) {
	s, srv := serve(t, answer{status: 500}, answer{status: 503}, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{MaxAttempts: 4}, nil)
	page, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	require.Equal(t, emptyPage, string(page.Raw))
	require.Equal(t, 3, s.count())
	require.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, c.sleeper.recorded(),
		"full jitter over an exponential ceiling (the test jitter returns the ceiling)")
	require.Equal(t, []Outcome{APIError, APIError, Success}, c.egress.released())
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.retries.WithLabelValues("market_items", "server_error")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.requests.WithLabelValues("market_items", "success", "direct")))
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.requests.WithLabelValues("market_items", "server_error", "direct")))
	require.Equal(t, 1, testutil.CollectAndCount(c.reg, "dmarket_api_request_duration_seconds"))
}

func TestBackoffCapsAndJitter(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1", Config{BaseDelay: time.Second, MaxDelay: 5 * time.Second}, nil)
	got := []time.Duration{}
	for attempt := 1; attempt <= 5; attempt++ {
		d, ok := c.backoff(attempt, 0)
		require.True(t, ok)
		got = append(got, d)
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)

	d, ok := c.backoff(1, 20*time.Second)
	require.True(t, ok)
	require.Equal(t, 20*time.Second, d, "Retry-After wins over a shorter backoff")
	_, ok = c.backoff(1, 3*time.Hour)
	require.False(t, ok, "a Retry-After beyond MaxRetryAfter is not waited for")
}

func TestRetryAfterHonoured(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"retry-after seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"retry-after date", map[string]string{"Retry-After": now.Add(9 * time.Second).Format(http.TimeFormat)}, 9 * time.Second},
		{"ratelimit-reset", map[string]string{"RateLimit-Reset": "3", "RateLimit-Remaining": "0"}, 3 * time.Second},
		{"retry-after wins", map[string]string{"Retry-After": "2", "RateLimit-Reset": "5"}, 2 * time.Second},
		{"none falls back to backoff", nil, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := serve(t, answer{status: 429, headers: tt.headers, body: `{"message":"API rate limit exceeded"}`},
				answer{status: 200, body: emptyPage})
			c := newTestClient(t, srv.URL, Config{}, clocktest.NewFake(now))
			_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.NoError(t, err)
			require.Equal(t, 2, s.count())
			require.Equal(t, []time.Duration{max(tt.want, 100*time.Millisecond)}, c.sleeper.recorded())
			require.Equal(t, []Outcome{Throttled, Success}, c.egress.released())
		})
	}
}

func TestRetryAfterTooLongReturnsError(t *testing.T) {
	s, srv := serve(t, answer{status: 429, headers: map[string]string{"Retry-After": "600"}})
	c := newTestClient(t, srv.URL, Config{MaxRetryAfter: time.Minute}, nil)
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrRateLimited)
	require.Equal(t, 10*time.Minute, RetryAfter(err))
	require.Equal(t, 1, s.count())
}

func TestRetryStopsAtContextDeadline(t *testing.T) {
	s, srv := serve(t, answer{status: 500})
	c := newTestClient(t, srv.URL, Config{BaseDelay: time.Hour, MaxDelay: time.Hour}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrServer)
	require.Equal(t, 1, s.count(), "a backoff past the deadline is not started")
}

func TestCancelDuringBackoff(t *testing.T) {
	_, srv := serve(t, answer{status: 500})
	ctx, cancel := context.WithCancel(context.Background())
	c := newTestClient(t, srv.URL, Config{}, nil)
	c.sleeper.onSleep = func(context.Context) error {
		cancel()
		return context.Canceled
	}
	_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, ErrServer, "the last failure is kept")
	require.False(t, IsRetryable(context.Canceled))
}

func TestCancelDuringRequest(t *testing.T) {
	s, srv := serve(t, answer{block: true})
	c := newTestClient(t, srv.URL, Config{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for s.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []Outcome{Aborted}, c.egress.released())
	require.Equal(t, BreakerClosed, c.BreakerState(EndpointMarketItems))
}

func TestTimeoutIsClassified(t *testing.T) {
	s, srv := serve(t, answer{block: true})
	// Long enough for a request to reach the server on a loaded machine before the client gives up.
	c := newTestClient(t, srv.URL, Config{RequestTimeout: 250 * time.Millisecond, MaxAttempts: 2}, nil)
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrTimeout)
	require.True(t, IsRetryable(err))
	// The server may take up the second request only after the client has given up on it.
	require.Eventually(t, func() bool { return s.count() == 2 }, 10*time.Second, time.Millisecond,
		"server saw %d requests", s.count())
	require.Equal(t, []Outcome{EgressFailure, EgressFailure}, c.egress.released())
}

func TestNetworkErrorIsClassified(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newTestClient(t, url, Config{MaxAttempts: 2}, nil)
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrNetwork)
	require.True(t, IsRetryable(err))
	require.Equal(t, []Outcome{EgressFailure, EgressFailure}, c.egress.released())
}

func TestBodyTooLargeIsBadBody(t *testing.T) {
	_, srv := serve(t, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{MaxBodyBytes: 10, MaxAttempts: 1}, nil)
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrBadBody)
}

type failingEgress struct{ err error }

func (f failingEgress) Acquire(context.Context, bool) (Lease, error) { return nil, f.err }

func TestEgressAcquireFailure(t *testing.T) {
	c, err := New(Config{MaxAttempts: 2}, failingEgress{errors.New("no proxy available")}, discardLogger(),
		prometheus.NewRegistry(), &recClock{})
	require.NoError(t, err)
	_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrNetwork)
	require.ErrorContains(t, err, "no proxy available")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c2, err := New(Config{}, failingEgress{context.Canceled}, discardLogger(), prometheus.NewRegistry(), clock.Real{})
	require.NoError(t, err)
	_, err = c2.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, context.Canceled)
}

func TestBreakerOpensOnlyOnInfrastructureErrors(t *testing.T) {
	tests := []struct {
		name     string
		ans      answer
		wantOpen bool
	}{
		{"5xx opens", answer{status: 500}, true},
		{"timeouts open", answer{status: 408}, true},
		{"429 does not", answer{status: 429, headers: map[string]string{"Retry-After": "1"}}, false},
		{"404 does not", answer{status: 404}, false},
		{"400 does not", answer{status: 400}, false},
		{"bad body does not", answer{status: 200, body: "{}"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := serve(t, tt.ans)
			c := newTestClient(t, srv.URL, Config{MaxAttempts: 1, BreakerFailures: 3, BreakerOpenFor: time.Hour}, nil)
			for i := 0; i < 5; i++ {
				_, _ = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			}
			if !tt.wantOpen {
				require.Equal(t, BreakerClosed, c.BreakerState(EndpointMarketItems))
				require.Equal(t, 5, s.count())
				return
			}
			require.Equal(t, BreakerOpen, c.BreakerState(EndpointMarketItems))
			require.Equal(t, 3, s.count(), "calls after opening are not sent")
			_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.ErrorIs(t, err, ErrBreakerOpen)
			require.True(t, IsRetryable(err))
			require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.breakerState.WithLabelValues("market_items")))
			require.Equal(t, 3.0, testutil.ToFloat64(c.metrics.requests.WithLabelValues("market_items", "breaker_open", "none")))
			require.Equal(t, BreakerClosed, c.BreakerState(EndpointLastSales), "one breaker per endpoint family")
		})
	}
}

func TestBreakerRecovers(t *testing.T) {
	s, srv := serve(t, answer{status: 500}, answer{status: 500}, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{MaxAttempts: 1, BreakerFailures: 2, BreakerOpenFor: time.Second}, nil)
	awaitHalfOpen(t, c.Client, 2)
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	require.Equal(t, BreakerClosed, c.BreakerState(EndpointMarketItems))
	require.Equal(t, 3, s.count())
	require.Zero(t, testutil.ToFloat64(c.metrics.breakerState.WithLabelValues("market_items")))
}

func TestAuthAndGoneStopTheEndpoint(t *testing.T) {
	for _, status := range []int{401, 410} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s, srv := serve(t, answer{status: status, body: `{"code":"X","message":"y"}`}, answer{status: 200, body: emptyPage})
			clk := clocktest.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			c := newTestClient(t, srv.URL, Config{StopFor: time.Hour}, clk)
			_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.False(t, IsRetryable(err))
			_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.ErrorIs(t, err, ErrEndpointStopped)
			require.False(t, IsRetryable(err))
			require.Equal(t, 1, s.count(), "a stopped endpoint is not called")

			h := c.Health()
			require.Len(t, h, len(Endpoints))
			require.Equal(t, EndpointMarketItems, h[0].Endpoint)
			require.True(t, h[0].Stopped)
			require.Equal(t, clk.Now().Add(time.Hour), h[0].StoppedUntil)
			require.Contains(t, h[0].StopReason, strconv.Itoa(status))
			require.False(t, h[1].Stopped)

			clk.Advance(time.Hour)
			_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.NoError(t, err, "the stop expires")
			require.Equal(t, 2, s.count())
		})
	}
}

func TestResumeLiftsStop(t *testing.T) {
	s, srv := serve(t, answer{status: 410}, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{}, nil)
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrGone)
	c.Resume(EndpointMarketItems)
	_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	require.Equal(t, 2, s.count())
}

func TestHealthSuccessRate(t *testing.T) {
	_, srv := serve(t, answer{status: 500}, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{MaxAttempts: 1}, nil)
	require.Equal(t, 1.0, c.Health()[0].SuccessRate())
	for i := 0; i < 4; i++ {
		_, _ = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	}
	h := c.Health()[0]
	require.Equal(t, 4, h.Attempts)
	require.Equal(t, 3, h.Successes)
	require.InDelta(t, 0.75, h.SuccessRate(), 1e-9)
	for i := 0; i < 150; i++ {
		c.recent[EndpointMarketItems].add(true)
	}
	require.Equal(t, 100, c.Health()[0].Attempts)
}

func testKeys(t testing.TB) (pub ed25519.PublicKey, signer *Signer) {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub = priv.Public().(ed25519.PublicKey)
	s, err := NewSigner(hex.EncodeToString(pub), hex.EncodeToString(priv))
	require.NoError(t, err)
	return pub, s
}

func verifyRequest(t *testing.T, pub ed25519.PublicKey, r *http.Request, body string) {
	t.Helper()
	require.Equal(t, hex.EncodeToString(pub), r.Header.Get(HeaderAPIKey))
	sigHex, ok := strings.CutPrefix(r.Header.Get(HeaderRequestSign), SignaturePrefix)
	require.True(t, ok)
	sig, err := hex.DecodeString(sigHex)
	require.NoError(t, err)
	msg := r.Method + r.URL.Path
	if r.URL.RawQuery != "" {
		msg += "?" + r.URL.RawQuery
	}
	msg += body + r.Header.Get(HeaderSignDate)
	require.True(t, ed25519.Verify(pub, []byte(msg), sig), "signature over %q", msg)
}

func TestSignedRetryIsResigned(t *testing.T) {
	pub, signer := testKeys(t)
	s, srv := serve(t, answer{status: 502}, answer{status: 500}, answer{status: 200, body: string(fixture(t, "aggregated-prices.json"))})
	clk := clocktest.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := newTestClient(t, srv.URL, Config{BaseDelay: 5 * time.Second}, clk, WithSigner(signer))
	res, err := c.AggregatedPrices(context.Background(), "a8db", []string{"AK-47 | Redline (Field-Tested)"})
	require.NoError(t, err)
	require.Len(t, res.Orders, 3)
	require.Len(t, s.reqs, 3)
	dates := map[string]bool{}
	for i, r := range s.reqs {
		verifyRequest(t, pub, r, s.bodies[i])
		dates[r.Header.Get(HeaderSignDate)] = true
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	}
	require.Len(t, dates, 3, "every retry carries a fresh X-Sign-Date")
	require.Equal(t, strconv.FormatInt(clk.Now().Unix(), 10), s.reqs[2].Header.Get(HeaderSignDate))
	require.JSONEq(t, `{"filter":{"game":"a8db","titles":["AK-47 | Redline (Field-Tested)"]},"limit":"100","cursor":""}`, s.bodies[0])
	require.Equal(t, []bool{false, false, false}, c.egress.limited, "signed calls are not limited per IP")
}

func TestUnsignedCallCarriesNoCredentials(t *testing.T) {
	_, signer := testKeys(t)
	s, srv := serve(t, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer))
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	r := s.reqs[0]
	require.Empty(t, r.Header.Get(HeaderAPIKey))
	require.Empty(t, r.Header.Get(HeaderRequestSign))
	require.Equal(t, []bool{true}, c.egress.limited)
}

func TestSignedCallsWithoutKeys(t *testing.T) {
	s, srv := serve(t, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{}, nil)
	calls := map[string]func() error{
		"market items": func() error {
			_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, true)
			return err
		},
		"aggregated": func() error { _, err := c.AggregatedPrices(context.Background(), "a8db", []string{"x"}); return err },
		"last sales": func() error { _, err := c.LastSales(context.Background(), "a8db", "x", 0, 20); return err },
		"fees":       func() error { _, err := c.CustomizedFees(context.Background(), "a8db"); return err },
	}
	requireRefused(t, s, calls, ErrNoCredentials)
}

// requireRefused runs every call, each of which must fail with want, not retryable, before anything is
// sent to s.
func requireRefused(t *testing.T, s *scripted, calls map[string]func() error, want error) {
	t.Helper()
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.ErrorIs(t, err, want)
			require.False(t, IsRetryable(err))
		})
	}
	require.Zero(t, s.count())
}

type recAccount struct {
	mu       sync.Mutex
	families []Family
	err      error
}

func (a *recAccount) Wait(_ context.Context, f Family) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.families = append(a.families, f)
	return a.err
}

func TestAccountLimiterFamilies(t *testing.T) {
	_, signer := testKeys(t)
	mux := http.NewServeMux()
	mux.HandleFunc(PathMarketItems, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(emptyPage)) })
	mux.HandleFunc(PathLastSales, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"sales":[]}`)) })
	mux.HandleFunc(PathAggregatedPrices, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"aggregatedPrices":[]}`))
	})
	mux.HandleFunc(PathCustomizedFees, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(fixture(t, "customized-fees.json"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	acct := &recAccount{}
	c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer), WithAccountLimiter(acct))
	ctx := context.Background()
	_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	_, err = c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, true)
	require.NoError(t, err)
	_, err = c.LastSales(ctx, "a8db", "t", 0, 0)
	require.NoError(t, err)
	_, err = c.AggregatedPrices(ctx, "a8db", []string{"t"})
	require.NoError(t, err)
	_, err = c.CustomizedFees(ctx, "a8db")
	require.NoError(t, err)
	// Fees take two calls: the fixed answer repeats its entries on the second page, which ends the list.
	require.Equal(t, []Family{FamilyListings, FamilySales, FamilyOther, FamilyOther, FamilyOther}, acct.families,
		"unsigned market items are paced by the egress, not the account")

	acct.err = context.DeadlineExceeded
	_, err = c.LastSales(ctx, "a8db", "t", 0, 0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestRequestsAreRecordedAndEncoded(t *testing.T) {
	_, signer := testKeys(t)
	s, srv := serve(t, answer{status: 200, body: `{"objects":[],"cursor":"","sales":[],"defaultFee":{"fraction":"0.05","minAmount":1}}`})
	c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer))
	ctx := context.Background()

	page, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", PriceFrom: 100, PriceTo: 2000, Cursor: "WzEsMiwiYSJd", Limit: 50, Title: "AK-47 | Redline"}, false)
	require.NoError(t, err)
	require.Equal(t, "GET", page.Request.Method)
	require.Equal(t, PathMarketItems, page.Request.Path)
	require.Equal(t, "gameId=a8db&currency=USD&limit=50&orderBy=price&orderDir=asc&priceFrom=100&priceTo=2000&title=AK-47%20%7C%20Redline&cursor=WzEsMiwiYSJd", page.Request.Query)
	require.Equal(t, page.Request.Query, s.reqs[0].URL.RawQuery, "the recorded query is the one sent")
	require.Zero(t, page.Count())

	fresh, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", OrderBy: OrderByUpdated, OrderDir: OrderDesc, Limit: 100}, false)
	require.NoError(t, err)
	require.Equal(t, "gameId=a8db&currency=USD&limit=100&orderBy=updated&orderDir=desc&priceFrom=0&priceTo=0", fresh.Request.Query)
	s.reqs = s.reqs[1:]

	sales, err := c.LastSales(ctx, "a8db", "StatTrak™ AK-47 | Redline (Field-Tested)", 40, 20)
	require.NoError(t, err)
	require.Equal(t, PathLastSales, sales.Request.Path)
	require.Equal(t, "StatTrak™ AK-47 | Redline (Field-Tested)", sales.Request.Title)
	require.Equal(t, "gameId=a8db&title=StatTrak%E2%84%A2%20AK-47%20%7C%20Redline%20%28Field-Tested%29&limit=20&offset=40", sales.Request.Query)
	require.Equal(t, "StatTrak™ AK-47 | Redline (Field-Tested)", s.reqs[1].URL.Query().Get("title"))

	fees, err := c.CustomizedFees(ctx, "a8db")
	require.NoError(t, err)
	require.Equal(t, "gameId=a8db&offerType=dmarket&limit=1000", fees.Request.Query)
	require.Equal(t, 0.05, fees.Default.FractionValue)
}

func TestInvalidArgumentsAreNotSent(t *testing.T) {
	s, srv := serve(t, answer{status: 200, body: emptyPage})
	c := newTestClient(t, srv.URL, Config{}, nil)
	_, signer := testKeys(t)
	c.signer = signer
	ctx := context.Background()
	many := make([]string, 101)
	for i := range many {
		many[i] = "t" + strconv.Itoa(i)
	}
	tests := map[string]func() error{
		"limit above 100": func() error {
			_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", Limit: 101}, false)
			return err
		},
		"negative price": func() error {
			_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", PriceFrom: -1}, false)
			return err
		},
		"inverted range": func() error {
			_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", PriceFrom: 10, PriceTo: 5}, false)
			return err
		},
		"unknown order": func() error {
			_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", OrderBy: "best_deals"}, false)
			return err
		},
		"unknown direction": func() error {
			_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db", OrderDir: "up"}, false)
			return err
		},
		"no game":        func() error { _, err := c.MarketItems(ctx, MarketItemsQuery{}, false); return err },
		"bad game":       func() error { _, err := c.CustomizedFees(ctx, "a8db&x=1"); return err },
		"no titles":      func() error { _, err := c.AggregatedPrices(ctx, "a8db", nil); return err },
		"101 titles":     func() error { _, err := c.AggregatedPrices(ctx, "a8db", many); return err },
		"sales limit 21": func() error { _, err := c.LastSales(ctx, "a8db", "t", 0, 21); return err },
		"sales no title": func() error { _, err := c.LastSales(ctx, "a8db", "", 0, 20); return err },
		"sales offset":   func() error { _, err := c.LastSales(ctx, "", "t", -1, 20); return err },
		"sales bad game": func() error { _, err := c.LastSales(ctx, "a b", "t", 0, 20); return err },
		"aggr bad game":  func() error { _, err := c.AggregatedPrices(ctx, "", []string{"t"}); return err },
	}
	requireRefused(t, s, tests, ErrBadRequest)
}

func TestTracingNeverSendsTraceHeaders(t *testing.T) {
	s, srv := serve(t, answer{status: 500}, answer{status: 200, body: emptyPage})
	rec := recorder.NewReporter()
	tracer, err := zipkin.NewTracer(rec, zipkin.WithSampler(zipkin.AlwaysSample))
	require.NoError(t, err)
	c := newTestClient(t, srv.URL, Config{}, nil, WithTracer(tracer))
	parent, ctx := tracer.StartSpanFromContext(context.Background(), "crawl")
	_, err = c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err)
	parent.Finish()
	for _, r := range s.reqs {
		for name := range r.Header {
			require.NotContains(t, strings.ToLower(name), "b3", "header %s", name)
			require.NotContains(t, strings.ToLower(name), "trace", "header %s", name)
		}
	}
	spans := rec.Flush()
	require.Len(t, spans, 3)
	var attempts int
	for _, sp := range spans {
		if sp.Name == "dmarket market_items" {
			attempts++
			require.Equal(t, parent.Context().TraceID, sp.TraceID)
			require.Equal(t, "GET", sp.Tags["http.method"])
			require.Equal(t, "direct", sp.Tags["dmarket.egress"])
		}
	}
	require.Equal(t, 2, attempts)
	require.Equal(t, "server_error", spans[0].Tags["error"])
	require.Equal(t, "500", spans[0].Tags["http.status_code"])
}

func TestNewValidatesDependencies(t *testing.T) {
	eg := &recEgress{}
	_, err := New(Config{}, nil, discardLogger(), prometheus.NewRegistry(), clock.Real{})
	require.Error(t, err)
	_, err = New(Config{BaseURL: "ftp://x"}, eg, discardLogger(), prometheus.NewRegistry(), clock.Real{})
	require.Error(t, err)
	reg := prometheus.NewRegistry()
	_, err = New(Config{}, eg, discardLogger(), reg, clock.Real{})
	require.NoError(t, err)
	_, err = New(Config{}, eg, discardLogger(), reg, clock.Real{})
	require.ErrorContains(t, err, "register metrics", "two clients on one registry are refused, not a panic")
}

func TestStringers(t *testing.T) {
	for _, c := range []Class{ClassNetwork, ClassTimeout, ClassRateLimited, ClassServer, ClassAuth, ClassNotFound, ClassGone, ClassBadRequest, ClassBadBody, Class(0)} {
		require.NotEmpty(t, c.String())
	}
	for _, o := range []Outcome{Success, Throttled, EgressFailure, APIError, Aborted, Outcome(0)} {
		require.NotEmpty(t, o.String())
	}
	require.Equal(t, "unknown", Family(0).String())
	require.Equal(t, FamilyListings, EndpointMarketItems.Family())
	require.Equal(t, FamilySales, EndpointLastSales.Family())
	require.Equal(t, FamilyOther, EndpointCustomizedFees.Family())
	e := &Error{Class: ClassRateLimited, Endpoint: EndpointLastSales, Status: 429, Message: "API rate limit exceeded", RetryAfter: time.Second}
	require.Equal(t, "last_sales: dmarket rate limit exceeded (http 429): API rate limit exceeded (retry after 1s)", e.Error())
	_, ok := ClassOf(errors.New("plain"))
	require.False(t, ok)
	require.False(t, IsRetryable(nil))
	require.False(t, IsRetryable(errors.New("plain")))
	require.Zero(t, RetryAfter(errors.New("plain")))
	require.Equal(t, BreakerClosed, (&Client{}).BreakerState("nope"))
}

type observingAccount struct {
	recAccount
	observed []Outcome
}

func (o *observingAccount) Observe(f Family, out Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.families = append(o.families, f)
	o.observed = append(o.observed, out)
}

func TestAccountObserverSeesOutcomes(t *testing.T) {
	_, signer := testKeys(t)
	_, srv := serve(t, answer{status: 429, headers: map[string]string{"Retry-After": "1"}}, answer{status: 200, body: `{"sales":[]}`})
	acct := &observingAccount{}
	c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer), WithAccountLimiter(acct))
	_, err := c.LastSales(context.Background(), "a8db", "t", 0, 0)
	require.NoError(t, err)
	require.Equal(t, []Outcome{Throttled, Success}, acct.observed)
	require.Equal(t, []Family{FamilySales, FamilySales, FamilySales, FamilySales}, acct.families, "wait, observe, wait, observe")
}

func TestAuthFailureOfSignedListingsKeepsUnsignedCrawl(t *testing.T) {
	_, signer := testKeys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderRequestSign) != "" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"InvalidSignature","message":"bad"}`))
			return
		}
		_, _ = w.Write([]byte(emptyPage))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer))
	ctx := context.Background()
	_, err := c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, true)
	require.ErrorIs(t, err, ErrAuth)
	_, err = c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, true)
	require.ErrorIs(t, err, ErrEndpointStopped)
	require.ErrorIs(t, err, ErrAuth, "callers can still tell why")
	_, err = c.MarketItems(ctx, MarketItemsQuery{GameID: "a8db"}, false)
	require.NoError(t, err, "unsigned listings keep working")
	h := c.Health()[0]
	require.True(t, h.Stopped)
	require.True(t, h.SignedOnly)
	require.Contains(t, h.StopReason, "InvalidSignature")

	c.Resume(EndpointMarketItems)
	require.False(t, c.Health()[0].Stopped)
}

func TestGoneStopsSignedAndUnsigned(t *testing.T) {
	_, signer := testKeys(t)
	s, srv := serve(t, answer{status: 410})
	c := newTestClient(t, srv.URL, Config{}, nil, WithSigner(signer))
	_, err := c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
	require.ErrorIs(t, err, ErrGone)
	_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, true)
	require.ErrorIs(t, err, ErrEndpointStopped)
	require.Equal(t, 1, s.count())
	require.False(t, c.Health()[0].SignedOnly)
}

func TestHasCredentials(t *testing.T) {
	_, signer := testKeys(t)
	require.False(t, newTestClient(t, "http://127.0.0.1:1", Config{}, nil).HasCredentials())
	require.True(t, newTestClient(t, "http://127.0.0.1:1", Config{}, nil, WithSigner(signer)).HasCredentials())
}

func TestHealthIgnoresProxyFailures(t *testing.T) {
	tests := []struct {
		name     string
		egress   *recEgress
		attempts int
	}{
		{name: "a failing proxy says nothing about DMarket", egress: &recEgress{egresses: deadProxies(1)}, attempts: 0},
		{name: "a failing direct connection does", egress: &recEgress{}, attempts: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{BaseURL: "http://127.0.0.1:1", MaxAttempts: 2, BaseDelay: time.Millisecond}, tc.egress,
				discardLogger(), prometheus.NewRegistry(), clock.Real{})
			require.NoError(t, err)
			_, err = c.MarketItems(context.Background(), MarketItemsQuery{GameID: "a8db"}, false)
			require.ErrorIs(t, err, ErrNetwork)
			require.Equal(t, tc.attempts, c.Health()[0].Attempts)
			if len(tc.egress.egresses) > 0 {
				require.Equal(t, []Outcome{EgressFailure, EgressFailure}, tc.egress.released(), "the pool still learns the proxy failed")
			}
		})
	}
}
