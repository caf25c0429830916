package proxytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteFile writes lines, one proxy URL each, as a proxy file in a fresh temporary directory of tb and
// returns its path. It fails tb on error.
func WriteFile(tb testing.TB, lines ...string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "proxies.txt")
	Rewrite(tb, path, lines...)
	return path
}

// Rewrite replaces the content of the proxy file at path by lines. It fails tb on error.
func Rewrite(tb testing.TB, path string, lines ...string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatalf("write proxy file: %v", err)
	}
}
