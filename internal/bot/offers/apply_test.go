package offers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

// memSource is an in-memory TitleSource: a market whose titles tests change, counting the reads.
type memSource struct {
	mu          sync.Mutex
	titles      map[string]market.TitleState
	fees        map[string]market.FeeSchedule
	fallback    market.Fraction
	marketReads atomic.Int32
	titleReads  [][]string
	titlesErr   error
	// historyReads are the names of each StickerHistories call.
	historyReads [][]string
	// gate, when set, holds every full read after the first, with the market as it was when it began.
	gate chan struct{}
	// hist holds each title's last sell history (nil: none), as its `history:` key outlives its listings;
	// a full read reports those of titles without a level as the market's StickerHistory.
	hist map[string]*market.ResaleHistory
}

func newMemSource(m market.Snapshot) *memSource {
	src := &memSource{titles: make(map[string]market.TitleState, len(m.Titles)), fees: m.Fees, fallback: m.FallbackFee,
		hist: maps.Clone(m.StickerHistory)}
	if src.hist == nil {
		src.hist = map[string]*market.ResaleHistory{}
	}
	for _, t := range m.Titles {
		src.titles[t.Title] = t
		src.hist[t.Title] = t.History
	}
	return src
}

// set changes (or, with nil, removes) a title.
func (m *memSource) set(title string, st *market.TitleState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st == nil {
		delete(m.titles, title)
		return
	}
	c := *st
	c.Title = title
	m.titles[title] = c
	m.hist[title] = c.History
}

func (m *memSource) snapshot() market.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return snapshotOf(m.titles, m.fees, m.fallback, m.hist)
}

// snapshotOf returns the market of titles, sorted as pricestore.MarketReader sorts it, without titles
// lacking a level, with the histories hist holds of titles not in it as its StickerHistory.
func snapshotOf(titles map[string]market.TitleState, fees map[string]market.FeeSchedule, fallback market.Fraction,
	hist map[string]*market.ResaleHistory) market.Snapshot {
	out := market.Snapshot{Fees: fees, FallbackFee: fallback, Titles: make([]market.TitleState, 0, len(titles))}
	for _, t := range titles {
		if t.Listed() {
			out.Titles = append(out.Titles, t)
		}
	}
	slices.SortFunc(out.Titles, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
	for name, h := range hist {
		if t := titles[name]; h != nil && !t.Listed() {
			if out.StickerHistory == nil {
				out.StickerHistory = map[string]*market.ResaleHistory{}
			}
			out.StickerHistory[name] = h
		}
	}
	return out
}

func (m *memSource) Market(ctx context.Context) (market.Snapshot, error) {
	snap := m.snapshot()
	if m.marketReads.Add(1) > 1 && m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return market.Snapshot{}, ctx.Err()
		}
	}
	return snap, nil
}

func (m *memSource) Titles(_ context.Context, titles []string) ([]market.TitleState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.titleReads = append(m.titleReads, slices.Clone(titles))
	if m.titlesErr != nil {
		return nil, m.titlesErr
	}
	var out []market.TitleState
	for _, n := range titles {
		if t, ok := m.titles[n]; ok && t.Listed() {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b market.TitleState) int { return strings.Compare(a.Title, b.Title) })
	return out, nil
}

// StickerHistories returns the histories hist holds of the named titles, as their `history:` keys do.
func (m *memSource) StickerHistories(_ context.Context, titles []string) (map[string]*market.ResaleHistory, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.historyReads = append(m.historyReads, slices.Clone(titles))
	out := map[string]*market.ResaleHistory{}
	for _, n := range titles {
		if h := m.hist[n]; h != nil {
			out[n] = h
		}
	}
	return out, nil
}

// sell sets the sell history of a title without a live listing (its sales were fetched), as its
// `history:` key; a listed title is left as it is (its history is its state's). It reports whether it
// set it.
func (m *memSource) sell(title string, h *market.ResaleHistory) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.titles[title]; t.Listed() {
		return false
	}
	m.hist[title] = h
	return true
}

func (m *memSource) reads() [][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.titleReads)
}

