package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
)

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
