package buildinfo

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name                  string
		version, commit, date string
		vcs                   map[string]string
		want                  Info
	}{
		{name: "nothing stamped", want: Info{Version: "dev", Commit: Unknown, Date: Unknown}},
		{name: "linker stamps win", version: "v1.2.3", commit: "abc123", date: "2026-01-02T03:04:05Z",
			vcs:  map[string]string{"vcs.revision": "fff", "vcs.time": "2020-01-01T00:00:00Z"},
			want: Info{Version: "v1.2.3", Commit: "abc123", Date: "2026-01-02T03:04:05Z"}},
		{name: "toolchain vcs stamp as fallback", vcs: map[string]string{"vcs.revision": "0123abcd", "vcs.time": "2026-02-03T04:05:06Z", "vcs.modified": "true"},
			want: Info{Version: "dev", Commit: "0123abcd-dirty", Date: "2026-02-03T04:05:06Z"}},
		{name: "clean tree", vcs: map[string]string{"vcs.revision": "0123abcd", "vcs.modified": "false"},
			want: Info{Version: "dev", Commit: "0123abcd", Date: Unknown}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.version, tc.commit, tc.date, tc.vcs)
			require.NotEmpty(t, got.GoVersion)
			got.GoVersion = ""
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLine(t *testing.T) {
	i := Info{Version: "v1.2.3", Commit: "abc123", Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26"}
	require.Equal(t, "worker version v1.2.3, commit abc123, built 2026-01-02T03:04:05Z, go1.26", i.Line("worker"))
	require.NotEmpty(t, Get().Version)
}
