package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/parser/crawler"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
)

// sharedGame is the game the shared-crawl runs crawl.
const sharedGame = "a8db"

// takeoversMetric counts the ranges a parser took over from a dead one.
const takeoversMetric = "dmarket_crawler_ranges_taken_over_total"

// sharedCrawl is a run of several parser binaries sharing one crawl of the simulator through Redis
// leases, each through its own test proxies and so its own egress addresses.
type sharedCrawl struct {
	tb      testing.TB
	sim     *dmarkettest.Server
	d       *deps
	rdb     *redis.Client
	ttl     time.Duration
	dir     string
	bounds  string
	rate    float64
	parsers []*sharedParser
}

// sharedParser is one parser of a sharedCrawl, the egress addresses its proxies leave from and the name
// of its proxy file.
type sharedParser struct {
	runningProc
	ips  []string
	file string
}

// newSharedCrawl prepares a run against sim with the given lease TTL, price bounds (PARSER_PRICE_BOUNDS)
// and per-egress rate (PARSER_RATE_PER_IP).
func newSharedCrawl(tb testing.TB, sim *dmarkettest.Server, ttl time.Duration, bounds string, rate float64) *sharedCrawl {
	tb.Helper()
	d := newDeps(tb)
	opts, err := redis.ParseURL(d.redisURL)
	require.NoError(tb, err)
	opts.Addr = d.redis.Target()
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() { _ = rdb.Close() })
	return &sharedCrawl{tb: tb, sim: sim, d: d, rdb: rdb, ttl: ttl, dir: tb.TempDir(), bounds: bounds, rate: rate}
}

// launch starts the next parser, n, and waits until its ops server answers. Its two (egresses) test proxies
// are listed in p<n>.txt of the run's proxy directory (DMARKET_PROXIES_DIR), which every parser is given:
// as the parsers start one after the other, parser n must take file p<n>.txt, the first no other holds.
func (c *sharedCrawl) launch(egresses int) *sharedParser {
	c.tb.Helper()
	n := len(c.parsers)
	var lines, ips []string
	for j := range egresses {
		ip := fmt.Sprintf("127.0.%d.%d", 30+n, j+1)
		lines = append(lines, proxytest.New(c.tb, proxytest.Options{SourceIP: ip}).URL())
		ips = append(ips, ip)
	}
	file := fmt.Sprintf("p%d.txt", n)
	proxytest.Rewrite(c.tb, filepath.Join(c.dir, file), lines...)
	p, base := serve(c.tb, "parser", merged(crawlEnv(c.sim.URL()), map[string]string{
		"REDIS_URL": c.d.redisURL, "RABBITMQ_URL": c.d.amqpURL, "LOG_LEVEL": "debug",
		"DMARKET_GAME_IDS": sharedGame, "DMARKET_PUBLIC_KEY": "", "DMARKET_SECRET_KEY": "",
		"DMARKET_PROXIES_DIR": c.dir, "PARSER_SHARED_CRAWL": "true", "PARSER_LEASE_TTL": c.ttl.String(),
		"PARSER_RATE_PER_IP": strconv.FormatFloat(c.rate, 'f', -1, 64), "PARSER_PRICE_BOUNDS": c.bounds,
		"PARSER_CYCLE_INTERVAL": "1h", "PARSER_REQUEST_TIMEOUT": "5s", "SHUTDOWN_TIMEOUT": "5s",
		// These runs are about the shared range crawl: each of its pages is fetched and published once
		// in total, and its chains have the whole budget. The fresh and watch lanes, which fetch the same
		// newest-listings page again and again, are off.
		"PARSER_FRESH_SHARE": "0", "PARSER_WATCH_SHARE": "0",
	}))
	awaitStatus(c.tb, p, base+"/healthz", 200, 20*time.Second)
	taken := regexp.MustCompile(`proxy file taken[^\n]*` + regexp.QuoteMeta(filepath.Join(c.dir, file)))
	require.Regexp(c.tb, taken, p.out.String(), "parser %d took its own proxy file", n)
	sp := &sharedParser{runningProc: runningProc{proc: p, base: base}, ips: ips, file: file}
	c.parsers = append(c.parsers, sp)
	return sp
}

