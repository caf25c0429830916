// Package redisdb owns the Redis connection of every binary: building a go-redis client from REDIS_URL
// without ever exposing its password, the health check the ops server reports as component "redis", and
// the key scan that walks every node holding keys.
//
// REDIS_URL names either one Redis server (redis://, rediss:// or unix://, with a database number) or a
// Redis Cluster in go-redis' cluster form: redis://host:port?addr=host2:port2&addr=host3:port3, each addr
// parameter one more seed node (SPEC §9.3). New returns a redis.UniversalClient for both; code that needs
// to reach every node (SCAN, health) goes through ScanEach and Check, which handle both.
package redisdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// ClusterParam is the query parameter that makes a REDIS_URL name a Redis Cluster: each occurrence adds
// one seed node to the one in the URL's host part.
const ClusterParam = "addr"

// Sentinel errors.
var (
	// ErrInvalidURL means REDIS_URL cannot be used; the wrapping error says why, without the password.
	ErrInvalidURL = errors.New("invalid redis url")
)

// settings are the client settings the options adjust, applied to a single-node and a cluster client
// alike.
type settings struct {
	poolSize   int
	clientName string
}

// apply sets the client options' fields the settings name.
func (s settings) apply(poolSize *int, clientName *string) {
	if s.poolSize != 0 {
		*poolSize = s.poolSize
	}
	if s.clientName != "" {
		*clientName = s.clientName
	}
}

// Option adjusts the client settings derived from the URL.
type Option func(*settings)

// WithPoolSize sets the connection pool size (per node on a cluster); 0 keeps the URL's or go-redis'
// default.
func WithPoolSize(n int) Option { return func(s *settings) { s.poolSize = n } }

// WithClientName sets the name the connections announce with CLIENT SETNAME; "" keeps the URL's.
func WithClientName(name string) Option { return func(s *settings) { s.clientName = name } }

// IsClusterURL reports whether rawURL names a Redis Cluster, i.e. carries at least one ClusterParam
// query parameter. A URL that does not parse is not a cluster URL (ParseURL reports why).
func IsClusterURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has(ClusterParam)
}

// ParseURL returns the client options of a single-node redis://, rediss:// or unix:// URL. Errors wrap
// ErrInvalidURL and never contain the password.
func ParseURL(rawURL string) (*redis.Options, error) {
	u, err := parseScheme(rawURL, "redis", "rediss", "unix")
	if err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, invalid(rawURL, "%s", redact.URLSecrets(u).String(err.Error()))
	}
	return opts, nil
}

// ParseClusterURL returns the cluster options of a redis:// or rediss:// URL in go-redis' cluster form
// (redis://host:port?addr=host2:port2&addr=host3:port3). A cluster has only database 0, so a URL naming
// another database is refused rather than silently served from database 0. Errors wrap ErrInvalidURL and
// never contain the password.
func ParseClusterURL(rawURL string) (*redis.ClusterOptions, error) {
	u, err := parseScheme(rawURL, "redis", "rediss")
	if err != nil {
		return nil, err
	}
	switch u.Path {
	case "", "/", "/0":
	default:
		return nil, invalid(rawURL, "a cluster has only database 0, not %q", u.Path[1:])
	}
	opts, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, invalid(rawURL, "%s", redact.URLSecrets(u).String(err.Error()))
	}
	return opts, nil
}

// parseScheme parses rawURL and checks its scheme against schemes.
func parseScheme(rawURL string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidURL, redact.URLString(rawURL), redact.ParseError(rawURL, err))
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return u, nil
		}
	}
	if len(schemes) == 2 {
		return nil, invalid(rawURL, "scheme of a cluster must be redis or rediss")
	}
	return nil, invalid(rawURL, "scheme must be redis, rediss or unix")
}

// invalid returns an ErrInvalidURL error naming rawURL without its password.
func invalid(rawURL, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidURL, redact.URLString(rawURL), fmt.Sprintf(format, args...))
}

// New returns a client for rawURL (REDIS_URL): a *redis.ClusterClient when the URL is in the cluster form
// (IsClusterURL), a *redis.Client otherwise. It does not connect: an unreachable Redis is reported by
// Check, not here.
func New(rawURL string, opts ...Option) (redis.UniversalClient, error) {
	var s settings
	for _, opt := range opts {
		opt(&s)
	}
	if IsClusterURL(rawURL) {
		o, err := ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		s.apply(&o.PoolSize, &o.ClientName)
		return redis.NewClusterClient(o), nil
	}
	o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s.apply(&o.PoolSize, &o.ClientName)
	return redis.NewClient(o), nil
}

// Pinger is the part of a Redis client Check needs.
type Pinger interface {
	Ping(ctx context.Context) *redis.StatusCmd
}

// masterWalker is the part of a cluster client that reaches every master.
type masterWalker interface {
	ForEachMaster(ctx context.Context, fn func(ctx context.Context, client *redis.Client) error) error
}

// Check pings Redis and returns nil when it answers; on a cluster client every master must answer. The
// error never contains the password.
func Check(ctx context.Context, c Pinger) error {
	var err error
	if mw, ok := c.(masterWalker); ok {
		err = mw.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			if err := node.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("%s: %w", node.Options().Addr, err)
			}
			return nil
		})
	} else {
		err = c.Ping(ctx).Err()
	}
	if err != nil {
		return fmt.Errorf("ping redis: %w", redact.Error(err))
	}
	return nil
}

// HealthCheck adapts Check to a health check: healthy when Redis answers, unhealthy otherwise.
func HealthCheck(c Pinger) health.CheckFunc {
	return func(ctx context.Context) (health.Status, error) {
		if err := Check(ctx, c); err != nil {
			return health.StatusUnhealthy, err
		}
		return health.StatusHealthy, nil
	}
}

// Scanner is the part of a Redis client ScanEach needs. A client that also has ForEachMaster (a
// *redis.ClusterClient) is scanned on every master.
type Scanner interface {
	Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd
}

// ScanEach walks every key matching match with SCAN (count is its COUNT hint) and calls fn with each
// non-empty batch of keys. On a cluster client it scans every master (concurrently), since a SCAN sent
// through the cluster client reaches one node only; fn is never called concurrently. The first error of
// fn or of a scan stops the walk and is returned. A key may be reported twice (SCAN's guarantee), and keys
// written during the walk may be missed.
func ScanEach(ctx context.Context, rdb Scanner, match string, count int64, fn func(keys []string) error) error {
	mw, ok := rdb.(masterWalker)
	if !ok {
		return scanNode(ctx, rdb, match, count, fn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		if first == nil {
			first = err
			cancel()
		}
	}
	walkErr := mw.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		err := scanNode(ctx, node, match, count, func(keys []string) error {
			mu.Lock()
			defer mu.Unlock()
			if first != nil {
				return first
			}
			if err := fn(keys); err != nil {
				fail(err)
				return err
			}
			return nil
		})
		if err != nil {
			mu.Lock()
			fail(fmt.Errorf("on %s: %w", node.Options().Addr, err))
			mu.Unlock()
		}
		return err
	})
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return first
	}
	if walkErr != nil {
		return fmt.Errorf("scan %s: %w", match, redact.Error(walkErr))
	}
	return nil
}

// scanNode runs the SCAN loop on one node.
func scanNode(ctx context.Context, rdb Scanner, match string, count int64, fn func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, match, count).Result()
		if err != nil {
			return fmt.Errorf("scan %s: %w", match, err)
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
