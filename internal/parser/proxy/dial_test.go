package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func TestRequestsThroughEveryKindOfProxy(t *testing.T) {
	plain, tlsSrv, roots := upstreams(t)
	for _, tc := range []struct {
		name   string
		opts   proxytest.Options
		scheme string
	}{
		{name: "http", opts: proxytest.Options{Kind: proxytest.HTTP}},
		{name: "https scheme tunnels over plain tcp", opts: proxytest.Options{Kind: proxytest.HTTP}, scheme: "https"},
		{name: "http with basic auth", opts: proxytest.Options{Kind: proxytest.HTTP, User: "alice", Password: "s3cr:et"}},
		{name: "socks4", opts: proxytest.Options{Kind: proxytest.SOCKS4}},
		{name: "socks5", opts: proxytest.Options{Kind: proxytest.SOCKS5}},
		{name: "socks5 with auth", opts: proxytest.Options{Kind: proxytest.SOCKS5, User: "bob", Password: "pa@ss"}},
		{name: "bound to a source address", opts: proxytest.Options{Kind: proxytest.SOCKS5, SourceIP: "127.0.0.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := proxytest.New(t, tc.opts)
			line := srv.URL()
			if tc.scheme != "" {
				line = srv.URLWithScheme(tc.scheme)
			}
			p, _, logs := newPool(t, Config{File: proxytest.WriteFile(t, line), RootCAs: roots, RatePerIP: 1000}, clock.Real{})
			require.False(t, p.Direct())
			wantIP := "127.0.0.1"
			if tc.opts.SourceIP != "" {
				wantIP = tc.opts.SourceIP
			}
			for _, url := range []string{plain.URL, tlsSrv.URL} {
				l, err := p.Acquire(context.Background(), true)
				require.NoError(t, err)
				wantName := srv.Name()
				if tc.scheme != "" {
					wantName = tc.scheme + "://" + srv.Addr()
				}
				require.Equal(t, wantName, l.Name())
				body, err := get(t, l, url)
				require.NoError(t, err)
				require.Equal(t, "hello from "+wantIP, body)
				l.Release(dmarket.Success)
			}
			require.EqualValues(t, 2, srv.Tunnels())
			require.Zero(t, srv.AuthFailures())
			if tc.opts.Password != "" {
				require.NotContains(t, logs.String(), tc.opts.Password)
			}
		})
	}
}

func TestProxyAuthFailure(t *testing.T) {
	plain, _, _ := upstreams(t)
	for _, tc := range []struct {
		name    string
		kind    proxytest.Kind
		line    func(srv *proxytest.Server) string
		wantErr error
	}{
		{name: "http wrong password", kind: proxytest.HTTP, wantErr: ErrProxyAuth,
			line: func(s *proxytest.Server) string { return "http://alice:wrong@" + s.Addr() }},
		{name: "http missing credentials", kind: proxytest.HTTP, wantErr: ErrProxyAuth,
			line: func(s *proxytest.Server) string { return "http://" + s.Addr() }},
		{name: "socks5 wrong password", kind: proxytest.SOCKS5, wantErr: ErrEgress,
			line: func(s *proxytest.Server) string { return "socks5://alice:wrong@" + s.Addr() }},
		{name: "socks5 missing credentials", kind: proxytest.SOCKS5, wantErr: ErrEgress,
			line: func(s *proxytest.Server) string { return "socks5://" + s.Addr() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := proxytest.New(t, proxytest.Options{Kind: tc.kind, User: "alice", Password: "right"})
			p, _, logs := newPool(t, Config{File: proxytest.WriteFile(t, tc.line(srv))}, clock.Real{})
			l, err := p.Acquire(context.Background(), false)
			require.NoError(t, err)
			_, err = get(t, l, plain.URL)
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorIs(t, err, ErrEgress)
			require.NotContains(t, err.Error(), "wrong")
			require.Equal(t, dmarket.EgressFailure, Classify(nil, err))
			l.Release(Classify(nil, err))
			// The refusal reached the client; await the server's own count rather than assume it is
			// already visible.
			require.Eventually(t, func() bool { return srv.AuthFailures() == 1 }, 5*time.Second, 5*time.Millisecond,
				"auth failures: %d", srv.AuthFailures())
			require.Zero(t, srv.Tunnels())
			require.NotContains(t, logs.String(), "wrong")
		})
	}
}

