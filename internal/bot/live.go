package bot

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
	"github.com/skinflip/dmarket-monitor/internal/bot/verify"
)

// Change says the offers of some titles may have changed (offers.Update, adapted by cmd/bot).
type Change struct {
	// Titles are the titles whose state changed.
	Titles []string
	// Resync says a full read replaced the market: any title may have changed (the periodic cycle
	// covers that case; Titles may be empty).
	Resync bool
	// At is when the change was installed.
	At time.Time
}

// TitleOffers computes the offers of named titles only (offers.Service).
type TitleOffers interface {
	TitleOffers(settings offers.Settings, titles []string, now time.Time) []offers.Offer
}

// Verifier re-checks an offer against DMarket before it is sent and keeps re-checking the offers users
// are shown (*verify.Verifier).
type Verifier interface {
	Check(ctx context.Context, o offers.Offer) (verify.Result, error)
	Track(o offers.Offer, until time.Time)
}

// Watchlist keeps titles re-scanned often by the parsers until until (*watchlist.Store).
type Watchlist interface {
	Watch(ctx context.Context, game string, titles []string, until time.Time) error
}

// Option sets an optional part of a Bot.
type Option func(*Bot)

// WithChanges makes the bot notify at once: for every Change it sends the new offers among the changed
// titles (computed by src) to every user, within the same limits as the periodic cycle, which stays as
// the safety net.
func WithChanges(changes <-chan Change, src TitleOffers) Option {
	return func(b *Bot) { b.changes, b.titleOffers = changes, src }
}

// WithVerifier re-checks every offer before it is notified (SPEC §9.1: an offer that cannot be
// re-checked is not sent now) and has the offers users are shown re-checked in the background.
func WithVerifier(v Verifier) Option { return func(b *Bot) { b.verifier = v } }

// WithWatchlist marks the titles whose offers are within margin basis points below some user's limit
// (or above it) as watched, so the parsers re-scan them every few seconds.
func WithWatchlist(w Watchlist, margin int64) Option {
	return func(b *Bot) { b.watch, b.watchMargin = w, margin }
}

// WithRenotifyMargin makes an offer already sent within the dedup window new again when its profit
// improved by at least margin basis points over what was sent (a better buy order is news); 0 (the
// default) never sends it again within the window.
func WithRenotifyMargin(margin int64) Option { return func(b *Bot) { b.renotifyMargin = margin } }

// Watch bounds: how many titles per game are watched at most (best profit first) and how long a mark
// lasts unless renewed.
const (
	maxWatchedPerGame = 200
	watchFor          = 2 * time.Minute
	// shownFor is how long the offers of a rendered /offers page are re-checked in the background.
	shownFor = 5 * time.Minute
)

type liveMetrics struct {
	dealLatency prometheus.Histogram
	watched     prometheus.Gauge
	changes     prometheus.Counter
}

func newLiveMetrics(reg prometheus.Registerer) liveMetrics {
	f := promauto.With(reg)
	return liveMetrics{
		dealLatency: f.NewHistogram(prometheus.HistogramOpts{Name: "deal_latency_seconds",
			Help:    "Time from a notified listing's creation on DMarket (its createdAt, read by the re-check) to its first notification being sent.",
			Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300}}),
		watched: f.NewGauge(prometheus.GaugeOpts{Name: "dmarket_bot_watched_titles",
			Help: "Titles the bot last marked as watched (offers near some user's limit), re-scanned often by the parsers."}),
		changes: f.NewCounter(prometheus.CounterOpts{Name: "dmarket_bot_offer_changes_total",
			Help: "Offer changes (changed titles, merged) the bot notified from at once."}),
	}
}

// changeLoop notifies from every Change until ctx ends or the channel closes.
func (b *Bot) changeLoop(ctx, work context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-b.changes:
			if !ok {
				return
			}
			if len(c.Titles) == 0 {
				continue
			}
			b.lm.changes.Inc()
			b.onChange(work, c.Titles)
		}
	}
}

// onChange hands the changed titles to every whitelisted started user's notification run and marks
// the titles near users' limits as watched.
func (b *Bot) onChange(ctx context.Context, titles []string) {
	users, err := b.st.started(ctx)
	if err != nil {
		b.log.Warn("changed offers: started users", "err", err)
		return
	}
	var near []offers.Offer
	for user, chat := range users {
		if !b.allowed(user) {
			continue
		}
		if b.watch != nil {
			near = append(near, b.nearLimit(ctx, user, titles)...)
		}
		b.queueTitles(ctx, user, chat, titles)
	}
	if b.watch != nil {
		b.markWatched(ctx, near)
	}
}

// queueTitles adds titles to the user's pending titles and starts a run unless one is in flight (that
// run takes them when it is done).
func (b *Bot) queueTitles(ctx context.Context, user, chat int64, titles []string) {
	b.notifyMu.Lock()
	p := b.pending[user]
	if p == nil {
		p = map[string]struct{}{}
		b.pending[user] = p
	}
	for _, t := range titles {
		p[t] = struct{}{}
	}
	if b.busy[user] {
		b.notifyMu.Unlock()
		return
	}
	b.busy[user] = true
	b.notifyMu.Unlock()
	b.notifyWG.Add(1)
	go func() {
		defer b.notifyWG.Done()
		b.drain(ctx, user, chat)
	}()
}

