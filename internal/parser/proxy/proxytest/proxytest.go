// Package proxytest owns in-process proxy servers for tests and benchmarks: HTTP CONNECT (with
// optional basic authentication), SOCKS4 and SOCKS5 (with optional user/password). Each server can
// bind its outgoing connections to a chosen loopback source address, so that a server behind several
// proxies sees distinct client IPs, counts its connections and can be switched to fail.
package proxytest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kind is the protocol a Server speaks.
type Kind int

// The protocols of a Server.
const (
	// HTTP is an HTTP proxy that tunnels with CONNECT.
	HTTP Kind = iota
	// SOCKS4 is a SOCKS4 proxy (SOCKS4a host names accepted).
	SOCKS4
	// SOCKS5 is a SOCKS5 proxy.
	SOCKS5
)

// Scheme returns the proxy file scheme of the kind.
func (k Kind) Scheme() string {
	switch k {
	case SOCKS4:
		return "socks4"
	case SOCKS5:
		return "socks5"
	default:
		return "http"
	}
}

// FailMode makes a Server fail on purpose.
type FailMode int32

// The failure modes of a Server.
const (
	// FailNone serves normally.
	FailNone FailMode = iota
	// FailRefuse closes every accepted connection at once.
	FailRefuse
	// FailForbidden answers every request with a refusal: HTTP 403, SOCKS4 0x5b, SOCKS5 0x02.
	FailForbidden
)

// Options configure a Server.
type Options struct {
	// Kind is the protocol.
	Kind Kind
	// User and Password, when User is set, are required from clients (not supported by SOCKS4).
	User, Password string
	// SourceIP, when set, is the local address of the outgoing connections (e.g. 127.0.0.2).
	SourceIP string
	// DialTimeout bounds outgoing connections (default 5s).
	DialTimeout time.Duration
}

// Server is a running test proxy.
type Server struct {
	opts   Options
	ln     net.Listener
	dialer net.Dialer

	fail        atomic.Int32
	connections atomic.Int64
	tunnels     atomic.Int64
	authFails   atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Kind == SOCKS4 && opts.User != "" {
		return nil, errors.New("socks4 has no authentication")
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{opts: opts, ln: ln, conns: make(map[net.Conn]struct{})}
	s.dialer.Timeout = opts.DialTimeout
	if opts.SourceIP != "" {
		ip := net.ParseIP(opts.SourceIP)
		if ip == nil {
			_ = ln.Close()
			return nil, fmt.Errorf("invalid source ip %q", opts.SourceIP)
		}
		s.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// New starts a Server and closes it when tb ends; it fails tb on error.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("start test proxy: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr returns the listening host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the proxy's line for a proxy file, with its credentials if any.
func (s *Server) URL() string {
	u := url.URL{Scheme: s.opts.Kind.Scheme(), Host: s.Addr()}
	if s.opts.User != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	return u.String()
}

// URLWithScheme returns URL with another scheme (e.g. "https" for an HTTP CONNECT proxy).
func (s *Server) URLWithScheme(scheme string) string {
	u, _ := url.Parse(s.URL())
	u.Scheme = scheme
	return u.String()
}

// Name returns scheme://host:port as the proxy package names the proxy.
func (s *Server) Name() string { return s.opts.Kind.Scheme() + "://" + s.Addr() }

// SetFail switches the failure mode.
func (s *Server) SetFail(m FailMode) { s.fail.Store(int32(m)) }

// Connections returns the number of accepted client connections.
func (s *Server) Connections() int64 { return s.connections.Load() }

// Tunnels returns the number of successfully established tunnels.
func (s *Server) Tunnels() int64 { return s.tunnels.Load() }

// AuthFailures returns the number of rejected credentials.
func (s *Server) AuthFailures() int64 { return s.authFails.Load() }

// Close stops the server and closes its open connections.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connections.Add(1)
		if FailMode(s.fail.Load()) == FailRefuse {
			_ = c.Close()
			continue
		}
		if !s.track(c) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c)
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var up net.Conn
	var err error
	switch s.opts.Kind {
	case SOCKS4:
		up, err = s.socks4(c, br)
	case SOCKS5:
		up, err = s.socks5(c, br)
	default:
		up, err = s.httpConnect(c, br)
	}
	if err != nil || up == nil {
		return
	}
	if !s.track(up) {
		return
	}
	defer s.untrack(up)
	_ = c.SetDeadline(time.Time{})
	s.tunnels.Add(1)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); closeWrite(up); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = c.Close()
}

func (s *Server) dial(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.DialTimeout)
	defer cancel()
	return s.dialer.DialContext(ctx, "tcp", addr)
}

