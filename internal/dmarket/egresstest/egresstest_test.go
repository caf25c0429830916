package egresstest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/egresstest"
)

func TestDirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer srv.Close()
	eg := egresstest.Direct(nil)
	l, err := eg.Acquire(context.Background(), true)
	require.NoError(t, err)
	require.Equal(t, dmarket.DirectEgressName, l.Name())
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := l.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusTeapot, resp.StatusCode)
	l.Release(dmarket.Success)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = eg.Acquire(ctx, false)
	require.ErrorIs(t, err, context.Canceled)
}
