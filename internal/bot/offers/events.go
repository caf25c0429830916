package offers

import (
	"slices"
	"sync"
	"time"
)

// Update tells a subscriber that offers may have changed.
type Update struct {
	// Titles are the titles whose state changed (Apply, Forget, expiry re-reads), sorted.
	Titles []string
	// Resync says a full read replaced the market: any title may have changed.
	Resync bool
	// At is when the latest change coalesced into this update was installed.
	At time.Time
}

// Subscribe returns a channel that receives an Update after every Apply, Forget and full read, and a
// cancel that ends the subscription and closes the channel. Updates a subscriber has not received yet are
// coalesced into one (titles merged, Resync kept), so a slow subscriber never blocks the service and
// never misses a title.
func (s *Service) Subscribe() (updates <-chan Update, cancel func()) {
	sub := &subscriber{signal: make(chan struct{}, 1), out: make(chan Update), done: make(chan struct{})}
	s.subs.add(sub)
	go sub.forward()
	var once sync.Once
	return sub.out, func() {
		once.Do(func() {
			s.subs.remove(sub)
			close(sub.done)
		})
	}
}

// subscribers is the set of a Service's subscriptions.
type subscribers struct {
	mu  sync.Mutex
	set map[*subscriber]struct{}
}

func (ss *subscribers) add(sub *subscriber) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.set == nil {
		ss.set = make(map[*subscriber]struct{})
	}
	ss.set[sub] = struct{}{}
}

func (ss *subscribers) remove(sub *subscriber) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.set, sub)
}

// publish hands u to every subscriber without waiting for any.
func (ss *subscribers) publish(u Update) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for sub := range ss.set {
		sub.merge(u)
	}
}

// subscriber holds the updates one subscription has not received yet, merged.
type subscriber struct {
	mu      sync.Mutex
	pending bool
	resync  bool
	at      time.Time
	titles  map[string]struct{}

	signal chan struct{}
	out    chan Update
	done   chan struct{}
}

// merge adds u to the pending update and signals the forwarder.
func (sub *subscriber) merge(u Update) {
	sub.mu.Lock()
	sub.pending = true
	sub.resync = sub.resync || u.Resync
	if u.At.After(sub.at) {
		sub.at = u.At
	}
	if len(u.Titles) > 0 && sub.titles == nil {
		sub.titles = make(map[string]struct{}, len(u.Titles))
	}
	for _, t := range u.Titles {
		sub.titles[t] = struct{}{}
	}
	sub.mu.Unlock()
	select {
	case sub.signal <- struct{}{}:
	default:
	}
}

// take returns the pending update and clears it.
func (sub *subscriber) take() (Update, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.pending {
		return Update{}, false
	}
	u := Update{Resync: sub.resync, At: sub.at}
	if len(sub.titles) > 0 {
		u.Titles = make([]string, 0, len(sub.titles))
		for t := range sub.titles {
			u.Titles = append(u.Titles, t)
		}
		slices.Sort(u.Titles)
	}
	sub.pending, sub.resync, sub.titles = false, false, nil
	return u, true
}

// forward delivers pending updates until the subscription is cancelled, then closes out.
func (sub *subscriber) forward() {
	defer close(sub.out)
	for {
		select {
		case <-sub.done:
			return
		case <-sub.signal:
		}
		u, ok := sub.take()
		if !ok {
			continue
		}
		select {
		case <-sub.done:
			return
		case sub.out <- u:
		}
	}
}
