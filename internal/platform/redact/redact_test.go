package redact

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

const tgToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain text", in: "nothing to hide here", want: "nothing to hide here"},
		{name: "url without credentials", in: "redis://localhost:6379/0", want: "redis://localhost:6379/0"},
		{name: "amqp password", in: "dial amqp://guest:s3cret@rabbit:5672/ failed", want: "dial amqp://guest:****@rabbit:5672/ failed"},
		{name: "redis password without user", in: "redis://:hunter2@redis:6379/0", want: "redis://:****@redis:6379/0"},
		{name: "redis user only is masked whole", in: "redis://hunter2@redis:6379", want: "redis://****@redis:6379"},
		{name: "password containing at sign", in: "redis://u:p@ss@host/1", want: "redis://u:****@host/1"},
		{name: "socks proxy", in: `proxy "socks5://bob:pa:ss@1.2.3.4:1080" down`, want: `proxy "socks5://bob:****@1.2.3.4:1080" down`},
		{name: "two urls", in: "http://a:b@h1 http://c:d@h2/x", want: "http://a:****@h1 http://c:****@h2/x"},
		{name: "empty userinfo untouched", in: "http://@host/", want: "http://@host/"},
		{name: "email untouched", in: "mail bob@example.com", want: "mail bob@example.com"},
		{name: "telegram url", in: "Post \"https://api.telegram.org/bot" + tgToken + "/sendMessage\": EOF", want: "Post \"https://api.telegram.org/bot****/sendMessage\": EOF"},
		{name: "telegram short token in url", in: "https://api.telegram.org/bot12:abc/getMe", want: "https://api.telegram.org/bot****/getMe"},
		{name: "bare token", in: "token " + tgToken + " rejected", want: "token **** rejected"},
		{name: "time is not a token", in: "at 12:30:45", want: "at 12:30:45"},
		{name: "host port is not a token", in: "dial tcp 127.0.0.1:6379: refused", want: "dial tcp 127.0.0.1:6379: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, String(tt.in))
		})
	}
}

func TestURL(t *testing.T) {
	u, err := url.Parse("amqp://guest:guest@localhost:5672/vhost")
	require.NoError(t, err)
	require.Equal(t, "amqp://guest:****@localhost:5672/vhost", URL(u))
	u, err = url.Parse("https://api.telegram.org/bot" + tgToken + "/getMe")
	require.NoError(t, err)
	require.Equal(t, "https://api.telegram.org/bot****/getMe", URL(u))
	require.Empty(t, URL(nil))
}

func TestURLString(t *testing.T) {
	tests := []struct {
		name, in, want string
		secrets        []string // must not appear in the result
	}{
		{name: "user and password", in: "amqp://guest:s3cret@rabbit:5672/", want: "amqp://guest:****@rabbit:5672/", secrets: []string{"s3cret"}},
		{name: "escaped password and vhost", in: "amqps://u:p%40ss@host/vh", want: "amqps://u:****@host/vh", secrets: []string{"p@ss", "p%40ss"}},
		{name: "password equal to the user", in: "amqp://guest:guest@h:1/", want: "amqp://****:****@h:1/", secrets: []string{"guest"}},
		{name: "password repeated in the query", in: "redis://:hunter2@h/0?x=hunter2", want: "redis://:****@h/0?x=****", secrets: []string{"hunter2"}},
		{name: "redis user part is the password", in: "redis://hunter2@redis:6379", want: "redis://****@redis:6379", secrets: []string{"hunter2"}},
		{name: "no userinfo", in: "amqp://host:5672/", want: "amqp://host:5672/"},
		{name: "unparseable", in: "amqp://u:secret@host:port\x7f/", want: "amqp://****@host:port\x7f/", secrets: []string{"secret"}},
		{name: "unparseable, slash in password", in: "amqp://u:se/cret@host\x7f/", want: "amqp://****@host\x7f/", secrets: []string{"se/cret", "cret"}},
		{name: "unparseable, no scheme", in: "u:se/cret@host\x7f", want: "****@host\x7f", secrets: []string{"cret"}},
		{name: "unparseable, no userinfo", in: "amqp://host\x7f/", want: "amqp://host\x7f/"},
		{name: "telegram token", in: "https://api.telegram.org/bot" + tgToken + "/getMe", want: "https://api.telegram.org/bot****/getMe", secrets: []string{tgToken}},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := URLString(tt.in)
			require.Equal(t, tt.want, got)
			for _, s := range tt.secrets {
				require.NotContains(t, got, s)
			}
		})
	}
}

