package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binDir holds the binaries built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dmarket-monitor-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "../../cmd/...")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// proc is a running binary.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// start runs binary name with env (on top of a minimal environment) and stops it when the test ends.
func start(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

// stop sends SIGTERM and returns how long the process took to exit and its exit code.
func (p *proc) stop(t *testing.T, within time.Duration) (time.Duration, int) {
	t.Helper()
	begin := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not stop within %s after SIGTERM", p.name, within)
	}
	return time.Since(begin), p.cmd.ProcessState.ExitCode()
}

// exited reports whether the process ended on its own.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// freeAddr returns a loopback address with a port free at the time of the call. The port is drawn below
// the kernel's ephemeral range (32768–60999 here), where listeners on port 0 and outgoing connections
// never land, so it stays free until the binary binds it.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 1000 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		require.NoError(t, l.Close())
		return addr
	}
	t.Fatal("no free port between 20000 and 32000")
	return ""
}

// status GETs url and returns its status code (0 when unreachable) and body.
func status(url string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// awaitStatus waits until url answers want.
func awaitStatus(t *testing.T, p *proc, url string, want int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		if p != nil && p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.out.String(), 3000))
		}
		code, _ := status(url)
		return code == want
	}, within, 20*time.Millisecond, "%s never answered %d", url, want)
}

// requireNoSecrets fails when any secret appears in the process output.
func requireNoSecrets(t *testing.T, p *proc, secrets ...string) {
	t.Helper()
	out := p.out.String()
	for _, s := range secrets {
		require.False(t, strings.Contains(out, s), "%s logged a secret", p.name)
	}
}
