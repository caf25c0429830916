package worker

import (
	"context"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// Outcome label values of dmarket_worker_change_events_total.
const (
	eventOK    = "ok"
	eventError = "error"
)

// publishTimeout bounds the wait for a change event's confirm.
const publishTimeout = 5 * time.Second

// publishChanges publishes one change event saying that what changed for each of titles of game, once
// the message's data is in Redis. No title, no event. Publishing is best effort: a failure is logged and
// counted and does not fail the message, since the bot's periodic resync heals a lost event.
func (h *Handler) publishChanges(ctx context.Context, game, what string, titles []string) {
	if h.changes == nil || len(titles) == 0 {
		return
	}
	ev := message.Changes{Schema: message.ChangesSchema, At: h.clock.Now().UTC(), Changes: make([]message.Change, len(titles))}
	for i, t := range titles {
		ev.Changes[i] = message.Change{GameID: game, Title: t, What: []string{what}}
	}
	body, err := message.EncodeChanges(ev)
	if err == nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		err = h.changes.PublishExchange(pctx, message.ChangesExchange, message.Outgoing{Body: body})
		cancel()
	}
	if err != nil {
		h.m.events.WithLabelValues(eventError).Inc()
		h.log.Warn("change event lost", "game", game, "what", what, "titles", len(titles), "err", err)
		return
	}
	h.m.events.WithLabelValues(eventOK).Inc()
}
