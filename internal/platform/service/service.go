// Package service runs a long-lived command the way every binary of the project starts and stops: load
// the configuration from the command line and the environment, build the logger that hides the
// configuration's secrets, run until SIGINT or SIGTERM, and turn the outcome into the exit code.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/skinflip/dmarket-monitor/internal/config"
	"github.com/skinflip/dmarket-monitor/internal/platform/logging"
)

// Config is what Main reads of a command's configuration; config.Parser, config.Worker and config.Bot
// satisfy it.
type Config interface {
	// Logging returns LOG_LEVEL and LOG_FORMAT.
	Logging() (level, format string)
	// Secrets returns the values the logger never prints.
	Secrets() []string
}

// Loader loads a command's configuration from its arguments (without the program name) and environ.
type Loader[C Config] func(args, environ []string) (C, error)

// Runner runs a command until ctx ends; a nil error is a clean stop.
type Runner[C Config] func(ctx context.Context, cfg C, log *slog.Logger) error

// Main runs program with the process's arguments, environment and standard streams until SIGINT or
// SIGTERM and returns its exit code, for os.Exit.
func Main[C Config](program string, load Loader[C], run Runner[C]) int {
	ctx, stop := SignalContext()
	defer stop()
	return Start(ctx, program, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, load, run)
}

// Start is Main with the context, arguments, environment and streams given. It returns config.Exit's
// code when the configuration does not load (0 for -h and -version, 2 otherwise), 2 when the logger
// cannot be built, 1 when run fails (logged as "<program> stopped") and 0 after a clean stop.
func Start[C Config](ctx context.Context, program string, args, environ []string, stdout, stderr io.Writer,
	load Loader[C], run Runner[C]) int {
	cfg, err := load(args, environ)
	if err != nil {
		return config.Exit(stdout, stderr, program, err)
	}
	level, format := cfg.Logging()
	log, err := logging.New(stderr, level, format, logging.WithSecrets(cfg.Secrets()...))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error(program+" stopped", "err", err)
		return 1
	}
	return 0
}

// SignalContext returns a context that ends on SIGINT or SIGTERM, and the function that stops watching
// for them.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
