package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsageListsEveryVariable(t *testing.T) {
	tests := []struct {
		program string
		typ     reflect.Type
		want    []string
	}{
		{program: "parser", typ: reflect.TypeFor[Parser](), want: []string{"HTTP_ADDR [:8081]", "PARSER_RATE_PER_IP [2]",
			"PARSER_SHARED_CRAWL [false]", "PARSER_LEASE_TTL [30s]",
			"DMARKET_SECRET_KEY [empty]", "REDIS_URL [redis://localhost:6379/0]"}},
		{program: "worker", typ: reflect.TypeFor[Worker](), want: []string{"HTTP_ADDR [:8082]", "WORKER_PREFETCH [64]"}},
		{program: "bot", typ: reflect.TypeFor[Bot](), want: []string{"HTTP_ADDR [:8083]", "TELEGRAM_API_TOKEN [required]",
			"TELEGRAM_API_ENDPOINT [https://api.telegram.org/bot%s/%s]", "bot offers"}},
	}
	for _, tc := range tests {
		t.Run(tc.program, func(t *testing.T) {
			u := Usage(tc.program)
			require.True(t, strings.HasPrefix(u, "usage: "+tc.program+" [-env-file PATH] [-version] [-h]"), u)
			vars := variables(tc.typ)
			require.Equal(t, envOrder(tc.typ), names(vars))
			for _, v := range vars {
				require.NotEmpty(t, v.help, "%s has no help tag", v.name)
				require.Contains(t, u, "\n  "+v.name+" [", "%s is missing from the usage", v.name)
				require.Contains(t, u, v.help)
				if v.def != "" && v.name != "HTTP_ADDR" {
					require.Contains(t, u, fmt.Sprintf("%s [%s]", v.name, v.def))
				}
			}
			for _, w := range tc.want {
				require.Contains(t, u, w)
			}
		})
	}
	require.NotContains(t, Usage("worker"), "PARSER_RATE_PER_IP", "a binary lists only its own variables")
	require.NotContains(t, Usage("tool"), "Variables", "an unknown program gets the command line only")
}

func names(vs []variable) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.name
	}
	return out
}

func TestExit(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		code       int
		stdout     []string
		stderr     []string
		emptyOut   bool
		emptyError bool
	}{
		{name: "help", err: flag.ErrHelp, code: 0, stdout: []string{"usage: worker", "WORKER_CONCURRENCY [8]"}, emptyError: true},
		{name: "version", err: ErrVersion, code: 0, stdout: []string{"worker version ", ", commit ", ", built "}, emptyError: true},
		{name: "bad command line", err: fmt.Errorf("%w: flag provided but not defined: -x", ErrUsage), code: 2,
			stderr: []string{"worker: bad command line", "worker -h"}, emptyOut: true},
		{name: "bad variables", err: &Error{Problems: []Problem{{Var: "PRICE_TTL", Reason: "bad"}}}, code: 2,
			stderr: []string{"PRICE_TTL: bad"}, emptyOut: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, tc.code, Exit(&out, &errOut, "worker", tc.err))
			for _, s := range tc.stdout {
				require.Contains(t, out.String(), s)
			}
			for _, s := range tc.stderr {
				require.Contains(t, errOut.String(), s)
			}
			if tc.emptyOut {
				require.Empty(t, out.String())
			}
			if tc.emptyError {
				require.Empty(t, errOut.String())
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"-version"}, {"--version"}, {"-env-file", "/nonexistent", "-version"}} {
		_, err := LoadParser(args, []string{"REDIS_URL=ftp://x"})
		require.ErrorIs(t, err, ErrVersion, "-version wins over bad configuration: %v", args)
	}
}

func TestPlaceholdersRefused(t *testing.T) {
	const secret = "s3cret-change-me-value"
	tests := []struct {
		name    string
		load    func(env []string) error
		env     map[string]string
		wantVar []string
		hint    string
	}{
		{name: "redis password in the url", load: loadParser, env: map[string]string{"REDIS_URL": "redis://:change-me@redis:6379/0"},
			wantVar: []string{"REDIS_URL"}, hint: "REDIS_PASSWORD"},
		{name: "rabbitmq password", load: loadWorker, env: map[string]string{"RABBITMQ_URL": "amqp://u:CHANGE-ME@rabbit:5672/"},
			wantVar: []string{"RABBITMQ_URL"}, hint: "RABBITMQ_PASSWORD"},
		{name: "bot token and a secret around the placeholder", load: loadBot,
			env:     map[string]string{"TELEGRAM_API_TOKEN": "change-me", "REDIS_URL": "redis://:" + secret + "@redis/0"},
			wantVar: []string{"REDIS_URL", "TELEGRAM_API_TOKEN"}},
		{name: "dmarket key", load: loadParser, env: map[string]string{"DMARKET_SECRET_KEY": "change-me", "DMARKET_PUBLIC_KEY": pubKey},
			wantVar: []string{"DMARKET_SECRET_KEY"}},
		{name: "offline bot ignores the token", load: func(env []string) error { _, err := LoadBotOffline(nil, env); return err },
			env: map[string]string{"TELEGRAM_API_TOKEN": "change-me"}},
		{name: "a real value passes", load: loadBot, env: map[string]string{"TELEGRAM_API_TOKEN": botToken}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.load(environ(tc.env))
			if tc.wantVar == nil {
				require.NoError(t, err)
				return
			}
			var cerr *Error
			require.True(t, errors.As(err, &cerr), "%v", err)
			var got []string
			for _, p := range cerr.Problems {
				got = append(got, p.Var)
				require.Contains(t, p.Reason, "placeholder")
			}
			require.Equal(t, tc.wantVar, got)
			require.NotContains(t, strings.ToLower(err.Error()), "change-me", "the value is never repeated")
			require.NotContains(t, err.Error(), secret)
			require.Contains(t, err.Error(), tc.hint)
		})
	}
}

func loadParser(env []string) error { _, err := LoadParser(nil, env); return err }
func loadWorker(env []string) error { _, err := LoadWorker(nil, env); return err }
func loadBot(env []string) error    { _, err := LoadBot(nil, env); return err }