// model is what a Service must show: the source's titles as last read, with forgotten levels and orders removed.
type model struct {
	titles   map[string]market.TitleState
	fees     map[string]market.FeeSchedule
	fallback market.Fraction
	// hist is each title's sell history as last read (a gone sticker title is valued from it).
	hist map[string]*market.ResaleHistory
}

func (md *model) readAll(src *memSource) {
	src.mu.Lock()
	defer src.mu.Unlock()
	md.titles = make(map[string]market.TitleState, len(src.titles))
	for k, v := range src.titles {
		md.titles[k] = v
	}
	md.hist = maps.Clone(src.hist)
}

func (md *model) read(src *memSource, names []string) {
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, n := range names {
		if t, ok := src.titles[n]; ok {
			md.titles[n] = t
			if t.Listed() {
				md.hist[n] = t.History
			}
		} else {
			delete(md.titles, n)
		}
	}
	// A sticker title read without a listing is valued from its history as it is now, and so is a
	// sticker the read titles' items carry whose title has neither a listing nor a known history.
	listed := func(n string) bool {
		t := md.titles[n]
		return t.Listed()
	}
	for _, n := range names {
		if isStickerTitle(n) && !listed(n) {
			md.hist[n] = src.hist[n]
		}
	}
	for _, n := range names {
		if t := md.titles[n]; t.Listed() {
			for _, st := range stickerTitles(&t) {
				if !listed(st) && md.hist[st] == nil {
					md.hist[st] = src.hist[st]
				}
			}
		}
	}
}

func (md *model) snapshot() market.Snapshot {
	return snapshotOf(md.titles, md.fees, md.fallback, md.hist)
}

// changeSource changes k random titles of src: new states drawn from pool, new titles, removed titles.
func changeSource(r *rand.Rand, src *memSource, pool []market.TitleState, k int) []string {
	src.mu.Lock()
	names := make([]string, 0, len(src.titles))
	for n := range src.titles {
		names = append(names, n)
	}
	src.mu.Unlock()
	slices.Sort(names)
	var changed []string
	for range k {
		var name string
		switch {
		case len(names) == 0 || r.IntN(5) == 0:
			name = fmt.Sprintf("Item %06d | %s", r.IntN(1000), []string{"A", "AB", "D", "Z"}[r.IntN(4)])
		default:
			name = names[r.IntN(len(names))]
		}
		if r.IntN(6) == 0 {
			src.set(name, nil)
		} else {
			src.set(name, &pool[r.IntN(len(pool))])
		}
		changed = append(changed, name)
	}
	return changed
}

// requireMatches checks the service's index, Offers, First, Count and TitleOffers against Compute over
// the model's market at several times.
func requireMatches(t *testing.T, r *rand.Rand, svc *Service, md *model, step string) {
	t.Helper()
	want := md.snapshot()
	ix := svc.cur.Load().ix
	for _, off := range []time.Duration{0, time.Second, 30 * time.Second, 2 * time.Minute} {
		at := svc.clock.Now().Add(off)
		for range 4 {
			s := genSettings(r, &want)
			all := Compute(want, s, at)
			require.Equal(t, all, ix.Offers(s, at), "%s: offers at +%v settings %+v", step, off, s)
			require.Equal(t, len(all), ix.Count(s, at), step)
			for _, n := range []int{1, 10} {
				require.Equal(t, orEmpty(all[:min(n, len(all))]), orEmpty(ix.First(s, at, n)), "%s: first %d", step, n)
			}
			var names []string
			for range 1 + r.IntN(20) {
				if len(want.Titles) > 0 {
					names = append(names, want.Titles[r.IntN(len(want.Titles))].Title)
				}
			}
			names = append(names, "Unknown title")
			// A title's offers are those of the whole market (STICKERS offers value stickers by other titles).
			var sub []Offer
			for _, o := range all {
				if slices.Contains(names, o.Title) {
					sub = append(sub, o)
				}
			}
			require.Equal(t, sub, svc.TitleOffers(s, names, at), "%s: title offers", step)
		}
	}
	require.Equal(t, want.Titles, orNoTitles(ix.Market().Titles), "%s: snapshot", step)
}

