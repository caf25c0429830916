// Package ops owns the operations HTTP server every binary runs on HTTP_ADDR (SPEC §7): Prometheus
// metrics from the binary's own registry, liveness (/healthz), readiness (/readyz) and the component
// health report (/health).
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skinflip/dmarket-monitor/internal/platform/health"
	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// DefaultShutdownTimeout bounds the graceful shutdown unless WithShutdownTimeout says otherwise.
const DefaultShutdownTimeout = 10 * time.Second

// NewRegistry returns a Prometheus registry holding the Go runtime and process collectors, for a binary
// to register its own metrics on and to serve with New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Option configures a Server.
type Option func(*Server)

// WithShutdownTimeout bounds the graceful shutdown of Run (values ≤ 0 keep the default).
func WithShutdownTimeout(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.shutdownTimeout = d
		}
	}
}

// Server is the ops HTTP server.
type Server struct {
	addr            string
	log             *slog.Logger
	health          *health.Registry
	mux             *http.ServeMux
	srv             *http.Server
	shutdownTimeout time.Duration

	mu sync.Mutex
	ln net.Listener
}

// New returns a server for addr (host:port; ":0" picks a free port) serving metrics from gatherer and
// health from reg (nil reg: no components, always healthy and ready).
func New(addr string, gatherer prometheus.Gatherer, reg *health.Registry, log *slog.Logger, opts ...Option) *Server {
	s := &Server{
		addr:            addr,
		log:             log,
		health:          reg,
		mux:             http.NewServeMux(),
		shutdownTimeout: DefaultShutdownTimeout,
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:      slogErrorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	s.mux.HandleFunc("GET /healthz", s.liveness)
	s.mux.HandleFunc("GET /readyz", s.readiness)
	s.mux.HandleFunc("GET /health", s.report)
	for _, o := range opts {
		o(s)
	}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	return s
}

// Listen binds the address. Run calls it when it was not called before; calling it first lets a binary
// fail early on a busy port and lets tests learn the port through Addr.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (e.g. "127.0.0.1:39211"), or "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is done, then shuts down gracefully within the shutdown timeout (closing the
// remaining connections when it passes). It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	s.log.Info("ops server listening", "addr", s.Addr())

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve ops http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("shut down ops http: %w", err)
	}
	if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve ops http: %w", serr))
	}
	s.log.Info("ops server stopped")
	return err
}

func (s *Server) check(ctx context.Context) health.Report {
	if s.health == nil {
		return health.Report{Status: health.StatusHealthy}
	}
	return s.health.Check(ctx)
}

func (s *Server) liveness(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	rep := s.check(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Ready() {
		_, _ = w.Write([]byte("ready\n"))
		return
	}
	var b strings.Builder
	b.WriteString("not ready\n")
	for _, c := range rep.Components {
		if c.Critical && c.Status == health.StatusUnhealthy {
			fmt.Fprintf(&b, "%s: %s", c.Name, c.Status)
			if c.Err != nil {
				fmt.Fprintf(&b, ": %s", redact.String(c.Err.Error()))
			}
			b.WriteString("\n")
		}
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	rep := s.check(r.Context())
	body, err := json.Marshal(rep)
	if err != nil {
		s.log.Error("encode health report", "err", err)
		http.Error(w, "encode health report", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(rep.HTTPStatus())
	_, _ = w.Write(append(body, '\n'))
}

// slogErrorLog adapts a logger to promhttp's error log.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("serve metrics", "err", fmt.Sprint(v...)) }
