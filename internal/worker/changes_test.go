package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// fakeChanges records the change events published; fail makes publishing fail.
type fakeChanges struct {
	mu     sync.Mutex
	events []message.Changes
	fail   error
}

func (f *fakeChanges) PublishExchange(_ context.Context, exchange string, m message.Outgoing) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if exchange != message.ChangesExchange {
		return errors.New("wrong exchange " + exchange)
	}
	ev, err := message.DecodeChanges(m.Body)
	if err != nil {
		return err
	}
	f.events = append(f.events, ev)
	return nil
}

// take returns the events published since the last call.
func (f *fakeChanges) take() []message.Changes {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.events
	f.events = nil
	return out
}

// withChanges rebuilds e's handler with a change publisher and the store as the buy-order reader.
func withChanges(t *testing.T, e *env) *fakeChanges {
	t.Helper()
	pub := &fakeChanges{}
	h, err := New(Config{}, Deps{Store: e.store, Schedule: e.counts, Analyse: SellHistory, Changes: pub, Orders: e.store,
		Clock: e.clk})
	require.NoError(t, err)
	e.h = h
	return pub
}

// titlesOf returns the titles of one event, sorted, after checking that each change is of game and
// says what.
func titlesOf(t *testing.T, ev message.Changes, at time.Time, game, what string) []string {
	t.Helper()
	require.Equal(t, message.ChangesSchema, ev.Schema)
	require.True(t, at.Equal(ev.At), "at %v, want %v", ev.At, at)
	var out []string
	for _, c := range ev.Changes {
		require.Equal(t, game, c.GameID)
		require.Equal(t, []string{what}, c.What)
		out = append(out, c.Title)
	}
	slices.Sort(out)
	return out
}

func TestChangeEventsFollowWrites(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 6, 10, 18, 0, 0, 0, time.UTC) // shortly after the sales fixture's newest sale
	e := newEnv(t, now)
	pub := withChanges(t, e)

	steps := []struct {
		name  string
		d     message.Delivery
		what  string
		want  []string // nil: no event
		title string
	}{
		{name: "new listings", d: delivery(t, message.KindListings, "a8db", now.Add(-time.Second), "", fixture(t, "market-items-page.json")),
			what: message.ChangedPrices, want: []string{"AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)",
				"StatTrak™ MP9 | Hydra (Minimal Wear)", "Sticker | Battle Scarred", "★ Sport Gloves | Vice (Battle-Scarred)"}},
		{name: "the same page again", d: delivery(t, message.KindListings, "a8db", now, "", fixture(t, "market-items-page.json"))},
		{name: "buy orders", d: delivery(t, message.KindOrders, "a8db", now, "", fixture(t, "aggregated-prices.json")),
			what: message.ChangedOrder, want: []string{"AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)", "Sticker | Battle Scarred"}},
		{name: "the same buy orders later", d: delivery(t, message.KindOrders, "a8db", now.Add(time.Second), "", fixture(t, "aggregated-prices.json"))},
		{name: "sales", d: delivery(t, message.KindSales, "a8db", now, "AK-47 | Redline (Field-Tested)", fixture(t, "last-sales.json")),
			what: message.ChangedHistory, want: []string{"AK-47 | Redline (Field-Tested)"}},
		{name: "no sales any more", d: delivery(t, message.KindSales, "a8db", now.Add(time.Second), "AK-47 | Redline (Field-Tested)", []byte(`{"sales":[]}`)),
			what: message.ChangedHistory, want: []string{"AK-47 | Redline (Field-Tested)"}},
		{name: "fees never", d: delivery(t, message.KindFees, "a8db", now, "", fixture(t, "customized-fees.json"))},
	}
	for _, st := range steps {
		require.NoError(t, e.h.Handle(ctx, st.d), st.name)
		got := pub.take()
		if st.want == nil {
			require.Empty(t, got, st.name)
			continue
		}
		require.Len(t, got, 1, st.name)
		require.Equal(t, st.want, titlesOf(t, got[0], now, "a8db", st.what), st.name)
	}
	require.Equal(t, 4.0, testutil.ToFloat64(e.h.m.events.WithLabelValues(eventOK)))

	// A lost event is counted and does not fail the message.
	pub.fail = errors.New("broker unreachable")
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindListings, "a8db", now, "", fixture(t, "market-items-last-page.json"))))
	require.Equal(t, 1.0, testutil.ToFloat64(e.h.m.events.WithLabelValues(eventError)))
	require.Zero(t, e.pages("listings", "error"))
}

func TestScanAndCrawlSweepsPublishTheirRemovals(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := newEnv(t, now)
	pub := withChanges(t, e)
	page := fixture(t, "market-items-page.json")
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindListings, "a8db", now.Add(-time.Minute), "", page)))
	pub.take()

	// A complete scan of the AWP that shows none of its listings: its level goes.
	scan := scanDelivery(t, now.Add(-30*time.Second), &message.Scan{Title: "AWP | Asiimov (Field-Tested)", Complete: true}, nil, []byte(`{"objects":[]}`))
	require.NoError(t, e.h.Handle(ctx, scan))
	got := pub.take()
	require.Len(t, got, 1)
	require.Equal(t, []string{"AWP | Asiimov (Field-Tested)"}, titlesOf(t, got[0], now, "a8db", message.ChangedPrices))
	_, ok, err := e.store.Title(ctx, "AWP | Asiimov (Field-Tested)")
	require.NoError(t, err)
	require.False(t, ok)

	// A complete one-page crawl of every price that shows nothing: every other title goes.
	crawl := scanDelivery(t, now.Add(-10*time.Second), nil, &message.Crawl{Range: "0-", Cycle: now.Add(-20 * time.Second).UnixMilli(), Last: true},
		[]byte(`{"objects":[]}`))
	require.NoError(t, e.h.Handle(ctx, crawl))
	got = pub.take()
	require.Len(t, got, 1)
	require.Len(t, titlesOf(t, got[0], now, "a8db", message.ChangedPrices), 4)
}

// scanDelivery is a listings delivery with a scan or crawl marker.
func scanDelivery(t *testing.T, fetched time.Time, scan *message.Scan, crawl *message.Crawl, payload []byte) message.Delivery {
	t.Helper()
	body, err := message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: message.KindListings, GameID: "a8db", FetchedAt: fetched,
		Request: message.Request{Method: "GET", Path: "/x"}, Payload: payload, Scan: scan, Crawl: crawl,
	})
	require.NoError(t, err)
	return message.Delivery{MessageID: "m-scan", Body: body, Attempt: 1}
}

func TestTitlesAtOrBelowTheirBuyOrderGoFirst(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := newEnv(t, now)
	withChanges(t, e)
	// AK-47's listing (12.89) is at or below a known buy order of 13.00; the AWP's (102.50) is not
	// below its order (97.20).
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindOrders, "a8db", now.Add(-time.Minute), "",
		[]byte(`{"aggregatedPrices":[{"title":"AK-47 | Redline (Field-Tested)","orderBestPrice":{"Currency":"USD","Amount":"1300"},"orderCount":"2"},`+
			`{"title":"AWP | Asiimov (Field-Tested)","orderBestPrice":{"Currency":"USD","Amount":"9720"},"orderCount":"2"}]}`))))
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindListings, "a8db", now, "", fixture(t, "market-items-page.json"))))
	require.ElementsMatch(t, []string{"AK-47 | Redline (Field-Tested)", "Sticker | Battle Scarred"}, e.counts.first)
	require.Equal(t, 5, e.counts.titles)
}