func orNoTitles(ts []market.TitleState) []market.TitleState {
	if ts == nil {
		return []market.TitleState{}
	}
	return ts
}

// After any sequence of Apply, Forget, ForgetOrder, Resync and changes the service never heard of, the
// index gives exactly Compute's offers over the market the service has been told about.
func TestServiceApplyMatchesCompute(t *testing.T) {
	eachSeed(t, genMarket, applyMatchesCompute)
}

// The same holds over markets with item attributes, with forgotten items, and changed sticker titles
// that re-price the STICKERS offers of the titles carrying them.
func TestServiceApplyMatchesComputeWithAttributes(t *testing.T) {
	eachSeed(t, genAttrMarket, applyMatchesCompute)
}

func applyMatchesCompute(t *testing.T, seed uint64, gen marketGen) {
	r := rand.New(rand.NewPCG(seed, 99))
	cfg := genConfig{titles: 300, span: time.Minute, narrow: seed%3 == 2}
	m0 := gen(r, cfg, now0)
	pool := gen(r, genConfig{titles: 200, span: time.Minute, narrow: cfg.narrow}, now0).Titles
	src := newMemSource(m0)
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, time.Hour)
	if seed%2 == 1 {
		svc.compactMin = 20 // compact often, in the background, while changes go on
	}
	ctx := context.Background()
	require.NoError(t, svc.Resync(ctx))
	md := &model{fees: m0.Fees, fallback: m0.FallbackFee}
	md.readAll(src)
	requireMatches(t, r, svc, md, "start")
	for step := range 40 {
		clk.Advance(time.Duration(r.IntN(3000)) * time.Millisecond)
		name := fmt.Sprintf("step %d", step)
		switch op := r.IntN(11); {
		case op < 5:
			changed := changeSource(r, src, pool, 1+r.IntN(30))
			if r.IntN(4) == 0 {
				changed = append(changed, "Unknown title", changed[0])
			}
			require.NoError(t, svc.Apply(ctx, changed))
			md.read(src, changed)
		case op < 7:
			forgetRandom(r, svc, md)
		case op < 8:
			changeSource(r, src, pool, 1+r.IntN(5)) // lost: no Apply
		case op < 9:
			// The sales of a sticker without a listing are fetched (nil: none), told by a change event
			// or lost; the titles carrying it are re-priced when told, or when a later change brings it.
			sticker := market.StickerTitlePrefix + genStickers[r.IntN(len(genStickers))]
			var h *market.ResaleHistory
			if r.IntN(4) > 0 {
				h = &market.ResaleHistory{PriceAtLow: market.Cents(40 + r.IntN(3000))}
			}
			if src.sell(sticker, h) && r.IntN(3) > 0 {
				require.NoError(t, svc.Apply(ctx, []string{sticker}))
				md.read(src, []string{sticker})
			}
		default:
			require.NoError(t, svc.Resync(ctx))
			md.readAll(src)
		}
		requireMatches(t, r, svc, md, name)
	}
}

// forgetRandom forgets a random level or order the model shows, or one it does not (a no-op).
func forgetRandom(r *rand.Rand, svc *Service, md *model) {
	snap := md.snapshot()
	if len(snap.Titles) == 0 {
		return
	}
	ti := snap.Titles[r.IntN(len(snap.Titles))]
	if len(ti.Items) > 0 && r.IntN(3) == 0 {
		k := r.IntN(len(ti.Items))
		svc.ForgetItem(ti.Title, ti.Items[k].ItemID)
		ti.Items = slices.Delete(slices.Clone(ti.Items), k, k+1)
		md.titles[ti.Title] = ti
		return
	}
	switch r.IntN(4) {
	case 0:
		svc.ForgetOrder(ti.Title)
		ti.Order = nil
	case 1:
		svc.Forget(ti.Title, false, 999999999) // no such level
		return
	default:
		locked := r.IntN(2) == 0
		l := &ti.Available
		if locked {
			l = &ti.Locked
		}
		if *l == nil {
			return
		}
		svc.Forget(ti.Title, locked, (*l).Price)
		*l = nil
	}
	md.titles[ti.Title] = ti
}

