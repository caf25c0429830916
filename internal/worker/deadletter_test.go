package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
)

func TestDueAgain(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	redisdbtest.Both(t, func(t *testing.T, rdb redis.UniversalClient) {
		clk := clocktest.NewFake(now)
		sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
		require.NoError(t, err)
		gate := fetchgate.New(rdb, "")
		reg := prometheus.NewRegistry()
		da, err := NewDueAgain(sched, gate, DueAgainConfig{Period: time.Hour}, nil, reg)
		require.NoError(t, err)
		outcome := func(kind message.Kind, o string) float64 {
			return testutil.ToFloat64(da.count.WithLabelValues(string(kind), o))
		}
		reason := errors.New("gave up after 5 attempts: boom")

		// The parser fetched the title's sales and postponed it by the sales interval.
		_, err = sched.Enqueue(ctx, "a8db", []string{"AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)"})
		require.NoError(t, err)
		for _, title := range []string{"AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)"} {
			require.NoError(t, sched.Done(ctx, "a8db", title, 6*time.Hour))
		}
		clk.Advance(time.Second)

		sales := delivery(t, message.KindSales, "a8db", now, "AK-47 | Redline (Field-Tested)", []byte(`{"sales":[]}`))
		da.DeadLettered(ctx, "dmarket.sales", sales, reason)
		due, ok, err := sched.Due(ctx, "a8db", "AK-47 | Redline (Field-Tested)")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, now.Add(time.Second).UTC(), due, "the dead-lettered title is due again now")
		other, _, err := sched.Due(ctx, "a8db", "AWP | Asiimov (Field-Tested)")
		require.NoError(t, err)
		require.Equal(t, now.Add(6*time.Hour).UTC(), other, "other titles keep their due time")
		require.Equal(t, 1.0, outcome(message.KindSales, dueAgainDue))

		// Fetched again and dead-lettered again within the period: it waits for its interval, no loop.
		require.NoError(t, sched.Done(ctx, "a8db", "AK-47 | Redline (Field-Tested)", 6*time.Hour))
		da.DeadLettered(ctx, "dmarket.sales", sales, reason)
		due, _, err = sched.Due(ctx, "a8db", "AK-47 | Redline (Field-Tested)")
		require.NoError(t, err)
		require.Equal(t, now.Add(time.Second+6*time.Hour).UTC(), due)
		require.Equal(t, 1.0, outcome(message.KindSales, dueAgainLimited))

		// A title no longer on the schedule is not added back.
		gone := delivery(t, message.KindSales, "a8db", now, "Gone | Title", []byte(`{"sales":[]}`))
		da.DeadLettered(ctx, "dmarket.sales", gone, reason)
		_, ok, err = sched.Due(ctx, "a8db", "Gone | Title")
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, 1.0, outcome(message.KindSales, dueAgainUnchanged))

		// Fees: the parser closed the game's gate for the fees period; the dead letter opens it again.
		first, err := gate.Due(ctx, fetchgate.FeesKey("9a92"), 24*time.Hour)
		require.NoError(t, err)
		require.True(t, first)
		fees := delivery(t, message.KindFees, "9a92", now, "", []byte(`{"reducedFees":[]}`))
		da.DeadLettered(ctx, "dmarket.fees", fees, reason)
		again, err := gate.Due(ctx, fetchgate.FeesKey("9a92"), 24*time.Hour)
		require.NoError(t, err)
		require.True(t, again, "the game's fees are due again")
		da.DeadLettered(ctx, "dmarket.fees", fees, reason)
		again, err = gate.Due(ctx, fetchgate.FeesKey("9a92"), 24*time.Hour)
		require.NoError(t, err)
		require.False(t, again, "once per period")
		require.Equal(t, 1.0, outcome(message.KindFees, dueAgainDue))
		require.Equal(t, 1.0, outcome(message.KindFees, dueAgainLimited))

		// Listings, orders and undecodable messages are left alone.
		keys := func() []string {
			var all []string
			require.NoError(t, redisdb.ScanEach(ctx, rdb, "*", 100, func(k []string) error {
				all = append(all, k...)
				return nil
			}))
			return all
		}
		before := keys()
		da.DeadLettered(ctx, "dmarket.listings", delivery(t, message.KindListings, "a8db", now, "", []byte(`{"objects":[]}`)), reason)
		da.DeadLettered(ctx, "dmarket.sales", message.Delivery{MessageID: "x", Body: []byte("not json")}, reason)
		require.ElementsMatch(t, before, keys())
	})
}

func TestDueAgainRedisDown(t *testing.T) {
	rdb := redisdbtest.New(t)
	sched, err := salesschedule.New(rdb, clock.Real{}, salesschedule.Config{})
	require.NoError(t, err)
	da, err := NewDueAgain(sched, fetchgate.New(rdb, ""), DueAgainConfig{Timeout: time.Second}, nil, nil)
	require.NoError(t, err)
	require.NoError(t, rdb.Close())
	da.DeadLettered(context.Background(), "dmarket.sales",
		delivery(t, message.KindSales, "a8db", time.Now(), "AK", []byte(`{"sales":[]}`)), errors.New("x"))
	require.Equal(t, 1.0, testutil.ToFloat64(da.count.WithLabelValues(string(message.KindSales), dueAgainError)))
}

func TestNewDueAgainConfig(t *testing.T) {
	_, err := NewDueAgain(nil, nil, DueAgainConfig{}, nil, nil)
	require.ErrorIs(t, err, ErrConfig)
	rdb := redisdbtest.New(t)
	sched, err := salesschedule.New(rdb, clock.Real{}, salesschedule.Config{})
	require.NoError(t, err)
	_, err = NewDueAgain(sched, fetchgate.New(rdb, ""), DueAgainConfig{Period: -time.Second}, nil, nil)
	require.ErrorIs(t, err, ErrConfig)
}
