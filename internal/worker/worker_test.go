package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule"
	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func delivery(t testing.TB, kind message.Kind, game string, fetched time.Time, title string, payload []byte) message.Delivery {
	t.Helper()
	body, err := message.Encode(message.Envelope{
		Schema: message.SchemaVersion, Kind: kind, GameID: game, FetchedAt: fetched,
		Request: message.Request{Method: "GET", Path: "/x", Title: title}, Payload: payload,
	})
	require.NoError(t, err)
	return message.Delivery{MessageID: "m-" + string(kind), Body: body, Attempt: 1,
		Headers: map[string]any{"X-B3-TraceId": "463ac35c9f6413ad", "X-B3-SpanId": "a2fb4a1d1a96d312", "X-B3-Sampled": "1"}}
}

// countingSchedule counts Enqueue calls on top of the real schedule.
type countingSchedule struct {
	mu     sync.Mutex
	calls  int
	titles int
	first  []string
	next   Enqueuer
}

func (c *countingSchedule) Enqueue(ctx context.Context, game string, titles []string) (int, error) {
	c.mu.Lock()
	c.calls++
	c.titles += len(titles)
	c.mu.Unlock()
	return c.next.Enqueue(ctx, game, titles)
}

func (c *countingSchedule) EnqueueFirst(ctx context.Context, game string, titles []string) (int, error) {
	c.mu.Lock()
	c.calls++
	c.titles += len(titles)
	c.first = append(c.first, titles...)
	c.mu.Unlock()
	return c.next.EnqueueFirst(ctx, game, titles)
}

// fakeTracer records spans.
type fakeTracer struct {
	mu    sync.Mutex
	spans []string
	errs  []error
	hdrs  []map[string]any
}

func (f *fakeTracer) start(ctx context.Context, name string, headers map[string]any) (context.Context, func(error)) {
	f.mu.Lock()
	f.spans = append(f.spans, name)
	f.hdrs = append(f.hdrs, headers)
	f.mu.Unlock()
	return ctx, func(err error) {
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
	}
}

type env struct {
	h      *Handler
	rdb    *redis.Client
	store  *pricestore.Store
	sched  *salesschedule.Schedule
	counts *countingSchedule
	reg    *prometheus.Registry
	tracer *fakeTracer
	clk    *clocktest.Fake
}

func newEnv(t *testing.T, now time.Time) *env {
	t.Helper()
	rdb := redisdbtest.New(t)
	clk := clocktest.NewFake(now)
	store, err := pricestore.New(rdb, clk, pricestore.Config{PriceTTL: time.Hour, HistoryTTL: 24 * time.Hour})
	require.NoError(t, err)
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	require.NoError(t, err)
	counts := &countingSchedule{next: sched}
	reg := prometheus.NewRegistry()
	tr := &fakeTracer{}
	h, err := New(Config{}, Deps{Store: store, Schedule: counts, Analyse: SellHistory, Registerer: reg, StartSpan: tr.start, Clock: clk})
	require.NoError(t, err)
	return &env{h: h, rdb: rdb, store: store, sched: sched, counts: counts, reg: reg, tracer: tr, clk: clk}
}

func (e *env) pages(kind, outcome string) float64 {
	return testutil.ToFloat64(e.h.m.pages.WithLabelValues(kind, outcome))
}

func TestNew(t *testing.T) {
	_, err := New(Config{}, Deps{})
	require.ErrorIs(t, err, ErrConfig)
	_, err = New(Config{EnqueueCacheSize: -1}, Deps{Store: &failingStore{}, Analyse: SellHistory})
	require.ErrorIs(t, err, ErrConfig)
	h, err := New(Config{}, Deps{Store: &failingStore{}, Analyse: SellHistory})
	require.NoError(t, err)
	require.Equal(t, DefaultEnqueueCacheSize/2, h.seen.half)
}

