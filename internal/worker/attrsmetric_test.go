package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// TestBadAttributesCounted: attributes left out of kept listings and sales are counted by kind and
// reason in dmarket_worker_attributes_dropped_total, not as invalid items.
func TestBadAttributesCounted(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := newEnv(t, now)
	dropped := func(kind, reason string) float64 {
		return testutil.ToFloat64(e.h.m.attrs.WithLabelValues(kind, reason))
	}
	page := strings.Replace(string(fixture(t, "market-items-page.json")), `"floatValue": 0.2713904023170471`, `"floatValue": 1.5`, 1)
	page = strings.Replace(page, `"paintSeed": 613`, `"paintSeed": -4`, 1)
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindListings, "a8db", now, "", []byte(page))))
	require.Equal(t, 1.0, dropped("listings", "bad_float"))
	require.Equal(t, 1.0, dropped("listings", "bad_seed"))
	require.Zero(t, dropped("listings", "bad_phase"))
	for _, r := range []string{"bad_float", "bad_seed"} {
		require.Zero(t, testutil.ToFloat64(e.h.m.invalid.WithLabelValues(r)), "not an invalid item")
	}

	sales := salesPayload(t, now, []saleSpec{{cents: 1000, phase: "Phase 9", float: 0.1}, {cents: 1100, float: 2}, {cents: 1200, float: 0.2}})
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindSales, "a8db", now, "★ Karambit | Doppler (Factory New)", sales)))
	require.Equal(t, 1.0, dropped("sales", "bad_phase"))
	require.Equal(t, 1.0, dropped("sales", "bad_float"))
	require.Equal(t, 1.0, dropped("listings", "bad_float"), "per kind")
	require.Equal(t, 3.0, testutil.ToFloat64(e.h.m.items.WithLabelValues("sales")), "the sales are kept")
	require.Equal(t, 10, testutil.CollectAndCount(e.h.m.attrs), "every kind and reason is exported from the start")
}
