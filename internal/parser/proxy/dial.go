package proxy

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
	"strconv"
	"time"

	xproxy "golang.org/x/net/proxy"
)

// ContextDialer dials a network address, as net.Dialer does.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Resolver looks up the IP addresses of a host; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Dial errors. Every error of a dialer returned by (Proxy).Dialer wraps ErrEgress, so that a caller can
// tell a failing egress from a failing API.
var (
	// ErrEgress marks a failure to reach the target through the egress (proxy unreachable, refused,
	// authentication failed, handshake broken).
	ErrEgress = errors.New("egress failure")
	// ErrProxyAuth means the proxy rejected the credentials (or required some).
	ErrProxyAuth = errors.New("proxy authentication failed")
	// ErrProxyRefused means the proxy refused to connect to the target (e.g. HTTP 403).
	ErrProxyRefused = errors.New("proxy refused the connection")
	// ErrSOCKS4IPv6 means the SOCKS4 target resolves to no IPv4 address.
	ErrSOCKS4IPv6 = errors.New("socks4 needs an IPv4 target address")
)

// Dialer returns a dialer that connects to targets through p. forward dials the proxy itself
// (a *net.Dialer with a timeout, typically); resolver resolves SOCKS4 targets locally (nil uses
// net.DefaultResolver). HTTP and HTTPS proxies tunnel every connection with CONNECT.
func (p Proxy) Dialer(forward *net.Dialer, resolver Resolver) ContextDialer {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	var d ContextDialer
	switch p.scheme {
	case SchemeSOCKS4:
		d = &socks4Dialer{proxy: p, forward: forward, resolver: resolver}
	case SchemeSOCKS5:
		var auth *xproxy.Auth
		if p.hasAuth {
			auth = &xproxy.Auth{User: p.user, Password: p.password}
		}
		// SOCKS5 never fails to build for a tcp network and its dialer supports contexts; the error
		// path is kept for safety.
		sd, err := xproxy.SOCKS5("tcp", p.Addr(), auth, forward)
		if err != nil {
			return failingDialer{err: fmt.Errorf("socks5 dialer: %w", err)}
		}
		cd, ok := sd.(ContextDialer)
		if !ok {
			return failingDialer{err: errors.New("socks5 dialer without context support")}
		}
		d = cd
	default:
		d = &connectDialer{proxy: p, forward: forward}
	}
	return egressDialer{name: p.Name(), d: d}
}

// egressDialer marks every dial error with ErrEgress and the proxy's name. It also keeps the errors of
// x/net/proxy, which quote only addresses, free of credentials.
type egressDialer struct {
	name string
	d    ContextDialer
}

func (e egressDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := e.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &DialError{Proxy: e.name, Err: err}
	}
	return c, nil
}

// DialError is a failure to connect through a proxy. It wraps ErrEgress and the cause.
type DialError struct {
	// Proxy is the proxy's Name.
	Proxy string
	// Err is the cause.
	Err error
}

// Error says which proxy failed and why.
func (e *DialError) Error() string { return "dial through " + e.Proxy + ": " + e.Err.Error() }

// Unwrap returns ErrEgress and the cause.
func (e *DialError) Unwrap() []error { return []error{ErrEgress, e.Err} }

type failingDialer struct{ err error }

func (f failingDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, f.err
}

// handshake runs fn on c bounded by ctx: the connection's deadline follows ctx's and a cancellation
// interrupts blocked reads and writes.
func handshake(ctx context.Context, c net.Conn, fn func() error) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	err := fn()
	if !stop() || ctx.Err() != nil {
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}
	if err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

// connectDialer tunnels through an HTTP proxy with CONNECT.
type connectDialer struct {
	proxy   Proxy
	forward *net.Dialer
}

func (d *connectDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("http proxy cannot dial network %q", network)
	}
	c, err := d.forward.DialContext(ctx, "tcp", d.proxy.Addr())
	if err != nil {
		return nil, err
	}
	var br *bufio.Reader
	err = handshake(ctx, c, func() error {
		req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
		if d.proxy.hasAuth {
			cred := base64.StdEncoding.EncodeToString([]byte(d.proxy.user + ":" + d.proxy.password))
			req += "Proxy-Authorization: Basic " + cred + "\r\n"
		}
		req += "\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			return fmt.Errorf("send CONNECT: %w", err)
		}
		br = bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			return fmt.Errorf("read CONNECT response: %w", err)
		}
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusProxyAuthRequired:
			return fmt.Errorf("%w: CONNECT answered %d", ErrProxyAuth, resp.StatusCode)
		case resp.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: CONNECT answered %d", ErrProxyRefused, resp.StatusCode)
		default:
			return fmt.Errorf("CONNECT answered %d", resp.StatusCode)
		}
	})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// bufferedConn reads first what the handshake's reader already buffered.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// socks4Dialer speaks SOCKS4 CONNECT with an empty user id, resolving the target locally to IPv4.
type socks4Dialer struct {
	proxy    Proxy
	forward  *net.Dialer
	resolver Resolver
}

// SOCKS4 reply codes.
const (
	socks4Granted        = 0x5a
	socks4Rejected       = 0x5b
	socks4IdentdMissing  = 0x5c
	socks4IdentdMismatch = 0x5d
)

func (d *socks4Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("socks4 cannot dial network %q", network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("socks4 target: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("socks4 target port %q: %w", portStr, err)
	}
	ip, err := d.resolveIPv4(ctx, host)
	if err != nil {
		return nil, err
	}
	c, err := d.forward.DialContext(ctx, "tcp", d.proxy.Addr())
	if err != nil {
		return nil, err
	}
	err = handshake(ctx, c, func() error {
		req := make([]byte, 0, 9)
		req = append(req, 4, 1)
		req = binary.BigEndian.AppendUint16(req, uint16(port)) //nolint:gosec // ParseUint bounded it to 16 bits
		req = append(req, ip...)
		req = append(req, 0) // empty user id
		if _, err := c.Write(req); err != nil {
			return fmt.Errorf("send socks4 request: %w", err)
		}
		var resp [8]byte
		if _, err := io.ReadFull(c, resp[:]); err != nil {
			return fmt.Errorf("read socks4 reply: %w", err)
		}
		if resp[0] != 0 {
			return fmt.Errorf("socks4 reply version %d, want 0", resp[0])
		}
		switch resp[1] {
		case socks4Granted:
			return nil
		case socks4Rejected:
			return fmt.Errorf("%w: socks4 request rejected or failed", ErrProxyRefused)
		case socks4IdentdMissing, socks4IdentdMismatch:
			return fmt.Errorf("%w: socks4 identd check failed (code %#x)", ErrProxyAuth, resp[1])
		default:
			return fmt.Errorf("socks4 unknown reply code %#x", resp[1])
		}
	})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (d *socks4Dialer) resolveIPv4(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			return v4, nil
		}
		return nil, ErrSOCKS4IPv6
	}
	addrs, err := d.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("socks4 resolve target: %w", err)
	}
	for _, a := range addrs {
		if v4 := a.IP.To4(); v4 != nil {
			return v4, nil
		}
	}
	return nil, ErrSOCKS4IPv6
}
