package validate

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// listingsPayloads are listings payloads, valid and not, for comparing DecodeMessage's one-pass page with
// DecodeListings of the payload.
func listingsPayloads(t testing.TB) []string {
	t.Helper()
	page, err := os.ReadFile("testdata/market-items-page.json")
	require.NoError(t, err)
	return []string{
		string(page),
		`{"objects":[],"cursor":"abc"}`,
		`{"cursor":"abc"}`,
		`{"objects":{}}`,
		`{"objects":[{"title":"A","itemId":"1","gameId":"a8db","price":{"USD":"100"}}, 5, {"title":7}]}`,
		`{"objects":[{"title":"A","itemId":"1","gameId":"tf2","price":{"USD":"100"}}]}`,
		`{"objects":[{"title":"","itemId":"1","gameId":"a8db","price":{"USD":"-5"}}]}`,
		`[1,2]`,
		`"text"`,
		`{"objects":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	}
}

// v1Body writes a version-1 listings envelope around payload (which need not be valid JSON).
func v1Body(game, payload string) []byte {
	return []byte(`{"schema":1,"kind":"listings","game_id":"` + game + `","fetched_at":"2026-01-02T03:04:05Z",` +
		`"request":{"method":"GET","path":"/exchange/v1/market/items"},"payload":` + payload +
		`,"crawl":{"range":"0-99","cycle":5,"page":1}}`)
}

// v2Body writes a version-2 listings envelope around payload, compressed whether or not it is JSON.
func v2Body(game, payload string) []byte {
	packed := base64.StdEncoding.EncodeToString(message.Compress([]byte(payload)))
	return []byte(`{"schema":2,"kind":"listings","game_id":"` + game + `","fetched_at":"2026-01-02T03:04:05Z",` +
		`"request":{"method":"GET","path":"/exchange/v1/market/items"},"encoding":"zstd","payload":"` + packed + `"}`)
}

// sameListings checks DecodeMessage against message.Decode (envelope) and DecodeListings (page).
func sameListings(t *testing.T, body []byte) {
	t.Helper()
	sameAsDecode(t, body)
	m, err := DecodeMessage(body)
	if err != nil {
		return
	}
	want, wantErr := DecodeListings(m.Payload, m.GameID)
	got, err := m.Listings()
	if wantErr != nil {
		require.Error(t, err)
		require.Equal(t, wantErr.Error(), err.Error())
		require.True(t, message.IsPermanent(err))
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestDecodeMessageListingsInOnePass(t *testing.T) {
	for i, p := range listingsPayloads(t) {
		for _, game := range []string{"a8db", "nope"} {
			name := func(v string) string { return v + "/" + game + "/" + strings.Repeat("#", i) }
			t.Run(name("v1"), func(t *testing.T) { sameListings(t, v1Body(game, p)) })
			t.Run(name("v2"), func(t *testing.T) { sameListings(t, v2Body(game, p)) })
		}
	}
	// The canonical forms that message.Encode writes take the fast path and decode the page in it.
	page := listingsPayloads(t)[0]
	for _, schema := range []int{message.SchemaV1, message.SchemaVersion} {
		body, err := message.Encode(message.Envelope{Schema: schema, Kind: message.KindListings, GameID: "a8db",
			FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Payload: json.RawMessage(page),
			Crawl: &message.Crawl{Range: "0-99", Cycle: 5, Page: 1}})
		require.NoError(t, err)
		m, ok := fastMessage(body)
		require.True(t, ok, "schema %d", schema)
		require.True(t, m.decoded, "schema %d", schema)
		require.NoError(t, m.listingsErr)
		require.Len(t, m.listings.Items, 5)
		require.JSONEq(t, page, string(m.Payload))
		sameListings(t, body)
	}
}

func TestDecodeMessageCompressedErrors(t *testing.T) {
	good := v2Body("a8db", `{"objects":[]}`)
	tests := []struct {
		name string
		body string
		want error
	}{
		{name: "not base64", body: strings.Replace(string(good), `"payload":"`, `"payload":"*`, 1), want: message.ErrCorruptPayload},
		{name: "not zstd", body: strings.Replace(string(good), `"payload":"`, `"payload":"AAAA`, 1), want: message.ErrCorruptPayload},
		{name: "compressed not JSON", body: string(v2Body("a8db", `{"objects":[`)), want: message.ErrCorruptPayload},
		{name: "unknown encoding", body: strings.Replace(string(good), `"zstd"`, `"gzip"`, 1), want: message.ErrUnsupportedEncoding},
		{name: "encoding in schema 1", body: strings.Replace(string(good), `"schema":2`, `"schema":1`, 1), want: message.ErrUnsupportedEncoding},
		{name: "schema 3", body: strings.Replace(string(good), `"schema":2`, `"schema":3`, 1), want: message.ErrUnsupportedSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sameAsDecode(t, []byte(tc.body))
			_, err := DecodeMessage([]byte(tc.body))
			require.Error(t, err)
			require.True(t, message.IsPermanent(err))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// TestDecodeMessageEscapedBase64: an escape in the base64 text leaves the fast path; message.Decode
// reads it as encoding/json does.
func TestDecodeMessageEscapedBase64(t *testing.T) {
	body := []byte(strings.Replace(string(v2Body("a8db", `{"objects":[]}`)), `"payload":"`, `"payload":"\n`, 1))
	_, ok := fastMessage(body)
	require.False(t, ok)
	m, err := DecodeMessage(body)
	require.NoError(t, err)
	require.JSONEq(t, `{"objects":[]}`, string(m.Payload))
	sameListings(t, body)
}

func FuzzDecodeMessageListings(f *testing.F) {
	for _, p := range listingsPayloads(f) {
		f.Add(p, true)
		f.Add(p, false)
	}
	f.Fuzz(func(t *testing.T, payload string, compressed bool) {
		if compressed {
			sameListings(t, v2Body("a8db", payload))
			return
		}
		sameListings(t, v1Body("a8db", payload))
	})
}
