package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

const (
	tgToken    = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
	dmSecret   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	urlPass    = "hunter2pw"
	redisURL   = "redis://:" + urlPass + "@redis:6379/0"
	registered = "registered-secret-value"
)

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type textOnly struct{ s string }

func (t textOnly) MarshalText() ([]byte, error) { return []byte(t.s), nil }

type valuer struct{ s string }

func (v valuer) LogValue() slog.Value { return slog.StringValue(v.s) }

type plain struct {
	Name string
	URL  string
}

type jsonOnly struct {
	Shown string `json:"shown"`
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// secrets that must never appear in any output.
var secrets = []string{tgToken, dmSecret, urlPass, registered, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"}

func TestNoSecretLeaks(t *testing.T) {
	tgURL := "https://api.telegram.org/bot" + tgToken + "/sendMessage"
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string // a fragment the masked output must contain
	}{
		{name: "message url", log: func(l *slog.Logger) { l.Info("connecting to " + redisURL) }, want: "redis://:****@redis"},
		{name: "message token", log: func(l *slog.Logger) { l.Info("token " + tgToken) }, want: "token ****"},
		{name: "string attr", log: func(l *slog.Logger) { l.Info("x", "url", tgURL) }, want: "bot****/sendMessage"},
		{name: "error attr", log: func(l *slog.Logger) {
			l.Error("x", "err", fmt.Errorf("post %s: %w", tgURL, errors.New("eof")))
		}, want: "bot****"},
		{name: "url pointer", log: func(l *slog.Logger) { l.Info("x", "u", mustURL(t, redisURL)) }, want: "redis://:****@redis:6379/0"},
		{name: "url value", log: func(l *slog.Logger) { l.Info("x", "u", *mustURL(t, tgURL)) }, want: "bot****"},
		{name: "stringer", log: func(l *slog.Logger) { l.Info("x", "s", stringer{"amqp://u:" + urlPass + "@h/"}) }, want: "amqp://u:****@h/"},
		{name: "text marshaler", log: func(l *slog.Logger) { l.Info("x", "s", textOnly{"see " + registered}) }, want: "see ****"},
		{name: "log valuer", log: func(l *slog.Logger) { l.Info("x", "v", valuer{redisURL}) }, want: "redis://:****@"},
		{name: "bytes", log: func(l *slog.Logger) { l.Info("x", "b", []byte(redisURL)) }, want: "redis://:****@"},
		{name: "struct", log: func(l *slog.Logger) { l.Info("x", "p", plain{Name: "a", URL: redisURL}) }, want: "****"},
		{name: "json marshalled struct", log: func(l *slog.Logger) { l.Info("x", "p", jsonOnly{Shown: registered}) }, want: "****"},
		{name: "registered secret", log: func(l *slog.Logger) { l.Info("x", "note", "value="+registered) }, want: "value=****"},
		{name: "registered secret url escaped", log: func(l *slog.Logger) {
			l.Info("x", "q", "?k="+url.QueryEscape(dmSecret+"/+"))
		}, want: "?k=****"},
		{name: "secret key plain string", log: func(l *slog.Logger) { l.Info("x", "dmarket_secret_key", dmSecret) }, want: "dmarket_secret_key"},
		{name: "secret key any", log: func(l *slog.Logger) { l.Info("x", "password", []string{urlPass}) }, want: "****"},
		{name: "group", log: func(l *slog.Logger) {
			l.Info("x", slog.Group("redis", "url", redisURL, "token", "unregistered-opaque-value-123", slog.Group("inner", "e", errors.New("dial "+redisURL))))
		}, want: "****"},
		{name: "secret group key", log: func(l *slog.Logger) { l.Info("x", slog.Group("credentials", "user", "bob", "x", urlPass)) }, want: "****"},
		{name: "with attrs", log: func(l *slog.Logger) { l.With("redis_url", redisURL, "api_key", "opaque-api-key-value").Info("x") }, want: "redis://:****@"},
		{name: "with group", log: func(l *slog.Logger) { l.WithGroup("g").Info("x", "url", redisURL) }, want: "redis://:****@redis"},
		{name: "debug level", log: func(l *slog.Logger) { l.Debug("dial "+redisURL, "err", errors.New(tgToken)) }, want: "****"},
	}
	for _, format := range []string{FormatText, FormatJSON} {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				l, err := New(&buf, "debug", format, WithSecrets(dmSecret+"/+", registered))
				require.NoError(t, err)
				tt.log(l)
				out := buf.String()
				require.NotEmpty(t, out)
				for _, s := range append(secrets, dmSecret, "unregistered-opaque-value-123", "opaque-api-key-value") {
					require.NotContains(t, out, s)
				}
				require.Contains(t, out, tt.want)
				if format == FormatJSON {
					require.True(t, json.Valid([]byte(strings.TrimSpace(out))), out)
				}
			})
		}
	}
}

