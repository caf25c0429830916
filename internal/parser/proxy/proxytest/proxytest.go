// Package proxytest owns in-process proxy servers for tests and benchmarks: HTTP CONNECT (with
// optional basic authentication), SOCKS4 and SOCKS5 (with optional user/password). Each server can
// bind its outgoing connections to a chosen loopback source address, so that a server behind several
// proxies sees distinct client IPs, counts its connections and can be switched to fail. WriteFile and
// Rewrite write proxy files for the pool.
package proxytest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
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
