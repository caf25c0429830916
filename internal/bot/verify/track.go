package verify

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
)

// trackedOffer is an offer some user is being shown, re-checked in the background until until.
type trackedOffer struct {
	offer   offers.Offer
	until   time.Time
	checked time.Time
}

// offerKey identifies an offer for tracking: its listing level and how it would be resold.
func offerKey(o offers.Offer) string {
	return o.GameID + "\x00" + o.Title + "\x00" + string(o.Status) + "\x00" + strconv.FormatInt(o.Buy, 10) + "\x00" +
		string(o.Kind) + "\x00" + strconv.FormatInt(o.Sell, 10)
}

// Track keeps o re-checked in the background every ReverifyInterval until until (a later until of the
// same offer extends it). The bot tracks the offers of /offers pages it rendered (a few minutes) and the
// notifications it sent (30 minutes).
func (v *Verifier) Track(o offers.Offer, until time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := offerKey(o)
	if t, ok := v.tracked[k]; ok {
		if until.After(t.until) {
			t.until = until
		}
		return
	}
	v.tracked[k] = &trackedOffer{offer: o, until: until}
	v.m.tracked.Set(float64(len(v.tracked)))
}

// Tracked returns how many offers are tracked.
func (v *Verifier) Tracked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.tracked)
}

// due returns the tracked offers not checked for ReverifyInterval, the oldest check first, after
// dropping the ones tracked no longer and the reads too old to reuse.
func (v *Verifier) due(now time.Time) []*trackedOffer {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*trackedOffer
	for k, t := range v.tracked {
		switch {
		case !now.Before(t.until):
			delete(v.tracked, k)
		case now.Sub(t.checked) >= v.cfg.ReverifyInterval:
			out = append(out, t)
		}
	}
	for k, lr := range v.listings {
		if now.Sub(lr.at) >= v.cfg.Reuse {
			delete(v.listings, k)
		}
	}
	for k, or := range v.orders {
		if now.Sub(or.at) >= v.cfg.Reuse {
			delete(v.orders, k)
		}
	}
	for k, r := range v.refused {
		if !now.Before(r.until) {
			delete(v.refused, k)
		}
	}
	v.m.tracked.Set(float64(len(v.tracked)))
	slices.SortFunc(out, func(a, b *trackedOffer) int { return a.checked.Compare(b.checked) })
	return out
}

// reverifyLoop re-checks the due tracked offers every ReverifyInterval at background priority until ctx
// ends.
func (v *Verifier) reverifyLoop(ctx context.Context) {
	for ctx.Err() == nil {
		start := v.clk.Now()
		v.recheck(ctx, v.due(start))
		if err := v.clk.Sleep(ctx, v.cfg.ReverifyInterval-v.clk.Now().Sub(start)); err != nil {
			return
		}
	}
}

// recheck re-checks due in order at background priority. An offer found gone or undercut is tracked no
// more (the user's next view no longer shows it; the open message is not edited).
func (v *Verifier) recheck(ctx context.Context, due []*trackedOffer) {
	for _, t := range due {
		if ctx.Err() != nil {
			return
		}
		res, err := v.check(ctx, t.offer, "background")
		v.mu.Lock()
		t.checked = v.clk.Now()
		if err == nil && res.Outcome != Stands {
			delete(v.tracked, offerKey(t.offer))
			v.m.tracked.Set(float64(len(v.tracked)))
		}
		v.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			v.log.Debug("background re-check failed", "title", t.offer.Title, "err", err)
		}
	}
}
