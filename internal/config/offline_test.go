package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadBotOffline(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		wantVar string
	}{
		{name: "no token needed", environ: nil},
		{name: "a bad setting is still an error", environ: []string{"BOT_DEFAULT_LIMIT=abc"}, wantVar: "BOT_DEFAULT_LIMIT"},
		{name: "a bad redis url is still an error", environ: []string{"REDIS_URL=ftp://x"}, wantVar: "REDIS_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadBotOffline(nil, tc.environ)
			if tc.wantVar == "" {
				require.NoError(t, err)
				require.Equal(t, Cents(1000), c.DefaultMinPrice)
				return
			}
			var cerr *Error
			require.True(t, errors.As(err, &cerr))
			require.ErrorContains(t, err, tc.wantVar)
		})
	}
	_, err := LoadBot(nil, nil)
	require.ErrorContains(t, err, "TELEGRAM_API_TOKEN", "the bot itself still needs its token")
}
