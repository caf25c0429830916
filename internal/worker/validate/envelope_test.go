package validate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

func encodedEnvelope(t testing.TB) []byte {
	t.Helper()
	b, err := message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: message.KindSales, GameID: "a8db",
		FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 678900000, time.FixedZone("x", 3600)),
		Request:   message.Request{Method: "GET", Path: "/trade-aggregator/v1/last-sales", Query: "a=b&c=d", Title: "R&D <★> \"x\"", Pages: 2},
		Payload:   json.RawMessage(`{"sales": [ {"price":"1.00","date":"1"} ] }`),
	})
	require.NoError(t, err)
	return b
}

func envelopeCorpus(t testing.TB) []string {
	return []string{
		string(encodedEnvelope(t)),
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","request":{"method":"GET","path":"/x"},"payload":{"objects":[]}}`,
		` { "schema" : 1 , "kind" : "fees" , "game_id" : "tf2" , "fetched_at" : "2026-01-02T03:04:05Z" , "request" : {} , "payload" : [1, 2] } `,
		`{"Schema":1,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"fe\u0065s","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":null}`,
		`{"schema":2,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1.5,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"nope","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":"yesterday","payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","request":[],"payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","request":{"pages":"x"},"payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}} x`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{`,
		`{"schema":"1","kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":5,"game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"fees","game_id":"tf2","fetched_at":5,"payload":{}}`,
		`{"schema":1,"kind":"fees","kind":"sales","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z","payload":{}}`,
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","request":{},"payload":{"objects":[]},"crawl":{"range":"100-199","cycle":1767323045000,"page":3}}`,
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","crawl":{"range":"5000-","cycle":1,"page":0},"payload":{}}`,
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","payload":{},"crawl":null}`,
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","payload":{},"crawl":{"range":"1-2","cycle":0,"page":0}}`,
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","payload":{},"crawl":{"range":"1-2","cycle":"5","page":0}}`,
		`{"schema":1,"kind":"listings","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","payload":{},"crawl":[]}`,
		`{"schema":1,"kind":"fees","game_id":"a8db","fetched_at":"2026-01-02T03:04:05Z","payload":{},"crawl":{"range":"1-2","cycle":5,"page":0}}`,
		`[]`, ``, `null`, `{}`,
	}
}

// sameAsDecode checks that the envelope of DecodeMessage agrees with message.Decode on body.
func sameAsDecode(t *testing.T, body []byte) {
	want, wantErr := message.Decode(body)
	m, err := DecodeMessage(body)
	got := m.Envelope
	if wantErr != nil {
		require.Error(t, err)
		require.True(t, message.IsPermanent(err))
		require.Equal(t, wantErr.Error(), err.Error())
		return
	}
	require.NoError(t, err)
	require.True(t, want.FetchedAt.Equal(got.FetchedAt))
	want.FetchedAt, got.FetchedAt = time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

func TestDecodeEnvelopeMatchesMessageDecode(t *testing.T) {
	for _, body := range envelopeCorpus(t) {
		t.Run(body, func(t *testing.T) { sameAsDecode(t, []byte(body)) })
	}
	// The fast path is taken for the canonical form.
	_, ok := fastMessage(encodedEnvelope(t))
	require.True(t, ok)
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, body := range envelopeCorpus(f) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameAsDecode(t, body) })
}

func TestCheckFetchedAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		fetched time.Time
		bad     bool
	}{
		{name: "past", fetched: now.Add(-time.Hour)},
		{name: "now", fetched: now},
		{name: "ahead within the tolerance", fetched: now.Add(MaxFetchSkew)},
		{name: "ahead beyond the tolerance", fetched: now.Add(MaxFetchSkew + time.Millisecond), bad: true},
		{name: "a day ahead", fetched: now.Add(24 * time.Hour), bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFetchedAt(tc.fetched, now)
			if !tc.bad {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrFetchedInFuture)
			require.True(t, message.IsPermanent(err))
		})
	}
	require.Contains(t, Reasons, ReasonFetchedInFuture)
}

func TestDecodeEnvelopeFastPathReadsCrawl(t *testing.T) {
	b, err := message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: message.KindListings, GameID: "a8db",
		FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Request: message.Request{Method: "GET", Path: "/x"},
		Payload: json.RawMessage(`{"objects":[]}`), Crawl: &message.Crawl{Range: "0-99", Cycle: 42, Page: 7},
	})
	require.NoError(t, err)
	m, ok := fastMessage(b)
	env := m.Envelope
	require.True(t, ok, "the canonical form stays on the fast path")
	require.Equal(t, &message.Crawl{Range: "0-99", Cycle: 42, Page: 7}, env.Crawl)
	sameAsDecode(t, b)
}
