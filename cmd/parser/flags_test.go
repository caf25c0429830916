package main

import (
	"testing"

	"github.com/skinflip/dmarket-monitor/internal/platform/buildinfo/buildinfotest"
)

// TestHelpAndVersion runs the built binary: -h prints every variable and exits 0, -version prints the
// stamped build information and exits 0, a bad flag exits 2, a placeholder value is refused by name.
func TestHelpAndVersion(t *testing.T) {
	buildinfotest.CheckFlags(t, ".", "parser", "PARSER_CYCLE_TIMEOUT [15m]",
		"PARSER_FRESH_SHARE [0.3]", "PARSER_WATCH_SHARE [0.2]", "PARSER_WATCH_INTERVAL [5s]")
}
