package pricestore

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

var updateLayout = flag.Bool("update-layout", false, "rewrite testdata/layout.golden.json")

// TestLayoutIsByteIdentical writes one value of every kind at fixed times and compares every key, its
// type, its exact bytes (every hash field) and its remaining lifetime with testdata/layout.golden.json:
// the Redis layout and the JSON of SPEC §5 stay byte for byte what readers already parse.
func TestLayoutIsByteIdentical(t *testing.T) {
	ctx := context.Background()
	rdb := redisdbtest.New(t)
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	s, err := New(rdb, clocktest.NewFake(now), Config{})
	require.NoError(t, err)
	fetched := now.Add(-time.Minute)
	lo, hi := int64(500), int64(5000)

	_, err = s.WriteListingsPage(ctx, "a8db", fetched, nil, []validate.Listing{
		listing(`AK-47 | "Redline" \ FT`, 1250, false, 0), listing(`AK-47 | "Redline" \ FT`, 1250, false, 0),
		listing(`AK-47 | "Redline" \ FT`, 1300, true, 3), listing("Glock\t1", 99, true, 7),
	})
	require.NoError(t, err)
	_, err = s.WriteListingsPage(ctx, "a8db", fetched, &message.Crawl{Range: "0-1000", Cycle: fetched.UnixMilli(), Page: 2},
		[]validate.Listing{listing("Crawled", 700, false, 0), listing("Crawled", 710, true, 2)})
	require.NoError(t, err)
	// A complete crawl of one page: its progress key holds the page, the last page, the lease and done.
	_, err = s.WriteListingsPage(ctx, "a8db", fetched, &message.Crawl{Range: "5000-9000", Cycle: fetched.UnixMilli(), Page: 0, Last: true},
		[]validate.Listing{listing("Swept", 6000, false, 0)})
	require.NoError(t, err)
	_, err = s.WriteOrders(ctx, fetched, []validate.Order{{Title: "A", HasOrder: true, PriceCents: 1251, Count: 143}})
	require.NoError(t, err)
	hour := fetched.Truncate(time.Hour)
	_, err = s.WriteHistory(ctx, "A", fetched, &market.History{Stable: true, SoldPerWeek: 42,
		Probability: map[market.Cents]int{1257: 100, 1332: 40, 990: 100},
		Points: []market.HourPoint{{Hour: hour.Add(-26 * time.Hour), Mean: 1200, Units: 2},
			{Hour: hour.Add(-time.Hour), Mean: 1333, Units: 1}},
		Oldest: fetched.Add(-3 * 24 * time.Hour)})
	require.NoError(t, err)
	_, err = s.WriteFees(ctx, "a8db", fetched, validate.Fees{Fraction: "0.05", MinCents: 1, Reduced: []validate.ReducedFee{
		{Title: "A", Fraction: "0.02", MinPriceCents: &lo, MaxPriceCents: &hi, ExpiresAt: time.Unix(1749600000, 0)},
		{Title: "B", Fraction: "0.03"},
	}})
	require.NoError(t, err)

	type stored struct {
		Type  string            `json:"type"`
		Value string            `json:"value,omitempty"`
		Hash  map[string]string `json:"hash,omitempty"`
		Set   []string          `json:"set,omitempty"`
		TTL   string            `json:"ttl"`
	}
	got := map[string]stored{}
	it := rdb.Scan(ctx, 0, "*", 100).Iterator()
	for it.Next(ctx) {
		k := it.Val()
		v := stored{Type: rdb.Type(ctx, k).Val(), TTL: rdb.PTTL(ctx, k).Val().Round(time.Minute).String()}
		switch v.Type {
		case "hash":
			v.Hash = rdb.HGetAll(ctx, k).Val()
		case "set":
			v.Set = rdb.SMembers(ctx, k).Val()
			slices.Sort(v.Set)
		default:
			v.Value = rdb.Get(ctx, k).Val()
		}
		got[k] = v
	}
	require.NoError(t, it.Err())
	const golden = "testdata/layout.golden.json"
	if *updateLayout {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(golden, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(golden)
	require.NoError(t, err)
	var want map[string]stored
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, got)
}
