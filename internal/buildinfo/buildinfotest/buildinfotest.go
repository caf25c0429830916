// Package buildinfotest builds a command of this module the way make build and the Dockerfile do, with
// the build information stamped by -ldflags -X, so that tests can run the real binary.
package buildinfotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Stamp is the build information a test binary is stamped with.
type Stamp struct {
	// Version, Commit and Date are the values given to -X.
	Version, Commit, Date string
}

// LDFlags returns the -ldflags value that stamps s (the same -X paths as the Makefile and Dockerfile).
func (s Stamp) LDFlags() string {
	const pkg = "github.com/skinflip/dmarket-monitor/internal/buildinfo"
	return strings.Join([]string{
		"-X " + pkg + ".version=" + s.Version,
		"-X " + pkg + ".commit=" + s.Commit,
		"-X " + pkg + ".date=" + s.Date,
	}, " ")
}

// Build compiles the main package in dir (a package path such as "." from the package's own test) with
// s stamped and returns the binary's path inside t.TempDir().
func Build(t testing.TB, dir string, s Stamp) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bin")
	cmd := exec.Command("go", "build", "-ldflags", s.LDFlags(), "-o", out, dir)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return out
}
