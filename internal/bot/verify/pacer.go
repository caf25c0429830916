package verify

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
)

// Clock tells the time and waits; clock.Real and *clocktest.Fake implement it.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// throttlePause is how long the pacer gives out no slot after DMarket answered 429.
const throttlePause = time.Second

// Pacer spaces requests evenly at a fixed rate and serves urgent requests (re-checks before a
// notification) before background ones: a background request only takes a slot that is free now while
// no urgent request waits, so it never makes an urgent one wait longer than one interval. It is safe for
// concurrent use.
type Pacer struct {
	clk      Clock
	interval time.Duration

	mu     sync.Mutex
	next   time.Time // the earliest free slot
	urgent int       // urgent requests waiting for a slot
}

// NewPacer returns a pacer of perSecond requests per second (> 0).
func NewPacer(perSecond float64, clk Clock) (*Pacer, error) {
	if perSecond <= 0 || clk == nil {
		return nil, fmt.Errorf("new pacer: rate %v must be > 0 and the clock set", perSecond)
	}
	return &Pacer{clk: clk, interval: time.Duration(float64(time.Second) / perSecond)}, nil
}

// Interval is the time between two slots.
func (p *Pacer) Interval() time.Duration { return p.interval }

// Wait returns when the caller may send one request, or ctx's error when ctx ends first.
func (p *Pacer) Wait(ctx context.Context, urgent bool) error {
	if urgent {
		p.mu.Lock()
		p.urgent++
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.urgent--
			p.mu.Unlock()
		}()
	}
	for {
		p.mu.Lock()
		now := p.clk.Now()
		free := !p.next.After(now)
		if urgent || (free && p.urgent == 0) {
			slot := now
			if !free {
				slot = p.next
			}
			p.next = slot.Add(p.interval)
			p.mu.Unlock()
			return p.clk.Sleep(ctx, slot.Sub(now))
		}
		wait := p.interval
		if !free {
			wait = p.next.Sub(now)
		}
		p.mu.Unlock()
		if err := p.clk.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Throttled pushes the next slot at least throttlePause away: DMarket answered 429.
func (p *Pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pause := p.clk.Now().Add(throttlePause); pause.After(p.next) {
		p.next = pause
	}
}

type urgentKey struct{}

// Urgent marks ctx's requests as urgent for the Egress's pacer.
func Urgent(ctx context.Context) context.Context { return context.WithValue(ctx, urgentKey{}, true) }

func isUrgent(ctx context.Context) bool {
	u, _ := ctx.Value(urgentKey{}).(bool)
	return u
}

// Egress sends the bot's DMarket requests through the host's own connection, every attempt (retries
// included, signed or not) paced by one Pacer: the re-checks spend exactly BOT_VERIFY_RATE.
type Egress struct {
	client *http.Client
	pacer  *Pacer
}

// NewEgress returns an egress sending through client, paced by pacer.
func NewEgress(client *http.Client, pacer *Pacer) *Egress {
	if client == nil {
		client = http.DefaultClient
	}
	return &Egress{client: client, pacer: pacer}
}

var _ dmarket.Egress = (*Egress)(nil)

// Acquire waits for a slot of the pacer (urgent when ctx was marked with Urgent).
func (e *Egress) Acquire(ctx context.Context, _ bool) (dmarket.Lease, error) {
	if err := e.pacer.Wait(ctx, isUrgent(ctx)); err != nil {
		return nil, fmt.Errorf("acquire verify egress: %w", err)
	}
	return lease{e}, nil
}

type lease struct{ e *Egress }

// Do sends req.
func (l lease) Do(req *http.Request) (*http.Response, error) { return l.e.client.Do(req) }

// Release slows the pacer down after a 429.
func (l lease) Release(o dmarket.Outcome) {
	if o == dmarket.Throttled {
		l.e.pacer.Throttled()
	}
}

// Name is dmarket.DirectEgressName.
func (lease) Name() string { return dmarket.DirectEgressName }
