package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/skinflip/dmarket-monitor/internal/dmarket"
	"github.com/skinflip/dmarket-monitor/internal/parser/proxy/proxytest"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// perIPLimited answers 429 to a client IP that exceeds perIP requests per second (burst 2), like DMarket's public
// endpoints.
func perIPLimited(perIP float64) (*httptest.Server, *atomic.Int64) {
	var mu sync.Mutex
	limiters := map[string]*rate.Limiter{}
	var throttled atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		l, ok := limiters[host]
		if !ok {
			l = rate.NewLimiter(rate.Limit(perIP), 2) // a little tolerance for network jitter
			limiters[host] = l
		}
		mu.Unlock()
		if !l.Allow() {
			throttled.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, `{"objects":[]}`)
	}))
	return srv, &throttled
}

// BenchmarkPoolPerIPLimit sends requests through K SOCKS5 proxies with distinct source addresses to a
// server limiting each client IP: throughput grows with K and the AIMD limiters keep 429s rare.
func BenchmarkPoolPerIPLimit(b *testing.B) {
	const perIP = 100
	for _, k := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("proxies=%d", k), func(b *testing.B) {
			srv, throttled := perIPLimited(perIP)
			defer srv.Close()
			lines := make([]string, k)
			for i := range lines {
				lines[i] = proxytest.New(b, proxytest.Options{Kind: proxytest.SOCKS5, SourceIP: fmt.Sprintf("127.0.0.%d", i+2)}).URL()
			}
			path := proxytest.WriteFile(b, lines...)
			log, _ := newLogger()
			// Ceiling slightly under the server's limit, as an operator would configure it.
			p, err := NewPool(Config{File: path, RatePerIP: perIP * 0.9, MaxIdleConnsPerHost: 8}, clock.Real{}, log, nil)
			if err != nil {
				b.Fatal(err)
			}
			var failed atomic.Int64
			b.ResetTimer()
			start := time.Now()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l, err := p.Acquire(context.Background(), true)
					if err != nil {
						failed.Add(1)
						continue
					}
					req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
					resp, err := l.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
					}
					o := Classify(resp, err)
					if o == dmarket.EgressFailure {
						failed.Add(1)
					}
					l.Release(o)
				}
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(throttled.Load())/float64(b.N), "429/op")
			if failed.Load() > 0 {
				b.Fatalf("%d requests failed", failed.Load())
			}
		})
	}
}

// BenchmarkAcquireRelease measures the pool's own overhead with many proxies.
func BenchmarkAcquireRelease(b *testing.B) {
	lines := make([]string, 32)
	for i := range lines {
		lines[i] = fmt.Sprintf("socks5://10.0.1.%d:1080", i+1)
	}
	path := proxytest.WriteFile(b, lines...)
	log, _ := newLogger()
	p, err := NewPool(Config{File: path}, clock.Real{}, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := p.Acquire(context.Background(), false)
			if err != nil {
				b.Error(err)
				return
			}
			l.Release(dmarket.Success)
		}
	})
}
