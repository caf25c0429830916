package pricestore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/pricestore/pricestoretest"
)

func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(t testing.TB) pricestore.Client
	}{
		{name: "single", client: func(t testing.TB) pricestore.Client { return redisdbtest.New(t) }},
		{name: "cluster", client: func(t testing.TB) pricestore.Client { return redisdbtest.NewCluster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pricestoretest.Contract(t, func(t *testing.T) pricestoretest.Subject {
				now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
				s, err := pricestore.New(tc.client(t), clocktest.NewFake(now), pricestore.Config{})
				require.NoError(t, err)
				return pricestoretest.Subject{Store: s, Read: s, Now: now}
			})
		})
	}
}
