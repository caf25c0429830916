// Package proxy owns the egress of DMarket requests: it parses the proxy file, dials through HTTP
// CONNECT, SOCKS4 and SOCKS5 proxies, keeps one HTTP transport per proxy and rotates requests fairly
// over the proxies that are not cooling down, with an adaptive rate limiter per egress. Without any
// valid proxy it uses the direct connection. Proxy credentials never leave this package in logs,
// errors or metric labels: a proxy is always shown by its Name.
package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Proxy schemes accepted in the proxy file. SchemeHTTPS names an HTTP proxy that tunnels with CONNECT
// over plain TCP, as the legacy system treated it, not a TLS connection to the proxy.
const (
	SchemeHTTP   = "http"
	SchemeHTTPS  = "https"
	SchemeSOCKS4 = "socks4"
	SchemeSOCKS5 = "socks5"
)

// Errors of the proxy file.
var (
	// ErrInvalidLine is wrapped by every LineError.
	ErrInvalidLine = errors.New("invalid proxy line")
)

// maxLineLength bounds one line of the proxy file.
const maxLineLength = 4096

// Proxy is one proxy of the proxy file. Its credentials are kept unexported and every way of printing
// it (String, fmt verbs, slog) shows only its Name.
type Proxy struct {
	scheme   string
	host     string
	port     string
	user     string
	password string
	hasAuth  bool
}

// Scheme returns the proxy's scheme (http, https, socks4 or socks5).
func (p Proxy) Scheme() string { return p.scheme }

// Addr returns the proxy's host:port.
func (p Proxy) Addr() string { return net.JoinHostPort(p.host, p.port) }

// HasAuth reports whether the proxy has credentials.
func (p Proxy) HasAuth() bool { return p.hasAuth }

// Name returns scheme://host:port, the proxy's identity in logs and metric labels; it never contains
// credentials.
func (p Proxy) Name() string { return p.scheme + "://" + p.Addr() }

// String returns Name.
func (p Proxy) String() string { return p.Name() }

// GoString returns Name, so that %#v cannot print the credentials.
func (p Proxy) GoString() string { return p.Name() }

// Format prints Name for every verb, so that %+v cannot print the credentials.
func (p Proxy) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.Name()) }

// LogValue makes slog print Name.
func (p Proxy) LogValue() slog.Value { return slog.StringValue(p.Name()) }

// key identifies the proxy including its credentials: a proxy whose credentials change is a new egress.
func (p Proxy) key() string {
	return p.scheme + "\x00" + p.host + "\x00" + p.port + "\x00" + p.user + "\x00" + p.password +
		"\x00" + strconv.FormatBool(p.hasAuth)
}

// LineError is a bad line of the proxy file. Its message is "line N: <reason>" and never contains the
// line's credentials.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Reason says what is wrong, without credentials.
	Reason string
}

// Error returns "line N: <reason>".
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Unwrap returns ErrInvalidLine.
func (e *LineError) Unwrap() error { return ErrInvalidLine }

// ParseFile reads a proxy file: one proxy URL per line, blank lines and lines starting with # skipped.
// It returns the valid proxies in file order and one *LineError per bad line. A proxy whose Name
// (scheme://host:port) repeats an earlier line's is a duplicate, whatever its credentials: one address
// is one egress with one rate limit.
// A non-nil read error is returned as the last element of errs.
func ParseFile(r io.Reader) (proxies []Proxy, errs []error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxLineLength)
	seen := make(map[string]int)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimSpace(strings.TrimPrefix(line, "\uFEFF"))
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, reason := parseLine(line)
		if reason != "" {
			errs = append(errs, &LineError{Line: n, Reason: reason})
			continue
		}
		if first, dup := seen[p.Name()]; dup {
			errs = append(errs, &LineError{Line: n, Reason: fmt.Sprintf("duplicate of line %d", first)})
			continue
		}
		seen[p.Name()] = n
		proxies = append(proxies, p)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			errs = append(errs, &LineError{Line: n + 1, Reason: fmt.Sprintf("line longer than %d bytes; rest of file ignored", maxLineLength)})
		} else {
			errs = append(errs, fmt.Errorf("read proxy file: %w", err))
		}
	}
	return proxies, errs
}

// parseLine returns the proxy or a reason that never quotes anything but the scheme.
func parseLine(line string) (Proxy, string) {
	if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' || r == '\t' }) {
		return Proxy{}, "contains spaces or control characters"
	}
	scheme, _, ok := strings.Cut(line, "://")
	if !ok {
		return Proxy{}, "missing scheme (want scheme://[user:pass@]host:port)"
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case SchemeHTTP, SchemeHTTPS, SchemeSOCKS4, SchemeSOCKS5:
	default:
		if isPrintableScheme(scheme) {
			return Proxy{}, fmt.Sprintf("unsupported scheme %q (want http, https, socks4 or socks5)", scheme)
		}
		return Proxy{}, "unsupported scheme (want http, https, socks4 or socks5)"
	}
	// url.Parse errors quote the whole input, credentials included: they are never used as reasons.
	u, err := url.Parse(line)
	if err != nil {
		return Proxy{}, "malformed URL"
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return Proxy{}, "unexpected path, query or fragment after host:port"
	}
	host, port := u.Hostname(), u.Port()
	if _, _, err := net.SplitHostPort(u.Host); err != nil && port != "" {
		return Proxy{}, "malformed host:port (IPv6 addresses need brackets)"
	}
	if host == "" {
		return Proxy{}, "missing host"
	}
	if port == "" {
		return Proxy{}, "missing port"
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 1 || pn > 65535 {
		return Proxy{}, "port must be a number from 1 to 65535"
	}
	if strings.Contains(u.Host, "[") && net.ParseIP(host) == nil {
		return Proxy{}, "invalid IPv6 address"
	}
	if strings.ContainsAny(host, "@/\\%") {
		return Proxy{}, "invalid host"
	}
	p := Proxy{scheme: scheme, host: host, port: port}
	if u.User != nil {
		if scheme == SchemeSOCKS4 {
			return Proxy{}, "socks4 does not support authentication"
		}
		pass, hasPass := u.User.Password()
		p.user, p.password, p.hasAuth = u.User.Username(), pass, true
		if p.user == "" {
			return Proxy{}, "empty user name in credentials"
		}
		if !hasPass {
			return Proxy{}, "credentials must be user:password"
		}
		if scheme == SchemeSOCKS5 && (len(p.user) > 255 || len(p.password) == 0 || len(p.password) > 255) {
			return Proxy{}, "socks5 user and password must be 1 to 255 bytes"
		}
	}
	return p, ""
}

func isPrintableScheme(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
