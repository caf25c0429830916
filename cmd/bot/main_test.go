package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/config"
)

func TestWarnEmptyWhitelist(t *testing.T) {
	tests := []struct {
		name      string
		whitelist config.Whitelist
		warns     bool
	}{
		{name: "empty whitelist warns", whitelist: nil, warns: true},
		{name: "a whitelisted user is enough", whitelist: config.Whitelist{42}, warns: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			warnEmptyWhitelist(slog.New(slog.NewTextHandler(&buf, nil)), config.Bot{Whitelist: tc.whitelist})
			if !tc.warns {
				require.Empty(t, buf.String())
				return
			}
			require.Contains(t, buf.String(), "level=WARN")
			require.Contains(t, buf.String(), "TELEGRAM_WHITELIST is empty")
		})
	}
}
