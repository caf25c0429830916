package pricestore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
	"github.com/skinflip/dmarket-monitor/internal/pricestore"
	"github.com/skinflip/dmarket-monitor/internal/pricestore/pricestoretest"
)

func TestContract(t *testing.T) {
	pricestoretest.Contract(t, func(t *testing.T) pricestoretest.Subject {
		now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
		s, err := pricestore.New(redisdbtest.New(t), clock.NewFake(now), pricestore.Config{})
		require.NoError(t, err)
		return pricestoretest.Subject{Store: s, Read: s, Now: now}
	})
}
