// Package buildinfo tells which build of the binaries is running: the version, the commit and the build
// date stamped at link time (make build and the Dockerfile set them with -ldflags -X), with the Go
// toolchain's own VCS stamp as the fallback for a plain `go build` in a git checkout.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// The link-time stamps. They are variables only because the linker's -X flag needs variables:
//
//	go build -ldflags "-X github.com/skinflip/dmarket-monitor/internal/platform/buildinfo.version=v1.2.3 \
//	  -X github.com/skinflip/dmarket-monitor/internal/platform/buildinfo.commit=0123abc \
//	  -X github.com/skinflip/dmarket-monitor/internal/platform/buildinfo.date=2026-01-02T03:04:05Z" ./cmd/...
//
// Nothing assigns them at run time.
var (
	version = ""
	commit  = ""
	date    = ""
)

// Unknown stands for a stamp that neither the linker nor the Go toolchain provided.
const Unknown = "unknown"

// Info is the build of the running binary.
type Info struct {
	// Version is the release version (git describe), "dev" when not stamped.
	Version string
	// Commit is the git commit the binary was built from, with "-dirty" when the tree had local changes.
	Commit string
	// Date is the build (or, as a fallback, the commit) time in RFC 3339.
	Date string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	var vcs map[string]string
	if bi, ok := debug.ReadBuildInfo(); ok {
		vcs = map[string]string{}
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
	}
	return resolve(version, commit, date, vcs)
}

// resolve fills the stamps the linker left empty from the toolchain's VCS settings.
func resolve(version, commit, date string, vcs map[string]string) Info {
	i := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		if rev := vcs["vcs.revision"]; rev != "" {
			i.Commit = rev
			if vcs["vcs.modified"] == "true" {
				i.Commit += "-dirty"
			}
		} else {
			i.Commit = Unknown
		}
	}
	if i.Date == "" {
		i.Date = vcs["vcs.time"]
		if i.Date == "" {
			i.Date = Unknown
		}
	}
	return i
}

// Line is the answer to `program -version`: one line with every field.
func (i Info) Line(program string) string {
	return fmt.Sprintf("%s version %s, commit %s, built %s, %s", program, i.Version, i.Commit, i.Date, i.GoVersion)
}