// Apply reads only the titles named, tells subscribers, and its offers are seen at once.
func TestServiceApply(t *testing.T) {
	m := baseMarket(
		market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)},
		market.TitleState{Title: "B", GameID: gameZero, Available: avail(100), Order: order(120)},
	)
	src := newMemSource(m)
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, time.Hour)
	ctx := context.Background()
	updates, cancel := svc.Subscribe()
	defer cancel()
	require.NoError(t, svc.Resync(ctx))
	require.Equal(t, Update{Resync: true, At: now0}, <-updates)

	clk.Advance(time.Second)
	src.set("B", &market.TitleState{GameID: gameZero, Available: avail(100), Order: order(200)})
	src.set("C", &market.TitleState{GameID: gameZero, Available: avail(100), Order: order(110)})
	src.set("A", nil)
	require.NoError(t, svc.Apply(ctx, []string{"C", "B", "A", "B"}))
	require.Equal(t, [][]string{{"A", "B", "C"}}, src.reads())
	require.Equal(t, Update{Titles: []string{"A", "B", "C"}, At: now0.Add(time.Second)}, <-updates)
	require.EqualValues(t, 1, src.marketReads.Load())

	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"B", "C"}, titlesOf(got))
	require.Equal(t, []string{"B"}, titlesOf(svc.TitleOffers(Settings{}, []string{"B", "A"}, clk.Now())))
	require.Empty(t, svc.TitleOffers(Settings{LimitBasisPoints: 20000}, []string{"B"}, clk.Now()))

	src.titlesErr = errors.New("redis down")
	require.ErrorIs(t, svc.Apply(ctx, []string{"B"}), src.titlesErr)
	require.NoError(t, svc.Apply(ctx, nil))
}

// Forget and ForgetOrder hide an offer at once, until a read shows it again.
func TestServiceForget(t *testing.T) {
	m := baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Locked: avail(90), Order: order(150),
		History: &market.ResaleHistory{Stable: true, SoldPerWeek: 10, PriceAtLow: 130, PriceAtHigh: 130}})
	src := newMemSource(m)
	svc := NewService(src, clocktest.NewFake(now0), time.Hour)
	ctx := context.Background()
	require.NoError(t, svc.Resync(ctx))
	count := func() int {
		n, err := svc.Count(ctx, Settings{})
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 4, count())
	svc.Forget("A", false, 99) // not the current level
	svc.Forget("Nope", false, 100)
	svc.ForgetOrder("Nope")
	require.Equal(t, 4, count())
	svc.Forget("A", true, 90)
	require.Equal(t, 2, count(), "the locked level's offers are gone")
	svc.ForgetOrder("A")
	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, market.KindHistory, got[0].Kind)
	svc.Forget("A", false, 100)
	require.Zero(t, count())
	require.NoError(t, svc.Apply(ctx, []string{"A"}))
	require.Equal(t, 4, count(), "a read of the title shows them again")
}

// A slow subscriber does not block Apply: its updates are coalesced, none is lost; a cancelled
// subscription's channel is closed.
func TestServiceSubscribeCoalesces(t *testing.T) {
	src := newMemSource(baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)}))
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, time.Hour)
	ctx := context.Background()
	require.NoError(t, svc.Resync(ctx))
	slow, cancelSlow := svc.Subscribe()
	other, cancelOther := svc.Subscribe()
	cancelOther()
	cancelOther()
	for i := range 50 {
		clk.Advance(time.Millisecond)
		require.NoError(t, svc.Apply(ctx, []string{fmt.Sprintf("T%02d", i%20)}))
	}
	require.NoError(t, svc.Resync(ctx))
	seen := map[string]bool{}
	resync := false
	for !resync || len(seen) < 20 {
		u := <-slow
		for _, ti := range u.Titles {
			seen[ti] = true
		}
		resync = resync || u.Resync
	}
	require.Len(t, seen, 20)
	cancelSlow()
	for u := range slow {
		_ = u // drained until closed
	}
	_, open := <-other
	require.False(t, open)
}

