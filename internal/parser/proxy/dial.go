package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
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
