package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// TestFutureFetchTimeDoesNotFreezeValues: a message whose fetch time lies ahead of the worker's clock
// (parser clock skew) must not win the compare-and-set of every later write.
func TestFutureFetchTimeDoesNotFreezeValues(t *testing.T) {
	order := func(price int) []byte {
		return fmt.Appendf(nil, `{"aggregatedPrices":[{"title":"A","orderBestPrice":{"Currency":"USD","Amount":"%d"},"orderCount":"3"}]}`, price)
	}
	tests := []struct {
		name     string
		ahead    time.Duration
		rejected bool
	}{
		{name: "an hour ahead is rejected", ahead: time.Hour, rejected: true},
		{name: "just beyond the tolerance is rejected", ahead: validate.MaxFetchSkew + time.Millisecond, rejected: true},
		{name: "within the tolerance is kept", ahead: validate.MaxFetchSkew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Millisecond)
			e := newEnv(t, now)
			err := e.h.Handle(ctx, delivery(t, message.KindOrders, "a8db", now.Add(tc.ahead), "", order(100)))
			reason := testutil.ToFloat64(e.h.m.invalid.WithLabelValues(string(validate.ReasonFetchedInFuture)))
			if tc.rejected {
				require.Error(t, err)
				require.True(t, message.IsPermanent(err), "dead-lettered with its reason, not retried")
				require.ErrorIs(t, err, validate.ErrFetchedInFuture)
				require.Equal(t, 1.0, reason)
				_, ok, err := e.store.Order(ctx, "A")
				require.NoError(t, err)
				require.False(t, ok, "nothing written")
			} else {
				require.NoError(t, err)
				require.Zero(t, reason)
				require.LessOrEqual(t, e.rdb.PTTL(ctx, "orders:dmarket:A").Val(), time.Hour, "lives at most PRICE_TTL")
			}

			// The clock moves past the tolerance: a page fetched now must win over the skewed one.
			e.clk.Advance(validate.MaxFetchSkew + time.Second)
			require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindOrders, "a8db", e.clk.Now(), "", order(200))))
			o, ok, err := e.store.Order(ctx, "A")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, int64(200), o.Price)
			require.LessOrEqual(t, e.rdb.PTTL(ctx, "orders:dmarket:A").Val(), time.Hour)
		})
	}
}
