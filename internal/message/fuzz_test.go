package message

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeRoundTrip checks that the queue message decoder never panics, that every error it returns is
// permanent, and that whatever it accepts is valid and survives a round trip.
func FuzzDecodeRoundTrip(f *testing.F) {
	good, err := Encode(validEnvelope())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(good), "", "{}", "null", "[]", `{"schema":1}`, `{"schema":2,"kind":"listings"}`,
		`{"schema":1,"kind":"sales","game_id":"a8db","fetched_at":"2026-01-01T00:00:00Z","payload":{"sales":[]}}`,
		`{"schema":1,"kind":"fees","game_id":"a8db","fetched_at":"not a time","payload":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Decode(body)
		if err != nil {
			if !IsPermanent(err) {
				t.Fatalf("decode error is not permanent: %v", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an invalid envelope: %v", err)
		}
		again, err := Encode(e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := Decode(again)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if !json.Valid(e2.Payload) || e2.Kind != e.Kind || e2.GameID != e.GameID || !e2.FetchedAt.Equal(e.FetchedAt) {
			t.Fatalf("round trip changed the envelope")
		}
	})
}
