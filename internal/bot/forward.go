package bot

import (
	"context"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
)

// Subscriber hands out the offers service's updates (offers.Service).
type Subscriber interface {
	Subscribe() (updates <-chan offers.Update, cancel func())
}

// ForwardUpdates hands market's updates to changes as Changes until ctx ends or the updates stop; it
// always returns nil, so that it can run as a service component.
func ForwardUpdates(ctx context.Context, market Subscriber, changes chan<- Change) error {
	updates, cancel := market.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			select {
			case changes <- Change{Titles: u.Titles, Resync: u.Resync, At: u.At}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