func TestHandleListings(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := newEnv(t, now)
	d := delivery(t, message.KindListings, "a8db", now.Add(-time.Second), "", fixture(t, "market-items-page.json"))
	require.NoError(t, e.h.Handle(ctx, d))

	p, ok, err := e.store.Title(ctx, "AWP | Asiimov (Field-Tested)")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(10250), p.Locked[0].PriceCents)
	require.Equal(t, 5, p.Locked[0].LockDays)
	due, ok, err := e.sched.Due(ctx, "a8db", "StatTrak™ MP9 | Hydra (Minimal Wear)")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now.UnixMilli(), due.UnixMilli())

	require.Equal(t, 5.0, testutil.ToFloat64(e.h.m.items.WithLabelValues("listings")))
	require.Equal(t, 5.0, testutil.ToFloat64(e.h.m.titles.WithLabelValues("listings")))
	count, sum := histogram(t, e.reg, "dmarket_worker_pipeline_latency_seconds", "listings")
	require.Equal(t, uint64(1), count)
	require.InDelta(t, 1.0, sum, 1e-9, "fetched one second before the (fake) now")
	require.Equal(t, 1.0, e.pages("listings", "ok"))
	require.Equal(t, 5.0, testutil.ToFloat64(e.h.m.enqueued))
	require.Equal(t, 1, testutil.CollectAndCount(e.h.m.duration.WithLabelValues("listings").(prometheus.Histogram)))

	// Spans: the handling continues the delivery's trace, the write is its child.
	require.Equal(t, []string{"worker.handle", "redis.write listings"}, e.tracer.spans)
	require.Equal(t, d.Headers, e.tracer.hdrs[0])
	require.Nil(t, e.tracer.hdrs[1])

	// Redelivery changes nothing and costs no schedule call.
	before := redisdbtest.Dump(t, e.rdb)
	require.NoError(t, e.h.Handle(ctx, d))
	require.Equal(t, before, redisdbtest.Dump(t, e.rdb))
	require.Equal(t, 2, e.counts.calls, "one call for the titles that go first, one for the others")
	require.Equal(t, []string{"Sticker | Battle Scarred"}, e.counts.first, "listed at 75 % of its suggested price")
	due, ok, err = e.sched.Due(ctx, "a8db", "Sticker | Battle Scarred")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now.Add(-salesschedule.PriorityLead).UnixMilli(), due.UnixMilli())
	require.Equal(t, 1.0, testutil.ToFloat64(e.h.m.priority))

	// A page with a new title enqueues only that one.
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindListings, "a8db", now, "", fixture(t, "market-items-last-page.json"))))
	require.Equal(t, 2, e.counts.calls, "AWP is already known")
	require.Equal(t, 5, e.counts.titles)
	require.Equal(t, 5, e.h.seen.len())
}

