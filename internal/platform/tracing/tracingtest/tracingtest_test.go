package tracingtest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCollector(t *testing.T) {
	c := NewCollector(t)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{name: "spans", method: http.MethodPost, path: SpansPath, body: `[{"traceId":"0000000000000001","id":"0000000000000002","name":"a"},{"traceId":"0000000000000001","id":"0000000000000003","name":"b"}]`, want: http.StatusAccepted},
		{name: "another span a", method: http.MethodPost, path: SpansPath, body: `[{"traceId":"0000000000000001","id":"0000000000000004","name":"a"}]`, want: http.StatusAccepted},
		{name: "wrong path", method: http.MethodPost, path: "/api/v1/spans", body: `[]`, want: http.StatusNotFound},
		{name: "wrong method", method: http.MethodGet, path: SpansPath, want: http.StatusNotFound},
		{name: "not spans", method: http.MethodPost, path: SpansPath, body: `{`, want: http.StatusBadRequest},
	}
	for _, tc := range tests {
		req, err := http.NewRequest(tc.method, strings.TrimSuffix(c.URL(), SpansPath)+tc.path, strings.NewReader(tc.body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, tc.want, resp.StatusCode, tc.name)
	}
	require.Len(t, c.Spans(), 3)
	require.Len(t, c.ByName("a"), 2)
	require.Len(t, c.ByName("b"), 1)
	require.Empty(t, c.ByName("c"))
	rejected := c.Rejected()
	require.Len(t, rejected, 3)
	require.Equal(t, "POST /api/v1/spans", rejected[0])
	require.Equal(t, "GET "+SpansPath, rejected[1])
	require.Contains(t, rejected[2], "undecodable spans")
}
