//go:build unix

package validate

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// attrKeys are the extra members that carry item attributes.
var attrKeys = []string{"floatValue", "paintSeed", "phaseTitle", "phase", "stickers"}

// benchAttrPage rebuilds the 100-item benchmark page with edit applied to each item's extra.
func benchAttrPage(b testing.TB, edit func(i int, extra map[string]any)) []byte {
	var page struct {
		Objects []map[string]any `json:"objects"`
	}
	require.NoError(b, json.Unmarshal(benchPage(b), &page))
	for i, it := range page.Objects {
		extra, ok := it["extra"].(map[string]any)
		require.True(b, ok)
		edit(i, extra)
	}
	out, err := json.Marshal(map[string]any{"objects": page.Objects, "cursor": "abc"})
	require.NoError(b, err)
	return out
}

// cpuTime returns the CPU time the process has used (user and system, all threads).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeListingsAttrs decodes 100-item pages: plain (no item carries an attribute), floats
// (the fixture's floats and paint seeds on four of five items) and full (every item with a float, a
// seed, a phase and four stickers). Besides wall time it reports cpu-ns/op, the process's CPU time per
// page, which a loaded machine disturbs far less.
func BenchmarkDecodeListingsAttrs(b *testing.B) {
	pages := []struct {
		name string
		body []byte
	}{
		{"plain", benchAttrPage(b, func(_ int, extra map[string]any) {
			for _, k := range attrKeys {
				delete(extra, k)
			}
		})},
		{"floats", benchAttrPage(b, func(int, map[string]any) {})},
		{"full", benchAttrPage(b, func(i int, extra map[string]any) {
			extra["floatValue"] = 0.01 + float64(i)/1000
			extra["paintSeed"] = i
			extra["phaseTitle"] = "Phase 2"
			extra["stickers"] = []map[string]string{
				{"name": "Crown (Foil)", "image": "https://example.com/a.png"},
				{"name": "Titan | Katowice 2014"}, {"name": "iBUYPOWER | Katowice 2014"}, {"name": "Howling Dawn"},
			}
		})},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(len(p.body)))
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				page, err := DecodeListings(p.body, "a8db")
				if err != nil || len(page.Items) != 100 {
					b.Fatalf("decode: %v %d", err, len(page.Items))
				}
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
