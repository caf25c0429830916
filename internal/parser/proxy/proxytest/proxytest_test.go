package proxytest

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	xproxy "golang.org/x/net/proxy"
)

// upstream answers with the client's IP address.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		_, _ = io.WriteString(w, host)
	}))
	t.Cleanup(s.Close)
	return s
}

func dialRaw(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c, bufio.NewReader(c)
}

// requireSOCKS4Granted sends the SOCKS4 request req on c and requires the proxy's 8-byte reply (read from
// br) to grant it.
func requireSOCKS4Granted(t *testing.T, c net.Conn, br *bufio.Reader, req []byte) {
	t.Helper()
	_, err := c.Write(req)
	require.NoError(t, err)
	var resp [8]byte
	_, err = io.ReadFull(br, resp[:])
	require.NoError(t, err)
	require.Equal(t, byte(0x5a), resp[1], "request granted")
}

// exchange sends request to s on a new connection and returns the first n bytes of the answer.
func exchange(t *testing.T, s *Server, request []byte, n int) []byte {
	t.Helper()
	c, br := dialRaw(t, s)
	_, err := c.Write(request)
	require.NoError(t, err)
	got := make([]byte, n)
	_, err = io.ReadFull(br, got)
	require.NoError(t, err)
	return got
}

// getThrough sends a plain HTTP GET over an established tunnel and returns the body.
func getThrough(t *testing.T, c net.Conn, br *bufio.Reader, target string) string {
	t.Helper()
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+target+"\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestSourceAddressesAreDistinct(t *testing.T) {
	up := upstream(t)
	target := up.Listener.Addr().String()
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		kind := []Kind{HTTP, SOCKS4, SOCKS5}[i]
		s := New(t, Options{Kind: kind, SourceIP: ip})
		var c net.Conn
		var br *bufio.Reader
		var err error
		switch kind {
		case SOCKS5:
			d, derr := xproxy.SOCKS5("tcp", s.Addr(), nil, &net.Dialer{})
			require.NoError(t, derr)
			c, err = d.Dial("tcp", target)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			br = bufio.NewReader(c)
		case SOCKS4:
			c, br = dialRaw(t, s)
			host, port, _ := net.SplitHostPort(target)
			req := []byte{4, 1, 0, 0}
			p, _ := net.LookupPort("tcp", port)
			binary.BigEndian.PutUint16(req[2:], uint16(p))
			req = append(req, net.ParseIP(host).To4()...)
			req = append(req, 'u', 0)
			requireSOCKS4Granted(t, c, br, req)
		default:
			c, br = dialRaw(t, s)
			_, err = io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}
		require.Equal(t, ip, getThrough(t, c, br, target), "the server behind the proxy sees its source address")
		require.EqualValues(t, 1, s.Connections())
		require.EqualValues(t, 1, s.Tunnels())
	}
}

func TestSOCKS4aHostName(t *testing.T) {
	up := upstream(t)
	_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
	s := New(t, Options{Kind: SOCKS4})
	c, br := dialRaw(t, s)
	p, _ := net.LookupPort("tcp", port)
	req := []byte{4, 1, byte(p >> 8), byte(p), 0, 0, 0, 1, 0}
	req = append(req, "localhost"...)
	req = append(req, 0)
	requireSOCKS4Granted(t, c, br, req)
}

func TestHTTPProxyRejects(t *testing.T) {
	s := New(t, Options{Kind: HTTP, User: "u", Password: "p"})
	for _, tc := range []struct {
		name    string
		request string
		want    int
	}{
		{"not connect", "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n", http.StatusMethodNotAllowed},
		{"no credentials", "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", http.StatusProxyAuthRequired},
		{"unreachable target", "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nProxy-Authorization: Basic dTpw\r\n\r\n", http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dialRaw(t, s)
			_, err := io.WriteString(c, tc.request)
			require.NoError(t, err)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			require.NoError(t, err)
			require.Equal(t, tc.want, resp.StatusCode)
		})
	}
	require.EqualValues(t, 1, s.AuthFailures())
	require.Zero(t, s.Tunnels())
}

func TestSOCKS5Rejects(t *testing.T) {
	s := New(t, Options{Kind: SOCKS5})
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  []byte
	}{
		{"unsupported command", []byte{5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80}, []byte{5, 0, 5, 7}},
		{"bad address type", []byte{5, 1, 0, 5, 1, 0, 9}, []byte{5, 0, 5, 8}},
		{"unreachable target", []byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 1}, []byte{5, 0, 5, 5}},
		{"ipv6 target unreachable", append(append([]byte{5, 1, 0, 5, 1, 0, 4}, net.IPv6loopback...), 0, 1), []byte{5, 0, 5, 5}},
		{"no acceptable method", []byte{5, 1, 2}, []byte{5, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, exchange(t, s, tc.bytes, len(tc.want)))
		})
	}
}

func TestSOCKS5Auth(t *testing.T) {
	up := upstream(t)
	s := New(t, Options{Kind: SOCKS5, User: "user", Password: "pass"})
	require.Equal(t, "socks5://user:pass@"+s.Addr(), s.URL())
	require.Equal(t, "socks5://"+s.Addr(), s.Name())
	bad, err := xproxy.SOCKS5("tcp", s.Addr(), &xproxy.Auth{User: "user", Password: "nope"}, &net.Dialer{})
	require.NoError(t, err)
	_, err = bad.Dial("tcp", up.Listener.Addr().String())
	require.Error(t, err)
	good, err := xproxy.SOCKS5("tcp", s.Addr(), &xproxy.Auth{User: "user", Password: "pass"}, &net.Dialer{})
	require.NoError(t, err)
	c, err := good.(xproxy.ContextDialer).DialContext(context.Background(), "tcp", "localhost:"+strings.Split(up.Listener.Addr().String(), ":")[1])
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", getThrough(t, c, bufio.NewReader(c), "localhost"))
	require.NoError(t, c.Close())
	require.EqualValues(t, 1, s.AuthFailures())
	require.EqualValues(t, 1, s.Tunnels())
}

func TestFailRefuseClosesConnections(t *testing.T) {
	s := New(t, Options{Kind: HTTP})
	s.SetFail(FailRefuse)
	c, br := dialRaw(t, s)
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
	_ = c
	require.EqualValues(t, 1, s.Connections())
}

func TestStartErrors(t *testing.T) {
	_, err := Start(Options{Kind: SOCKS4, User: "u"})
	require.ErrorContains(t, err, "socks4 has no authentication")
	_, err = Start(Options{SourceIP: "not-an-ip"})
	require.ErrorContains(t, err, "invalid source ip")
	s, err := Start(Options{Kind: HTTP, User: "a", Password: "b"})
	require.NoError(t, err)
	require.Equal(t, "https://a:b@"+s.Addr(), s.URLWithScheme("https"))
	require.Equal(t, "http", HTTP.Scheme())
	require.Equal(t, "socks4", SOCKS4.Scheme())
	s.Close()
	s.Close() // idempotent
}

func TestFailForbidden(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    Kind
		request []byte
		want    string
	}{
		{"http", HTTP, []byte("CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"), "HTTP/1.1 403"},
		{"socks4", SOCKS4, []byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, "\x00\x5b"},
		{"socks5", SOCKS5, []byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80}, "\x05\x00\x05\x02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, Options{Kind: tc.kind})
			s.SetFail(FailForbidden)
			require.Equal(t, tc.want, string(exchange(t, s, tc.request, len(tc.want))))
			require.Zero(t, s.Tunnels())
		})
	}
}
