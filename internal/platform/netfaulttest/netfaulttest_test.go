package netfaulttest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer accepts connections and echoes every line back until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dialEcho(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c, bufio.NewReader(c)
}

func roundTrip(c net.Conn, r *bufio.Reader, line string) (string, error) {
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

// expectClosed asserts that the peer closed c: a read ends with an error instead of data.
func expectClosed(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	_, _ = c.Write([]byte("after\n"))
	_, err := r.ReadString('\n')
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection should be closed, not timed out: %v", err)
}

func TestProxyForwards(t *testing.T) {
	p := Start(t, echoServer(t))
	require.Equal(t, "127.0.0.1", p.Addr()[:len("127.0.0.1")])
	c, r := dialEcho(t, p.Addr())
	for _, line := range []string{"hello", "world", "ünïcode"} {
		got, err := roundTrip(c, r, line)
		require.NoError(t, err)
		require.Equal(t, line, got)
	}
	require.Equal(t, 1, p.Live())
	require.Equal(t, 1, p.Accepted())
	require.NotEmpty(t, p.Target())
}

func TestCutAll(t *testing.T) {
	p := Start(t, echoServer(t))
	type client struct {
		c net.Conn
		r *bufio.Reader
	}
	var clients []client
	for range 3 {
		c, r := dialEcho(t, p.Addr())
		_, err := roundTrip(c, r, "ping")
		require.NoError(t, err)
		clients = append(clients, client{c, r})
	}
	require.Equal(t, 3, p.Live())
	require.Equal(t, 3, p.CutAll())
	require.Equal(t, 0, p.Live())
	for _, cl := range clients {
		expectClosed(t, cl.c, cl.r)
	}
	// New connections still work after a cut.
	c, r := dialEcho(t, p.Addr())
	got, err := roundTrip(c, r, "again")
	require.NoError(t, err)
	require.Equal(t, "again", got)
	require.Equal(t, 4, p.Accepted())
}

func TestSetRefuse(t *testing.T) {
	p := Start(t, echoServer(t))
	live, liveR := dialEcho(t, p.Addr())
	_, err := roundTrip(live, liveR, "before")
	require.NoError(t, err)

	p.SetRefuse(true)
	refused, refusedR := dialEcho(t, p.Addr())
	expectClosed(t, refused, refusedR)
	// The connection opened before refusing keeps working.
	got, err := roundTrip(live, liveR, "still")
	require.NoError(t, err)
	require.Equal(t, "still", got)

	p.SetRefuse(false)
	c, r := dialEcho(t, p.Addr())
	got, err = roundTrip(c, r, "back")
	require.NoError(t, err)
	require.Equal(t, "back", got)
	require.Equal(t, 2, p.Accepted())
}

func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	target := ln.Addr().String()
	require.NoError(t, ln.Close())

	p := Start(t, target)
	c, r := dialEcho(t, p.Addr())
	expectClosed(t, c, r)
	require.Equal(t, 0, p.Accepted())
}

func TestClose(t *testing.T) {
	p, err := New(echoServer(t))
	require.NoError(t, err)
	c, r := dialEcho(t, p.Addr())
	_, err = roundTrip(c, r, "x")
	require.NoError(t, err)

	require.NoError(t, p.Close())
	expectClosed(t, c, r)
	require.ErrorIs(t, p.Close(), ErrClosed)
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	require.Error(t, err, "listener must be closed")
}

func TestStartClosesWhenTheTestEnds(t *testing.T) {
	target := echoServer(t)
	var p *Proxy
	t.Run("uses the proxy", func(t *testing.T) {
		p = Start(t, target)
		c, r := dialEcho(t, p.Addr())
		got, err := roundTrip(c, r, "hi")
		require.NoError(t, err)
		require.Equal(t, "hi", got)
	})
	require.ErrorIs(t, p.Close(), ErrClosed, "closed by the subtest's cleanup")
}
