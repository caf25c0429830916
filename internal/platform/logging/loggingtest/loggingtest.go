// Package loggingtest holds test helpers for code that logs: a buffer that loggers write to from several
// goroutines while a test reads it, and the loggers tests hand to the code under test.
package loggingtest

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// Buffer is an io.Writer whose content can be read while other goroutines write to it. The zero value
// is an empty buffer ready for use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Discard returns a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Verbose returns a logger that writes every record, debug included, to stderr when the tests run with
// -v, and nothing otherwise.
func Verbose() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Discard()
}
