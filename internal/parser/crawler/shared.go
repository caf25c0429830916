package crawler

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/parser/lease"
)

// A shared crawl lets any number of parsers crawl each cycle once in total. Per game, Redis holds the
// current cycle (its identity, the start in unix milliseconds, and its ranges); each range of the cycle
// is crawled under an expiring lease, and its progress (the crawl identity its pages carry, the cursor,
// the pages published so far and the price cuts for the next cycle's plan) is checkpointed after every
// published page. A range done in the cycle is marked so, and a range whose lease expired (its parser
// died) is taken over from its checkpoint, so that no page is fetched twice and none is skipped. The first
// parser that finds the cycle over (every range done, or CycleDeadline after its start) and at least
// CycleInterval old starts the next one, planning it from the checkpoints: done ranges split at their
// cuts, unfinished ones first. Every parser keeps its own egresses and limits, so the crawl's request
// rate is the sum of theirs.
//
// Keys (every write touches one key; see the README's Redis layout):
//
//	parser:cycle:<game>                        STRING JSON {"id","ranges":[[from,to],...]}
//	parser:range:<game>:<cycle>:<from>-<to>    HASH checkpoint {owner,crawl,cursor,pages,cut,cuts,done}
//	parser:lease:<game>:<cycle>:<from>-<to>    STRING lease token, expiring after the lease TTL

// Leases is the shared crawl state in Redis; NewLeases adapts a *lease.Store.
type Leases interface {
	// TTL is how long a lease lasts unless renewed.
	TTL() time.Duration
	// Acquire takes the lease at key; an error wrapping lease.ErrHeld when another parser holds it.
	Acquire(ctx context.Context, key string) (RangeLease, error)
	// Get returns the value at key, "" when there is none.
	Get(ctx context.Context, key string) (string, error)
	// Swap sets key to value, expiring after ttl, when it still holds old ("" for none).
	Swap(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error)
	// Records returns the fields of the records at keys.
	Records(ctx context.Context, keys []string) ([]map[string]string, error)
}

// RangeLease is a held lease on the crawl of one range; *lease.Lease implements it.
type RangeLease interface {
	// Hold renews the lease until Release; the context it returns ends when the lease is lost.
	Hold(ctx context.Context) context.Context
	// Claim makes this holder the owner of the record at key and returns its fields as they were.
	Claim(ctx context.Context, key string, ttl time.Duration) (map[string]string, error)
	// Save writes fields to the record at key while this holder owns it.
	Save(ctx context.Context, key string, fields map[string]string, ttl time.Duration) error
	// Release gives the lease up.
	Release(ctx context.Context) error
}

// NewLeases returns the shared crawl state kept by s.
func NewLeases(s *lease.Store) Leases { return storeLeases{s} }

type storeLeases struct{ *lease.Store }

func (s storeLeases) Acquire(ctx context.Context, key string) (RangeLease, error) {
	l, err := s.Store.Acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// sharedPlan is a game's current cycle as every parser sees it.
type sharedPlan struct {
	// ID is the cycle's start in unix milliseconds; the crawl of its range i is identified as ID+i in
	// the pages it publishes, whichever parser crawls it.
	ID int64 `json:"id"`
	// Ranges are the cycle's ranges, those the previous cycle left unfinished first.
	Ranges [][2]int64 `json:"ranges"`
}

func (p sharedPlan) ranges() []Range {
	out := make([]Range, len(p.Ranges))
	for i, r := range p.Ranges {
		out[i] = Range{From: r[0], To: r[1]}
	}
	return out
}

func cycleKey(game string) string { return "parser:cycle:" + game }

func (t task) recordKey() string {
	return "parser:range:" + t.game + ":" + strconv.FormatInt(t.shared, 10) + ":" + t.r.String()
}

func (t task) leaseKey() string {
	return "parser:lease:" + t.game + ":" + strconv.FormatInt(t.shared, 10) + ":" + t.r.String()
}

// checkpoint is the progress of one range crawl of a shared cycle.
type checkpoint struct {
	crawl  int64
	cursor string
	pages  int
	cut    int64
	cuts   []int64
	done   bool
}

func parseCheckpoint(f map[string]string) checkpoint {
	cp := checkpoint{cursor: f["cursor"], done: f["done"] == "1"}
	cp.crawl, _ = strconv.ParseInt(f["crawl"], 10, 64)
	cp.pages, _ = strconv.Atoi(f["pages"])
	cp.cut, _ = strconv.ParseInt(f["cut"], 10, 64)
	for s := range strings.SplitSeq(f["cuts"], ",") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			cp.cuts = append(cp.cuts, v)
		}
	}
	return cp
}

func (cp checkpoint) fields() map[string]string {
	cuts := make([]string, len(cp.cuts))
	for i, v := range cp.cuts {
		cuts[i] = strconv.FormatInt(v, 10)
	}
	done := "0"
	if cp.done {
		done = "1"
	}
	return map[string]string{"crawl": strconv.FormatInt(cp.crawl, 10), "cursor": cp.cursor,
		"pages": strconv.Itoa(cp.pages), "cut": strconv.FormatInt(cp.cut, 10), "cuts": strings.Join(cuts, ","), "done": done}
}

