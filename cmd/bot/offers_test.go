package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

// testStore returns the URL of a fresh Redis database and a price store writing into it, as the worker
// does, for the command to read.
func testStore(t *testing.T) (string, *pricestore.Store) {
	t.Helper()
	url := redisdbtest.URL(t)
	client, err := redisdb.New(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	store, err := pricestore.New(client, clock.Real{}, pricestore.Config{})
	require.NoError(t, err)
	return url, store
}

func TestOffersCommand(t *testing.T) {
	url, store := testStore(t)
	now := time.Now()
	ctx := context.Background()
	_, err := store.WriteListings(ctx, "a8db", now, []validate.Listing{
		{ItemID: "1", Title: "AK-47 | Redline (Field-Tested)", GameID: "a8db", PriceCents: 1000},
		{ItemID: "2", Title: "AWP | Asiimov (Field-Tested)", GameID: "a8db", PriceCents: 10000, Locked: true, LockDays: 3},
	})
	require.NoError(t, err)
	_, err = store.WriteOrders(ctx, now, []validate.Order{
		{Title: "AK-47 | Redline (Field-Tested)", HasOrder: true, PriceCents: 1500, Count: 4},
		{Title: "AWP | Asiimov (Field-Tested)", HasOrder: true, PriceCents: 9000, Count: 1},
	})
	require.NoError(t, err)
	env := []string{"REDIS_URL=" + url}

	tests := []struct {
		name     string
		args     []string
		env      []string
		code     int
		contains []string
		absent   []string
	}{
		{name: "defaults hide the losing offer", args: nil, env: env, code: 0,
			contains: []string{"+42.50%", "$10.00", "$15.00", "$14.25", "TARGET", "AK-47 | Redline (Field-Tested)", "1 offers match",
				"read from Redis " + url},
			absent: []string{"AWP", "Why empty"}},
		{name: "filters hide every offer", args: []string{"-min-price", "5000"}, env: env, code: 0,
			contains: []string{"0 offers match", "Why empty: the filters hide all 2 offers in this Redis (market data for 2 titles)",
				"bot offers -min-price 0 -limit -100 -games a8db,9a92,tf2,rust", "read from Redis " + url}},
		{name: "another game hides them", args: []string{"-games", "rust", "-limit", "-100", "-min-price", "0"}, env: env, code: 0,
			contains: []string{"0 offers match", "the filters hide all 2 offers"}},
		{name: "a negative limit shows both", args: []string{"-limit", "-20", "-min-price", "0"}, env: env, code: 0,
			contains: []string{"AWP | Asiimov (Field-Tested)", "-14.50%", "locked 3d", "2 offers match"}},
		{name: "min price filters", args: []string{"-min-price", "50", "-limit", "-100"}, env: env, code: 0,
			contains: []string{"AWP", "1 offers match"}, absent: []string{"AK-47"}},
		{name: "row limit", args: []string{"-limit", "-100", "-n", "1"}, env: env, code: 0, contains: []string{"2 offers match", "1 shown"}},
		{name: "bad limit", args: []string{"-limit", "5%"}, env: env, code: 2, contains: []string{"-limit"}},
		{name: "bad game", args: []string{"-games", "chess"}, env: env, code: 2, contains: []string{"-games"}},
		{name: "negative rows", args: []string{"-n", "-1"}, env: env, code: 2, contains: []string{"-n must be"}},
		{name: "unknown flag", args: []string{"-nope"}, env: env, code: 2},
		{name: "bad config", args: nil, env: []string{"REDIS_URL=ftp://x"}, code: 2, contains: []string{"REDIS_URL"}},
		{name: "redis unreachable", args: nil, env: []string{"REDIS_URL=redis://:s3cretpw@127.0.0.1:1/0"}, code: 1,
			contains: []string{"read Redis redis://127.0.0.1:1/0"}, absent: []string{"s3cretpw"}},
		{name: "help", args: []string{"-h"}, env: env, code: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := offersCommand(tc.args, tc.env, &out, &errOut)
			all := out.String() + errOut.String()
			require.Equal(t, tc.code, code, all)
			for _, c := range tc.contains {
				require.Contains(t, all, c)
			}
			for _, a := range tc.absent {
				require.False(t, strings.Contains(all, a), "%q should not appear in\n%s", a, all)
			}
		})
	}
}

func TestOffersCommandExplainsAnEmptyTable(t *testing.T) {
	empty := redisdbtest.URL(t)
	listingsOnly := redisdbtest.URL(t)
	client, err := redisdb.New(listingsOnly)
	require.NoError(t, err)
	defer client.Close()
	store, err := pricestore.New(client, clock.Real{}, pricestore.Config{})
	require.NoError(t, err)
	_, err = store.WriteListings(context.Background(), "a8db", time.Now(), []validate.Listing{
		{ItemID: "1", Title: "AK-47 | Redline (Field-Tested)", GameID: "a8db", PriceCents: 1000},
	})
	require.NoError(t, err)
	// The password travels in the URL (Redis's default user accepts any) and never in the output.
	withPassword := func(raw string) string { return strings.Replace(raw, "redis://", "redis://default:pw-9f3k2@", 1) }

	tests := []struct {
		name     string
		url      string
		contains []string
	}{
		{name: "no market data", url: withPassword(empty), contains: []string{
			"0 offers match", "Why empty: no market data in Redis " + empty + " (no prices:dmarket:* keys)", "make demo"}},
		{name: "nothing to compare listings with", url: withPassword(listingsOnly), contains: []string{
			"0 offers match", "Why empty: market data for 1 titles but no offer even without filters", "read from Redis " + listingsOnly}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := offersCommand([]string{"-min-price", "0", "-limit", "-100"}, []string{"REDIS_URL=" + tc.url}, &out, &errOut)
			all := out.String() + errOut.String()
			require.Equal(t, 0, code, all)
			for _, c := range tc.contains {
				require.Contains(t, all, c)
			}
			require.NotContains(t, all, "pw-9f3k2")
			require.NotContains(t, all, "default:")
		})
	}
}

// A STICKERS offer is priced with BOT_STICKER_SHARE and its line shows the stickers' value.
func TestOffersCommandStickerShare(t *testing.T) {
	url, store := testStore(t)
	_, err := store.WriteListings(context.Background(), "a8db", time.Now(), []validate.Listing{
		{ItemID: "s1", Title: "AK-47 | Redline (Field-Tested)", GameID: "a8db", PriceCents: 1000,
			Attrs: market.Attributes{Stickers: []string{"Crown (Foil)"}}},
		{ItemID: "c1", Title: "Sticker | Crown (Foil)", GameID: "a8db", PriceCents: 50000},
	})
	require.NoError(t, err)
	for _, c := range []struct {
		share, sell string
	}{{"10", "$60.00"}, {"50", "$260.00"}} {
		var out, errOut bytes.Buffer
		env := []string{"REDIS_URL=" + url, "BOT_STICKER_SHARE=" + c.share}
		require.Equal(t, 0, offersCommand([]string{"-limit", "-100", "-min-price", "0"}, env, &out, &errOut), errOut.String())
		require.Contains(t, out.String(), c.sell, "floor $10.00 + %s %% of $500.00", c.share)
		require.Contains(t, out.String(), "STICKERS  available  AK-47 | Redline (Field-Tested) · stickers $500.00\n")
	}
}
