package redisdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// parsed is what the parse tests compare: the same fields of a single-node and of a cluster URL.
type parsed struct {
	addrs []string
	db    int
	pass  string
	tls   bool
}

// parse parses u with ParseClusterURL when cluster, else with ParseURL.
func parse(u string, cluster bool) (parsed, error) {
	if cluster {
		o, err := redisdb.ParseClusterURL(u)
		if err != nil {
			return parsed{}, err
		}
		return parsed{addrs: o.Addrs, pass: o.Password, tls: o.TLSConfig != nil}, nil
	}
	o, err := redisdb.ParseURL(u)
	if err != nil {
		return parsed{}, err
	}
	return parsed{addrs: []string{o.Addr}, db: o.DB, pass: o.Password, tls: o.TLSConfig != nil}, nil
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		cluster bool
		want    parsed
		wantErr string
	}{
		{name: "default", url: "redis://localhost:6379/0", want: parsed{addrs: []string{"localhost:6379"}}},
		{name: "password and db", url: "redis://:s3cr3t@redis:6380/3",
			want: parsed{addrs: []string{"redis:6380"}, db: 3, pass: "s3cr3t"}},
		{name: "tls", url: "rediss://u:pw@h/1", want: parsed{addrs: []string{"h:6379"}, db: 1, pass: "pw", tls: true}},
		{name: "unix", url: "unix:///tmp/redis.sock?db=2", want: parsed{addrs: []string{"/tmp/redis.sock"}, db: 2}},
		{name: "bad scheme", url: "http://:s3cr3t@h/0", wantErr: "scheme must be redis, rediss or unix"},
		{name: "bad db", url: "redis://:s3cr3t@h/abc", wantErr: "invalid database number"},
		{name: "bad db leaking password", url: "redis://:s3cr3t@h/s3cr3t", wantErr: "invalid database number"},
		{name: "unparsable", url: "redis://:s3cr3t@h:port/0", wantErr: "invalid port"},
		{name: "unparsable, slash in password", url: "redis://:s3cr3t/x@h/0", wantErr: "invalid"},
		{name: "password as user", url: "http://s3cr3t@h/0", wantErr: "scheme must be"},
		{name: "bad option", url: "redis://:s3cr3t@h/0?dial_timeout=s3cr3t", wantErr: "invalid dial_timeout duration"},
		{name: "cluster addr on a single node", url: "redis://:s3cr3t@h/0?addr=h2:1", wantErr: "unexpected option: addr"},

		{name: "local cluster", cluster: true, url: "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002",
			want: parsed{addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}}},
		{name: "cluster password, tls, database 0", cluster: true, url: "rediss://u:s3cr3t@h1:7000/0?addr=h2:7001",
			want: parsed{addrs: []string{"h1:7000", "h2:7001"}, pass: "s3cr3t", tls: true}},
		{name: "cluster default port", cluster: true, url: "redis://h1/?addr=h2:7001",
			want: parsed{addrs: []string{"h1:6379", "h2:7001"}}},
		{name: "cluster unix", cluster: true, url: "unix:///tmp/redis.sock?addr=h2:7001",
			wantErr: "scheme of a cluster must be redis or rediss"},
		{name: "cluster other database", cluster: true, url: "redis://:s3cr3t@h1:7000/3?addr=h2:7001",
			wantErr: `only database 0, not "3"`},
		{name: "cluster bad addr", cluster: true, url: "redis://:s3cr3t@h1:7000?addr=s3cr3t", wantErr: "unable to parse addr param"},
		{name: "cluster unknown option", cluster: true, url: "redis://:s3cr3t@h1:7000?addr=h2:1&db=s3cr3t",
			wantErr: "unexpected option: db"},
		{name: "cluster bad option", cluster: true, url: "redis://:s3cr3t@h1:7000?addr=h2:1&dial_timeout=s3cr3t",
			wantErr: "invalid dial_timeout"},
		{name: "cluster unparsable", cluster: true, url: "redis://:s3cr3t@h1:port?addr=h2:1", wantErr: "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.url, tt.cluster)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, redisdb.ErrInvalidURL)
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "s3cr3t")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// newWithOptions is redisdb.New of url with a pool of 7 and the client name "worker"; the client is
// closed when t ends.
func newWithOptions(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisdb.New(url, redisdb.WithPoolSize(7), redisdb.WithClientName("worker"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewOptions(t *testing.T) {
	c := newWithOptions(t, "redis://localhost:6379/0")
	single, ok := c.(*redis.Client)
	require.True(t, ok, "a URL without addr parameters gives a single-node client, got %T", c)
	o := single.Options()
	require.Equal(t, 7, o.PoolSize)
	require.Equal(t, "worker", o.ClientName)

	_, err := redisdb.New("redis://:pw@h/x")
	require.ErrorIs(t, err, redisdb.ErrInvalidURL)
}

func TestCheckUnreachableHidesPassword(t *testing.T) {
	for _, u := range []string{
		"redis://:s3cr3t@127.0.0.1:1/0?dial_timeout=200ms&max_retries=-1",
		"redis://:s3cr3t@127.0.0.1:1?addr=127.0.0.1:2&dial_timeout=200ms&dialer_retries=1&max_retries=-1",
	} {
		t.Run(redact.URLString(u), func(t *testing.T) {
			c, err := redisdb.New(u)
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = redisdb.Check(ctx, c)
			require.ErrorContains(t, err, "ping redis")
			require.NotContains(t, err.Error(), "s3cr3t")
			status, err := redisdb.HealthCheck(c)(ctx)
			require.Error(t, err)
			require.Equal(t, health.StatusUnhealthy, status)
		})
	}
}

func TestIsClusterURL(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{url: "redis://localhost:6379/0"},
		{url: "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", want: true},
		{url: "rediss://:pw@h:7000/?addr=h2:7001", want: true},
		{url: "redis://h:6379/0?dial_timeout=1s"},
		{url: "unix:///tmp/redis.sock?db=2"},
		{url: "redis://:pw@h:port?addr=h2:1"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			require.Equal(t, tt.want, redisdb.IsClusterURL(tt.url))
		})
	}
}

func TestNewCluster(t *testing.T) {
	c := newWithOptions(t, "redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002")
	cluster, ok := c.(*redis.ClusterClient)
	require.True(t, ok, "a URL with addr parameters gives a cluster client, got %T", c)
	o := cluster.Options()
	require.Equal(t, []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}, o.Addrs)
	require.Equal(t, 7, o.PoolSize)
	require.Equal(t, "worker", o.ClientName)
	require.Equal(t, "pw", o.Password)

	// Without options the URL's settings stay.
	c, err := redisdb.New("redis://127.0.0.1:7000?addr=127.0.0.1:7001&client_name=x&pool_size=3")
	require.NoError(t, err)
	defer c.Close()
	o = c.(*redis.ClusterClient).Options()
	require.Equal(t, "x", o.ClientName)
	require.Equal(t, 3, o.PoolSize)

	_, err = redisdb.New("redis://:s3cr3t@127.0.0.1:7000/2?addr=127.0.0.1:7001")
	require.ErrorIs(t, err, redisdb.ErrInvalidURL)
	require.NotContains(t, err.Error(), "s3cr3t")
}

