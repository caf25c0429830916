package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// EgressMetrics exports the state of the per-egress limiters: `dmarket_ratelimit_rate{egress}` (current
// rate in requests per second) and `dmarket_ratelimit_throttles_total{egress}` (throttle events). The
// egress label is a proxy name without credentials, or "direct".
type EgressMetrics struct{ observerVecs }

// NewEgressMetrics registers the egress limiter metrics with reg (nil registers nothing).
func NewEgressMetrics(reg prometheus.Registerer) *EgressMetrics {
	return &EgressMetrics{newObserverVecs(reg, "egress",
		"dmarket_ratelimit_rate", "Current adaptive request rate limit of an egress, in requests per second.",
		"dmarket_ratelimit_throttles_total", "Throttle events (HTTP 429 answers) seen by the rate limiter of an egress.")}
}

// For returns the Observer of the egress named name. A nil receiver returns a nil Observer.
func (m *EgressMetrics) For(name string) Observer {
	if m == nil {
		return nil
	}
	return m.observer(name)
}

// Forget removes the rate gauge of an egress that no longer exists, keeping the label set bounded.
func (m *EgressMetrics) Forget(name string) {
	if m == nil {
		return
	}
	m.rate.DeleteLabelValues(name)
}

// observerVecs are the rate gauge and the throttle counter of a set of limiters, labelled by limiter.
type observerVecs struct {
	rate      *prometheus.GaugeVec
	throttles *prometheus.CounterVec
}

func newObserverVecs(reg prometheus.Registerer, label, rateName, rateHelp, throttlesName, throttlesHelp string) observerVecs {
	f := promauto.With(reg)
	return observerVecs{
		rate:      f.NewGaugeVec(prometheus.GaugeOpts{Name: rateName, Help: rateHelp}, []string{label}),
		throttles: f.NewCounterVec(prometheus.CounterOpts{Name: throttlesName, Help: throttlesHelp}, []string{label}),
	}
}

// observer returns the Observer of the limiter labelled value.
func (v observerVecs) observer(value string) labelObserver {
	return labelObserver{rate: v.rate.WithLabelValues(value), throttles: v.throttles.WithLabelValues(value)}
}

type labelObserver struct {
	rate      prometheus.Gauge
	throttles prometheus.Counter
}

func (o labelObserver) RateChanged(rate float64) { o.rate.Set(rate) }
func (o labelObserver) Throttled()               { o.throttles.Inc() }
