package message

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validEnvelope() Envelope {
	return Envelope{
		Schema:    SchemaVersion,
		Kind:      KindListings,
		GameID:    "a8db",
		FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Request:   Request{Method: "GET", Path: "/exchange/v1/market/items", Query: "gameId=a8db"},
		Payload:   json.RawMessage(`{"objects":[],"cursor":""}`),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	b, err := Encode(validEnvelope())
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, validEnvelope().FetchedAt, got.FetchedAt.UTC())
	require.Equal(t, KindListings, got.Kind)
	require.JSONEq(t, `{"objects":[],"cursor":""}`, string(got.Payload))
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Envelope)
		body string
		want error
	}{
		{name: "not json", body: "{nope"},
		{name: "old schema", edit: func(e *Envelope) { e.Schema = 0 }, want: ErrUnsupportedSchema},
		{name: "unknown kind", edit: func(e *Envelope) { e.Kind = "weird" }, want: ErrUnknownKind},
		{name: "no game", edit: func(e *Envelope) { e.GameID = "" }, want: ErrMissingField},
		{name: "no time", edit: func(e *Envelope) { e.FetchedAt = time.Time{} }, want: ErrMissingField},
		{name: "null payload", edit: func(e *Envelope) { e.Payload = json.RawMessage("null") }, want: ErrMissingField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.edit != nil {
				e := validEnvelope()
				tc.edit(&e)
				var err error
				body, err = json.Marshal(e)
				require.NoError(t, err)
				_, err = Encode(e)
				require.Error(t, err)
			}
			_, err := Decode(body)
			require.Error(t, err)
			require.True(t, IsPermanent(err), "decode errors are permanent")
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

func TestPermanentClassification(t *testing.T) {
	base := errors.New("boom")
	require.Nil(t, Permanent(nil))
	require.False(t, IsPermanent(base))
	wrapped := fmt.Errorf("handle: %w", Permanent(base))
	require.True(t, IsPermanent(wrapped))
	require.ErrorIs(t, wrapped, base)
	require.Equal(t, "handle: boom", wrapped.Error())
}

func TestQueueNames(t *testing.T) {
	for _, k := range Kinds {
		require.Equal(t, "dmarket."+string(k), Queue(k))
	}
}

func TestHandlerFunc(t *testing.T) {
	var got Delivery
	h := HandlerFunc(func(_ context.Context, d Delivery) error { got = d; return nil })
	require.NoError(t, h.Handle(context.Background(), Delivery{MessageID: "m1", Attempt: 1}))
	require.Equal(t, "m1", got.MessageID)
}

func TestCrawlField(t *testing.T) {
	crawl := &Crawl{Range: "100-199", Cycle: 1767323045000, Page: 3}
	tests := []struct {
		name  string
		kind  Kind
		crawl *Crawl
		want  error
	}{
		{name: "listings page of a crawl", kind: KindListings, crawl: crawl},
		{name: "open-ended range, first page", kind: KindListings, crawl: &Crawl{Range: "5000-", Cycle: 1, Page: 0}},
		{name: "no crawl", kind: KindListings},
		{name: "no crawl on fees", kind: KindFees},
		{name: "crawl on fees", kind: KindFees, crawl: crawl, want: ErrInvalidCrawl},
		{name: "zero cycle", kind: KindListings, crawl: &Crawl{Range: "1-2", Page: 1}, want: ErrInvalidCrawl},
		{name: "negative page", kind: KindListings, crawl: &Crawl{Range: "1-2", Cycle: 5, Page: -1}, want: ErrInvalidCrawl},
		{name: "no range", kind: KindListings, crawl: &Crawl{Cycle: 5}, want: ErrInvalidCrawl},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnvelope()
			e.Kind, e.Crawl = tc.kind, tc.crawl
			b, err := json.Marshal(e)
			require.NoError(t, err)
			got, err := Decode(b)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				require.True(t, IsPermanent(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.crawl, got.Crawl)
			if tc.crawl == nil {
				require.NotContains(t, string(b), "crawl", "absent when not set")
			}
		})
	}
}

// TestOlderDecoderIgnoresCrawl: the field is an addition under the same schema version; a decoder that
// does not know it still reads the message.
func TestOlderDecoderIgnoresCrawl(t *testing.T) {
	e := validEnvelope()
	e.Crawl = &Crawl{Range: "0-99", Cycle: 7, Page: 2}
	b, err := Encode(e)
	require.NoError(t, err)
	var older struct {
		Schema  int             `json:"schema"`
		Kind    Kind            `json:"kind"`
		Payload json.RawMessage `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(b, &older))
	require.Equal(t, SchemaVersion, older.Schema)
	require.Equal(t, KindListings, older.Kind)
}

// TestEncodeCompressesThePayload: a version-2 body carries the payload as base64 zstd after an
// "encoding" field, is much smaller than the raw page, and decodes back to the exact payload; a
// version-1 body (an older parser's) still decodes.
func TestEncodeCompressesThePayload(t *testing.T) {
	objects := make([]string, 100)
	for i := range objects {
		objects[i] = fmt.Sprintf(`{"itemId":"%08d","title":"AK-47 | Redline (Field-Tested)","gameId":"a8db","price":{"USD":"%d"},`+
			`"extra":{"tradable":true,"floatValue":0.2%d,"inspectInGame":"steam://rungame/730/76561202255233023/+csgo_econ_action_preview"}}`, i, 100+i, i)
	}
	payload := `{"objects":[` + strings.Join(objects, ",") + `],"cursor":"next"}`
	tests := []struct {
		name   string
		schema int
	}{
		{name: "version 2 (this build)", schema: SchemaVersion},
		{name: "version 1 (previous parsers)", schema: SchemaV1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnvelope()
			e.Schema = tc.schema
			e.Payload = json.RawMessage(payload)
			body, err := Encode(e)
			require.NoError(t, err)
			var wire map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(body, &wire))
			if tc.schema == SchemaVersion {
				require.JSONEq(t, `"zstd"`, string(wire["encoding"]))
				var packed []byte
				require.NoError(t, json.Unmarshal(wire["payload"], &packed), "payload is base64 text")
				require.Less(t, len(body), len(payload)/4, "compressed")
				require.Less(t, strings.Index(string(body), `"encoding"`), strings.Index(string(body), `"payload"`),
					"the encoding comes before the payload")
			} else {
				require.NotContains(t, wire, "encoding")
				require.JSONEq(t, payload, string(wire["payload"]))
			}
			got, err := Decode(body)
			require.NoError(t, err)
			require.Equal(t, tc.schema, got.Schema)
			require.Equal(t, payload, string(got.Payload))
		})
	}
}

// TestVersion1ReaderRejectsVersion2: a worker of the previous version accepted exactly schema 1, so it
// dead-letters (permanent error) a version-2 message: a rolling upgrade updates the workers first.
func TestVersion1ReaderRejectsVersion2(t *testing.T) {
	body, err := Encode(validEnvelope())
	require.NoError(t, err)
	var old struct {
		Schema  int             `json:"schema"`
		Payload json.RawMessage `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(body, &old))
	require.NotEqual(t, SchemaV1, old.Schema, "the previous Validate refuses any schema but 1")
	require.False(t, json.Valid(old.Payload) && old.Payload[0] == '{', "and its payload is not the raw page")
}

func TestDecodeRejectsCorruptCompressedPayload(t *testing.T) {
	good, err := Encode(validEnvelope())
	require.NoError(t, err)
	tests := []struct {
		name string
		body string
		want error
	}{
		{name: "not base64", body: strings.Replace(string(good), `"payload":"`, `"payload":"*`, 1), want: ErrCorruptPayload},
		{name: "not a zstd frame", body: strings.Replace(string(good), `"payload":"`, `"payload":"AAAA`, 1), want: ErrCorruptPayload},
		{name: "payload not a string", body: `{"schema":2,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z",` +
			`"encoding":"zstd","payload":{}}`, want: ErrCorruptPayload},
		{name: "unknown encoding", body: strings.Replace(string(good), `"zstd"`, `"br"`, 1), want: ErrUnsupportedEncoding},
		{name: "encoding on schema 1", body: strings.Replace(string(good), `"schema":2`, `"schema":1`, 1), want: ErrUnsupportedEncoding},
		{name: "compressed text not JSON", body: `{"schema":2,"kind":"fees","game_id":"tf2","fetched_at":"2026-01-02T03:04:05Z",` +
			`"encoding":"zstd","payload":"` + base64.StdEncoding.EncodeToString(Compress([]byte("{"))) + `"}`, want: ErrCorruptPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			require.Error(t, err)
			require.True(t, IsPermanent(err))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}
