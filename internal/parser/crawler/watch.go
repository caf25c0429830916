package crawler

import (
	"context"
	"math"
	"sync"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

// The watch lane scans the titles the bot watches (offers near some user's threshold): it claims the
// due ones from the shared watchlist, each at most once per WatchInterval over every parser, fetches the
// title's cheapest listings (title filter, price ascending, first page) and publishes the page marked as
// a scan of the title, complete when it had no next page. With keys, once every title of a claim was
// scanned, it asks for the buy orders of those it published in one call (orders.go).

// watchTitle is one title to scan, of the claim batch.
type watchTitle struct {
	game, title string
	batch       *watchBatch
}

// watchBatch is the titles of one claim: when the last of them was scanned, the buy orders of the titles
// published are asked for.
type watchBatch struct {
	mu      sync.Mutex
	left    int
	scanned []string
}

// done records that t's scan ended (published or not) and returns the titles published once it was the
// claim's last.
func (b *watchBatch) done(t string, published bool) (titles []string, last bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left--
	if published {
		b.scanned = append(b.scanned, t)
	}
	return b.scanned, b.left == 0
}

// maxWatchClaim bounds the titles one claim takes.
const maxWatchClaim = 100

type watchLane struct {
	c *Crawler

	mu      sync.Mutex
	pending []watchTitle
	turn    int  // the game claimed from next, round robin
	failing bool // the last claim failed (logged once until one succeeds)
}

// next returns the scan of the next claimed title, claiming about a second's worth of titles of the next
// game when none is left; nil when no title is due.
func (w *watchLane) next(ctx context.Context, rate float64) job {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		w.claim(ctx, min(maxWatchClaim, max(1, int(math.Ceil(rate)))))
	}
	if len(w.pending) == 0 {
		return nil
	}
	t := w.pending[0]
	w.pending = w.pending[1:]
	return func(ctx context.Context) { w.scan(ctx, t) }
}

// claim takes up to n due titles of the next game. Callers hold mu.
func (w *watchLane) claim(ctx context.Context, n int) {
	c := w.c
	game := c.cfg.Games[w.turn%len(c.cfg.Games)]
	w.turn++
	titles, err := c.watchlist.Claim(ctx, game, n, c.cfg.WatchInterval)
	if err != nil {
		if ctx.Err() == nil && !w.failing {
			c.log.Warn("watchlist unavailable: watched titles are not scanned until it is back", "game", game, "err", err)
		}
		w.failing = ctx.Err() == nil
		return
	}
	if w.failing {
		c.log.Info("watchlist available again")
		w.failing = false
	}
	b := &watchBatch{left: len(titles)}
	for _, t := range titles {
		w.pending = append(w.pending, watchTitle{game: game, title: t, batch: b})
	}
}

// scan fetches and publishes the cheapest listings of one title; the claim's last scan asks for the buy
// orders of the titles published.
func (w *watchLane) scan(ctx context.Context, t watchTitle) {
	c := w.c
	published := false
	defer func() {
		if titles, last := t.batch.done(t.title, published); last {
			c.orders.request(laneWatchOrders, t.game, titles)
		}
	}()
	q := ListingsQuery{GameID: t.game, Title: t.title, OrderBy: dmarket.OrderByPrice, OrderDir: dmarket.OrderAsc, Limit: 100}
	page, ok := c.laneMarketItems(ctx, laneWatch, q, "watched title not scanned", "game", t.game, "title", t.title)
	if !ok {
		return
	}
	scan := &message.Scan{Title: t.title, Complete: page.Cursor == ""}
	if err := c.publish(ctx, message.KindListings, t.game, page.Result, nil, scan); err != nil {
		return
	}
	published = true
	c.m.lanePages.WithLabelValues(laneWatch).Inc()
	c.m.listings.WithLabelValues(t.game).Add(float64(page.Items))
	c.log.Debug("watched title scanned", "game", t.game, "title", t.title, "listings", page.Items, "complete", scan.Complete)
}