// stateTTL is how long the shared cycle and its checkpoints outlive their last write: long enough to plan
// the next cycle from them.
func (c *Crawler) stateTTL() time.Duration {
	return 2*(c.cfg.CycleDeadline+c.cfg.CycleInterval) + c.leases.TTL()
}

// runShared crawls the current shared cycle of every game together with the other parsers: it crawls
// the ranges nobody holds and watches those others hold until they are done, or until their lease
// expired and it takes them over, until the cycle's deadline.
func (c *Crawler) runShared(ctx context.Context, titles *titleSet) CycleStats {
	var st CycleStats
	var tasks []task
	var first int64
	unfinished := map[string]int{}
	for _, g := range c.cfg.Games {
		p, over, err := c.joinCycle(ctx, g)
		if err != nil {
			c.log.Warn("shared crawl cycle unavailable: the game is not crawled this cycle", "game", g, "err", err)
			c.mu.Lock()
			unfinished[g] = len(c.plan[g])
			c.mu.Unlock()
			continue
		}
		ranges := p.ranges()
		c.mu.Lock()
		c.plan[g] = ranges
		c.mu.Unlock()
		c.m.ranges.WithLabelValues(g).Set(float64(len(ranges)))
		for i, r := range ranges {
			if !over {
				tasks = append(tasks, task{game: g, r: r, shared: p.ID, crawl: p.ID + int64(i)})
			}
		}
		if first == 0 || p.ID < first {
			first = p.ID
		}
	}
	c.sharedStart.Store(first)
	if first > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.UnixMilli(first).Add(c.cfg.CycleDeadline).Sub(c.clock.Now()))
		defer cancel()
	}
	var mu sync.Mutex
	var watchers sync.WaitGroup
	add := func(r rangeResult, final bool) {
		mu.Lock()
		defer mu.Unlock()
		st.Pages += r.pages
		st.Listings += r.listings
		if !r.done && (final || !r.held) {
			unfinished[r.game]++
		}
	}
	crawl := func(ctx context.Context, t task, signed bool, titles *titleSet) rangeResult {
		r := c.crawlShared(ctx, t, signed, titles)
		if r.held {
			// Another parser holds it: watch it, and take it over as soon as its lease expires.
			watchers.Go(func() { add(c.watchShared(ctx, t, signed, titles), true) })
		}
		return r
	}
	for r := range c.runTasks(ctx, tasks, titles, crawl) {
		add(r, false)
	}
	watchers.Wait()
	for _, g := range c.cfg.Games {
		st.Unfinished += unfinished[g]
		c.m.unfinished.WithLabelValues(g).Set(float64(unfinished[g]))
	}
	return st
}

// joinCycle returns game's current shared cycle, starting the next one first when the current one is
// over and CycleInterval old; over reports a cycle that is over but not yet that old.
func (c *Crawler) joinCycle(ctx context.Context, game string) (p sharedPlan, over bool, err error) {
	for range 5 {
		raw, err := c.leases.Get(ctx, cycleKey(game))
		if err != nil {
			return sharedPlan{}, false, err
		}
		var cur sharedPlan
		var cps []checkpoint
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &cur); err != nil {
				c.log.Warn("shared crawl cycle unreadable: starting a new one", "game", game, "err", err)
				cur = sharedPlan{}
			}
			if cps, err = c.checkpoints(ctx, game, cur); err != nil {
				return sharedPlan{}, false, err
			}
			age := c.clock.Now().Sub(time.UnixMilli(cur.ID))
			over := age >= c.cfg.CycleDeadline || !slices.ContainsFunc(cps, func(cp checkpoint) bool { return !cp.done })
			if !over || age < c.cfg.CycleInterval {
				return cur, over, nil
			}
		}
		// Range i of a cycle is crawled as crawl ID+i, so the next cycle starts above every one of them.
		next := sharedPlan{ID: max(c.clock.Now().UnixMilli(), cur.ID+int64(len(cur.Ranges))+1)}
		ranges, splits := c.nextPlan(game, cur, cps)
		for _, r := range ranges {
			next.Ranges = append(next.Ranges, [2]int64{r.From, r.To})
		}
		b, err := json.Marshal(next)
		if err != nil {
			return sharedPlan{}, false, err
		}
		ok, err := c.leases.Swap(ctx, cycleKey(game), raw, string(b), c.stateTTL())
		if err != nil {
			return sharedPlan{}, false, err
		}
		if ok {
			c.m.splits.WithLabelValues(game).Add(float64(splits))
			c.log.Info("shared crawl cycle started", "game", game, "cycle", next.ID, "ranges", len(next.Ranges),
				"split_ranges", splits)
			return next, false, nil
		}
		// Another parser started it first: join theirs.
	}
	return sharedPlan{}, false, errSharedCycleRace
}

// errSharedCycleRace means the shared cycle kept changing while this parser tried to join it.
var errSharedCycleRace = errors.New("shared crawl cycle keeps changing")