func TestCheckHealthyOnBoth(t *testing.T) {
	redisdbtest.BothURL(t, func(t *testing.T, redisURL string) {
		c, err := redisdb.New(redisURL, redisdb.WithClientName("check"))
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, redisdb.Check(context.Background(), c))
		status, err := redisdb.HealthCheck(c)(context.Background())
		require.NoError(t, err)
		require.Equal(t, health.StatusHealthy, status)
	})
}

// fakeCluster is a Pinger whose masters are fixed: one of them fails its ping.
type fakeCluster struct {
	masters []*redis.Client
	pinged  bool
}

func (f *fakeCluster) Ping(ctx context.Context) *redis.StatusCmd {
	f.pinged = true
	return redis.NewStatusResult("PONG", nil)
}

func (f *fakeCluster) ForEachMaster(ctx context.Context, fn func(ctx context.Context, client *redis.Client) error) error {
	for _, m := range f.masters {
		if err := fn(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func TestCheckPingsEveryMaster(t *testing.T) {
	good := redisdbtest.New(t)
	down := redisdbtest.Unreachable(t)
	f := &fakeCluster{masters: []*redis.Client{good, down}}
	err := redisdb.Check(context.Background(), f)
	require.ErrorContains(t, err, "ping redis: 127.0.0.1:1")
	require.False(t, f.pinged, "a cluster is checked on its masters, not through one random node")

	f.masters = []*redis.Client{good, good}
	require.NoError(t, redisdb.Check(context.Background(), f))
}

func TestScanEach(t *testing.T) {
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		want := map[string]bool{}
		pipe := rdb.Pipeline()
		for i := range 600 {
			k := fmt.Sprintf("prices:dmarket:item %d", i)
			want[k] = true
			pipe.Set(ctx, k, i, 0)
			pipe.Set(ctx, fmt.Sprintf("orders:dmarket:item %d", i), i, 0)
		}
		_, err := pipe.Exec(ctx)
		require.NoError(t, err)

		var inFlight, maxInFlight atomic.Int32
		got := map[string]bool{}
		batches := 0
		err = redisdb.ScanEach(ctx, rdb, "prices:dmarket:*", 50, func(keys []string) error {
			maxInFlight.Store(max(maxInFlight.Load(), inFlight.Add(1)))
			defer inFlight.Add(-1)
			require.NotEmpty(t, keys)
			batches++
			for _, k := range keys {
				got[k] = true
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Greater(t, batches, 1)
		require.EqualValues(t, 1, maxInFlight.Load(), "fn is never called concurrently")

		// The first error of fn stops the walk and is returned; fn is not called again.
		errStop := errors.New("stop")
		calls := 0
		err = redisdb.ScanEach(ctx, rdb, "*", 10, func(keys []string) error {
			calls++
			return errStop
		})
		require.ErrorIs(t, err, errStop)
		require.Equal(t, 1, calls)

		// Nothing matches: fn is never called.
		err = redisdb.ScanEach(ctx, rdb, "nothing:*", 100, func(keys []string) error {
			t.Errorf("called with %v", keys)
			return nil
		})
		require.NoError(t, err)

		// A scan error is returned.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		err = redisdb.ScanEach(cancelled, rdb, "*", 100, func([]string) error { return nil })
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestKeyNamesStayAsInSpec checks that the keys of SPEC §5.2 keep their exact names on a single server and
// on a cluster: a client of New adds no prefix or hash tag, ScanEach finds them by those names, and on a
// cluster they spread over the masters by their own names. (The stores' key functions are checked against
// the layout in their own packages.)
func TestKeyNamesStayAsInSpec(t *testing.T) {
	titles := []string{"AK-47 | Redline (Field-Tested)", "Sticker | {Team} 2024", "★ Karambit | Doppler (Factory New)"}
	var want []string
	for _, title := range titles {
		want = append(want, "prices:dmarket:"+title, "orders:dmarket:"+title, "history:dmarket:"+title)
	}
	for _, game := range []string{"a8db", "9a92", "tf2", "rust"} {
		want = append(want, "fees:dmarket:"+game)
	}
	for i := range 20 {
		want = append(want, fmt.Sprintf("prices:dmarket:Case %d", i))
	}
	slices.Sort(want)

	redisdbtest.BothURL(t, func(t *testing.T, redisURL string) {
		ctx := context.Background()
		rdb, err := redisdb.New(redisURL)
		require.NoError(t, err)
		defer rdb.Close()
		for _, k := range want {
			require.NoError(t, rdb.Set(ctx, k, "x", 0).Err())
		}
		var got []string
		require.NoError(t, redisdb.ScanEach(ctx, rdb, "*", 100, func(keys []string) error {
			got = append(got, keys...)
			return nil
		}))
		slices.Sort(got)
		require.Equal(t, want, slices.Compact(got))

		cluster, ok := rdb.(*redis.ClusterClient)
		if !ok {
			return
		}
		var mu sync.Mutex
		holding := 0
		require.NoError(t, cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			n, err := node.DBSize(ctx).Result()
			mu.Lock()
			defer mu.Unlock()
			if n > 0 {
				holding++
			}
			return err
		}))
		require.Greater(t, holding, 1, "keys named as in §5.2 spread over the masters (no common hash tag)")
	})
}
