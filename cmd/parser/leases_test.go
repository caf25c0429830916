package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

func TestCrawlLeasesFollowTheSharedCrawlSetting(t *testing.T) {
	rdb := redisdbtest.Unreachable(t)
	tests := []struct {
		name    string
		shared  bool
		ttl     time.Duration
		want    bool
		wantErr bool
	}{
		{name: "off: the parser crawls alone", shared: false, ttl: 30 * time.Second},
		{name: "on", shared: true, ttl: 30 * time.Second, want: true},
		{name: "on with a lease too short", shared: true, ttl: time.Millisecond, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leases, err := crawlLeases(config.Parser{SharedCrawl: tc.shared, LeaseTTL: tc.ttl}, rdb, clock.Real{})
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, leases != nil)
			if tc.want {
				require.Equal(t, tc.ttl, leases.TTL())
			}
		})
	}
}
