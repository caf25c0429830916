package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ChangesExchange is the fanout exchange on which workers publish change events: what a write changed in
// the market state of some titles (SPEC §9.1). Every bot binds a queue of its own to it.
const ChangesExchange = "dmarket.changes"

// ChangesSchema is the version of the change-event body written by this build.
const ChangesSchema = 1

// What a change event says changed about a title.
const (
	// ChangedPrices means the title's listing levels changed: a (status, price) level appeared or
	// disappeared, or its count changed (every change of its cheapest price is one).
	ChangedPrices = "prices"
	// ChangedOrder means the title's best buy order changed (price or count), appeared or disappeared.
	ChangedOrder = "order"
	// ChangedHistory means the title's sell-history analysis changed.
	ChangedHistory = "history"
)

// Change names one title and what changed about it.
type Change struct {
	// GameID is the title's game.
	GameID string `json:"game_id"`
	// Title is the sanitised title (the Redis key's name).
	Title string `json:"title"`
	// What lists ChangedPrices, ChangedOrder and ChangedHistory, each at most once.
	What []string `json:"what"`
}

// Changes is the body of one change-event message: the changes one write (one message handled by a
// worker) made, at At.
type Changes struct {
	// Schema is ChangesSchema.
	Schema int `json:"schema"`
	// At is when the changes were written.
	At time.Time `json:"at"`
	// Changes holds one entry per changed title.
	Changes []Change `json:"changes"`
}

// ErrInvalidChanges means a change-event body is malformed.
var ErrInvalidChanges = errors.New("invalid change event")

// EncodeChanges validates c and returns its JSON body.
func EncodeChanges(c Changes) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("encode changes: %w", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode changes: %w", err)
	}
	return b, nil
}

// DecodeChanges parses and validates a change-event body. Every error it returns is permanent.
func DecodeChanges(body []byte) (Changes, error) {
	var c Changes
	if err := json.Unmarshal(body, &c); err != nil {
		return Changes{}, Permanent(fmt.Errorf("decode changes: %w: %w", ErrInvalidChanges, err))
	}
	if err := c.Validate(); err != nil {
		return Changes{}, Permanent(fmt.Errorf("decode changes: %w", err))
	}
	return c, nil
}

// Validate reports the first problem of c: a schema other than ChangesSchema, a zero time, a change
// without game or title, or an unknown or repeated what.
func (c Changes) Validate() error {
	switch {
	case c.Schema != ChangesSchema:
		return fmt.Errorf("%w: %w: %d", ErrInvalidChanges, ErrUnsupportedSchema, c.Schema)
	case c.At.IsZero():
		return fmt.Errorf("%w: %w: at", ErrInvalidChanges, ErrMissingField)
	}
	for i, ch := range c.Changes {
		if ch.GameID == "" || ch.Title == "" || len(ch.Title) > maxScanTitle || len(ch.What) == 0 {
			return fmt.Errorf("%w: change %d lacks a game, a title or what changed", ErrInvalidChanges, i)
		}
		seen := map[string]bool{}
		for _, w := range ch.What {
			if (w != ChangedPrices && w != ChangedOrder && w != ChangedHistory) || seen[w] {
				return fmt.Errorf("%w: change %d: what %q unknown or repeated", ErrInvalidChanges, i, truncate(w, 16))
			}
			seen[w] = true
		}
	}
	return nil
}
