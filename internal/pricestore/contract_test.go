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
	for _, srv := range redisdbtest.Servers() {
		t.Run(srv.Name, func(t *testing.T) {
			pricestoretest.Contract(t, func(t *testing.T) pricestoretest.Subject {
				now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
				s, err := pricestore.New(srv.Client(t), clocktest.NewFake(now), pricestore.Config{})
				require.NoError(t, err)
				return pricestoretest.Subject{Store: s, Read: s, Now: now}
			})
		})
	}
}
