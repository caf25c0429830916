package market

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTitleStateListed(t *testing.T) {
	level := &PriceLevel{Price: 100, Count: 1}
	for _, tc := range []struct {
		name string
		st   *TitleState
		want bool
	}{
		{"nil state", nil, false},
		{"no level", &TitleState{Title: "A", History: &ResaleHistory{PriceAtLow: 5}}, false},
		{"tradable level", &TitleState{Available: level}, true},
		{"trade-locked level", &TitleState{Locked: level}, true},
		{"both", &TitleState{Available: level, Locked: level}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.st.Listed())
		})
	}
}
