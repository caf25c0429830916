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
	require.Equal(t, http.StatusTeapot, egresstest.Get(t, l, srv.URL))
	l.Release(dmarket.Success)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = eg.Acquire(ctx, false)
	require.ErrorIs(t, err, context.Canceled)
}
