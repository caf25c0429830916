// Package scheduletest holds the contracts of the sales schedule's ports: what the parser (claiming
// titles) and the worker (adding titles) rely on from salesschedule.Schedule, checked against it and
// against every fake that stands in for it.
package scheduletest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Schedule is the port the parser claims titles through (implemented by *salesschedule.Schedule).
type Schedule interface {
	Claim(ctx context.Context, game string, n int, lease time.Duration) ([]string, error)
	Done(ctx context.Context, game, title string, next time.Duration) error
	Failed(ctx context.Context, game, title string, attempt int) error
}

// Subject is a schedule under test with the means to drive it.
type Subject struct {
	// Schedule is the schedule, empty when made.
	Schedule Schedule
	// Add makes titles of game due, in the order given: each one is due after the one before it.
	Add func(t *testing.T, game string, titles ...string)
	// Advance moves the schedule's clock forward. Nil for a schedule that does not keep time (a fake
	// that hands each title out once): leases and the delays of Done and Failed are then not checked.
	Advance func(d time.Duration)
}

// MaxFailedDelay bounds the delay after a first failed attempt that Contract accepts: a subject's
// schedule must back off no longer than this after Failed(..., 1).
const MaxFailedDelay = time.Hour

const game = "a8db"

// Contract checks the behaviour the parser relies on against the subjects newSubject makes: Claim hands
// out due titles earliest first, at most n, each one only once while it is leased; Done and Failed
// accept a claimed title; with a clock, a lapsed lease makes a title due again, Done postpones it by
// next and Failed backs it off (by at most MaxFailedDelay after a first failure).
func Contract(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()
	t.Run("earliest due first, at most n", func(t *testing.T) {
		s := newSubject(t)
		s.Add(t, game, "A", "B", "C")
		requireClaim(t, s, 2, []string{"A", "B"})
		requireClaim(t, s, 10, []string{"C"})
		requireClaim(t, s, 10, nil)
	})
	t.Run("nothing due", func(t *testing.T) {
		requireClaim(t, newSubject(t), 10, nil)
	})
	t.Run("done and failed accept claimed titles", func(t *testing.T) {
		s := newSubject(t)
		s.Add(t, game, "A", "B")
		requireClaim(t, s, 2, []string{"A", "B"})
		require.NoError(t, s.Schedule.Done(ctx, game, "A", time.Hour))
		require.NoError(t, s.Schedule.Failed(ctx, game, "B", 1))
		requireClaim(t, s, 10, nil)
	})
	for _, tc := range []struct {
		name   string
		settle func(s Schedule) error // nil: the lease lapses
		due    time.Duration          // after the claim
	}{
		{name: "a lapsed lease makes the title due again", due: time.Minute},
		{name: "done postpones by next", due: 2 * time.Hour,
			settle: func(s Schedule) error { return s.Done(ctx, game, "A", 2*time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSubject(t)
			skipWithoutClock(t, s)
			s.Add(t, game, "A")
			requireClaim(t, s, 1, []string{"A"})
			if tc.settle != nil {
				require.NoError(t, tc.settle(s.Schedule))
			}
			s.Advance(tc.due - time.Millisecond)
			requireClaim(t, s, 1, nil)
			s.Advance(time.Millisecond)
			requireClaim(t, s, 1, []string{"A"})
		})
	}
	t.Run("failed backs off", func(t *testing.T) {
		s := newSubject(t)
		skipWithoutClock(t, s)
		s.Add(t, game, "A")
		requireClaim(t, s, 1, []string{"A"})
		require.NoError(t, s.Schedule.Failed(ctx, game, "A", 1))
		requireClaim(t, s, 1, nil)
		s.Advance(MaxFailedDelay)
		requireClaim(t, s, 1, []string{"A"})
	})
}

// requireClaim claims up to n titles of game with a one-minute lease and requires want (nil: none).
func requireClaim(t *testing.T, s Subject, n int, want []string) {
	t.Helper()
	got, err := s.Schedule.Claim(context.Background(), game, n, time.Minute)
	require.NoError(t, err)
	if want == nil {
		require.Empty(t, got)
		return
	}
	require.Equal(t, want, got)
}

func skipWithoutClock(t *testing.T, s Subject) {
	t.Helper()
	if s.Advance == nil {
		t.Skip("the subject keeps no time")
	}
}

// Enqueuer is the port the worker adds the titles it sees through (implemented by
// *salesschedule.Schedule).
type Enqueuer interface {
	Enqueue(ctx context.Context, game string, titles []string) (int, error)
}

// EnqueuerContract checks the behaviour the worker relies on against the enqueuers newEnqueuer makes,
// each one on an empty schedule: Enqueue reports how many of the titles it newly scheduled, so adding
// titles again is harmless and counted once, and games are independent.
func EnqueuerContract(t *testing.T, newEnqueuer func(t *testing.T) Enqueuer) {
	ctx := context.Background()
	e := newEnqueuer(t)
	for _, step := range []struct {
		game   string
		titles []string
		added  int
	}{
		{game, []string{"A", "B"}, 2},
		{game, nil, 0},
		{game, []string{"B", "A"}, 0},
		{game, []string{"A", "C"}, 1},
		{"tf2", []string{"A"}, 1},
	} {
		n, err := e.Enqueue(ctx, step.game, step.titles)
		require.NoError(t, err)
		require.Equal(t, step.added, n, "enqueue %v in %s", step.titles, step.game)
	}
}
