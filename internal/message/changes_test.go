package message

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestScanField(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		scan  *Scan
		crawl *Crawl
		want  error
	}{
		{name: "complete scan", kind: KindListings, scan: &Scan{Title: "AK-47 | Redline (Field-Tested)", Complete: true}},
		{name: "first page of a longer answer", kind: KindListings, scan: &Scan{Title: "★ Karambit | Doppler (Factory New)"}},
		{name: "scan on orders", kind: KindOrders, scan: &Scan{Title: "x"}, want: ErrInvalidScan},
		{name: "scan beside a crawl", kind: KindListings, scan: &Scan{Title: "x"}, crawl: &Crawl{Range: "1-2", Cycle: 1}, want: ErrInvalidScan},
		{name: "empty title", kind: KindListings, scan: &Scan{}, want: ErrInvalidScan},
		{name: "huge title", kind: KindListings, scan: &Scan{Title: strings.Repeat("x", 1025)}, want: ErrInvalidScan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnvelope()
			e.Kind, e.Scan, e.Crawl = tc.kind, tc.scan, tc.crawl
			_, encErr := Encode(e)
			raw, err := json.Marshal(e)
			require.NoError(t, err)
			got, err := Decode(raw)
			if tc.want != nil {
				require.ErrorIs(t, encErr, tc.want)
				require.ErrorIs(t, err, tc.want)
				require.True(t, IsPermanent(err))
				return
			}
			require.NoError(t, encErr)
			require.NoError(t, err)
			require.Equal(t, tc.scan, got.Scan)
			b, err := Encode(e)
			require.NoError(t, err)
			got, err = Decode(b)
			require.NoError(t, err)
			require.Equal(t, tc.scan, got.Scan, "a compressed envelope keeps the scan")
		})
	}
}

func TestCrawlLastRoundTrip(t *testing.T) {
	e := validEnvelope()
	e.Crawl = &Crawl{Range: "100-199", Cycle: 7, Page: 4, Last: true}
	b, err := Encode(e)
	require.NoError(t, err)
	require.Contains(t, string(b), `"last":true`)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, e.Crawl, got.Crawl)

	e.Crawl.Last = false
	b, err = Encode(e)
	require.NoError(t, err)
	require.NotContains(t, string(b), `"last"`, "absent unless set, as older parsers wrote it")
}

func TestChangesRoundTripAndValidation(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	good := Changes{Schema: ChangesSchema, At: at, Changes: []Change{
		{GameID: "a8db", Title: "AK-47 | Redline (Field-Tested)", What: []string{ChangedPrices, ChangedOrder}},
		{GameID: "9a92", Title: "Dragonclaw Hook", What: []string{ChangedHistory}},
	}}
	b, err := EncodeChanges(good)
	require.NoError(t, err)
	got, err := DecodeChanges(b)
	require.NoError(t, err)
	require.Equal(t, good.Changes, got.Changes)
	require.True(t, good.At.Equal(got.At))

	tests := []struct {
		name string
		body string
	}{
		{name: "not JSON", body: `{`},
		{name: "other schema", body: `{"schema":2,"at":"2026-12-06T10:00:00Z","changes":[]}`},
		{name: "no time", body: `{"schema":1,"changes":[]}`},
		{name: "no title", body: `{"schema":1,"at":"2026-12-06T10:00:00Z","changes":[{"game_id":"a8db","what":["prices"]}]}`},
		{name: "no game", body: `{"schema":1,"at":"2026-12-06T10:00:00Z","changes":[{"title":"x","what":["prices"]}]}`},
		{name: "nothing changed", body: `{"schema":1,"at":"2026-12-06T10:00:00Z","changes":[{"game_id":"a8db","title":"x","what":[]}]}`},
		{name: "unknown what", body: `{"schema":1,"at":"2026-12-06T10:00:00Z","changes":[{"game_id":"a8db","title":"x","what":["mood"]}]}`},
		{name: "repeated what", body: `{"schema":1,"at":"2026-12-06T10:00:00Z","changes":[{"game_id":"a8db","title":"x","what":["order","order"]}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeChanges([]byte(tc.body))
			require.ErrorIs(t, err, ErrInvalidChanges)
			require.True(t, IsPermanent(err))
		})
	}
	_, err = EncodeChanges(Changes{Schema: ChangesSchema})
	require.ErrorIs(t, err, ErrInvalidChanges)
}
