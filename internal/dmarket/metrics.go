package dmarket

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	breakerState *prometheus.GaugeVec
}

// newMetrics registers the client's metrics on reg. Registering twice on one registry is an error.
func newMetrics(reg prometheus.Registerer) (m *metrics, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, errRegister{r}
		}
	}()
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_api_requests_total",
			Help: "DMarket API request attempts by endpoint, outcome (success, network, timeout, rate_limited, " +
				"server_error, auth, not_found, gone, bad_request, bad_body, canceled, breaker_open) and egress.",
		}, []string{"endpoint", "outcome", "egress"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dmarket_api_request_duration_seconds",
			Help:    "Duration of DMarket API request attempts in seconds, body read included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30},
		}, []string{"endpoint"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dmarket_api_retries_total",
			Help: "DMarket API retries by endpoint and the failure class that caused them.",
		}, []string{"endpoint", "reason"}),
		breakerState: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmarket_api_breaker_state",
			Help: "State of the DMarket endpoint circuit breaker: 0 closed, 1 half-open, 2 open.",
		}, []string{"endpoint"}),
	}, nil
}

type errRegister struct{ v any }

func (e errRegister) Error() string {
	if err, ok := e.v.(error); ok {
		return "register metrics: " + err.Error()
	}
	return "register metrics"
}
