package bot

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/offers"
)

// chanSubscriber hands out its unbuffered channel (a sent update has been taken by the subscriber) and
// records whether the subscription was cancelled.
type chanSubscriber struct {
	updates   chan offers.Update
	cancelled chan struct{}
}

func newChanSubscriber() *chanSubscriber {
	return &chanSubscriber{updates: make(chan offers.Update), cancelled: make(chan struct{})}
}

func (s *chanSubscriber) Subscribe() (<-chan offers.Update, func()) {
	return s.updates, func() { close(s.cancelled) }
}

func TestForwardUpdates(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// stop ends the forwarding once the first change was taken (or, with no change, at once).
		stop    func(s *chanSubscriber, cancel context.CancelFunc)
		forward bool
	}{
		{name: "forwards until the updates stop", forward: true,
			stop: func(s *chanSubscriber, _ context.CancelFunc) { close(s.updates) }},
		{name: "forwards until ctx ends", forward: true,
			stop: func(_ *chanSubscriber, cancel context.CancelFunc) { cancel() }},
		{name: "ctx ends while a change waits to be taken",
			stop: func(_ *chanSubscriber, cancel context.CancelFunc) { cancel() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newChanSubscriber()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			changes := make(chan Change)
			done := make(chan error, 1)
			go func() { done <- ForwardUpdates(ctx, s, changes) }()
			s.updates <- offers.Update{Titles: []string{"A"}, Resync: true, At: at}
			if tc.forward {
				require.Equal(t, Change{Titles: []string{"A"}, Resync: true, At: at}, <-changes)
			}
			tc.stop(s, cancel)
			require.NoError(t, <-done)
			<-s.cancelled
		})
	}
}
