package worker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// crawlDelivery is a listings message of page `page` of crawl `cycle` holding n tradable listings of
// "A" at price cents.
func crawlDelivery(t *testing.T, fetched time.Time, cycle int64, page, n int, price int64) message.Delivery {
	t.Helper()
	objs := make([]string, n)
	for i := range objs {
		objs[i] = fmt.Sprintf(`{"itemId":"p%d-%d","title":"A","gameId":"a8db","price":{"USD":"%d"},"suggestedPrice":{"USD":"900"},"extra":{"tradable":true}}`,
			page, i, price)
	}
	body, err := message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: message.KindListings, GameID: "a8db", FetchedAt: fetched,
		Request: message.Request{Method: "GET", Path: "/exchange/v1/market/items"},
		Payload: []byte(`{"objects":[` + strings.Join(objs, ",") + `],"cursor":"x"}`),
		Crawl:   &message.Crawl{Range: "0-999", Cycle: cycle, Page: page},
	})
	require.NoError(t, err)
	return message.Delivery{MessageID: fmt.Sprint("m-", cycle, "-", page), Body: body, Attempt: 1}
}

// TestListingsCountOverTheCrawlsPages: the worker hands a page's crawl identity to the store, so a price
// spread over several pages is counted over all of them, redelivered or not.
func TestListingsCountOverTheCrawlsPages(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := newEnv(t, now)
	for _, d := range []message.Delivery{
		crawlDelivery(t, now.Add(-3*time.Second), 7, 1, 100, 500),
		crawlDelivery(t, now.Add(-4*time.Second), 7, 0, 40, 500),
		crawlDelivery(t, now.Add(-2*time.Second), 7, 2, 12, 500),
		crawlDelivery(t, now.Add(-3*time.Second), 7, 1, 100, 500), // redelivered
	} {
		require.NoError(t, e.h.Handle(ctx, d))
	}
	p, ok, err := e.store.Title(ctx, "A")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, p.Available, 1)
	require.Equal(t, 152, p.Available[0].Count)
}
