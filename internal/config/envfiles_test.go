package config

import (
	"errors"
	"regexp"
	"testing"

	"github.com/joho/godotenv"
	"github.com/stretchr/testify/require"
)

// TestProdEnvHoldsOnlyPlaceholders guards the tracked prod.env: every secret is the placeholder or empty,
// and the binaries refuse it as it is.
func TestProdEnvHoldsOnlyPlaceholders(t *testing.T) {
	secretName := regexp.MustCompile(`PASSWORD|TOKEN|SECRET_KEY|PUBLIC_KEY|CHAT_ID`)
	vars, err := godotenv.Read("../../prod.env")
	require.NoError(t, err)
	secrets := 0
	for name, value := range vars {
		if !secretName.MatchString(name) {
			continue
		}
		secrets++
		require.Contains(t, []string{Placeholder, ""}, value, "prod.env %s must hold the placeholder or nothing", name)
	}
	require.GreaterOrEqual(t, secrets, 6, "prod.env lists the secrets")
	for _, k := range []string{"REDIS_PASSWORD", "RABBITMQ_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "TELEGRAM_API_TOKEN",
		"ALERT_TELEGRAM_BOT_TOKEN", "ALERT_TELEGRAM_CHAT_ID"} {
		require.Equal(t, Placeholder, vars[k], "%s is required, so prod.env holds its placeholder", k)
	}

	// As compose hands them to the bot: the token as is, the password inside REDIS_URL.
	_, err = LoadBot([]string{"-env-file", "../../prod.env"},
		[]string{"REDIS_URL=redis://:" + vars["REDIS_PASSWORD"] + "@redis:6379/0"})
	var cerr *Error
	require.True(t, errors.As(err, &cerr), "%v", err)
	var bad []string
	for _, p := range cerr.Problems {
		bad = append(bad, p.Var)
	}
	require.Equal(t, []string{"REDIS_URL", "TELEGRAM_API_TOKEN"}, bad)
}

// TestDevEnvFilesLoad checks that the env files of `make run` are valid for their binaries.
func TestDevEnvFilesLoad(t *testing.T) {
	_, err := LoadParser([]string{"-env-file", "../../parser.dev.env"}, nil)
	require.NoError(t, err)
	_, err = LoadWorker([]string{"-env-file", "../../worker.dev.env"}, nil)
	require.NoError(t, err)
	// The bot's token is left for the shell to export.
	_, err = LoadBot([]string{"-env-file", "../../bot.dev.env"}, []string{"TELEGRAM_API_TOKEN=" + botToken})
	require.NoError(t, err)
}
