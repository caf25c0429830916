// Package lease shares work between parser processes through expiring Redis leases. A lease is one Redis
// STRING holding its owner's random token with an expiry: Acquire takes it with SET NX PX, Renew and
// Release compare the token before extending or deleting it, and Hold renews it in the background while
// the work runs, ending the work's context when a renewal fails. A holder may also keep the progress of
// its work in a record (a HASH) that names its owner, so that whoever takes the work over after the lease
// expired continues where the dead holder stopped and a holder that lost its lease cannot overwrite the
// progress of the new one. Store also keeps small shared values (Get, Swap) the holders agree on.
//
// Every script and command touches exactly one key, so the leases work unchanged on a Redis Cluster.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel errors.
var (
	// ErrHeld means the lease is held by another owner.
	ErrHeld = errors.New("lease held by another owner")
	// ErrLost means the lease (or the record it guards) is no longer this holder's: it expired and may
	// have been taken over.
	ErrLost = errors.New("lease lost")
)

// OwnerField is the record field that names the record's owner (a lease token).
const OwnerField = "owner"

// MinTTL is the shortest lease Store accepts.
const MinTTL = 10 * time.Millisecond

// Client is the part of go-redis the leases use; redis.UniversalClient implements it.
type Client interface {
	redis.Scripter
	SetArgs(ctx context.Context, key string, value any, a redis.SetArgs) *redis.StatusCmd
	Get(ctx context.Context, key string) *redis.StringCmd
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// Clock waits between renewals; clock.Real implements it.
type Clock interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// renewScript extends KEYS[1] to ARGV[2] ms when it holds the token ARGV[1].
var renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes KEYS[1] when it holds the token ARGV[1].
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// claimScript makes ARGV[1] the owner of the record KEYS[1], sets its expiry to ARGV[2] ms and returns
// its fields as they were.
var claimScript = redis.NewScript(`local before = redis.call("HGETALL", KEYS[1])
redis.call("HSET", KEYS[1], "owner", ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return before`)

// saveScript writes the field/value pairs ARGV[3..] to the record KEYS[1] and sets its expiry to ARGV[2]
// ms when ARGV[1] owns it.
var saveScript = redis.NewScript(`if redis.call("HGET", KEYS[1], "owner") ~= ARGV[1] then
  return 0
end
if #ARGV > 2 then
  redis.call("HSET", KEYS[1], unpack(ARGV, 3))
end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1`)

// swapScript sets KEYS[1] to ARGV[2] with an expiry of ARGV[3] ms when it holds ARGV[1] (an empty ARGV[1]
// stands for a missing key).
var swapScript = redis.NewScript(`local v = redis.call("GET", KEYS[1])
if (v == false and ARGV[1] == "") or v == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
  return 1
end
return 0`)

// Store hands out leases of one duration.
type Store struct {
	rdb   Client
	ttl   time.Duration
	clock Clock
}

// New returns a store of leases that last ttl unless renewed; clk paces the background renewals.
func New(rdb Client, ttl time.Duration, clk Clock) (*Store, error) {
	if ttl < MinTTL {
		return nil, fmt.Errorf("lease: ttl %v is below %v", ttl, MinTTL)
	}
	return &Store{rdb: rdb, ttl: ttl, clock: clk}, nil
}

// TTL returns how long a lease lasts without renewal.
func (s *Store) TTL() time.Duration { return s.ttl }

// RenewEvery returns the pause between two background renewals of a held lease: a third of the TTL, so
// that one failed round trip does not lose it.
func (s *Store) RenewEvery() time.Duration { return s.ttl / 3 }

// Acquire takes the lease at key for a new owner; ErrHeld when another owner holds it.
func (s *Store) Acquire(ctx context.Context, key string) (*Lease, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	err = s.rdb.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: s.ttl}).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, ErrHeld
	case err != nil:
		return nil, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	return &Lease{store: s, key: key, token: token}, nil
}

// Get returns the shared value at key, "" when there is none.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	v, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	return v, nil
}