// The stickers items carry reach the sales schedule as market titles, once each, also when no page lists
// them: a sticker that is never listed is valued by its sell history alone.
func TestHandleListingsSchedulesStickerTitles(t *testing.T) {
	const weapon, other = "AK-47 | Redline (Field-Tested)", "AWP | Asiimov (Field-Tested)"
	// listing is a listing of title carrying stickers: the fixture's first object with them set.
	type listing struct {
		title    string
		stickers []string
	}
	var fx struct {
		Objects []map[string]any `json:"objects"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "market-items-page.json"), &fx))
	page := func(ls []listing) []byte {
		objects := make([]map[string]any, len(ls))
		for i, l := range ls {
			o, extra := maps.Clone(fx.Objects[0]), maps.Clone(fx.Objects[0]["extra"].(map[string]any))
			o["itemId"], o["title"] = fmt.Sprintf("00000000-0000-4000-8000-%012x", i), l.title
			var st []map[string]any
			for _, n := range l.stickers {
				st = append(st, map[string]any{"name": n, "image": "https://img/s"})
			}
			extra["stickers"] = st
			o["extra"] = extra
			objects[i] = o
		}
		b, err := json.Marshal(map[string]any{"objects": objects, "cursor": ""})
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name  string
		items []listing
		want  []string // titles scheduled, in any order
	}{
		{"a sticker no page lists", []listing{{weapon, []string{"Vox Eminor (Holo) | Katowice 2014"}}},
			[]string{weapon, "Sticker | Vox Eminor (Holo) | Katowice 2014"}},
		{"bare and market names on several items, once", []listing{
			{weapon, []string{"Crown (Foil)", "Crown (Foil)"}},
			{other, []string{"Sticker | Crown (Foil)"}},
		}, []string{weapon, other, "Sticker | Crown (Foil)"}},
		{"a sticker the page lists too, once", []listing{
			{"Sticker | Crown (Foil)", nil},
			{weapon, []string{"Crown (Foil)"}},
		}, []string{weapon, "Sticker | Crown (Foil)"}},
		{"no stickers", []listing{{weapon, nil}}, []string{weapon}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now().UTC()
			e := newEnv(t, now)
			d := delivery(t, message.KindListings, "a8db", now, "", page(tc.items))
			require.NoError(t, e.h.Handle(ctx, d))
			require.Equal(t, len(tc.want), e.counts.titles)
			for _, title := range tc.want {
				_, ok, err := e.sched.Due(ctx, "a8db", title)
				require.NoError(t, err)
				require.True(t, ok, "%s is scheduled", title)
			}
			calls := e.counts.calls
			require.NoError(t, e.h.Handle(ctx, d))
			require.Equal(t, calls, e.counts.calls, "known titles and stickers cost no schedule call")
		})
	}
}

func TestHandleListingsInvalidItemsCounted(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	e := newEnv(t, now)
	payload := strings.Replace(string(fixture(t, "market-items-page.json")), `"USD": "1289"`, `"USD": "-1"`, 1)
	payload = strings.Replace(payload, `"title": "Sticker | Battle Scarred"`, `"title": ""`, 1)
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindListings, "a8db", now, "", []byte(payload))))
	require.Equal(t, 1.0, testutil.ToFloat64(e.h.m.invalid.WithLabelValues("price_out_of_range")))
	require.Equal(t, 1.0, testutil.ToFloat64(e.h.m.invalid.WithLabelValues("empty_title")))
	require.Equal(t, 3.0, testutil.ToFloat64(e.h.m.items.WithLabelValues("listings")))
	_, ok, err := e.store.Title(ctx, "AK-47 | Redline (Field-Tested)")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestHandleOrdersSalesFees(t *testing.T) {
	ctx := context.Background()
	// The sales fixture is from June 2025; analyse as of shortly after the newest sale.
	now := time.Date(2025, 6, 10, 18, 0, 0, 0, time.UTC)
	e := newEnv(t, now)

	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindOrders, "a8db", now, "", fixture(t, "aggregated-prices.json"))))
	o, ok, err := e.store.Order(ctx, "AWP | Asiimov (Field-Tested)")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(9720), o.Price)
	require.Equal(t, 38, o.Count)
	require.Equal(t, 3.0, testutil.ToFloat64(e.h.m.titles.WithLabelValues("orders")))

	const title = "AK-47 | Redline (Field-Tested)"
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindSales, "a8db", now, title, fixture(t, "last-sales.json"))))
	hv, ok, err := e.store.History(ctx, title)
	require.NoError(t, err)
	require.True(t, ok)
	sales, err := validate.DecodeSales(fixture(t, "last-sales.json"))
	require.NoError(t, err)
	want := SellHistory("AK-47 | Redline (Field-Tested)", sales.Items, now)
	require.Equal(t, want.SoldPerWeek, hv.SoldPerWeek)
	require.Positive(t, hv.SoldPerWeek)
	require.Equal(t, want.Stable, hv.Stable)
	require.Equal(t, want.Probability, hv.History().Probability)
	raw := e.rdb.Get(ctx, "history:dmarket:"+title).Val()
	var generic map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &generic))
	require.Contains(t, generic, "probability")
	require.Equal(t, 20.0, testutil.ToFloat64(e.h.m.items.WithLabelValues("sales")))

	// No sales at all: the history key goes.
	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindSales, "a8db", now.Add(time.Second), title, []byte(`{"sales":[]}`))))
	_, ok, err = e.store.History(ctx, title)
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, e.h.Handle(ctx, delivery(t, message.KindFees, "9a92", now, "", fixture(t, "customized-fees.json"))))
	f, ok, err := e.store.Fees(ctx, "9a92")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "0.05", f.Fraction)
	require.Len(t, f.Reduced, 2)
	require.Equal(t, 1.0, e.pages("fees", "ok"))
}

func TestHandlePermanentErrors(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	tests := []struct {
		name    string
		d       func(t *testing.T) message.Delivery
		kind    string
		wantErr error
	}{
		{name: "undecodable envelope", kind: "unknown", d: func(t *testing.T) message.Delivery {
			return message.Delivery{Body: []byte("{nope")}
		}},
		{name: "unknown game", kind: "listings", wantErr: validate.ErrUnknownGame, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindListings, "csgo", now, "", []byte(`{"objects":[]}`))
		}},
		{name: "listings not json", kind: "listings", wantErr: validate.ErrInvalidPayload, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindListings, "a8db", now, "", []byte(`"<html>"`))
		}},
		{name: "listings all invalid", kind: "listings", wantErr: ErrAllInvalid, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindListings, "a8db", now, "", []byte(`{"objects":[{"title":"x"}]}`))
		}},
		{name: "orders not json", kind: "orders", wantErr: validate.ErrInvalidPayload, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindOrders, "a8db", now, "", []byte(`{"x":1}`))
		}},
		{name: "orders all invalid", kind: "orders", wantErr: ErrAllInvalid, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindOrders, "a8db", now, "", []byte(`{"aggregatedPrices":[{"title":""}]}`))
		}},
		{name: "sales without title", kind: "sales", wantErr: ErrNoTitle, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindSales, "a8db", now, "", []byte(`{"sales":[]}`))
		}},
		{name: "sales not json", kind: "sales", wantErr: validate.ErrInvalidPayload, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindSales, "a8db", now, "A", []byte(`[]`))
		}},
		{name: "sales all invalid", kind: "sales", wantErr: ErrAllInvalid, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindSales, "a8db", now, "A", []byte(`{"sales":[{"price":"x","date":"1"}]}`))
		}},
		{name: "fees not json", kind: "fees", wantErr: validate.ErrInvalidPayload, d: func(t *testing.T) message.Delivery {
			return delivery(t, message.KindFees, "a8db", now, "", []byte(`{"reducedFees":[]}`))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, now)
			err := e.h.Handle(ctx, tc.d(t))
			require.Error(t, err)
			require.True(t, message.IsPermanent(err), "%v", err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Equal(t, 1.0, e.pages(tc.kind, "invalid"))
			if errors.Is(err, ErrAllInvalid) {
				var total float64
				for _, r := range validate.Reasons {
					total += testutil.ToFloat64(e.h.m.invalid.WithLabelValues(string(r)))
				}
				require.Equal(t, 1.0, total, "the dropped item is counted")
			}
			require.Empty(t, redisdbtest.Dump(t, e.rdb), "nothing written")
			require.Error(t, e.tracer.errs[len(e.tracer.errs)-1], "the span records the error")
		})
	}
}

// failingStore fails every write, like an unreachable Redis.
type failingStore struct{}

var errDown = errors.New("redis down")

func (failingStore) ApplyListings(context.Context, pricestore.ListingsPage) (pricestore.Applied, error) {
	return pricestore.Applied{}, errDown
}
func (failingStore) WriteOrdersChanged(context.Context, time.Time, []validate.Order) (int, []string, error) {
	return 0, nil, errDown
}
func (failingStore) WriteHistoryChanged(context.Context, string, time.Time, *market.History) (int, bool, error) {
	return 0, false, errDown
}
func (failingStore) WriteFees(context.Context, string, time.Time, validate.Fees) (int, error) {
	return 0, errDown
}

type failingSchedule struct{}

func (failingSchedule) Enqueue(context.Context, string, []string) (int, error) { return 0, errDown }
func (failingSchedule) EnqueueFirst(context.Context, string, []string) (int, error) {
	return 0, errDown
}

func TestHandleTransientErrors(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 6, 10, 18, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	h, err := New(Config{}, Deps{Store: failingStore{}, Analyse: SellHistory, Registerer: reg})
	require.NoError(t, err)
	msgs := []message.Delivery{
		delivery(t, message.KindListings, "a8db", now, "", fixture(t, "market-items-page.json")),
		delivery(t, message.KindOrders, "a8db", now, "", fixture(t, "aggregated-prices.json")),
		delivery(t, message.KindSales, "a8db", now, "AK-47 | Redline (Field-Tested)", fixture(t, "last-sales.json")),
		delivery(t, message.KindFees, "a8db", now, "", fixture(t, "customized-fees.json")),
	}
	for _, d := range msgs {
		err := h.Handle(ctx, d)
		require.ErrorIs(t, err, errDown)
		require.False(t, message.IsPermanent(err))
	}
	for _, k := range message.Kinds {
		require.Equal(t, 1.0, testutil.ToFloat64(h.m.pages.WithLabelValues(string(k), "error")))
	}
	// Dropped items are counted once the message is settled, not on every retry.
	bad := strings.Replace(string(fixture(t, "market-items-page.json")), `"USD": "1289"`, `"USD": "x"`, 1)
	require.ErrorIs(t, h.Handle(ctx, delivery(t, message.KindListings, "a8db", now, "", []byte(bad))), errDown)
	require.Zero(t, testutil.ToFloat64(h.m.invalid.WithLabelValues("bad_price")))

	// A failing schedule is transient too, and the titles are not remembered as enqueued.
	e := newEnv(t, time.Now().UTC())
	h2, err := New(Config{}, Deps{Store: e.store, Schedule: failingSchedule{}, Analyse: SellHistory})
	require.NoError(t, err)
	err = h2.Handle(ctx, delivery(t, message.KindListings, "a8db", time.Now(), "", fixture(t, "market-items-page.json")))
	require.ErrorIs(t, err, errDown)
	require.False(t, message.IsPermanent(err))
	require.Zero(t, h2.seen.len())

	// Real Redis unreachable: transient.
	dead := redisdbtest.Unreachable(t)
	st, err := pricestore.New(dead, clock.Real{}, pricestore.Config{})
	require.NoError(t, err)
	h3, err := New(Config{}, Deps{Store: st, Analyse: SellHistory})
	require.NoError(t, err)
	err = h3.Handle(ctx, delivery(t, message.KindListings, "a8db", time.Now(), "", fixture(t, "market-items-page.json")))
	require.Error(t, err)
	require.False(t, message.IsPermanent(err))
}

func TestTitleSetBounded(t *testing.T) {
	s := newTitleSet(4, time.Hour, clocktest.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	for i := 0; i < 10; i++ {
		s.add("a8db", fmt.Sprint(i))
		require.LessOrEqual(t, s.len(), 4)
	}
	require.True(t, s.has("a8db", "9"))
	require.True(t, s.has("a8db", "8"))
	require.False(t, s.has("a8db", "0"))
	require.False(t, s.has("tf2", "9"))
}

func TestTitleSetForgetsOldTitles(t *testing.T) {
	clk := clocktest.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := newTitleSet(100, time.Hour, clk)
	s.add("a8db", "A")
	clk.Advance(40 * time.Minute)
	s.add("a8db", "B")
	require.True(t, s.has("a8db", "A"))
	clk.Advance(20*time.Minute - time.Nanosecond)
	require.True(t, s.has("a8db", "A"), "known for less than the maximum age")
	clk.Advance(time.Nanosecond)
	require.False(t, s.has("a8db", "A"), "known for the maximum age")
	require.True(t, s.has("a8db", "B"))
	clk.Advance(time.Hour)
	require.False(t, s.has("a8db", "B"))
	require.Zero(t, s.len())
}

// benchPages builds 100-item listing pages from the fixture's item shapes, each item with its own title
// drawn from a pool of titles, like a price-ordered crawl of a whole game.
func benchPages(b *testing.B, n int, fetched time.Time) []message.Delivery {
	var page struct {
		Objects []map[string]any `json:"objects"`
	}
	require.NoError(b, json.Unmarshal(fixture(b, "market-items-page.json"), &page))
	out := make([]message.Delivery, n)
	for p := range out {
		items := make([]map[string]any, 100)
		for i := range items {
			src := page.Objects[i%len(page.Objects)]
			item := make(map[string]any, len(src))
			for k, v := range src {
				item[k] = v
			}
			item["title"] = fmt.Sprintf("%s #%d", src["title"], (p*100+i)%20000)
			item["price"] = map[string]string{"DMC": "", "USD": fmt.Sprint(100 + p)}
			items[i] = item
		}
		payload, err := json.Marshal(map[string]any{"objects": items, "cursor": "abc", "total": map[string]int{"items": 10000}})
		require.NoError(b, err)
		out[p] = delivery(b, message.KindListings, "a8db", fetched.Add(time.Duration(p)*time.Millisecond), "", payload)
	}
	return out
}

func BenchmarkHandleListings(b *testing.B) {
	ctx := context.Background()
	rdb := redisdbtest.New(b)
	clk := clock.Real{}
	store, err := pricestore.New(rdb, clk, pricestore.Config{PriceTTL: time.Hour})
	require.NoError(b, err)
	sched, err := salesschedule.New(rdb, clk, salesschedule.Config{})
	require.NoError(b, err)
	h, err := New(Config{}, Deps{Store: store, Schedule: sched, Analyse: SellHistory, Registerer: prometheus.NewRegistry()})
	require.NoError(b, err)
	pages := benchPages(b, 400, time.Now())
	var next sync.Mutex
	i := 0
	b.ReportAllocs()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			d := pages[i%len(pages)]
			i++
			next.Unlock()
			if err := h.Handle(ctx, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*100), "allocs/item")
}

// histogram returns the sample count and sum of the histogram name for kind.
func histogram(t *testing.T, g prometheus.Gatherer, name, kind string) (uint64, float64) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	t.Fatalf("no %s{kind=%q}", name, kind)
	return 0, 0
}

// len returns the number of pairs the set remembers.
func (s *titleSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.prev)
}

func TestSellHistoryReportsOldestSale(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		sales []validate.Sale
		want  time.Time
	}{
		{name: "none"},
		{name: "newest first, older than a week", want: now.Add(-9 * 24 * time.Hour), sales: []validate.Sale{
			{Price: 100, At: now.Add(-time.Hour)}, {Price: 120, At: now.Add(-9 * 24 * time.Hour)}}},
		{name: "unordered, within a day", want: now.Add(-20 * time.Hour), sales: []validate.Sale{
			{Price: 100, At: now.Add(-3 * time.Hour)}, {Price: 120, At: now.Add(-20 * time.Hour)},
			{Price: 110, At: now.Add(-time.Hour)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, tc.want.Equal(SellHistory("AK-47 | Redline (Field-Tested)", tc.sales, now).Oldest))
		})
	}
}

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
