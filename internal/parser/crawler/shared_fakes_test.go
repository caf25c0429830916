package crawler

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
)

// fakeLeases is an in-memory Leases: leases never expire by themselves; expire and lose end them.
type fakeLeases struct {
	mu      sync.Mutex
	values  map[string]string
	records map[string]map[string]string
	leases  map[string]string                  // key -> token
	holds   map[string]context.CancelCauseFunc // token -> its Hold's cancel
	keep    bool                               // Release leaves the lease in place (its holder died)
	getErr  error                              // Get fails with it
	tokens  int
}

func newFakeLeases() *fakeLeases {
	return &fakeLeases{values: map[string]string{}, records: map[string]map[string]string{},
		leases: map[string]string{}, holds: map[string]context.CancelCauseFunc{}}
}

// TTL is short so that the waits for held ranges barely move the fake clocks of the parsers.
func (f *fakeLeases) TTL() time.Duration { return time.Millisecond }

func (f *fakeLeases) Acquire(_ context.Context, key string) (RangeLease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.leases[key]; ok {
		return nil, lease.ErrHeld
	}
	f.tokens++
	l := &fakeLease{f: f, key: key, token: "t" + strconv.Itoa(f.tokens)}
	f.leases[key] = l.token
	return l, nil
}

func (f *fakeLeases) Get(_ context.Context, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.values[key], f.getErr
}

func (f *fakeLeases) Swap(_ context.Context, key, old, value string, _ time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.values[key] != old {
		return false, nil
	}
	f.values[key] = value
	return true, nil
}

func (f *fakeLeases) Records(_ context.Context, keys []string) ([]map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]map[string]string, len(keys))
	for i, k := range keys {
		out[i] = map[string]string{}
		for fk, v := range f.records[k] {
			out[i][fk] = v
		}
	}
	return out, nil
}

// expire ends the lease at key as if its holder had stopped renewing it.
func (f *fakeLeases) expire(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.leases, key)
}

// lose ends the lease at key and tells its holder, as a failed renewal does.
func (f *fakeLeases) lose(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cancel := f.holds[f.leases[key]]; cancel != nil {
		cancel(lease.ErrLost)
	}
	delete(f.leases, key)
}

// leaseKeys returns the keys of the leases held now.
func (f *fakeLeases) leaseKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.leases {
		out = append(out, k)
	}
	return out
}

type fakeLease struct {
	f          *fakeLeases
	key, token string
}

func (l *fakeLease) Hold(ctx context.Context) context.Context {
	hctx, cancel := context.WithCancelCause(ctx)
	l.f.mu.Lock()
	l.f.holds[l.token] = cancel
	l.f.mu.Unlock()
	return hctx
}

func (l *fakeLease) Claim(_ context.Context, key string, _ time.Duration) (map[string]string, error) {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	before := map[string]string{}
	for k, v := range l.f.records[key] {
		if k != lease.OwnerField {
			before[k] = v
		}
	}
	if l.f.records[key] == nil {
		l.f.records[key] = map[string]string{}
	}
	l.f.records[key][lease.OwnerField] = l.token
	return before, nil
}

func (l *fakeLease) Save(_ context.Context, key string, fields map[string]string, _ time.Duration) error {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	if l.f.records[key][lease.OwnerField] != l.token {
		return lease.ErrLost
	}
	for k, v := range fields {
		l.f.records[key][k] = v
	}
	return nil
}

func (l *fakeLease) Release(context.Context) error {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	if cancel := l.f.holds[l.token]; cancel != nil {
		cancel(context.Canceled)
	}
	if l.f.keep {
		return nil
	}
	if l.f.leases[l.key] != l.token {
		return lease.ErrLost
	}
	delete(l.f.leases, l.key)
	return nil
}

// stallingMarket serves pages from a fakeMarket until stall says to stop at a query: that call then runs
// at (if set) and waits for its context to end without answering.
type stallingMarket struct {
	*fakeMarket
	mu      sync.Mutex
	stall   func(q ListingsQuery) bool
	at      func()
	stalled chan struct{}
	served  map[string]int // pages answered per "<from>-<to>/<cursor>"
}

func newStallingMarket(m *fakeMarket) *stallingMarket {
	return &stallingMarket{fakeMarket: m, stalled: make(chan struct{}, 1), served: map[string]int{}}
}

func (m *stallingMarket) MarketItems(ctx context.Context, q ListingsQuery) (ListingsPage, error) {
	m.mu.Lock()
	stall := m.stall != nil && m.stall(q)
	if stall {
		m.stall = nil
	}
	m.mu.Unlock()
	if stall {
		if m.at != nil {
			m.at()
		}
		m.stalled <- struct{}{}
		<-ctx.Done()
		return ListingsPage{}, ctx.Err()
	}
	p, err := m.fakeMarket.MarketItems(ctx, q)
	if err == nil {
		m.mu.Lock()
		m.served[Range{From: q.PriceFrom, To: q.PriceTo}.String()+"/"+q.Cursor]++
		m.mu.Unlock()
	}
	return p, err
}

// interrupt runs a cycle of c until the market stalls, then cancels it as a dying parser stops and
// returns the cycle's stats.
func (m *stallingMarket) interrupt(c *Crawler) CycleStats {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan CycleStats)
	go func() { done <- c.RunCycle(ctx) }()
	<-m.stalled
	cancel()
	return <-done
}

// twice returns the pages answered more than once.
func (m *stallingMarket) twice() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, n := range m.served {
		if n > 1 {
			out = append(out, k)
		}
	}
	return out
}

var errNoSharedCycle = errors.New("redis down")
