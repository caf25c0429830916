package sellhistory_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory/sellhistorytest"
)

// The analysis times of the fixtures: summaryNow for their recorded summaries, stableNow for the
// stability verdicts.
var (
	summaryNow = time.Date(2022, 4, 22, 18, 0, 0, 0, time.UTC)
	stableNow  = time.Date(2022, 4, 23, 18, 0, 0, 0, time.UTC)
)

func loadFixture(t testing.TB, name string) []sellhistory.Point {
	t.Helper()
	return sellhistorytest.LoadSteamHistory(t, filepath.Join("testdata", name))
}

// loadExpected reads {"pairs": {"<dollars>": percent}} into cents → percent.
func loadExpected(t *testing.T, name string) map[int64]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var body struct {
		Pairs map[string]float64 `json:"pairs"`
	}
	require.NoError(t, json.Unmarshal(data, &body))
	out := make(map[int64]int, len(body.Pairs))
	for k, v := range body.Pairs {
		dollars, err := strconv.ParseFloat(k, 64)
		require.NoError(t, err)
		require.Equal(t, math.Trunc(v), v, "percent %v is whole", v)
		out[sellhistory.Cents(dollars)] = int(v)
	}
	return out
}

func TestFixtureSummaries(t *testing.T) {
	cases := []struct {
		name, file, expected string
		prices               int
	}{
		{"test_data", "test_data.json", "test_data_expected.json", 15},
		{"test_data_2", "test_data_2.json", "test_data_2_expected.json", 37},
		{"test_data_9", "test_data_9.json", "test_data_9_expected.json", 137},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := loadExpected(t, tc.expected)
			require.Len(t, want, tc.prices)
			got := sellhistory.AnalysePoints(loadFixture(t, tc.file), summaryNow).Probability
			require.Equal(t, want, got)
		})
	}
}

func TestFixtureSoldPerWeek(t *testing.T) {
	cases := []struct {
		file string
		want int
	}{
		{"test_data.json", 391982},
		{"test_data_2.json", 205},
		{"test_data_9.json", 649},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			require.Equal(t, tc.want, sellhistory.AnalysePoints(loadFixture(t, tc.file), summaryNow).SoldPerWeek)
		})
	}
}

func TestFixtureStability(t *testing.T) {
	cases := []struct {
		file string
		want bool
	}{
		{"test_data.json", true},
		{"test_data_3.json", true},
		{"test_data_4.json", true},
		{"test_data_7.json", true},
		{"test_data_9.json", true},
		{"test_data_2.json", false},
		{"test_data_5.json", false},
		{"test_data_6.json", false},
		{"test_data_8.json", false},
		{"test_data_10.json", false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			require.Equal(t, tc.want, sellhistory.AnalysePoints(loadFixture(t, tc.file), stableNow).Stable)
		})
	}
}

func TestFixtureInputOrderDoesNotMatter(t *testing.T) {
	pts := loadFixture(t, "test_data_9.json")
	want := sellhistory.AnalysePoints(pts, stableNow)
	rev := make([]sellhistory.Point, len(pts))
	for i, p := range pts {
		rev[len(pts)-1-i] = p
	}
	require.Equal(t, want, sellhistory.AnalysePoints(rev, stableNow))
	require.Equal(t, pts[0], loadFixture(t, "test_data_9.json")[0], "input not modified")
}

func BenchmarkAnalyse(b *testing.B) {
	pts := loadFixture(b, "test_data_9.json")
	b.ReportAllocs()
	for b.Loop() {
		sellhistory.AnalysePoints(pts, stableNow)
	}
}
