package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		line     string
		wantName string
		wantAuth bool
		wantErr  string
	}{
		{name: "http", line: "http://10.0.0.1:8080", wantName: "http://10.0.0.1:8080"},
		{name: "https is an http proxy", line: "https://proxy.example:3128", wantName: "https://proxy.example:3128"},
		{name: "http with auth", line: "http://bob:s3cret@10.0.0.1:8080", wantName: "http://10.0.0.1:8080", wantAuth: true},
		{name: "socks4", line: "socks4://10.0.0.2:1080", wantName: "socks4://10.0.0.2:1080"},
		{name: "socks5", line: "socks5://10.0.0.3:1080", wantName: "socks5://10.0.0.3:1080"},
		{name: "socks5 with auth", line: "socks5://u:p@10.0.0.3:1080", wantName: "socks5://10.0.0.3:1080", wantAuth: true},
		{name: "upper case scheme", line: "SOCKS5://10.0.0.3:1080", wantName: "socks5://10.0.0.3:1080"},
		{name: "trailing slash", line: "http://10.0.0.1:8080/", wantName: "http://10.0.0.1:8080"},
		{name: "ipv6", line: "socks5://[::1]:1080", wantName: "socks5://[::1]:1080"},
		{name: "escaped password", line: "http://bob:p%40ss@10.0.0.1:8080", wantName: "http://10.0.0.1:8080", wantAuth: true},
		{name: "no scheme", line: "10.0.0.1:8080", wantErr: "missing scheme"},
		{name: "bad scheme", line: "ftp://10.0.0.1:21", wantErr: `unsupported scheme "ftp"`},
		{name: "socks5h", line: "socks5h://10.0.0.1:21", wantErr: `unsupported scheme "socks5h"`},
		{name: "weird scheme not quoted", line: "u:p@x://10.0.0.1:21", wantErr: "unsupported scheme (want"},
		{name: "socks4 with auth", line: "socks4://u:p@10.0.0.2:1080", wantErr: "socks4 does not support authentication"},
		{name: "missing port", line: "http://10.0.0.1", wantErr: "missing port"},
		{name: "port zero", line: "http://10.0.0.1:0", wantErr: "port must be a number from 1 to 65535"},
		{name: "port too big", line: "http://10.0.0.1:65536", wantErr: "port must be"},
		{name: "port not numeric", line: "http://10.0.0.1:http", wantErr: "malformed URL"},
		{name: "ipv6 without brackets", line: "socks5://::1", wantErr: "IPv6 addresses need brackets"},
		{name: "missing host", line: "http://:8080", wantErr: "missing host"},
		{name: "path", line: "http://10.0.0.1:8080/x", wantErr: "unexpected path"},
		{name: "query", line: "http://10.0.0.1:8080?a=b", wantErr: "unexpected path"},
		{name: "user without password", line: "http://bob@10.0.0.1:8080", wantErr: "credentials must be user:password"},
		{name: "empty user", line: "http://:pw@10.0.0.1:8080", wantErr: "empty user name"},
		{name: "socks5 empty password", line: "socks5://u:@10.0.0.1:8080", wantErr: "socks5 user and password"},
		{name: "space inside", line: "http://10.0.0.1 :8080", wantErr: "spaces or control"},
		{name: "bad escape", line: "http://bob:p%zz@10.0.0.1:8080", wantErr: "malformed URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseLine(tc.line)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidLine)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantName, p.Name())
			require.Equal(t, tc.wantAuth, p.HasAuth())
		})
	}
}

func TestParseFile(t *testing.T) {
	file := strings.Join([]string{
		"\uFEFF# proxies for the parser",
		"",
		"http://alice:topsecret@10.0.0.1:8080",
		"   socks5://10.0.0.2:1080   ",
		"# socks4://commented:out@10.0.0.9:1",
		"socks4://bob:hunter2@10.0.0.3:1080",
		"ftp://carol:letmein@10.0.0.4:21",
		"http://dave:pa55word@10.0.0.5:99999",
		"http://alice:topsecret@10.0.0.1:8080",
		"http://alice:other@10.0.0.1:8080",
		"socks4://10.0.0.6:1080",
		"\thttps://10.0.0.7:3128",
	}, "\n")
	proxies, errs := ParseFile(strings.NewReader(file))
	names := make([]string, 0, len(proxies))
	for _, p := range proxies {
		names = append(names, p.Name())
	}
	require.Equal(t, []string{"http://10.0.0.1:8080", "socks5://10.0.0.2:1080", "socks4://10.0.0.6:1080",
		"https://10.0.0.7:3128"}, names)

	var lines []int
	for _, err := range errs {
		var le *LineError
		require.ErrorAs(t, err, &le)
		require.ErrorIs(t, err, ErrInvalidLine)
		require.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", le.Line)))
		for _, secret := range []string{"topsecret", "hunter2", "letmein", "pa55word", "alice", "bob", "carol", "dave", "other"} {
			require.NotContains(t, err.Error(), secret)
		}
		lines = append(lines, le.Line)
	}
	require.Equal(t, []int{6, 7, 8, 9, 10}, lines)
	require.EqualError(t, errs[0], "line 6: socks4 does not support authentication")
	require.EqualError(t, errs[3], "line 9: duplicate of line 3")
	require.EqualError(t, errs[4], "line 10: duplicate of line 3", "same address with other credentials is the same egress")
}

