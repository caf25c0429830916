package crawler

import (
	"context"
	"net/http"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy"
)

// PoolEgress lets the DMarket client send through the proxy pool.
type PoolEgress struct{ pool *proxy.Pool }

// NewPoolEgress returns p as the DMarket client's egress.
func NewPoolEgress(p *proxy.Pool) PoolEgress { return PoolEgress{pool: p} }

// Acquire takes an egress from the pool.
func (p PoolEgress) Acquire(ctx context.Context, limited bool) (dmarket.Lease, error) {
	l, err := p.pool.Acquire(ctx, limited)
	if err != nil {
		return nil, err
	}
	return poolLease{l}, nil
}

type poolLease struct{ l *proxy.Lease }

func (p poolLease) Do(req *http.Request) (*http.Response, error) { return p.l.Do(req) }
func (p poolLease) Name() string                                 { return p.l.Name() }

func (p poolLease) Release(o dmarket.Outcome) {
	switch o {
	case dmarket.Success:
		p.l.Release(proxy.Success)
	case dmarket.Throttled:
		p.l.Release(proxy.Throttled)
	case dmarket.EgressFailure:
		p.l.Release(proxy.EgressFailure)
	default:
		p.l.Release(proxy.APIError)
	}
}