// proxyFileHeld reports whether a parser holds the lease on the proxy file name.
func (c *sharedCrawl) proxyFileHeld(name string) bool {
	c.tb.Helper()
	n, err := c.rdb.Exists(context.Background(), "parser:proxies:"+name).Result()
	require.NoError(c.tb, err)
	return n == 1
}

// pagesBy returns the listings pages the simulator answered to p's egresses.
func (c *sharedCrawl) pagesBy(p *sharedParser) int64 {
	st := c.sim.Stats()
	var n int64
	for _, ip := range p.ips {
		n += st.PagesByIP[ip]
	}
	return n
}

// served returns the number of listings pages the simulator answered.
func (c *sharedCrawl) served() int64 {
	var n int64
	for _, v := range c.sim.Stats().Pages {
		n += v
	}
	return n
}

// progress reads the game's shared cycle from Redis and returns the pages its range checkpoints count,
// how many of its ranges are done and how many it has; ranges 0 while no parser has planned it yet.
func (c *sharedCrawl) progress() (pages int64, done, ranges int) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := c.rdb.Get(ctx, "parser:cycle:"+sharedGame).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, 0
	}
	require.NoError(c.tb, err)
	var plan struct {
		ID     int64      `json:"id"`
		Ranges [][2]int64 `json:"ranges"`
	}
	require.NoError(c.tb, json.Unmarshal([]byte(raw), &plan), raw)
	for _, r := range plan.Ranges {
		key := fmt.Sprintf("parser:range:%s:%d:%s", sharedGame, plan.ID, crawler.Range{From: r[0], To: r[1]})
		rec, err := c.rdb.HGetAll(ctx, key).Result()
		require.NoError(c.tb, err)
		n, _ := strconv.ParseInt(rec["pages"], 10, 64)
		pages += n
		if rec["done"] == "1" {
			done++
		}
	}
	return pages, done, len(plan.Ranges)
}