func TestTLSVerificationFailsForUntrustedCert(t *testing.T) {
	_, tlsSrv, _ := upstreams(t)
	srv := proxytest.New(t, proxytest.Options{Kind: proxytest.HTTP})
	p, _, _ := newPool(t, Config{File: proxytest.WriteFile(t, srv.URL()), RootCAs: x509.NewCertPool()}, clock.Real{})
	l, err := p.Acquire(context.Background(), false)
	require.NoError(t, err)
	_, err = get(t, l, tlsSrv.URL)
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
	require.Equal(t, dmarket.EgressFailure, Classify(nil, err))
	l.Release(dmarket.EgressFailure)

	direct, _, _ := newPool(t, Config{}, clock.Real{})
	l, err = direct.Acquire(context.Background(), false)
	require.NoError(t, err)
	_, err = get(t, l, tlsSrv.URL)
	require.ErrorAs(t, err, &unknown, "the system roots do not trust the test certificate either")
}

func TestProxyFailModes(t *testing.T) {
	plain, _, _ := upstreams(t)
	for _, tc := range []struct {
		name    string
		kind    proxytest.Kind
		mode    proxytest.FailMode
		wantErr error
	}{
		{"http forbidden", proxytest.HTTP, proxytest.FailForbidden, ErrProxyRefused},
		{"socks4 rejected", proxytest.SOCKS4, proxytest.FailForbidden, ErrProxyRefused},
		{"socks5 not allowed", proxytest.SOCKS5, proxytest.FailForbidden, ErrEgress},
		{"http refused", proxytest.HTTP, proxytest.FailRefuse, ErrEgress},
		{"socks4 refused", proxytest.SOCKS4, proxytest.FailRefuse, ErrEgress},
		{"socks5 refused", proxytest.SOCKS5, proxytest.FailRefuse, ErrEgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := proxytest.New(t, proxytest.Options{Kind: tc.kind})
			srv.SetFail(tc.mode)
			p, _, _ := newPool(t, Config{File: proxytest.WriteFile(t, srv.URL())}, clock.Real{})
			l, err := p.Acquire(context.Background(), false)
			require.NoError(t, err)
			_, err = get(t, l, plain.URL)
			require.ErrorIs(t, err, tc.wantErr)
			var de *DialError
			require.ErrorAs(t, err, &de)
			require.Equal(t, srv.Name(), de.Proxy)
			require.GreaterOrEqual(t, srv.Connections(), int64(1))
			require.Zero(t, srv.Tunnels())

			srv.SetFail(proxytest.FailNone)
			body, err := get(t, l, plain.URL)
			require.NoError(t, err, "the proxy works again")
			require.Equal(t, "hello from 127.0.0.1", body)
		})
	}
}

type fakeResolver map[string][]net.IPAddr

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestSOCKS4ResolvesLocally(t *testing.T) {
	plain, _, _ := upstreams(t)
	_, port, err := net.SplitHostPort(plain.Listener.Addr().String())
	require.NoError(t, err)
	srv := proxytest.New(t, proxytest.Options{Kind: proxytest.SOCKS4})
	pr, err := ParseLine(srv.URL())
	require.NoError(t, err)
	d := pr.Dialer(&net.Dialer{Timeout: 5 * time.Second}, fakeResolver{
		"upstream.test": {{IP: net.ParseIP("::1")}, {IP: net.ParseIP("127.0.0.1")}},
		"v6only.test":   {{IP: net.ParseIP("::1")}},
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		network string
		addr    string
		wantErr error
		errText string
	}{
		{name: "host name resolved to ipv4", network: "tcp", addr: net.JoinHostPort("upstream.test", port)},
		{name: "ipv4 literal", network: "tcp4", addr: net.JoinHostPort("127.0.0.1", port)},
		{name: "ipv6 literal", network: "tcp", addr: net.JoinHostPort("::1", port), wantErr: ErrSOCKS4IPv6},
		{name: "ipv6 only host", network: "tcp", addr: net.JoinHostPort("v6only.test", port), wantErr: ErrSOCKS4IPv6},
		{name: "unknown host", network: "tcp", addr: net.JoinHostPort("nx.test", port), errText: "no such host"},
		{name: "udp", network: "udp", addr: net.JoinHostPort("127.0.0.1", port), errText: "cannot dial network"},
		{name: "bad port", network: "tcp", addr: "127.0.0.1:http", errText: "port"},
		{name: "no port", network: "tcp", addr: "127.0.0.1", errText: "missing port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := d.DialContext(ctx, tc.network, tc.addr)
			if tc.wantErr == nil && tc.errText == "" {
				require.NoError(t, err)
				require.NoError(t, c.Close())
				return
			}
			require.ErrorIs(t, err, ErrEgress)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.ErrorContains(t, err, tc.errText)
		})
	}
}

