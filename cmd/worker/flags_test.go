package main

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/buildinfo/buildinfotest"
)

// TestHelpAndVersion runs the built binary: -h prints every variable and exits 0, -version prints the
// stamped build information and exits 0, a bad flag exits 2, a placeholder value is refused by name.
func TestHelpAndVersion(t *testing.T) {
	bin := buildinfotest.Build(t, ".", buildinfotest.Stamp{Version: "v9.8.7", Commit: "0123abcdef", Date: "2026-03-04T05:06:07Z"})
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "help", args: []string{"-h"}, code: 0, stdout: []string{"usage: worker ", "REDIS_URL [redis://localhost:6379/0]", "LOG_LEVEL [info]", "WORKER_MAX_ATTEMPTS [5]", "worker dlq list|replay"}},
		{name: "version", args: []string{"-version"}, code: 0,
			stdout: []string{"worker version v9.8.7, commit 0123abcdef, built 2026-03-04T05:06:07Z"}},
		{name: "unknown flag", args: []string{"-nope"}, code: 2, stderr: []string{"flag provided but not defined", "worker -h"}},
		{name: "placeholder", env: []string{"REDIS_URL=redis://:change-me@127.0.0.1:1/0"}, code: 2,
			stderr: []string{"REDIS_URL: still holds the placeholder"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = tc.env
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			for _, s := range tc.stdout {
				require.Contains(t, out.String(), s)
			}
			for _, s := range tc.stderr {
				require.Contains(t, errOut.String(), s)
			}
			require.NotContains(t, errOut.String(), "change-me")
		})
	}
}