// startLive runs a service over src, by a fake clock at now0, with change events live and a full read
// every resync; it returns once the first full read has been announced to the returned subscription.
func startLive(t *testing.T, src *memSource, resync time.Duration) (*Service, *clocktest.Fake, <-chan Update) {
	t.Helper()
	clk := clocktest.NewFake(now0)
	svc := NewService(src, clk, 5*time.Millisecond, WithResyncInterval(resync))
	svc.SetEventsLive(true)
	updates, cancel := svc.Subscribe()
	t.Cleanup(cancel)
	startRun(t, svc)
	require.True(t, (<-updates).Resync)
	return svc, clk, updates
}

// While change events are live, Run reads the whole market only every resync interval: a change whose
// event was lost (no Apply) is healed by the next resync, by the service's clock.
func TestServiceLiveResyncHealsALostChange(t *testing.T) {
	src := newMemSource(baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)}))
	svc, clk, updates := startLive(t, src, time.Minute)
	ctx := context.Background()

	src.set("B", &market.TitleState{GameID: gameZero, Available: avail(100), Order: order(200)}) // its event is lost
	clk.Advance(59 * time.Second)
	require.NoError(t, svc.Apply(ctx, []string{"A"}))
	require.Equal(t, []string{"A"}, (<-updates).Titles)
	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"A"}, titlesOf(got), "the lost change is not seen before the resync")
	require.EqualValues(t, 1, src.marketReads.Load(), "no full read within the resync interval")

	clk.Advance(time.Second)
	require.True(t, (<-updates).Resync, "the resync interval has passed")
	got, err = svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"B", "A"}, titlesOf(got))
	require.EqualValues(t, 2, src.marketReads.Load())

	// Events going down brings back a full read at once, and the full refresh every maxAge.
	svc.SetEventsLive(false)
	require.True(t, (<-updates).Resync)
	require.Eventually(t, func() bool { return src.marketReads.Load() >= 5 }, 10*time.Second, time.Millisecond)
}

// While change events are live, a title whose cheapest level expires is re-read alone at its expiry.
func TestServiceLiveRereadsExpiringTitles(t *testing.T) {
	soon := &market.PriceLevel{Price: 100, Count: 1, ExpiresAt: now0.Add(30 * time.Second)}
	src := newMemSource(baseMarket(
		market.TitleState{Title: "A", GameID: gameZero, Available: soon, Order: order(150)},
		market.TitleState{Title: "B", GameID: gameZero, Available: avail(100), Order: order(120)},
	))
	svc, clk, updates := startLive(t, src, time.Hour)

	later := &market.PriceLevel{Price: 110, Count: 1, ExpiresAt: now0.Add(time.Minute)}
	src.set("A", &market.TitleState{GameID: gameZero, Available: later, Order: order(150)})
	clk.Advance(30 * time.Second) // A's level still counts at its expiry
	clk.Advance(time.Nanosecond)
	u := <-updates
	require.Equal(t, []string{"A"}, u.Titles)
	require.False(t, u.Resync)
	require.Equal(t, [][]string{{"A"}}, src.reads())
	got := svc.TitleOffers(Settings{}, []string{"A"}, clk.Now())
	require.Len(t, got, 1)
	require.Equal(t, int64(110), got[0].Buy)

	// The level read then expires in turn.
	src.set("A", nil)
	clk.Advance(30 * time.Second)
	clk.Advance(time.Nanosecond)
	require.Equal(t, []string{"A"}, (<-updates).Titles)
	require.Equal(t, [][]string{{"A"}, {"A"}}, src.reads())
	got, err := svc.Offers(context.Background(), Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"B"}, titlesOf(got))
	require.EqualValues(t, 1, src.marketReads.Load())
}

