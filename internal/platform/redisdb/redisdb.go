// Package redisdb owns the Redis connection of every binary: building a go-redis client from REDIS_URL
// without ever exposing its password, and the health check the ops server reports as component "redis".
package redisdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// Sentinel errors.
var (
	// ErrInvalidURL means REDIS_URL cannot be used; the wrapping error says why, without the password.
	ErrInvalidURL = errors.New("invalid redis url")
)

// Option adjusts the client options derived from the URL.
type Option func(*redis.Options)

// WithPoolSize sets the connection pool size.
func WithPoolSize(n int) Option { return func(o *redis.Options) { o.PoolSize = n } }

// WithClientName sets the name the connections announce with CLIENT SETNAME.
func WithClientName(name string) Option { return func(o *redis.Options) { o.ClientName = name } }

// ParseURL returns the client options of a redis://, rediss:// or unix:// URL. Errors wrap ErrInvalidURL
// and never contain the password.
func ParseURL(rawURL string) (*redis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %s", ErrInvalidURL, redact.URLString(rawURL), redact.ParseError(rawURL, err))
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return nil, fmt.Errorf("%w %q: scheme must be redis, rediss or unix", ErrInvalidURL, redact.URLString(rawURL))
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %s", ErrInvalidURL, redact.URLString(rawURL), redact.URLSecrets(u).String(err.Error()))
	}
	return opts, nil
}

// New returns a client for rawURL (REDIS_URL). It does not connect: an unreachable Redis is reported by
// Check, not here.
func New(rawURL string, opts ...Option) (*redis.Client, error) {
	o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	for _, opt := range opts {
		opt(o)
	}
	return redis.NewClient(o), nil
}

// Pinger is the part of a Redis client Check needs.
type Pinger interface {
	Ping(ctx context.Context) *redis.StatusCmd
}

// Check pings Redis and returns nil when it answers. The error never contains the password.
func Check(ctx context.Context, c Pinger) error {
	if err := c.Ping(ctx).Err(); err != nil {
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
