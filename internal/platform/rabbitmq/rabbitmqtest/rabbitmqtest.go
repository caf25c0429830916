// Package rabbitmqtest owns the helpers that integration tests use to get an isolated RabbitMQ: a fresh
// virtual host per test on the local broker, removed when the test ends, and a way to have the broker
// drop a test's connections.
package rabbitmqtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// EnvURL names the environment variable that overrides the base broker URL (default
// amqp://guest:guest@127.0.0.1:5672/). Its user must be the one granted permissions on new vhosts.
const EnvURL = "RABBITMQ_TEST_URL"

// EnvCtl names the environment variable that overrides the rabbitmqctl command (default rabbitmqctl).
const EnvCtl = "RABBITMQCTL"

const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// ctlTimeout bounds one rabbitmqctl run.
const ctlTimeout = time.Minute

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// NewVhost creates a unique virtual host on the local broker, grants the test user every permission on
// it and returns the AMQP URL that points to it. The vhost is deleted when the test ends. The test fails
// when rabbitmqctl is missing or fails: integration tests always run against a real broker.
func NewVhost(t testing.TB) string {
	t.Helper()
	base, err := url.Parse(envOr(EnvURL, defaultURL))
	if err != nil {
		t.Fatalf("rabbitmqtest: bad %s: %v", EnvURL, err)
	}
	user := "guest"
	if base.User != nil {
		user = base.User.Username()
	}
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	vhost := "test-" + name + "-" + hex.EncodeToString(rnd[:])

	Ctl(t, "add_vhost", vhost)
	t.Cleanup(func() {
		out, err := run("delete_vhost", vhost)
		if err != nil {
			t.Errorf("rabbitmqtest: delete_vhost %s: %v: %s", vhost, err, out)
		}
	})
	Ctl(t, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")

	u := *base
	u.Path = "/" + vhost
	u.RawPath = "/" + url.PathEscape(vhost)
	return u.String()
}

// VhostOf returns the vhost an AMQP URL from NewVhost points to.
func VhostOf(t testing.TB, amqpURL string) string {
	t.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatalf("rabbitmqtest: parse url: %v", err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// CloseConnections makes the broker close every client connection to vhost, as an operator or a broker
// restart would, and returns how many it closed.
func CloseConnections(t testing.TB, vhost string) int {
	t.Helper()
	out := Ctl(t, "list_connections", "-q", "--no-table-headers", "pid", "vhost")
	n := 0
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(strings.TrimSpace(line), "\t")
		if len(fields) != 2 || fields[1] != vhost {
			continue
		}
		// A connection may already be gone; that is not a failure.
		if _, err := run("close_connection", fields[0], "closed by test"); err == nil {
			n++
		}
	}
	return n
}

// Ctl runs rabbitmqctl with args and returns its output, failing the test on error.
func Ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := run(args...)
	if err != nil {
		t.Fatalf("rabbitmqtest: rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func run(args ...string) (string, error) {
	ctl := envOr(EnvCtl, "rabbitmqctl")
	path, err := exec.LookPath(ctl)
	if err != nil {
		return "", fmt.Errorf("%s not found (integration tests need a local RabbitMQ with rabbitmqctl): %w", ctl, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
