// Package redisdbtest owns the Redis databases tests use: each test gets a database of its own on the
// local Redis (numbers 1..15; 0 holds the allocation locks), emptied before use and after the test, so
// that tests of several packages run concurrently without seeing each other's keys.
//
// A database is held through a lock key "redisdbtest:lock:<n>" in DB 0 set with SET NX and an expiry that
// is refreshed while the test runs, so a crashed test process frees its database within LockTTL. When
// every database is taken, New waits (up to WaitTimeout) for one to be freed.
//
// The server is REDIS_TEST_URL when set (a redis:// URL whose database part is ignored), else
// redis://127.0.0.1:6379.
//
// Tests on a Redis Cluster (SPEC §9.3) use NewCluster or ClusterURL: the local cluster of
// `bash scripts/redis-cluster.sh start` (or REDIS_CLUSTER_URL), held by one test at a time across
// processes and flushed on every master before and after it. Both and BothURL run a test body on a single
// database and on the cluster. Without a reachable cluster these tests are skipped, unless
// REDIS_CLUSTER_REQUIRED=1 (scripts/test.sh, CI), which makes them fail.
package redisdbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Allocation parameters.
const (
	// FirstDB is the lowest database number handed out.
	FirstDB = 1
	// LastDB is the highest database number handed out.
	LastDB = 15
	// LockTTL is how long a lock outlives a test process that died without releasing it.
	LockTTL = 60 * time.Second
	// WaitTimeout is how long New waits for a free database before failing the test.
	WaitTimeout = 3 * time.Minute
	// EnvURL names the variable that overrides the test server.
	EnvURL = "REDIS_TEST_URL"
	// DefaultURL is the test server when EnvURL is unset.
	DefaultURL = "redis://127.0.0.1:6379"
)

// LockKey returns the DB 0 key that holds database db.
func LockKey(db int) string { return "redisdbtest:lock:" + strconv.Itoa(db) }

// release deletes the lock only when it still holds our token.
var release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// refresh extends the lock only when it still holds our token.
var refresh = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// New returns a client of a database reserved for t, empty at the start. The database is flushed and
// released, and the client closed, when t ends.
func New(t testing.TB) *redis.Client {
	t.Helper()
	db, opts := reserve(t)
	o := *opts
	o.DB = db
	c := redis.NewClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// URL reserves a database for t like New and returns its redis:// URL, for code under test that dials
// from REDIS_URL itself.
func URL(t testing.TB) string {
	t.Helper()
	db, _ := reserve(t)
	u, err := url.Parse(serverURL())
	if err != nil {
		t.Fatalf("redisdbtest: %s: %v", EnvURL, err)
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

// Unreachable returns a client of an address where no server listens, failing every command at once
// (no retries), for the error paths of code under test; it is closed when t ends.
func Unreachable(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// DB returns the database number a client of New uses.
func DB(c *redis.Client) int { return c.Options().DB }

func serverURL() string {
	if s := os.Getenv(EnvURL); s != "" {
		return s
	}
	return DefaultURL
}

// reserve takes a free database for t and registers its release. It returns the database number and the
// server's options.
func reserve(t testing.TB) (int, *redis.Options) {
	t.Helper()
	ctl, opts := lockServer(t)
	ctx := context.Background()

	token := newToken()
	db, err := acquire(ctx, ctl, token, WaitTimeout)
	if err != nil {
		_ = ctl.Close()
		t.Fatalf("redisdbtest: %v", err)
	}

	dbOpts := *opts
	dbOpts.DB = db
	dbClient := redis.NewClient(&dbOpts)
	hold(t, ctl, LockKey(db), token, fmt.Sprintf("db %d", db),
		func(ctx context.Context) error { return dbClient.FlushDB(ctx).Err() },
		func() { _ = dbClient.Close() })
	return db, opts
}

// hold empties what the lock key (held by token) guards with flush, keeps the lock alive while t runs, and
// when t ends flushes again, calls closeFlusher, releases the lock and closes ctl. A failing flush at the
// start releases everything and fails t. what names the guarded thing in messages.
func hold(t testing.TB, ctl *redis.Client, key, token, what string, flush func(context.Context) error, closeFlusher func()) {
	t.Helper()
	ctx := context.Background()
	if err := flush(ctx); err != nil {
		closeFlusher()
		_ = release.Run(ctx, ctl, []string{key}, token).Err()
		_ = ctl.Close()
		t.Fatalf("redisdbtest: flush %s: %v", what, err)
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepAlive(ctl, key, token, LockTTL/3, stop)
	}()

	t.Cleanup(func() {
		close(stop)
		<-done
		if err := flush(ctx); err != nil {
			t.Errorf("redisdbtest: flush %s after the test: %v", what, err)
		}
		closeFlusher()
		if err := release.Run(ctx, ctl, []string{key}, token).Err(); err != nil {
			t.Errorf("redisdbtest: release %s: %v", what, err)
		}
		_ = ctl.Close()
	})
}

// acquire takes the first free database, waiting for one up to wait.
func acquire(ctx context.Context, ctl *redis.Client, token string, wait time.Duration) (int, error) {
	db := 0
	got, err := poll(wait, func() (bool, error) {
		for n := FirstDB; n <= LastDB; n++ {
			ok, err := ctl.SetNX(ctx, LockKey(n), token, LockTTL).Result()
			if err != nil {
				return false, fmt.Errorf("lock db %d: %w", n, err)
			}
			if ok {
				db = n
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	if !got {
		return 0, fmt.Errorf("no free database among %d..%d after %s", FirstDB, LastDB, wait)
	}
	return db, nil
}

// poll calls try until it reports success or an error, or wait has passed (then it returns false). Another
// process holds what try wants; there is no event to wait on across processes, so it polls with a growing
// interval.
func poll(wait time.Duration, try func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(wait)
	backoff := 20 * time.Millisecond
	for {
		ok, err := try()
		if err != nil || ok {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// lockServer returns a client of database 0 of the single test server, where the locks are, and the
// server's options, failing t when the server does not answer.
func lockServer(t testing.TB) (*redis.Client, *redis.Options) {
	t.Helper()
	opts, err := redis.ParseURL(serverURL())
	if err != nil {
		t.Fatalf("redisdbtest: parse %s: %v", EnvURL, err)
	}
	opts.DB = 0
	ctl := redis.NewClient(opts)
	if err := ctl.Ping(context.Background()).Err(); err != nil {
		_ = ctl.Close()
		t.Fatalf("redisdbtest: Redis at %s is not reachable (start it or set %s): %v", opts.Addr, EnvURL, err)
	}
	return ctl, opts
}

// keepAlive extends the lock key to LockTTL every interval until stop is closed.
func keepAlive(ctl *redis.Client, key, token string, every time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			_ = refresh.Run(context.Background(), ctl, []string{key}, token, LockTTL.Milliseconds()).Err()
		}
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
