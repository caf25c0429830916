package dmarket

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChainWrapsTheFirstLayerOutermost(t *testing.T) {
	var trace []string
	named := func(name string) layer {
		return func(next sender) sender {
			return func(ctx context.Context, tr try) reply {
				trace = append(trace, name+" in")
				r := next(ctx, tr)
				trace = append(trace, name+" out")
				return r
			}
		}
	}
	send := chain(func(context.Context, try) reply {
		trace = append(trace, "exchange")
		return reply{status: 200}
	}, named("outer"), named("inner"))
	r := send(context.Background(), try{})
	require.Equal(t, 200, r.status)
	require.Equal(t, []string{"outer in", "inner in", "exchange", "inner out", "outer out"}, trace)
}
