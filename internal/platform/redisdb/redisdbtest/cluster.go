package redisdbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
)

// Cluster parameters. A Redis Cluster has only database 0, so a test holds the whole cluster: it takes
// ClusterLockKey (in database 0 of the single test server, EnvURL, since FLUSHALL on the cluster would
// remove a lock kept there), and every master is flushed before and after the test.
const (
	// EnvClusterURL names the variable that overrides the test cluster's URL (go-redis' cluster form).
	EnvClusterURL = "REDIS_CLUSTER_URL"
	// DefaultClusterURL is the cluster `bash scripts/redis-cluster.sh start` runs (its `url` command).
	DefaultClusterURL = "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"
	// EnvClusterRequired names the variable that, set to 1, makes an unreachable cluster fail the test
	// instead of skipping it (scripts/test.sh sets it).
	EnvClusterRequired = "REDIS_CLUSTER_REQUIRED"
	// ClusterLockKey is the key of the single test server's database 0 that holds the cluster.
	ClusterLockKey = "redisdbtest:lock:cluster"
	// ClusterNextKey names the one process waiting for the cluster that takes it next, so that a package
	// running many cluster tests in a row does not starve the others.
	ClusterNextKey = "redisdbtest:lock:cluster:next"
	// ClusterWaitTimeout is how long NewCluster waits for the cluster before failing the test.
	ClusterWaitTimeout = 5 * time.Minute
	// nextTTL is how long a waiter stays next without polling again.
	nextTTL = 2 * time.Second
	// clusterProbeTimeout bounds the reachability check of the cluster.
	clusterProbeTimeout = 5 * time.Second
)

// takeCluster takes the lock KEYS[1] for token ARGV[1] with expiry ARGV[2] ms when it is free and no other
// waiter is next (KEYS[2]); otherwise it makes the caller the next waiter (for ARGV[3] ms) if no one is, and
// returns 0.
var takeCluster = redis.NewScript(`
local next = redis.call("GET", KEYS[2])
if redis.call("EXISTS", KEYS[1]) == 0 and (not next or next == ARGV[1]) then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  if next then redis.call("DEL", KEYS[2]) end
  return 1
end
if not next or next == ARGV[1] then redis.call("SET", KEYS[2], ARGV[1], "PX", ARGV[3]) end
return 0`)

// NewCluster returns a client of the test Redis Cluster (EnvClusterURL, else DefaultClusterURL), held by t
// alone and empty at the start; every master is flushed, the cluster released and the client closed when
// t ends. When the cluster is not reachable the test is skipped, or fails when EnvClusterRequired is 1.
func NewCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(reserveCluster(t))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClusterURL reserves the test cluster for t like NewCluster and returns its URL, for code under test that
// dials from REDIS_URL itself.
func ClusterURL(t testing.TB) string {
	t.Helper()
	reserveCluster(t)
	return clusterURL()
}

// Both runs body as the subtests "single", on a database of its own on the single test server (New), and
// "cluster", on the test cluster (NewCluster).
func Both(t *testing.T, body func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	t.Run("single", func(t *testing.T) { body(t, New(t)) })
	t.Run("cluster", func(t *testing.T) { body(t, NewCluster(t)) })
}

// BothURL is Both for code under test that dials from REDIS_URL itself: body gets the URL of a reserved
// database (URL) or of the reserved cluster (ClusterURL).
func BothURL(t *testing.T, body func(t *testing.T, redisURL string)) {
	t.Helper()
	t.Run("single", func(t *testing.T) { body(t, URL(t)) })
	t.Run("cluster", func(t *testing.T) { body(t, ClusterURL(t)) })
}

func clusterURL() string {
	if s := os.Getenv(EnvClusterURL); s != "" {
		return s
	}
	return DefaultClusterURL
}

