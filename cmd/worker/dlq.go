package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/message"
	"github.com/skinflip/dmarket-monitor/internal/platform/lifecycle"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq"
)

// dlqUsage is printed by `worker dlq -h` and after a usage error.
const dlqUsage = `usage: worker dlq list|replay [-queue Q] [-n N] [-timeout D] [-env-file FILE]

  list    show the dead-lettered messages (queue, kind, game, title, fetch time, attempt, x-error)
          without removing them: they are taken unacknowledged and handed back in their places.
  replay  move dead-lettered messages back to their queue with a fresh attempt count (x-attempt,
          x-error and x-death removed); each is removed from the dead-letter queue only once its
          publish is confirmed.

  -queue Q     a queue (dmarket.sales) or its dead-letter queue (dmarket.sales.dlq); default: every queue
  -n N         at most N messages per queue; default 0 = all
  -timeout D   overall bound, Go duration (default 1m)
  -env-file F  dotenv file, as for the worker (RABBITMQ_URL and the other worker variables)
`

// errDLQUsage means the dlq command line is wrong.
var errDLQUsage = errors.New("usage")

// dlqArgs is the parsed dlq command line.
type dlqArgs struct {
	action  string
	queues  []string // dead-letter queues
	n       int
	timeout time.Duration
	envFile string
}

func parseDLQArgs(args []string) (dlqArgs, error) {
	var a dlqArgs
	if len(args) == 0 {
		return a, fmt.Errorf("%w: list or replay expected", errDLQUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help":
		return a, flag.ErrHelp
	case "list", "replay":
		a.action = args[0]
	default:
		return a, fmt.Errorf("%w: unknown action %q (list or replay)", errDLQUsage, args[0])
	}
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	queue := fs.String("queue", "", "")
	fs.IntVar(&a.n, "n", 0, "")
	fs.DurationVar(&a.timeout, "timeout", time.Minute, "")
	fs.StringVar(&a.envFile, "env-file", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return a, err
		}
		return a, fmt.Errorf("%w: %w", errDLQUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("%w: unexpected argument %q", errDLQUsage, fs.Arg(0))
	case a.n < 0:
		return a, fmt.Errorf("%w: -n must not be negative", errDLQUsage)
	case a.timeout <= 0:
		return a, fmt.Errorf("%w: -timeout must be positive", errDLQUsage)
	}
	if *queue != "" {
		a.queues = []string{rabbitmq.DeadLetterQueue(*queue)}
	} else {
		for _, q := range rabbitmq.Queues() {
			a.queues = append(a.queues, rabbitmq.DeadLetterQueue(q))
		}
	}
	return a, nil
}

// runDLQ runs `worker dlq ...` with args (after "dlq") and returns the exit code: 0 done, 1 failed,
// 2 bad command line or configuration.
func runDLQ(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	a, err := parseDLQArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, dlqUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker dlq: %v\n\n%s", err, dlqUsage)
		return 2
	}
	var cfgArgs []string
	if a.envFile != "" {
		cfgArgs = []string{"-env-file", a.envFile}
	}
	cfg, err := config.LoadWorker(cfgArgs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "worker dlq: %v\n", err)
		return 2
	}
	log, err := logging.New(stderr, "warn", cfg.LogFormat, logging.WithSecrets(cfg.Secrets()...))
	if err != nil {
		fmt.Fprintf(stderr, "worker dlq: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if err := dlq(ctx, cfg, log, a, stdout); err != nil {
		log.Error("worker dlq failed", "err", err)
		return 1
	}
	return 0
}

// dlq connects to the broker and lists or replays the dead-letter queues of a.
func dlq(ctx context.Context, cfg config.Worker, log *slog.Logger, a dlqArgs, out io.Writer) error {
	conn, err := rabbitmq.NewConn(cfg.RabbitMQURL, log, nil, rabbitmq.ConnOptions{Queues: rabbitmq.Queues(), DeliveryLimit: cfg.DeliveryLimit})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	connCtx, stopConn := context.WithCancel(context.WithoutCancel(ctx))
	connDone := make(chan error, 1)
	go func() { connDone <- lifecycle.IgnoreCanceled(conn.Run(connCtx)) }()
	defer func() {
		stopConn()
		if err := <-connDone; err != nil {
			log.Warn("rabbitmq connection stopped with an error", "err", err)
		}
		_ = conn.Close()
	}()
	q := rabbitmq.NewDLQ(conn)
	defer func() { _ = q.Close() }()

	if a.action == "replay" {
		for _, name := range a.queues {
			moved, err := q.Replay(ctx, name, a.n)
			target := strings.TrimSuffix(name, message.DeadLetterSuffix)
			fmt.Fprintf(out, "%s: %d replayed to %s\n", name, moved, target)
			if err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tMESSAGE\tKIND\tGAME\tTITLE\tFETCHED\tATTEMPT\tX-ERROR")
	total := 0
	for _, name := range a.queues {
		list, err := q.List(ctx, name, a.n)
		if err != nil {
			_ = tw.Flush()
			return err
		}
		for _, d := range list {
			kind, game, title, fetched := describe(d.Body)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Queue, orDash(d.MessageID), kind, game, title, fetched,
				d.Attempt, orDash(oneLine(d.Error)))
		}
		total += len(list)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	fmt.Fprintf(out, "%d dead-lettered message(s)\n", total)
	return nil
}

// describe reads what it can of an envelope without validating it (a dead letter may be undecodable).
func describe(body []byte) (kind, game, title, fetched string) {
	var env message.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return "undecodable", "-", "-", "-"
	}
	fetched = "-"
	if !env.FetchedAt.IsZero() {
		fetched = env.FetchedAt.UTC().Format(time.RFC3339)
	}
	return orDash(string(env.Kind)), orDash(env.GameID), orDash(oneLine(env.Request.Title)), fetched
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(s)
}
