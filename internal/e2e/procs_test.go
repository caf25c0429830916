package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging/loggingtest"
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

// proc is a running binary.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *loggingtest.Buffer
	done chan struct{}
	err  error
}

// start runs binary name with env (on top of a minimal environment) and stops it when the test ends.
func start(t testing.TB, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{name: name, cmd: cmd, out: &loggingtest.Buffer{}, done: make(chan struct{})}
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
func (p *proc) stop(t testing.TB, within time.Duration) (time.Duration, int) {
	t.Helper()
	begin := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.awaitExit(t, within, "after SIGTERM")
	return time.Since(begin), p.cmd.ProcessState.ExitCode()
}

// awaitExit waits until the process has ended and fails the test when that takes longer than within;
// after says what it was waiting after, for the failure message.
func (p *proc) awaitExit(t testing.TB, within time.Duration, after string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %s %s", p.name, within, after)
	}
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

// requireRunning fails the test, with the end of the process's output, when the process has ended.
func (p *proc) requireRunning(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.out.String(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// merged returns the entries of every map, a later map's value winning over an earlier one's.
func merged(envs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, env := range envs {
		maps.Copy(out, env)
	}
	return out
}

// crawlEnv is the environment that has the parser crawl the DMarket API (or simulator) at apiURL with the
// simulator's demo keys, directly (no proxy file).
func crawlEnv(apiURL string) map[string]string {
	pub, sec := dmarkettest.DemoKeys()
	return map[string]string{"DMARKET_API_URL": apiURL, "DMARKET_PUBLIC_KEY": pub, "DMARKET_SECRET_KEY": sec,
		"DMARKET_PROXIES_FILE": "/nonexistent"}
}

// opsListening matches the ops server's start log line, in the text and the JSON log format, and
// captures its address.
var opsListening = regexp.MustCompile(`ops server listening[^\n]*?addr\W+(127\.0\.0\.1:\d+)`)

// serve starts binary name with its ops server on a port the kernel picks (HTTP_ADDR 127.0.0.1:0, so
// that no other process can take the port between its choice and the bind) and returns the process and
// the ops base URL read from its log. The log level must include info.
func serve(t testing.TB, name string, env map[string]string) (*proc, string) {
	t.Helper()
	p := start(t, name, merged(env, map[string]string{"HTTP_ADDR": "127.0.0.1:0"}))
	var addr string
	require.Eventually(t, func() bool {
		p.requireRunning(t)
		m := opsListening.FindStringSubmatch(p.out.String())
		if m == nil {
			return false
		}
		addr = m[1]
		return true
	}, 30*time.Second, 10*time.Millisecond, "%s never logged its ops address", name)
	return p, "http://" + addr
}

// get GETs url, with the Accept header accept when it is not empty, and returns the status code and
// the body.
func get(url, accept string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// status GETs url and returns its status code (0 when unreachable) and body.
func status(url string) (int, string) {
	code, body, _ := get(url, "")
	return code, string(body)
}

// awaitStatus waits until url answers want.
func awaitStatus(t testing.TB, p *proc, url string, want int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		if p != nil {
			p.requireRunning(t)
		}
		code, _ := status(url)
		return code == want
	}, within, 20*time.Millisecond, "%s never answered %d", url, want)
}

// healthReport is the /health answer.
type healthReport struct {
	Status     string `json:"status"`
	Components []struct {
		Name      string   `json:"name"`
		Status    string   `json:"status"`
		LatencyMS *float64 `json:"latency_ms"`
		Error     string   `json:"error"`
		CheckedAt string   `json:"checked_at"`
	} `json:"components"`
}

// component returns the status and error of a component ("" when absent).
func (h healthReport) component(name string) (status, errText string) {
	for _, c := range h.Components {
		if c.Name == name {
			return c.Status, c.Error
		}
	}
	return "", ""
}

// health GETs base+"/health" and returns its status code (0 when unreachable), its decoded report
// and its body.
func health(t *testing.T, base string) (int, healthReport, string) {
	t.Helper()
	code, body := status(base + "/health")
	var h healthReport
	if code != 0 {
		require.NoError(t, json.Unmarshal([]byte(body), &h), body)
	}
	return code, h, body
}

// awaitUnready waits until p's /readyz answers 503 and checks that /health then answers 503 with the
// overall status and each of components unhealthy. It returns the report.
func awaitUnready(t *testing.T, p *proc, base string, components ...string) healthReport {
	t.Helper()
	awaitStatus(t, p, base+"/readyz", 503, 30*time.Second)
	code, h, body := health(t, base)
	require.Equal(t, 503, code, body)
	require.Equal(t, "unhealthy", h.Status, body)
	for _, c := range components {
		st, _ := h.component(c)
		require.Equal(t, "unhealthy", st, "%s: %s", c, body)
	}
	return h
}

// requireNoSecrets fails when any secret appears in the process output.
func requireNoSecrets(t *testing.T, p *proc, secrets ...string) {
	t.Helper()
	out := p.out.String()
	for _, s := range secrets {
		require.False(t, strings.Contains(out, s), "%s logged a secret", p.name)
	}
}
