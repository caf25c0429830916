package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestItemCacheTitles: WORKER_ITEM_CACHE_TITLES=0 turns the store's item cache off (a negative size);
// any other size is passed on as it is.
func TestItemCacheTitles(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  int
		want int
	}{
		{name: "off", env: 0, want: -1},
		{name: "one title", env: 1, want: 1},
		{name: "default", env: 65536, want: 65536},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, itemCacheTitles(tc.env))
		})
	}
}
