// Package buildinfotest builds a command of this module the way make build and the Dockerfile do, with
// the build information stamped by -ldflags -X, so that tests can run the real binary.
package buildinfotest

import (
	"errors"
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
	const pkg = "github.com/skinflip/dmarket-monitor/internal/platform/buildinfo"
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

// Run runs bin with args and env and returns its exit code, standard output and standard error.
func Run(t testing.TB, bin string, args, env []string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return code, out.String(), errOut.String()
}

// CheckFlags builds the command in dir (named name) stamped with a test version and checks its command line
// as every binary of the module must behave: -h prints usage with every line of help (and at least the
// shared variables) and exits 0, -version prints the stamp and exits 0, an unknown flag exits 2 pointing at
// -h, and a placeholder value is refused by the variable's name, never echoing the value.
func CheckFlags(t *testing.T, dir, name string, help ...string) {
	t.Helper()
	stamp := Stamp{Version: "v9.8.7", Commit: "0123abcdef", Date: "2026-03-04T05:06:07Z"}
	bin := Build(t, dir, stamp)
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "help", args: []string{"-h"}, code: 0,
			stdout: append([]string{"usage: " + name + " ", "REDIS_URL [redis://localhost:6379/0]", "LOG_LEVEL [info]"}, help...)},
		{name: "version", args: []string{"-version"}, code: 0,
			stdout: []string{name + " version " + stamp.Version + ", commit " + stamp.Commit + ", built " + stamp.Date}},
		{name: "unknown flag", args: []string{"-nope"}, code: 2, stderr: []string{"flag provided but not defined", name + " -h"}},
		{name: "placeholder", env: []string{"REDIS_URL=redis://:change-me@127.0.0.1:1/0"}, code: 2,
			stderr: []string{"REDIS_URL: still holds the placeholder"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := Run(t, bin, tc.args, tc.env)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if strings.Contains(errOut, "change-me") {
				t.Errorf("stderr echoes the placeholder value:\n%s", errOut)
			}
		})
	}
}