// kill ends p with SIGKILL at a page boundary: it holds the simulator's answers, waits until every page
// answered so far is checkpointed (so p dies holding ranges but no page it fetched and did not record),
// kills p, waits until p's held requests are gone and lets the others' requests through. It returns the
// moment p died.
func (c *sharedCrawl) kill(p *sharedParser) time.Time {
	c.tb.Helper()
	c.sim.Pause()
	require.Eventually(c.tb, func() bool {
		pages, _, _ := c.progress()
		return pages == c.served()
	}, 10*time.Second, 5*time.Millisecond, "the pages answered were never all checkpointed")
	require.NoError(c.tb, p.cmd.Process.Signal(syscall.SIGKILL))
	p.awaitExit(c.tb, 10*time.Second, "after SIGKILL")
	killed := time.Now()
	require.Eventually(c.tb, func() bool {
		held := c.sim.Stats().Held
		for _, ip := range p.ips {
			if held[ip] > 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the killed parser's requests stayed held")
	c.sim.Resume()
	return killed
}

// awaitTakeover waits until the parsers other than dead have taken over at least one range and returns
// how long after since that happened.
func (c *sharedCrawl) awaitTakeover(dead *sharedParser, since time.Time, within time.Duration) time.Duration {
	c.tb.Helper()
	var took time.Duration
	require.Eventually(c.tb, func() bool {
		var n float64
		for _, p := range c.parsers {
			if p != dead {
				p.requireRunning(c.tb)
				n += max(0, metric(p.runningProc, takeoversMetric))
			}
		}
		took = time.Since(since)
		return n >= 1
	}, within, 10*time.Millisecond, "no range of the killed parser was taken over")
	return took
}

// awaitCycleDone waits until every range of the shared cycle is done.
func (c *sharedCrawl) awaitCycleDone(within time.Duration) {
	c.tb.Helper()
	require.Eventually(c.tb, func() bool {
		_, done, ranges := c.progress()
		return ranges > 0 && done == ranges
	}, within, 50*time.Millisecond, "the shared cycle never finished")
}

// publishedListings drains the listings queue and returns how often each listing id was published;
// it waits until the queue holds want pages first.
func (c *sharedCrawl) publishedListings(want int) map[string]int {
	c.tb.Helper()
	conn, err := amqp.Dial(c.d.directAMQP)
	require.NoError(c.tb, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(c.tb, err)
	queue := message.Queue(message.KindListings)
	require.Eventually(c.tb, func() bool {
		info, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		require.NoError(c.tb, err)
		return info.Messages >= want
	}, 20*time.Second, 20*time.Millisecond, "the listings queue never held %d pages", want)
	seen := map[string]int{}
	for {
		d, ok, err := ch.Get(queue, true)
		require.NoError(c.tb, err)
		if !ok {
			return seen
		}
		e, err := message.Decode(d.Body)
		require.NoError(c.tb, err)
		var page struct {
			Objects []struct {
				ItemID string `json:"itemId"`
			} `json:"objects"`
		}
		require.NoError(c.tb, json.Unmarshal(e.Payload, &page))
		for _, o := range page.Objects {
			seen[o.ItemID]++
		}
	}
}

// stopAll stops every parser still running with SIGTERM; each must exit cleanly and release its proxy
// file.
func (c *sharedCrawl) stopAll() {
	c.tb.Helper()
	for _, p := range c.parsers {
		if p.exited() {
			continue
		}
		_, code := p.stop(c.tb, 10*time.Second)
		require.Zero(c.tb, code, "parser exit code after SIGTERM")
		require.False(c.tb, c.proxyFileHeld(p.file), "a stopped parser released its proxy file")
	}
}

// TestParsersShareOneCrawlAndTakeOverAKilledOne: three parser binaries with PARSER_SHARED_CRAWL on, given
// one DMARKET_PROXIES_DIR, each take a proxy file of two proxies of their own and crawl the simulator's
// market; one is killed mid-cycle. The cycle still publishes every listing exactly once, no listings page
// is fetched twice, the dead parser's ranges are taken over within a lease TTL (plus the watchers' poll, a
// tenth of it) of its death, its proxy file is free again once its lease expired, and the others release
// theirs when they stop.
func TestParsersShareOneCrawlAndTakeOverAKilledOne(t *testing.T) {
	sim := dmarkettest.New(dmarkettest.Config{Titles: 2000, ListingsPerTitle: 5})
	t.Cleanup(sim.Close)
	const ttl = 3 * time.Second
	c := newSharedCrawl(t, sim, ttl, "0.10,0.25,0.50,1,2,5,10,25,50,100,250,1000", 2)
	for range 3 {
		c.launch(2)
	}
	victim := c.parsers[1]
	require.Eventually(t, func() bool {
		victim.requireRunning(t)
		return c.pagesBy(victim) >= 4
	}, 60*time.Second, 10*time.Millisecond, "the second parser never crawled")
	_, done, ranges := c.progress()
	require.Less(t, done, ranges, "the parser is killed mid-cycle")

	killed := c.kill(victim)
	require.True(t, c.proxyFileHeld(victim.file))
	took := c.awaitTakeover(victim, killed, ttl+ttl/10+time.Second)
	t.Logf("a range of the killed parser was taken over %s after its death (lease TTL %s)", took.Round(time.Millisecond), ttl)
	c.awaitCycleDone(2 * time.Minute)
	require.Eventually(t, func() bool { return !c.proxyFileHeld(victim.file) }, ttl, 20*time.Millisecond,
		"the killed parser's proxy file is free again once its lease expired")

	st := sim.Stats()
	for k, n := range st.Pages {
		require.Equal(t, int64(1), n, "page %q cursor %q fetched %d times", k.Query, k.Cursor, n)
	}
	pages, _, _ := c.progress()
	require.Equal(t, pages, c.served(), "every page answered was published and checkpointed")
	for _, p := range c.parsers {
		require.Positive(t, c.pagesBy(p), "every parser crawled through its own egresses")
		for _, ip := range p.ips {
			require.Positive(t, st.PagesByIP[ip], "egress %s was used", ip)
		}
	}

	t.Logf("%d pages in %d ranges, %d listings; pages per parser: %d, %d (killed), %d", pages, ranges, len(sim.Catalogue().Listings(sharedGame)),
		c.pagesBy(c.parsers[0]), c.pagesBy(c.parsers[1]), c.pagesBy(c.parsers[2]))
	seen := c.publishedListings(int(pages))
	want := sim.Catalogue().Listings(sharedGame)
	require.Len(t, seen, len(want), "every listing of the catalogue was published")
	for _, l := range want {
		require.Equal(t, 1, seen[l.ItemID], "listing %s published once", l.ItemID)
	}
	c.stopAll()
}

// benchBounds are price bounds (US dollars) that cut the market into far more ranges than the parsers
// have chains, so that the crawl is bound by the egresses' budget, not by its ranges.
const benchBounds = "0.05,0.08,0.10,0.13,0.16,0.20,0.25,0.32,0.40,0.50,0.63,0.80,1,1.30,1.60,2,2.50,3.20,4,5,6.30,8,10," +
	"13,16,20,25,32,40,50,63,80,100,130,160,200,250,320,400,500,630,800,1000"

// egressCounts are the simulator's counters of some egresses at one moment.
type egressCounts struct {
	at                  time.Time
	requests, throttled int64
}

func (c *sharedCrawl) countEgresses() egressCounts {
	st := c.sim.Stats()
	out := egressCounts{at: time.Now()}
	for _, p := range c.parsers {
		for _, ip := range p.ips {
			out.requests += st.Requests[ip]
			out.throttled += st.RateLimited[ip]
		}
	}
	return out
}

// BenchmarkParsersSharedCrawl runs three parser binaries with two test proxies each (PARSER_RATE_PER_IP
// 2, the simulator limiting every egress to 2 listings requests/s with 429s) sharing one crawl, measures
// the share of the combined budget (6 egresses x 2 requests/s) answered and the share of 429s while all
// three crawl, then kills one with SIGKILL and measures how long until another parser takes one of its
// ranges over (lease TTL 5 s).
func BenchmarkParsersSharedCrawl(b *testing.B) {
	const (
		rate     = 2.0
		ttl      = 5 * time.Second
		egresses = 2
		window   = 150 // listings pages answered in the measured window
	)
	var budget, throttled, takeover, pagesPerSec float64
	for range b.N {
		sim := dmarkettest.New(dmarkettest.Config{Titles: 6000, ListingsPerTitle: 5, PublicMarketRate: rate})
		b.Cleanup(sim.Close)
		c := newSharedCrawl(b, sim, ttl, benchBounds, rate)
		for range 3 {
			c.launch(egresses)
		}
		require.Eventually(b, func() bool {
			st := sim.Stats()
			for _, p := range c.parsers {
				p.requireRunning(b)
				for _, ip := range p.ips {
					if st.PagesByIP[ip] == 0 {
						return false
					}
				}
			}
			return true
		}, time.Minute, 10*time.Millisecond, "not every egress crawled")
		from, served := c.countEgresses(), c.served()
		require.Eventually(b, func() bool { return c.served()-served >= window }, 2*time.Minute, 10*time.Millisecond,
			"the crawl never answered %d pages", window)
		to := c.countEgresses()
		_, done, ranges := c.progress()
		require.Less(b, done, ranges, "the cycle was still running through the whole window")

		secs := to.at.Sub(from.at).Seconds()
		requests, limited := float64(to.requests-from.requests), float64(to.throttled-from.throttled)
		budget += (requests - limited) / (float64(3*egresses) * rate * secs)
		throttled += limited / requests
		pagesPerSec += (requests - limited) / secs

		victim := c.parsers[1]
		require.NoError(b, victim.cmd.Process.Signal(syscall.SIGKILL))
		victim.awaitExit(b, 10*time.Second, "after SIGKILL")
		killed := time.Now()
		takeover += c.awaitTakeover(victim, killed, 2*ttl).Seconds()
		c.stopAll()
	}
	n := float64(b.N)
	b.ReportMetric(100*budget/n, "%budget")
	b.ReportMetric(100*throttled/n, "%429")
	b.ReportMetric(takeover/n, "takeover-s")
	b.ReportMetric(pagesPerSec/n, "pages/s")
}