// reserveCluster takes the cluster for t, checks that it answers, flushes it and registers the release.
// It returns the cluster's options. The check comes after the lock, so that a cluster restarted by a
// holder of the lock is never seen down.
func reserveCluster(t testing.TB) *redis.ClusterOptions {
	t.Helper()
	opts, err := redisdb.ParseClusterURL(clusterURL())
	if err != nil {
		t.Fatalf("redisdbtest: parse %s: %v", EnvClusterURL, err)
	}
	ctl, _ := lockServer(t)
	ctx := context.Background()
	token := newToken()
	if err := lockCluster(ctx, ctl, ClusterLockKey, ClusterNextKey, token, ClusterWaitTimeout); err != nil {
		_ = ctl.Close()
		t.Fatalf("redisdbtest: %v", err)
	}
	if err := probeCluster(opts); err != nil {
		_ = release.Run(ctx, ctl, []string{ClusterLockKey}, token).Err()
		_ = ctl.Close()
		where := redact.URLString(clusterURL())
		if os.Getenv(EnvClusterRequired) == "1" {
			t.Fatalf("redisdbtest: Redis Cluster at %s is not reachable (%s=1): %v", where, EnvClusterRequired, err)
		}
		t.Skipf("redisdbtest: Redis Cluster at %s is not reachable (%v); start it with `bash scripts/redis-cluster.sh start` "+
			"or set %s (%s=1 makes this a failure)", where, err, EnvClusterURL, EnvClusterRequired)
	}
	c := redis.NewClusterClient(opts)
	hold(t, ctl, ClusterLockKey, token, "the cluster",
		func(ctx context.Context) error { return flushAll(ctx, c) },
		func() { _ = c.Close() })
	return opts
}

// probeCluster checks that every master of the cluster answers and that the cluster serves all its slots.
func probeCluster(opts *redis.ClusterOptions) error {
	o := *opts
	o.DialTimeout = time.Second
	o.DialerRetries = 1
	o.MaxRetries = -1
	o.MaxRedirects = -1
	c := redis.NewClusterClient(&o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), clusterProbeTimeout)
	defer cancel()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return errors.New("cluster_state is not ok")
	}
	return redisdb.Check(ctx, c)
}

// lockCluster takes the cluster lock (lockKey, with nextKey naming the next waiter) for token, waiting up
// to wait.
func lockCluster(ctx context.Context, ctl *redis.Client, lockKey, nextKey, token string, wait time.Duration) error {
	got, err := poll(wait, func() (bool, error) {
		return takeCluster.Run(ctx, ctl, []string{lockKey, nextKey}, token,
			LockTTL.Milliseconds(), nextTTL.Milliseconds()).Bool()
	})
	if err != nil {
		return fmt.Errorf("lock the cluster: %w", err)
	}
	if !got {
		return fmt.Errorf("the cluster is still held by another test after %s (%s in %s)", wait, lockKey, EnvURL)
	}
	return nil
}

// flushAll empties every master of the cluster.
func flushAll(ctx context.Context, c *redis.ClusterClient) error {
	return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if err := node.FlushAll(ctx).Err(); err != nil {
			return fmt.Errorf("%s: %w", node.Options().Addr, err)
		}
		return nil
	})
}

// Server is one kind of Redis the tests run on, with a constructor giving a fresh, isolated client per
// call.
type Server struct {
	Name   string
	Client func(t testing.TB) redis.UniversalClient
}

// Servers returns the single server (a database of its own per client) and the local cluster. Use it
// where a test needs a fresh client per call, such as a contract suite's factory run once per case; Both
// gives one client per subtest.
func Servers() []Server {
	return []Server{
		{Name: "single", Client: func(t testing.TB) redis.UniversalClient { return New(t) }},
		{Name: "cluster", Client: func(t testing.TB) redis.UniversalClient { return NewCluster(t) }},
	}
}

// EachServer runs body in a subtest per server of Servers, named after it, for a test that draws fresh
// clients of the server as it needs them (a contract suite's factory).
func EachServer(t *testing.T, body func(t *testing.T, srv Server)) {
	t.Helper()
	for _, srv := range Servers() {
		t.Run(srv.Name, func(t *testing.T) { body(t, srv) })
	}
}
