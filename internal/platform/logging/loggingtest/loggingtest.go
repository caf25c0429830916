// Package loggingtest holds test helpers for code that logs: a buffer that loggers write to from several
// goroutines while a test reads it.
package loggingtest

import (
	"bytes"
	"sync"
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
