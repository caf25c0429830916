package offerstest

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// Applier is the part of an offers service that BenchApplyUser drives: S is its user settings, O its offer.
type Applier[S, O any] interface {
	Apply(ctx context.Context, titles []string) error
	TitleOffers(settings S, titles []string, now time.Time) []O
	First(ctx context.Context, settings S, n int) ([]O, error)
}

// BenchApplyUser runs the "apply+user" sub-benchmark: per iteration it calls before (when not nil) with
// the iteration's number and batch, applies the next batch of changed titles, then asks for user's offers
// of those titles at now and for user's first page of ten. It reports each part's time per batch, the
// changed titles' offers per batch and the process's CPU time per batch under cpuMetric.
func BenchApplyUser[S, O any](b *testing.B, svc Applier[S, O], user S, now time.Time, batches [][]string,
	before func(k int, changed []string), cpuMetric string,
) {
	b.Helper()
	ctx := context.Background()
	b.Run("apply+user", func(b *testing.B) {
		var apply, title, first time.Duration
		n, k := 0, 0
		cpu := ProcessCPU()
		for b.Loop() {
			changed := batches[k%len(batches)]
			if before != nil {
				before(k, changed)
			}
			k++
			start := time.Now()
			if err := svc.Apply(ctx, changed); err != nil {
				b.Fatal(err)
			}
			applied := time.Now()
			got := svc.TitleOffers(user, changed, now)
			listed := time.Now()
			page, err := svc.First(ctx, user, 10)
			if err != nil || len(page) == 0 {
				b.Fatalf("first page: %d offers, %v", len(page), err)
			}
			apply, title, first = apply+applied.Sub(start), title+listed.Sub(applied), first+time.Since(listed)
			n += len(got)
		}
		b.ReportMetric(float64(apply.Nanoseconds())/float64(b.N), "apply-ns/op")
		b.ReportMetric(float64(title.Nanoseconds())/float64(b.N), "title-offers-ns/op")
		b.ReportMetric(float64(first.Nanoseconds())/float64(b.N), "first-page-ns/op")
		b.ReportMetric(float64(n)/float64(b.N), "changed-offers/op")
		b.ReportMetric(float64((ProcessCPU()-cpu).Nanoseconds())/float64(b.N), cpuMetric)
	})
}

// ProcessCPU returns the user plus system CPU time the process used so far (0 if it cannot be read).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
