// Package egresstest gives tests outside package dmarket a dmarket.Egress that sends every request
// straight through one http.Client, with no proxy and no per-IP pacing. (dmarkettest cannot hold it:
// dmarket's own tests import dmarkettest, so it must not import dmarket.)
package egresstest

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
)

// Direct returns an Egress whose leases send through client (http.DefaultClient when nil) and are
// named dmarket.DirectEgressName.
func Direct(client *http.Client) dmarket.Egress {
	if client == nil {
		client = http.DefaultClient
	}
	return direct{client: client}
}

type direct struct{ client *http.Client }

// Acquire hands out a lease at once unless ctx has ended.
func (d direct) Acquire(ctx context.Context, _ bool) (dmarket.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("acquire direct egress: %w", err)
	}
	return d, nil
}

// Do sends req through the client.
func (d direct) Do(req *http.Request) (*http.Response, error) { return d.client.Do(req) }

// Release does nothing: the direct connection keeps no state.
func (direct) Release(dmarket.Outcome) {}

// Name is dmarket.DirectEgressName.
func (direct) Name() string { return dmarket.DirectEgressName }

// Get sends a GET of url through l and closes the answer's body; it returns the answer's status code
// and fails t on any error.
func Get(t testing.TB, l dmarket.Lease, url string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := l.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}
