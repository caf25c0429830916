package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/worker/validate"
)

func TestSellHistoryReportsOldestSale(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		sales []validate.Sale
		want  time.Time
	}{
		{name: "none"},
		{name: "newest first, older than a week", want: now.Add(-9 * 24 * time.Hour), sales: []validate.Sale{
			{Price: 100, At: now.Add(-time.Hour)}, {Price: 120, At: now.Add(-9 * 24 * time.Hour)}}},
		{name: "unordered, within a day", want: now.Add(-20 * time.Hour), sales: []validate.Sale{
			{Price: 100, At: now.Add(-3 * time.Hour)}, {Price: 120, At: now.Add(-20 * time.Hour)},
			{Price: 110, At: now.Add(-time.Hour)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, tc.want.Equal(SellHistory(tc.sales, now).Oldest))
		})
	}
}
