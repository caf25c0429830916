package pricestore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// cmdRecorder is a go-redis hook that records what a client sends: its round trips (commands and
// pipelines, apart from those that set up a connection) and the keys of every EVAL/EVALSHA.
type cmdRecorder struct {
	mu    sync.Mutex
	trips int
	keys  [][]string
}

func (r *cmdRecorder) record(cmds ...redis.Cmder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch cmds[0].Name() {
	case "hello", "select", "client", "auth":
	default:
		r.trips++
	}
	for _, c := range cmds {
		args := c.Args()
		name := strings.ToLower(fmt.Sprint(args[0]))
		if name != "evalsha" && name != "eval" {
			continue
		}
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		keys := make([]string, 0, n)
		for _, k := range args[3 : 3+n] {
			keys = append(keys, fmt.Sprint(k))
		}
		r.keys = append(r.keys, keys)
	}
}

// roundTrips returns the commands and pipelines sent so far.
func (r *cmdRecorder) roundTrips() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trips
}

// scriptKeys returns the keys of each script call sent so far.
func (r *cmdRecorder) scriptKeys() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.keys...)
}

func (r *cmdRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *cmdRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.record(cmd)
		return next(ctx, cmd)
	}
}

func (r *cmdRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.record(cmds...)
		return next(ctx, cmds)
	}
}
