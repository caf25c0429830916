package salesschedule

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// MakeDue makes title due now, for a title whose sales were fetched but never reached Redis (its
// message was dead-lettered): the parser claims it again in its next round instead of after the sales
// interval. A title that is not on the schedule (pruned meanwhile) is not added back, and one already
// due keeps its earlier due time. It reports whether the due time changed.
func (s *Schedule) MakeDue(ctx context.Context, game, title string) (bool, error) {
	n, err := s.rdb.ZAddArgs(ctx, Key(game), redis.ZAddArgs{
		XX: true, LT: true, Ch: true,
		Members: []redis.Z{{Score: ms(s.clock.Now()), Member: title}},
	}).Result()
	if err != nil {
		return false, fmt.Errorf("make sales title due: %w", err)
	}
	return n > 0, nil
}