// checkpoints reads the checkpoints of p's ranges, in p's order.
func (c *Crawler) checkpoints(ctx context.Context, game string, p sharedPlan) ([]checkpoint, error) {
	ranges := p.ranges()
	keys := make([]string, len(ranges))
	for i, r := range ranges {
		keys[i] = task{game: game, r: r, shared: p.ID}.recordKey()
	}
	recs, err := c.leases.Records(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]checkpoint, len(recs))
	for i, f := range recs {
		out[i] = parseCheckpoint(f)
	}
	return out, nil
}

// nextPlan returns the ranges of the cycle after cur, cur's done ranges split at their cuts and its
// unfinished ones first, and how many ranges were split; this parser's own plan when there is no cur.
func (c *Crawler) nextPlan(game string, cur sharedPlan, cps []checkpoint) ([]Range, int) {
	if len(cur.Ranges) == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return slices.Clone(c.plan[game]), 0
	}
	var first, rest []Range
	splits := 0
	for i, r := range cur.ranges() {
		if !cps[i].done {
			first = append(first, r)
			continue
		}
		parts := splitRange(r, cps[i].cuts)
		if len(parts) > 1 {
			splits++
		}
		rest = append(rest, parts...)
	}
	sortRanges(rest)
	return append(first, rest...), splits
}

// watchShared looks at t's range, which another parser holds, every tenth of the lease TTL until it is
// done, or until its lease is free and this parser crawls it. A taken-over chain does not wait for one of
// the Concurrency chains to be free: it only waits for the egresses' budget, as every chain does.
func (c *Crawler) watchShared(ctx context.Context, t task, signed bool, titles *titleSet) rangeResult {
	var pages, listings int
	for {
		if c.clock.Sleep(ctx, c.leases.TTL()/10) != nil {
			return rangeResult{task: t, pages: pages, listings: listings}
		}
		r := c.crawlShared(ctx, t, signed, titles)
		pages, listings = pages+r.pages, listings+r.listings
		if !r.held || ctx.Err() != nil {
			r.pages, r.listings = pages, listings
			return r
		}
	}
}

// crawlShared crawls t's range under its lease, from its checkpoint, checkpointing every page it
// publishes. A range done already is reported done, one whose lease another parser holds is reported
// held.
func (c *Crawler) crawlShared(ctx context.Context, t task, signed bool, titles *titleSet) rangeResult {
	res := rangeResult{task: t}
	if ctx.Err() != nil {
		return res
	}
	recs, err := c.leases.Records(ctx, []string{t.recordKey()})
	if err != nil {
		c.log.Warn("price range checkpoint unavailable", "game", t.game, "range", t.r.String(), "err", err)
		return res
	}
	if parseCheckpoint(recs[0]).done {
		res.done = true
		return res
	}
	l, err := c.leases.Acquire(ctx, t.leaseKey())
	if err != nil {
		res.held = errors.Is(err, lease.ErrHeld)
		if !res.held && ctx.Err() == nil {
			c.log.Warn("price range lease unavailable", "game", t.game, "range", t.r.String(), "err", err)
		}
		return res
	}
	bg := context.WithoutCancel(ctx)
	defer func() {
		if err := l.Release(bg); err != nil && !errors.Is(err, lease.ErrLost) {
			c.log.Warn("price range lease not released; it expires by itself", "game", t.game, "range", t.r.String(), "err", err)
		}
	}()
	hctx := l.Hold(ctx)
	f, err := l.Claim(hctx, t.recordKey(), c.stateTTL())
	if err != nil {
		c.log.Warn("price range checkpoint unavailable", "game", t.game, "range", t.r.String(), "err", err)
		return res
	}
	cp := parseCheckpoint(f)
	if cp.done {
		res.done = true
		return res
	}
	if cp.crawl == 0 {
		cp.crawl = t.crawl
	} else {
		c.m.takeovers.WithLabelValues(t.game).Inc()
		c.log.Info("price range taken over from its checkpoint", "game", t.game, "range", t.r.String(), "pages", cp.pages)
	}
	res.cycle, res.resumed, res.cuts = cp.crawl, cp.pages, cp.cuts
	q := ListingsQuery{GameID: t.game, PriceFrom: t.r.From, PriceTo: t.r.To, Cursor: cp.cursor, Signed: signed}
	lastCut := max(t.r.From, cp.cut)
	for hctx.Err() == nil {
		published := res.pages
		pctx, finish := c.span(hctx, "listings page")
		more, err := c.crawlPage(pctx, t, &q, &res, &lastCut, titles)
		finish()
		if res.pages > published {
			cp = checkpoint{crawl: res.cycle, cursor: q.Cursor, pages: res.resumed + res.pages, cut: lastCut, cuts: res.cuts, done: res.done}
			if serr := l.Save(bg, t.recordKey(), cp.fields(), c.stateTTL()); serr != nil {
				c.log.Warn("price range checkpoint not saved: leaving the range", "game", t.game, "range", t.r.String(), "err", serr)
				res.done, res.held = false, true
				return res
			}
		}
		if err != nil || !more {
			break
		}
	}
	// A lost lease leaves the range to whoever takes it over, maybe this parser again.
	res.held = !res.done && errors.Is(context.Cause(hctx), lease.ErrLost)
	return res
}