func TestOrdinaryValuesUntouched(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "info", "json")
	require.NoError(t, err)
	l.Info("listings page", "title", "AK-47 | Redline", "count", 42, "redis_key", "prices:dmarket:x",
		"public_key", "abcd", "p", plain{Name: "n"}, "nil", nil, "time", "12:30:45")
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	require.Equal(t, "AK-47 | Redline", m["title"])
	require.Equal(t, float64(42), m["count"])
	require.Equal(t, "prices:dmarket:x", m["redis_key"])
	require.Equal(t, "abcd", m["public_key"])
	require.Equal(t, map[string]any{"Name": "n", "URL": ""}, m["p"], "structs keep their structure")
	require.Nil(t, m["nil"])
	require.Equal(t, "12:30:45", m["time"])
}

type ptrErr struct{ msg string }

func (e *ptrErr) Error() string { return e.msg }

func TestNilReceiversDoNotPanic(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "info", "text")
	require.NoError(t, err)
	var e *ptrErr
	var u *url.URL
	l.Info("x", "err", e, "url", u)
	require.Contains(t, buf.String(), "err=<nil>")
	require.Contains(t, buf.String(), `url=""`)
}

func TestHandlerSeesLaterSecrets(t *testing.T) {
	var buf bytes.Buffer
	r := redact.New()
	l := slog.New(NewHandler(slog.NewTextHandler(&buf, nil), r))
	r.Add("late-secret")
	l.Info("value late-secret")
	require.NotContains(t, buf.String(), "late-secret")
	require.Contains(t, buf.String(), "value ****")
}

func TestLevelsAndFormats(t *testing.T) {
	tests := []struct {
		name, level, format string
		wantErr             []error
		logged              bool // whether an info line is written
	}{
		{name: "info text", level: "info", format: "text", logged: true},
		{name: "upper case", level: "INFO", format: "JSON", logged: true},
		{name: "debug", level: "debug", format: "text", logged: true},
		{name: "warning alias", level: "warning", format: "text", logged: false},
		{name: "error", level: "error", format: "json", logged: false},
		{name: "bad level", level: "verbose", format: "text", wantErr: []error{ErrUnknownLevel}},
		{name: "bad format", level: "info", format: "xml", wantErr: []error{ErrUnknownFormat}},
		{name: "both bad", level: "", format: "", wantErr: []error{ErrUnknownLevel, ErrUnknownFormat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, tt.level, tt.format)
			if tt.wantErr != nil {
				for _, e := range tt.wantErr {
					require.ErrorIs(t, err, e)
				}
				return
			}
			require.NoError(t, err)
			l.Info("hello")
			require.Equal(t, tt.logged, buf.Len() > 0)
			if tt.logged && strings.EqualFold(tt.format, "json") {
				require.True(t, strings.HasPrefix(buf.String(), "{"))
			}
		})
	}
}

func TestSecretKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"token", true}, {"TELEGRAM_API_TOKEN", true}, {"botToken", true}, {"secret", true},
		{"DMARKET_SECRET_KEY", true}, {"password", true}, {"db.password", true}, {"api_key", true},
		{"X-Api-Key", true}, {"apiKey", true}, {"apikey", true}, {"key", true}, {"private_key", true},
		{"Authorization", true}, {"cookie", true}, {"signature", true}, {"proxy_pass", true},
		{"redis_key", false}, {"public_key", false}, {"DMARKET_PUBLIC_KEY", false}, {"cache_key", false},
		{"title", false}, {"keys", false}, {"monkey", false}, {"count", false}, {"passed", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			require.Equal(t, tt.want, SecretKey(tt.key))
		})
	}
}

func TestHandlerEnabled(t *testing.T) {
	h := NewHandler(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}), nil)
	require.False(t, h.Enabled(context.Background(), slog.LevelInfo))
	require.True(t, h.Enabled(context.Background(), slog.LevelError))
}

func TestNilRedactorStillMasksPatterns(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHandler(slog.NewTextHandler(&buf, nil), nil))
	l.Info("x", "u", redisURL)
	require.NotContains(t, buf.String(), urlPass)
}

func BenchmarkHandle(b *testing.B) {
	l, err := New(&bytes.Buffer{}, "info", "json", WithSecrets(dmSecret))
	require.NoError(b, err)
	for b.Loop() {
		l.Info("page published", "game", "a8db", "items", 100, "err", errors.New("dial tcp 1.2.3.4:80"))
	}
}