// silentServer accepts connections and never answers, to test handshake timeouts.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestHandshakeHonoursContext(t *testing.T) {
	addr := silentServer(t)
	for _, scheme := range []string{"http", "socks4", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			pr, err := ParseLine(scheme + "://" + addr)
			require.NoError(t, err)
			d := pr.Dialer(&net.Dialer{}, nil)
			t.Run("deadline", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				_, err := d.DialContext(ctx, "tcp", "127.0.0.1:443")
				require.ErrorIs(t, err, ErrEgress)
				var ne net.Error
				if !errors.Is(err, context.DeadlineExceeded) {
					require.ErrorAs(t, err, &ne)
					require.True(t, ne.Timeout())
				}
			})
			t.Run("cancel", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				_, err := d.DialContext(ctx, "tcp", "127.0.0.1:443")
				require.ErrorIs(t, err, ErrEgress)
				require.Error(t, err)
			})
		})
	}
}

func TestConnectDialerRejectsUDP(t *testing.T) {
	pr, err := ParseLine("http://127.0.0.1:1")
	require.NoError(t, err)
	_, err = pr.Dialer(&net.Dialer{}, nil).DialContext(context.Background(), "udp", "127.0.0.1:53")
	require.ErrorContains(t, err, `cannot dial network "udp"`)
}

// answeringProxy returns an HTTP proxy that answers the first CONNECT request with answer and hangs up.
func answeringProxy(t *testing.T, answer string) Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		_, _ = c.Read(buf) // the CONNECT request
		_, _ = c.Write([]byte(answer))
	}()
	pr, err := ParseLine("http://" + ln.Addr().String())
	require.NoError(t, err)
	return pr
}

func TestConnectKeepsBytesSentWithTheResponse(t *testing.T) {
	pr := answeringProxy(t, "HTTP/1.1 200 Connection established\r\n\r\nearly bytes")
	c, err := pr.Dialer(&net.Dialer{}, nil).DialContext(context.Background(), "tcp", "example.test:443")
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "early bytes", string(got))
}

func TestConnectUnexpectedStatus(t *testing.T) {
	pr := answeringProxy(t, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
	_, err := pr.Dialer(&net.Dialer{}, nil).DialContext(context.Background(), "tcp", "example.test:443")
	require.ErrorIs(t, err, ErrEgress)
	require.ErrorContains(t, err, "CONNECT answered 502")
}

func TestFailingProxyIsCooledDownAndComesBack(t *testing.T) {
	plain, _, _ := upstreams(t)
	bad := proxytest.New(t, proxytest.Options{Kind: proxytest.HTTP, SourceIP: "127.0.0.2"})
	good := proxytest.New(t, proxytest.Options{Kind: proxytest.SOCKS5, SourceIP: "127.0.0.3"})
	bad.SetFail(proxytest.FailForbidden)
	clk := clocktest.NewFake(t0)
	p, _, _ := newPool(t, Config{File: proxytest.WriteFile(t, bad.URL(), good.URL()),
		Rand: func() float64 { return 0 }}, clk)
	do := func() (string, string) {
		l, err := p.Acquire(context.Background(), false)
		require.NoError(t, err)
		body, err := get(t, l, plain.URL)
		o := dmarket.Success
		if err != nil {
			o = Classify(nil, err)
		}
		l.Release(o)
		return l.Name(), body
	}
	name, _ := do()
	require.Equal(t, bad.Name(), name, "403 from the proxy")
	for i := 0; i < 3; i++ {
		name, body := do()
		require.Equal(t, good.Name(), name)
		require.Equal(t, "hello from 127.0.0.3", body)
	}
	bad.SetFail(proxytest.FailNone)
	clk.Advance(5 * time.Second)
	name, body := do()
	require.Equal(t, bad.Name(), name, "back after its cooldown")
	require.Equal(t, "hello from 127.0.0.2", body)
}
