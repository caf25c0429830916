package worker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/skinflip/dmarket-monitor/internal/fetchgate"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

// SalesRescheduler makes a title of the sales schedule due again (implemented by
// *salesschedule.Schedule).
type SalesRescheduler interface {
	MakeDue(ctx context.Context, game, title string) (bool, error)
}

// Gate is the parser's once-per-period gate (implemented by *fetchgate.Gate).
type Gate interface {
	Due(ctx context.Context, key string, period time.Duration) (bool, error)
	Release(ctx context.Context, key string) error
}

// Defaults of DueAgainConfig.
const (
	// DefaultDueAgainPeriod is how often at most one title's (or game's) dead letters make it due again.
	DefaultDueAgainPeriod = time.Hour
	// DefaultDueAgainTimeout bounds the Redis calls made for one dead letter.
	DefaultDueAgainTimeout = 5 * time.Second
)

// DueAgainConfig tunes DueAgain. Zero values take the defaults.
type DueAgainConfig struct {
	// Period limits how often dead letters make the same title or game due again: a message that
	// fails every time it is fetched then costs at most one early fetch per Period instead of a loop.
	Period time.Duration
	// Timeout bounds the Redis calls made for one dead letter.
	Timeout time.Duration
}

// Outcomes of the due-again metric.
const (
	dueAgainDue       = "due"       // made due again
	dueAgainUnchanged = "unchanged" // not scheduled, or already due
	dueAgainLimited   = "limited"   // made due again within the period already
	dueAgainError     = "error"
)

// DueAgain makes the work behind a dead-lettered sales or fees message due again (it implements
// rabbitmq.DeadLetterObserver). The parser has marked such work done when it published the message
// (sales come back after the sales interval, fees after the fees interval), so without this the data
// would be missing from Redis until then: a dead-lettered sales message makes its title due now on the
// sales schedule, a dead-lettered fees message releases its game's fees gate. At most once per Period
// per title or game, so that an answer that always fails does not loop. Listings and orders are
// fetched every cycle anyway and are left alone.
type DueAgain struct {
	sched SalesRescheduler
	gate  Gate
	cfg   DueAgainConfig
	log   *slog.Logger
	count *prometheus.CounterVec
}

// NewDueAgain returns a DueAgain. log may be nil (discard) and reg nil (registers nowhere).
func NewDueAgain(sched SalesRescheduler, gate Gate, cfg DueAgainConfig, log *slog.Logger, reg prometheus.Registerer) (*DueAgain, error) {
	if sched == nil || gate == nil {
		return nil, fmt.Errorf("%w: sales schedule and gate are required", ErrConfig)
	}
	if cfg.Period < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative due-again duration", ErrConfig)
	}
	cfg.Period = cmp.Or(cfg.Period, DefaultDueAgainPeriod)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultDueAgainTimeout)
	log = orDiscard(log)
	count := promauto.With(orNowhere(reg)).NewCounterVec(prometheus.CounterOpts{Name: "dmarket_worker_due_again_total",
		Help: "Dead-lettered sales and fees messages, by kind and by what became of their title or game (due = made due again, unchanged, limited = already made due within the period, error)."},
		[]string{"kind", "outcome"})
	for _, k := range []message.Kind{message.KindSales, message.KindFees} {
		for _, o := range []string{dueAgainDue, dueAgainUnchanged, dueAgainLimited, dueAgainError} {
			count.WithLabelValues(string(k), o)
		}
	}
	return &DueAgain{sched: sched, gate: gate, cfg: cfg, log: log, count: count}, nil
}

// DeadLettered makes the title or game of a dead-lettered sales or fees message due again. Errors are
// logged and counted: the dead letter itself is already safe in its queue.
func (a *DueAgain) DeadLettered(ctx context.Context, queue string, d message.Delivery, _ error) {
	env, err := message.Decode(d.Body)
	if err != nil {
		return // nothing says which title or game it was
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Timeout)
	defer cancel()
	var outcome string
	switch env.Kind {
	case message.KindSales:
		if env.Request.Title == "" {
			return
		}
		outcome, err = a.once(ctx, "due-again:sales:"+env.GameID+":"+env.Request.Title, func() (bool, error) {
			return a.sched.MakeDue(ctx, env.GameID, env.Request.Title)
		})
	case message.KindFees:
		outcome, err = a.once(ctx, "due-again:fees:"+env.GameID, func() (bool, error) {
			return true, a.gate.Release(ctx, fetchgate.FeesKey(env.GameID))
		})
	default:
		return
	}
	a.count.WithLabelValues(string(env.Kind), outcome).Inc()
	if err != nil {
		a.log.Warn("dead-lettered work not made due again", "queue", queue, "kind", env.Kind, "game", env.GameID,
			"title", env.Request.Title, "err", err)
		return
	}
	a.log.Info("dead-lettered work", "queue", queue, "kind", env.Kind, "game", env.GameID, "title", env.Request.Title,
		"due_again", outcome)
}

// once runs makeDue unless guard was taken within the period.
func (a *DueAgain) once(ctx context.Context, guard string, makeDue func() (bool, error)) (string, error) {
	first, err := a.gate.Due(ctx, guard, a.cfg.Period)
	if err != nil {
		return dueAgainError, err
	}
	if !first {
		return dueAgainLimited, nil
	}
	changed, err := makeDue()
	if err != nil {
		// Give the next dead letter its chance.
		if rerr := a.gate.Release(ctx, guard); rerr != nil {
			a.log.Warn("due-again guard not released", "err", rerr)
		}
		return dueAgainError, err
	}
	if !changed {
		return dueAgainUnchanged, nil
	}
	return dueAgainDue, nil
}