// Swap replaces the shared value at key with value, expiring after ttl, when it is still old ("" for
// none); it reports whether it did.
func (s *Store) Swap(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	n, err := swapScript.Run(ctx, s.rdb, []string{key}, old, value, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("swap %s: %w", key, err)
	}
	return n == 1, nil
}

// Records returns the fields of the records at keys (an empty map for a missing one), read in one
// pipeline of single-key commands.
func (s *Store) Records(ctx context.Context, keys []string) ([]map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d records: %w", len(keys), err)
	}
	out := make([]map[string]string, len(keys))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Lease is a held lease. Its methods are safe for concurrent use.
type Lease struct {
	store *Store
	key   string
	token string
	// halt stops the background renewal; set by Hold.
	mu   sync.Mutex
	halt context.CancelCauseFunc
}

// Key returns the lease's key.
func (l *Lease) Key() string { return l.key }

// Token returns the owner token the lease holds.
func (l *Lease) Token() string { return l.token }

// Renew extends the lease by the store's TTL; ErrLost when it is no longer held.
func (l *Lease) Renew(ctx context.Context) error {
	n, err := renewScript.Run(ctx, l.store.rdb, []string{l.key}, l.token, l.store.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	if n != 1 {
		return fmt.Errorf("renew lease %s: %w", l.key, ErrLost)
	}
	return nil
}

// Release stops the background renewal and gives the lease up; ErrLost when it was no longer held.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.halt != nil {
		l.halt(context.Canceled)
	}
	l.mu.Unlock()
	n, err := releaseScript.Run(ctx, l.store.rdb, []string{l.key}, l.token).Int()
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	if n != 1 {
		return fmt.Errorf("release lease %s: %w", l.key, ErrLost)
	}
	return nil
}

// Hold renews the lease in the background, every RenewEvery on the store's clock, until Release or until
// ctx ends. The returned context ends then too, or as soon as a renewal fails: its cause is then an error
// wrapping ErrLost. Hold is called at most once per lease.
func (l *Lease) Hold(ctx context.Context) context.Context {
	hctx, cancel := context.WithCancelCause(ctx)
	l.mu.Lock()
	l.halt = cancel
	l.mu.Unlock()
	go func() {
		for {
			if err := l.store.clock.Sleep(hctx, l.store.RenewEvery()); err != nil || hctx.Err() != nil {
				return
			}
			if err := l.Renew(hctx); err != nil {
				if hctx.Err() != nil {
					return
				}
				if !errors.Is(err, ErrLost) {
					err = fmt.Errorf("%w: %w", ErrLost, err)
				}
				cancel(err)
				return
			}
		}
	}()
	return hctx
}

// Claim makes this holder the owner of the record at key, expiring after ttl, and returns the record's
// fields as they were (empty for a new record), so that the holder continues the previous owner's work.
func (l *Lease) Claim(ctx context.Context, key string, ttl time.Duration) (map[string]string, error) {
	vals, err := claimScript.Run(ctx, l.store.rdb, []string{key}, l.token, ttl.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim record %s: %w", key, err)
	}
	out := make(map[string]string, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		out[vals[i]] = vals[i+1]
	}
	delete(out, OwnerField)
	return out, nil
}

// Save writes fields to the record at key and sets its expiry to ttl when this holder still owns it;
// ErrLost when another holder claimed it since.
func (l *Lease) Save(ctx context.Context, key string, fields map[string]string, ttl time.Duration) error {
	args := make([]any, 0, 2+2*len(fields))
	args = append(args, l.token, ttl.Milliseconds())
	for k, v := range fields {
		if k != OwnerField {
			args = append(args, k, v)
		}
	}
	n, err := saveScript.Run(ctx, l.store.rdb, []string{key}, args...).Int()
	if err != nil {
		return fmt.Errorf("save record %s: %w", key, err)
	}
	if n != 1 {
		return fmt.Errorf("save record %s: %w", key, ErrLost)
	}
	return nil
}

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