func TestParseFileTooLongLine(t *testing.T) {
	file := "socks5://10.0.0.2:1080\nhttp://u:" + strings.Repeat("x", maxLineLength) + "@h:1\nsocks5://10.0.0.3:1080\n"
	proxies, errs := ParseFile(strings.NewReader(file))
	require.Len(t, proxies, 1)
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "line 2: line longer than")
	require.NotContains(t, errs[0].Error(), "xxxx")
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseFileReadError(t *testing.T) {
	proxies, errs := ParseFile(failingReader{})
	require.Empty(t, proxies)
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "read proxy file: disk on fire")
}

func TestProxyNeverPrintsCredentials(t *testing.T) {
	p, err := ParseLine("socks5://user1:pw-Secret@10.0.0.3:1080")
	require.NoError(t, err)
	require.Equal(t, "socks5", p.Scheme())
	require.Equal(t, "10.0.0.3:1080", p.Addr())
	for _, s := range []string{
		p.String(), p.GoString(), fmt.Sprintf("%v %+v %#v %s %q %x", p, p, p, p, p, p),
		fmt.Sprintf("%+v", struct{ P Proxy }{p}), fmt.Sprint([]Proxy{p}),
	} {
		require.NotContains(t, s, "pw-Secret")
		require.NotContains(t, s, "user1")
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "proxy", p)
	require.Contains(t, buf.String(), `"proxy":"socks5://10.0.0.3:1080"`)
	require.NotContains(t, buf.String(), "pw-Secret")
}

// credentialMarker replaces a line's credentials in FuzzParseFile: text that no proxy name or error may
// ever show, long enough that finding it is never a coincidence.
const credentialMarker = "zqxcreduser:zqxcredpass"

// withCredentials returns line with its userinfo (what url.Parse reads as user:password: the authority up
// to its last @) replaced by info, and false when the line has no userinfo.
func withCredentials(line, info string) (string, bool) {
	scheme, rest, ok := strings.Cut(line, "://")
	if !ok {
		return "", false
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return "", false
	}
	return scheme + "://" + info + "@" + rest[at+1:], true
}

func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"http://10.0.0.1:8080\n",
		"# comment\n\nsocks5://u:p@[::1]:1080\nsocks4://h:1\n",
		"https://user:pa%20ss@proxy.example:3128/\n",
		"socks4://secretuser:secretpass@h:1\nftp://secretuser:secretpass@h:1\n",
		"http://secretuser:secretpass@h:99999\nhttp://secretuser:secretpass@h\n",
		"http://secretuser:secretpass@h:1/path?q#f\n\x00\r\n",
		"\uFEFFsocks5://secretuser:secretpass@h:1",
		"http://a@b:c@h:1\nhttp://u:p@h:1@x:2\nhttp://u:p@h:1/@x:2\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if strings.Contains(data, "zqxcred") {
			return // the marker must be the fuzzer's secret, never part of the input
		}
		proxies, errs := ParseFile(strings.NewReader(data))
		for _, p := range proxies {
			require.NotEmpty(t, p.Name())
			require.NotContains(t, p.Name(), "@")
			_, err := ParseLine(p.scheme + "://" + p.Addr())
			require.NoError(t, err, "a parsed proxy's name is itself a valid line")
		}
		for _, err := range errs {
			msg := err.Error()
			require.NotContains(t, msg, "secretpass")
			require.NotContains(t, msg, "secretuser")
			var le *LineError
			if errors.As(err, &le) {
				require.Positive(t, le.Line)
			}
		}

		// Credentials leak only if they decide what is shown: a name (or error) must not change, and
		// must never show them, when a line's credentials are replaced by the marker. Looking for the
		// password itself in the name would flag a password that merely repeats part of the address.
		lines := strings.Split(data, "\n")
		for i, line := range lines {
			marked, ok := withCredentials(line, credentialMarker)
			if !ok {
				continue
			}
			lines[i] = marked
			p, err := ParseLine(line)
			if err != nil {
				continue
			}
			require.True(t, p.HasAuth(), "credentials outside the userinfo: %q", line)
			q, err := ParseLine(marked)
			require.NoError(t, err, "only the credentials changed: %q", marked)
			require.True(t, q.HasAuth())
			require.Equal(t, p.Name(), q.Name(), "the name depends on the credentials: %q", line)
			for _, shown := range []string{q.Name(), fmt.Sprintf("%v %+v %#v %s", q, q, q, q)} {
				require.NotContains(t, shown, "zqxcred")
			}
		}
		_, errs = ParseFile(strings.NewReader(strings.Join(lines, "\n")))
		for _, err := range errs {
			require.NotContains(t, err.Error(), "zqxcred")
		}
	})
}