func TestURLSecrets(t *testing.T) {
	tests := []struct {
		name, url, in, want string
	}{
		{name: "password", url: "redis://u:hunter2@h/0", in: "auth hunter2 failed", want: "auth **** failed"},
		{name: "user part without password", url: "redis://hunter2@h/0", in: "WRONGPASS hunter2", want: "WRONGPASS ****"},
		{name: "no credentials", url: "redis://h/0", in: "auth hunter2 failed", want: "auth hunter2 failed"},
		{name: "patterns still apply", url: "redis://h/0", in: "redis://:pw@h", want: "redis://:****@h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			require.NoError(t, err)
			require.Equal(t, tt.want, URLSecrets(u).String(tt.in))
		})
	}
	require.Equal(t, "a hunter2", URLSecrets(nil).String("a hunter2"))
}

func TestParseError(t *testing.T) {
	require.NoError(t, ParseError("x", nil))
	tests := []struct {
		name, raw string
		secrets   []string // must not appear in the message
	}{
		{name: "password before a slash", raw: "redis://:s3cr3t/x@h/0", secrets: []string{"s3cr3t"}},
		{name: "user and password before a slash", raw: "amqp://guest:to/psecret@host/", secrets: []string{"guest", "psecret"}},
		{name: "control character", raw: "amqp://u:s3cr3t@host\x7f/", secrets: []string{"s3cr3t"}},
		{name: "no userinfo", raw: "amqp://host:port/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, perr := url.Parse(tt.raw)
			require.Error(t, perr)
			err := ParseError(tt.raw, perr)
			var ue *url.Error
			require.ErrorAs(t, perr, &ue)
			require.ErrorIs(t, err, ue.Err)
			require.ErrorIs(t, err, ErrRedacted)
			require.NotContains(t, err.Error(), tt.raw, "the whole URL is not repeated")
			for _, s := range tt.secrets {
				require.NotContains(t, err.Error(), s)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	secret := "deadbeef/with space+plus"
	r := New(secret, "abc", "")
	r.Add(secret, "cafebabe0011")
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "raw", in: "key=" + secret + ";", want: "key=****;"},
		{name: "query escaped", in: "x?k=" + url.QueryEscape(secret), want: "x?k=****"},
		{name: "path escaped", in: "/p/" + url.PathEscape(secret), want: "/p/****"},
		{name: "short secret ignored", in: "abc def", want: "abc def"},
		{name: "second secret", in: "sig cafebabe0011", want: "sig ****"},
		{name: "patterns still apply", in: "redis://:pw@h", want: "redis://:****@h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, r.String(tt.in))
		})
	}
	var nilR *Redactor
	require.Equal(t, "redis://:****@h", nilR.String("redis://:pw@h"))
}

func TestRedactorOverlappingSecrets(t *testing.T) {
	r := New("secret", "secret-long-value")
	require.Equal(t, "x **** y", r.String("x secret-long-value y"))
}

func TestError(t *testing.T) {
	require.NoError(t, Error(nil))
	require.NoError(t, New().Error(nil))

	base := fmt.Errorf("open amqp://u:pw@h/: %w", fs.ErrNotExist)
	err := Error(base)
	require.Equal(t, "open amqp://u:****@h/: file does not exist", err.Error())
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, err, ErrRedacted)
	require.NotErrorIs(t, base, ErrRedacted)

	err = New("topsecret").Error(errors.New("bad topsecret"))
	require.Equal(t, "bad ****", err.Error())
}

func BenchmarkString(b *testing.B) {
	s := "dial tcp 127.0.0.1:6379: connect: connection refused (redis://:pw@redis:6379/0)"
	for b.Loop() {
		_ = String(s)
	}
}
