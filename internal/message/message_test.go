package message

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
