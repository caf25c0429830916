// Package netfaulttest owns an in-process TCP proxy that tests put between a client and a real service
// (RabbitMQ, Redis) to inject network faults: dropping every live connection at once, or refusing new
// ones for a while, without touching the service itself.
package netfaulttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ErrClosed is returned by operations on a closed Proxy.
var ErrClosed = errors.New("netfault: proxy closed")

// dialTimeout bounds how long the proxy waits for the target when a client connects.
const dialTimeout = 5 * time.Second

// Proxy forwards TCP connections accepted on a loopback port to a target address. It is safe for
// concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	refuse   atomic.Bool
	accepted atomic.Int64

	mu     sync.Mutex
	pairs  map[*pair]struct{}
	closed bool

	wg sync.WaitGroup
}

// pair is one proxied client connection and its upstream connection.
type pair struct {
	client, upstream net.Conn
	once             sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		_ = p.client.Close()
		_ = p.upstream.Close()
	})
}

// New starts a proxy listening on 127.0.0.1 on a free port that forwards to target (host:port).
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netfault: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, pairs: make(map[*pair]struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Start is New for a test: it fails the test when the proxy cannot listen and closes the proxy when the
// test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatalf("netfaulttest: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Addr returns the host:port clients should connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// CutAll closes every live proxied connection (both sides) and returns how many were cut. New
// connections are still accepted unless SetRefuse(true) was called.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	pairs := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		pairs = append(pairs, pr)
		delete(p.pairs, pr)
	}
	p.mu.Unlock()
	for _, pr := range pairs {
		pr.close()
	}
	return len(pairs)
}

// SetRefuse makes the proxy close new connections as soon as they are accepted while refuse is true.
// Live connections are left alone; combine with CutAll to simulate a broker outage.
func (p *Proxy) SetRefuse(refuse bool) { p.refuse.Store(refuse) }

// Live returns the number of proxied connections currently open.
func (p *Proxy) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// Accepted returns how many connections were forwarded to the target since the proxy started
// (refused ones are not counted).
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Close stops listening, cuts every live connection and waits for the proxy's goroutines to end.
// It returns ErrClosed when called twice.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.CutAll()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("netfault: close listener: %w", err)
	}
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed || p.refuse.Load() {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	upstream, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		_ = client.Close()
		return
	}
	pr := &pair{client: client, upstream: upstream}
	p.mu.Lock()
	if p.closed || p.refuse.Load() {
		p.mu.Unlock()
		pr.close()
		return
	}
	p.pairs[pr] = struct{}{}
	p.accepted.Add(1)
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	pr.close()
	<-done
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
}