func (s *Server) httpConnect(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	reply := func(code int, extra string) {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", code, http.StatusText(code), extra)
	}
	if req.Method != http.MethodConnect {
		reply(http.StatusMethodNotAllowed, "")
		return nil, errors.New("not CONNECT")
	}
	if s.opts.User != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.opts.User+":"+s.opts.Password))
		if req.Header.Get("Proxy-Authorization") != want {
			s.authFails.Add(1)
			reply(http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"proxytest\"\r\n")
			return nil, errors.New("bad credentials")
		}
	}
	if FailMode(s.fail.Load()) == FailForbidden {
		reply(http.StatusForbidden, "")
		return nil, errors.New("forbidden")
	}
	up, err := s.dial(req.Host)
	if err != nil {
		reply(http.StatusBadGateway, "")
		return nil, err
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = up.Close()
		return nil, err
	}
	return up, nil
}

func (s *Server) socks4(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	if _, err := br.ReadString(0); err != nil { // user id
		return nil, err
	}
	reply := func(code byte) { _, _ = c.Write([]byte{0, code, 0, 0, 0, 0, 0, 0}) }
	if hdr[0] != 4 || hdr[1] != 1 {
		reply(0x5b)
		return nil, errors.New("bad socks4 request")
	}
	port := binary.BigEndian.Uint16(hdr[2:4])
	host := net.IP(hdr[4:8]).String()
	if hdr[4] == 0 && hdr[5] == 0 && hdr[6] == 0 && hdr[7] != 0 { // SOCKS4a
		name, err := br.ReadString(0)
		if err != nil {
			return nil, err
		}
		host = name[:len(name)-1]
	}
	if FailMode(s.fail.Load()) == FailForbidden {
		reply(0x5b)
		return nil, errors.New("forbidden")
	}
	up, err := s.dial(net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		reply(0x5b)
		return nil, err
	}
	reply(0x5a)
	return up, nil
}

func (s *Server) socks5(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	if err := s.socks5Auth(c, br); err != nil {
		return nil, err
	}
	reply := func(code byte) { _, _ = c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}) }
	target, code, err := readSOCKS5Target(br)
	if err != nil {
		if code != 0 {
			reply(code)
		}
		return nil, err
	}
	if FailMode(s.fail.Load()) == FailForbidden {
		reply(0x02)
		return nil, errors.New("forbidden")
	}
	up, err := s.dial(target)
	if err != nil {
		reply(0x05)
		return nil, err
	}
	reply(0x00)
	return up, nil
}

// socks5Auth negotiates the method (user/password when the server has a user, none otherwise) and
// checks the credentials.
func (s *Server) socks5Auth(c net.Conn, br *bufio.Reader) error {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return err
	}
	if hdr[0] != 5 {
		return errors.New("bad socks5 version")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return err
	}
	want := byte(0x00)
	if s.opts.User != "" {
		want = 0x02
	}
	if !slices.Contains(methods, want) {
		// Count before answering: a client that saw the refusal must find it counted.
		if want == 0x02 {
			s.authFails.Add(1)
		}
		_, _ = c.Write([]byte{5, 0xff})
		return errors.New("no acceptable method")
	}
	if _, err := c.Write([]byte{5, want}); err != nil {
		return err
	}
	if want != 0x02 {
		return nil
	}
	user, pass, err := readUserPass(br)
	if err != nil {
		return err
	}
	if user != s.opts.User || pass != s.opts.Password {
		s.authFails.Add(1)
		_, _ = c.Write([]byte{1, 1})
		return errors.New("bad credentials")
	}
	_, err = c.Write([]byte{1, 0})
	return err
}

// readSOCKS5Target reads a CONNECT request and returns its host:port. A request the server refuses
// comes with the reply code to send (0 when the connection broke).
func readSOCKS5Target(br *bufio.Reader) (string, byte, error) {
	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return "", 0, err
	}
	if req[0] != 5 || req[1] != 1 {
		return "", 0x07, errors.New("unsupported socks5 command")
	}
	var host string
	switch req[3] {
	case 1, 4:
		ip := make([]byte, 4)
		if req[3] == 4 {
			ip = make([]byte, 16)
		}
		if _, err := io.ReadFull(br, ip); err != nil {
			return "", 0, err
		}
		host = net.IP(ip).String()
	case 3:
		name, err := readByteString(br)
		if err != nil {
			return "", 0, err
		}
		host = name
	default:
		return "", 0x08, errors.New("bad address type")
	}
	var pb [2]byte
	if _, err := io.ReadFull(br, pb[:]); err != nil {
		return "", 0, err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb[:])))), 0, nil
}

// readByteString reads a string preceded by its length in one byte.
func readByteString(br *bufio.Reader) (string, error) {
	n, err := br.ReadByte()
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(br, b)
	return string(b), err
}

func readUserPass(br *bufio.Reader) (string, string, error) {
	ver, err := br.ReadByte()
	if err != nil {
		return "", "", err
	}
	if ver != 1 {
		return "", "", errors.New("bad auth version")
	}
	user, err := readByteString(br)
	if err != nil {
		return "", "", err
	}
	pass, err := readByteString(br)
	return user, pass, err
}