// next returns the user's pending titles, or nil and ends the user's run when there are none.
func (b *Bot) next(user int64) []string {
	b.notifyMu.Lock()
	defer b.notifyMu.Unlock()
	p := b.pending[user]
	delete(b.pending, user)
	if len(p) == 0 {
		delete(b.busy, user)
		return nil
	}
	out := make([]string, 0, len(p))
	for t := range p {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// drain notifies the user of the new offers among their pending titles until none are left.
func (b *Bot) drain(ctx context.Context, user, chat int64) {
	for titles := b.next(user); titles != nil; titles = b.next(user) {
		func() {
			defer b.recoverPanic("notifications")
			b.notifyTitles(ctx, user, chat, titles)
		}()
	}
}

// notifyTitles sends the user the new offers among titles, best first, within the user's limits.
func (b *Bot) notifyTitles(ctx context.Context, user, chat int64, titles []string) {
	if b.titleOffers == nil {
		return
	}
	s, err := b.st.settings(ctx, user)
	if err != nil {
		b.log.Warn("notification settings", "user", user, "err", err)
		return
	}
	now := b.clk.Now()
	fs, ok := settingsFor(s)
	if !ok || !s.Notifications || s.Volume.quiet(now) {
		return
	}
	list := b.titleOffers.TitleOffers(fs, titles, now)
	b.notifyFrom(ctx, user, chat, s, list, now)
}

// nearLimit returns the offers among titles within watchMargin below the user's limit or above it
// (with the user's minimum price), when the user has notifications on.
func (b *Bot) nearLimit(ctx context.Context, user int64, titles []string) []offers.Offer {
	s, err := b.st.settings(ctx, user)
	if err != nil || !s.Notifications {
		return nil
	}
	fs, ok := settingsFor(s)
	if !ok {
		return nil
	}
	fs.LimitBasisPoints -= b.watchMargin
	return b.titleOffers.TitleOffers(fs, titles, b.clk.Now())
}

// markWatched keeps the titles of near watched for watchFor, at most maxWatchedPerGame per game, best
// profit first.
func (b *Bot) markWatched(ctx context.Context, near []offers.Offer) {
	byGame := map[string][]offers.Offer{}
	for _, o := range near {
		byGame[o.GameID] = append(byGame[o.GameID], o)
	}
	until := b.clk.Now().Add(watchFor)
	total := 0
	for game, list := range byGame {
		slices.SortStableFunc(list, func(a, c offers.Offer) int {
			return cmp.Or(cmp.Compare(c.ProfitBasisPoints, a.ProfitBasisPoints), cmp.Compare(a.Title, c.Title))
		})
		var titles []string
		seen := map[string]bool{}
		for _, o := range list {
			if !seen[o.Title] && len(titles) < maxWatchedPerGame {
				seen[o.Title] = true
				titles = append(titles, o.Title)
			}
		}
		total += len(titles)
		if err := b.watch.Watch(ctx, game, titles, until); err != nil {
			b.log.Warn("watched titles not marked", "game", game, "titles", len(titles), "err", err)
		}
	}
	b.lm.watched.Set(float64(total))
}

// watchLoop renews the watch marks every watchFor/2 from every user's whole offer list, so that titles
// near a limit stay watched while nothing about them changes.
func (b *Bot) watchLoop(ctx, work context.Context) {
	b.renewWatch(work)
	onTicks(ctx, watchFor/2, func() { b.renewWatch(work) })
}

// renewWatch marks the titles of every started user's offers near their limit as watched.
func (b *Bot) renewWatch(ctx context.Context) {
	users, err := b.st.started(ctx)
	if err != nil {
		b.log.Warn("watched titles: started users", "err", err)
		return
	}
	var near []offers.Offer
	for user := range users {
		s, err := b.st.settings(ctx, user)
		if !b.allowed(user) || err != nil || !s.Notifications {
			continue
		}
		fs, ok := settingsFor(s)
		if !ok {
			continue
		}
		fs.LimitBasisPoints -= b.watchMargin
		list, err := b.offers.Offers(ctx, fs)
		if err != nil {
			b.log.Warn("watched titles: offers", "user", user, "err", err)
			return
		}
		near = append(near, firstPerGame(list, maxWatchedPerGame)...)
	}
	b.markWatched(ctx, near)
}

// firstPerGame returns the first n offers of each game of list, in order.
func firstPerGame(list []offers.Offer, n int) []offers.Offer {
	count := map[string]int{}
	var out []offers.Offer
	for _, o := range list {
		if count[o.GameID] < n {
			count[o.GameID]++
			out = append(out, o)
		}
	}
	return out
}

// track has the background re-check follow offers a user is being shown until now+d.
func (b *Bot) track(list []offers.Offer, now time.Time, d time.Duration) {
	if b.verifier == nil {
		return
	}
	for _, o := range list {
		b.verifier.Track(o, now.Add(d))
	}
}

// recheck re-checks o before it is sent; ok is false when it must not be sent now. listedAt is the
// listing's creation time when the re-check read it.
func (b *Bot) recheck(ctx context.Context, user int64, o offers.Offer) (listedAt time.Time, ok bool) {
	if b.verifier == nil {
		return time.Time{}, true
	}
	res, err := b.verifier.Check(ctx, o)
	if err != nil {
		b.log.Info("offer not re-checked; not sent now", "user", user, "title", o.Title, "err", err)
		return time.Time{}, false
	}
	return res.ListedAt, res.Outcome == verify.Stands
}