// A full read keeps the changes applied while it read: its market is older than they are.
func TestServiceFullReadKeepsChangesAppliedMeanwhile(t *testing.T) {
	src := newMemSource(baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)}))
	src.gate = make(chan struct{})
	svc := NewService(src, clocktest.NewFake(now0), time.Hour)
	ctx := context.Background()
	require.NoError(t, svc.Resync(ctx))
	done := make(chan error, 1)
	go func() { done <- svc.Resync(ctx) }()
	require.Eventually(t, func() bool { return src.marketReads.Load() == 2 }, 5*time.Second, time.Millisecond)
	src.set("A", &market.TitleState{GameID: gameZero, Available: avail(100), Order: order(300)})
	src.set("B", &market.TitleState{GameID: gameZero, Available: avail(100), Order: order(200)})
	require.NoError(t, svc.Apply(ctx, []string{"A", "B"}))
	close(src.gate)
	require.NoError(t, <-done)
	got, err := svc.Offers(ctx, Settings{})
	require.NoError(t, err)
	require.Equal(t, []string{"A", "B"}, titlesOf(got))
	require.Equal(t, int64(300), got[0].Sell, "the change applied during the read is kept")
}

// A sticker without a listing is valued from its sell history from the Apply that brings it: the change
// event of its sales, or the change of a title whose items first carry it; the history read then also
// outlives a full read that began before it.
func TestServiceApplyReadsStickerHistories(t *testing.T) {
	const sticker = "Sticker | Never Listed"
	weapon := func(stickers ...string) *market.TitleState {
		return &market.TitleState{GameID: gameZero, Available: avail(1000),
			Items: []market.ItemListing{item("b", 1000, market.Attributes{Stickers: stickers})}}
	}
	stickersValue := func(t *testing.T, svc *Service) int64 {
		t.Helper()
		for _, o := range svc.TitleOffers(Settings{LimitBasisPoints: -10000}, []string{redline}, now0) {
			if o.Kind == market.KindStickers {
				return o.Item.StickersValue
			}
		}
		return 0
	}
	tests := []struct {
		name string
		// run changes src and tells svc; it returns the history reads it expects.
		run  func(t *testing.T, src *memSource, svc *Service) [][]string
		want int64
	}{
		{"its sales told by a change event re-price the titles carrying it", func(t *testing.T, src *memSource, svc *Service) [][]string {
			src.sell(sticker, &market.ResaleHistory{PriceAtLow: 7000})
			require.NoError(t, svc.Apply(t.Context(), []string{sticker}))
			return [][]string{{sticker}}
		}, 7000},
		{"a change of a title carrying it reads its sales", func(t *testing.T, src *memSource, svc *Service) [][]string {
			src.sell(sticker, &market.ResaleHistory{PriceAtLow: 5000})
			src.set(redline, weapon("Never Listed", "Crown (Foil)"))
			require.NoError(t, svc.Apply(t.Context(), []string{redline}))
			return [][]string{{"Sticker | Crown (Foil)", sticker}}
		}, 5000},
		{"a sticker with no sales is read as none", func(t *testing.T, src *memSource, svc *Service) [][]string {
			src.set(redline, weapon("Never Listed"))
			require.NoError(t, svc.Apply(t.Context(), []string{redline}))
			return [][]string{{sticker}}
		}, 0},
		{"a full read that began before keeps the history read meanwhile", func(t *testing.T, src *memSource, svc *Service) [][]string {
			src.gate = make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- svc.Resync(t.Context()) }()
			require.Eventually(t, func() bool { return src.marketReads.Load() == 2 }, 5*time.Second, time.Millisecond)
			src.sell(sticker, &market.ResaleHistory{PriceAtLow: 6000})
			require.NoError(t, svc.Apply(t.Context(), []string{sticker}))
			close(src.gate)
			require.NoError(t, <-done)
			return [][]string{{sticker}}
		}, 6000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := weapon()
			w.Title = redline
			src := newMemSource(baseMarket(*w))
			src.set(redline, weapon("Never Listed"))
			svc := NewService(src, clocktest.NewFake(now0), time.Hour, WithPricing(StickerShare(10)))
			require.NoError(t, svc.Resync(t.Context()))
			require.Zero(t, stickersValue(t, svc), "a sticker never read counts nothing")
			src.historyReads = nil
			reads := tc.run(t, src, svc)
			require.Equal(t, tc.want, stickersValue(t, svc))
			require.Equal(t, reads, src.historyReads)
		})
	}
}

// applyObserver counts a Service's builds and applies.
type applyObserver struct {
	countingObserver
	applied, titles, failed atomic.Int64
}

