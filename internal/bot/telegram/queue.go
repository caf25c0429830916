package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"golang.org/x/time/rate"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

type result struct {
	raw json.RawMessage
	err error
}

type job struct {
	ctx      context.Context
	c        tgbotapi.Chattable
	prio     Priority
	attempts int
	done     chan result
}

// chatQueue holds one chat's waiting messages; one worker goroutine drains it while it is non-empty.
type chatQueue struct {
	high, low []*job
	running   bool
	next      time.Time // earliest time the next message may be sent
}

func (q *chatQueue) pop() *job {
	if len(q.high) > 0 {
		j := q.high[0]
		q.high = q.high[1:]
		return j
	}
	if len(q.low) > 0 {
		j := q.low[0]
		q.low = q.low[1:]
		return j
	}
	return nil
}

func (q *chatQueue) pushFront(j *job) {
	if j.prio == PriorityCommand {
		q.high = append([]*job{j}, q.high...)
		return
	}
	q.low = append([]*job{j}, q.low...)
}

// enqueue queues c for chatID and waits for its result.
func (s *Sender) enqueue(ctx context.Context, p Priority, chatID int64, c tgbotapi.Chattable) (json.RawMessage, error) {
	j := &job{ctx: ctx, c: c, prio: p, done: make(chan result, 1)}
	s.mu.Lock()
	q := s.chats[chatID]
	if q == nil {
		q = &chatQueue{}
		s.chats[chatID] = q
	}
	if p == PriorityCommand {
		q.high = append(q.high, j)
	} else {
		q.low = append(q.low, j)
	}
	s.m.queued.Inc()
	if !q.running {
		q.running = true
		go s.drain(chatID, q)
	}
	s.mu.Unlock()
	select {
	case r := <-j.done:
		return r.raw, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// drain sends chatID's queued messages one by one, spacing them by PerChatInterval and honouring
// retry_after, until the queue is empty.
func (s *Sender) drain(chatID int64, q *chatQueue) {
	for {
		s.mu.Lock()
		j := q.pop()
		if j == nil {
			q.running = false
			if time.Now().After(q.next) {
				delete(s.chats, chatID)
			}
			s.mu.Unlock()
			return
		}
		next := q.next
		s.mu.Unlock()
		retryAt, raw, err := s.attempt(j, next)
		s.mu.Lock()
		if !retryAt.IsZero() {
			q.next = retryAt
			q.pushFront(j)
			s.mu.Unlock()
			continue
		}
		q.next = time.Now().Add(s.cfg.PerChatInterval)
		s.mu.Unlock()
		s.m.queued.Dec()
		j.done <- result{raw: raw, err: err}
	}
}

// attempt sends one job after next; a non-zero retryAt asks for the job to be requeued.
func (s *Sender) attempt(j *job, next time.Time) (time.Time, json.RawMessage, error) {
	if err := clock.Sleep(j.ctx, time.Until(next)); err != nil {
		return time.Time{}, nil, err
	}
	if err := s.gate.wait(j.ctx, j.prio); err != nil {
		return time.Time{}, nil, err
	}
	raw, err := s.request(j.ctx, j.c, s.cfg.RequestTimeout)
	if err == nil || !Retryable(err) || j.attempts >= s.cfg.MaxRetries || j.ctx.Err() != nil {
		return time.Time{}, raw, err
	}
	j.attempts++
	method := methodOf(j.c)
	var apiErr *APIError
	wait := s.retry.Delay(j.attempts)
	reason := "transport_error"
	if errors.As(err, &apiErr) {
		if errors.Is(err, ErrRateLimited) {
			if apiErr.RetryAfter > s.cfg.MaxRetryAfter {
				return time.Time{}, nil, err
			}
			wait, reason = apiErr.RetryAfter, "rate_limited"
		} else {
			reason = "server_error"
		}
	}
	s.m.retries.WithLabelValues(reason).Inc()
	s.log.Warn("telegram request will be retried", "method", method, "reason", reason, "wait", wait,
		"attempt", j.attempts, "err", err)
	return time.Now().Add(wait), nil, nil
}

// gate is the global message rate; command replies pass before waiting notifications.
type gate struct {
	lim  *rate.Limiter
	low  chan struct{} // lets one notification at a time wait for the limiter
	mu   sync.Mutex
	high int
	idle chan struct{} // closed while no command reply waits
}

func newGate(perSecond float64) *gate {
	idle := make(chan struct{})
	close(idle)
	return &gate{lim: rate.NewLimiter(rate.Limit(perSecond), 1), low: make(chan struct{}, 1), idle: idle}
}

func (g *gate) wait(ctx context.Context, p Priority) error {
	if p == PriorityCommand {
		g.mu.Lock()
		if g.high == 0 {
			g.idle = make(chan struct{})
		}
		g.high++
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.high--
			if g.high == 0 {
				close(g.idle)
			}
			g.mu.Unlock()
		}()
		return g.lim.Wait(ctx)
	}
	select {
	case g.low <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.low }()
	for {
		g.mu.Lock()
		idle, busy := g.idle, g.high > 0
		g.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.lim.Wait(ctx)
}
