package crawler

import (
	"testing"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/fetchgate/fetchgatetest"
	"github.com/skinflip/dmarket-monitor/internal/salesschedule/scheduletest"
)

// The crawler tests' fakes keep the contracts of the ports they stand in for.

func TestFakeGateContract(t *testing.T) {
	fetchgatetest.Contract(t, func(*testing.T) fetchgatetest.Gate { return &fakeGate{taken: map[string]bool{}} })
}

func TestFakeScheduleContract(t *testing.T) {
	scheduletest.Contract(t, func(*testing.T) scheduletest.Subject {
		s := &fakeSchedule{done: map[string]time.Duration{}, failed: map[string]int{}}
		add := func(_ *testing.T, _ string, titles ...string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.due = append(s.due, titles...)
		}
		return scheduletest.Subject{Schedule: s, Add: add} // the fake keeps no time
	})
}