func (o *applyObserver) TitlesApplied(_ time.Duration, titles int) {
	o.applied.Add(1)
	o.titles.Add(int64(titles))
}

func (o *applyObserver) ApplyFailed() { o.failed.Add(1) }

// Apply reads the whole market instead when the source cannot read titles or nothing was read yet, and
// tells an ApplyObserver about the applies it made.
func TestServiceApplyFallsBackToAFullRead(t *testing.T) {
	m := baseMarket(market.TitleState{Title: "A", GameID: gameZero, Available: avail(100), Order: order(150)})
	ctx := context.Background()

	plain := &fakeSource{market: m}
	svc := NewService(plain, clocktest.NewFake(now0), time.Hour)
	require.NoError(t, svc.Apply(ctx, []string{"A"}))
	require.NoError(t, svc.Apply(ctx, []string{"A"}))
	require.EqualValues(t, 2, plain.calls.Load(), "a Source without Titles is read in full")
	plain.err = errors.New("redis down")
	require.ErrorIs(t, svc.Apply(ctx, []string{"A"}), plain.err)

	src := newMemSource(m)
	obs := &applyObserver{}
	svc = NewService(src, clocktest.NewFake(now0), time.Hour, WithObserver(obs))
	require.NoError(t, svc.Apply(ctx, []string{"A"}))
	require.EqualValues(t, 1, src.marketReads.Load(), "the first Apply reads the whole market")
	require.Empty(t, src.reads())
	require.NoError(t, svc.Apply(ctx, []string{"A", "B", "A"}))
	require.Equal(t, [][]string{{"A", "B"}}, src.reads())
	require.EqualValues(t, 1, obs.applied.Load())
	require.EqualValues(t, 2, obs.titles.Load())
	src.titlesErr = errors.New("redis down")
	require.Error(t, svc.Apply(ctx, []string{"A"}))
	require.EqualValues(t, 1, obs.failed.Load())
	require.EqualValues(t, 1, obs.built.Load())
}

// Users query while changes are applied and compacted: every answer is a consistent index's (sorted,
// counted alike), and the race detector finds nothing (run with -race).
func TestServiceApplyWhileUsersQuery(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	m := genMarket(r, genConfig{titles: 400, span: 1000 * time.Hour}, now0)
	pool := genMarket(r, genConfig{titles: 100, span: 1000 * time.Hour}, now0).Titles
	src := newMemSource(m)
	svc := NewService(src, clocktest.NewFake(now0), time.Hour)
	svc.compactMin = 30
	ctx := context.Background()
	require.NoError(t, svc.Resync(ctx))
	stop := make(chan struct{})
	var users sync.WaitGroup
	for u := range 4 {
		users.Add(1)
		go func() {
			defer users.Done()
			s := Settings{LimitBasisPoints: -10000, MinPriceCents: int64(u * 100)}
			for {
				select {
				case <-stop:
					return
				default:
				}
				ix, err := svc.Index(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				got := ix.Offers(s, now0)
				if len(got) != ix.Count(s, now0) || !slices.IsSortedFunc(got, func(a, b Offer) int {
					return cmp.Compare(b.ProfitBasisPoints, a.ProfitBasisPoints)
				}) {
					t.Errorf("user %d: inconsistent offers", u)
					return
				}
				_ = svc.TitleOffers(s, []string{pool[0].Title, m.Titles[u].Title}, now0)
				_ = ix.Market()
			}
		}()
	}
	for range 200 {
		changed := changeSource(r, src, pool, 1+r.IntN(10))
		require.NoError(t, svc.Apply(ctx, changed))
		if r.IntN(50) == 0 {
			require.NoError(t, svc.Resync(ctx))
		}
	}
	close(stop)
	users.Wait()
	want := Compute(src.snapshot(), Settings{LimitBasisPoints: -10000}, now0)
	require.Eventually(t, func() bool {
		got, err := svc.Offers(ctx, Settings{LimitBasisPoints: -10000})
		return err == nil && sameOffers(orEmpty(want), orEmpty(got)) && !svc.compacting.Load()
	}, 10*time.Second, time.Millisecond, "after the last change the service shows the source")
}
