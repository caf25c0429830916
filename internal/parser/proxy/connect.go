package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
)

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
