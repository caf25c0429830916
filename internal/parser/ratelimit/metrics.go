package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// EgressMetrics exports the state of the per-egress limiters: `dmarket_ratelimit_rate{egress}` (current
// rate in requests per second) and `dmarket_ratelimit_throttles_total{egress}` (throttle events). The
// egress label is a proxy name without credentials, or "direct".
type EgressMetrics struct {
	rate      *prometheus.GaugeVec
	throttles *prometheus.CounterVec
}

// NewEgressMetrics registers the egress limiter metrics with reg (nil registers nothing).
func NewEgressMetrics(reg prometheus.Registerer) *EgressMetrics {
	f := promauto.With(reg)
	return &EgressMetrics{
		rate: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmarket_ratelimit_rate",
			Help: "Current adaptive request rate limit of an egress, in requests per second.",
		}, []string{"egress"}),
		throttles: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_ratelimit_throttles_total",
			Help: "Throttle events (HTTP 429 answers) seen by the rate limiter of an egress.",
		}, []string{"egress"}),
	}
}

// For returns the Observer of the egress named name. A nil receiver returns a nil Observer.
func (m *EgressMetrics) For(name string) Observer {
	if m == nil {
		return nil
	}
	return labelObserver{rate: m.rate.WithLabelValues(name), throttles: m.throttles.WithLabelValues(name)}
}

// Forget removes the rate gauge of an egress that no longer exists, keeping the label set bounded.
func (m *EgressMetrics) Forget(name string) {
	if m == nil {
		return
	}
	m.rate.DeleteLabelValues(name)
}

type labelObserver struct {
	rate      prometheus.Gauge
	throttles prometheus.Counter
}

func (o labelObserver) RateChanged(rate float64) { o.rate.Set(rate) }
func (o labelObserver) Throttled()               { o.throttles.Inc() }
