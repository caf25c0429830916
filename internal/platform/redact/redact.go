// Package redact owns the masking of secrets in free text: passwords inside URLs, Telegram bot tokens and
// values registered as secret. Logs, error messages shown to users and start-up summaries pass their text
// through it so that no credential leaves the process.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Mask is what every secret is replaced with.
const Mask = "****"

// MinSecretLen is the shortest registered secret that is masked; shorter values would mask ordinary text.
const MinSecretLen = 4

var (
	// urlUserinfo matches "scheme://user:password@" and "scheme://user@"; the password part stops at the
	// first '/' or blank and runs to the last '@' before it, as
	// the authority of a URL does.
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^\s:/@?#]*)(:[^\s/]*)?@`)
	// botToken matches the bot token in a Telegram API URL path: /bot<id>:<secret>.
	botToken = regexp.MustCompile(`bot\d+:[A-Za-z0-9_\-]+`)
	// bareToken matches a Telegram bot token outside a URL.
	bareToken = regexp.MustCompile(`\b\d+:[A-Za-z0-9_\-]{30,}`)
)

// String returns s with passwords inside URLs (scheme://user:****@host; a lone user part is masked whole,
// since Redis URLs carry the password there) and Telegram bot tokens (bot****, or **** when bare)
// masked.
func String(s string) string {
	if strings.Contains(s, "@") {
		s = urlUserinfo.ReplaceAllStringFunc(s, maskUserinfo)
	}
	if strings.Contains(s, ":") {
		s = botToken.ReplaceAllString(s, "bot"+Mask)
		s = bareToken.ReplaceAllString(s, Mask)
	}
	return s
}

func maskUserinfo(m string) string {
	sub := urlUserinfo.FindStringSubmatch(m)
	scheme, user, pass := sub[1], sub[2], sub[3]
	if pass == "" {
		if user == "" {
			return m
		}
		return scheme + Mask + "@"
	}
	return scheme + user + ":" + Mask + "@"
}

// URL returns u as a string with its password and any bot token masked. A nil u gives "".
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return String(u.Redacted())
}

// URLSecrets returns a Redactor that masks u's credential wherever it appears: its password, or its user
// part when there is no password (Redis URLs carry the password there). A nil u or one without
// credentials gives a Redactor that masks only what String masks.
func URLSecrets(u *url.URL) *Redactor {
	r := New()
	if u == nil || u.User == nil {
		return r
	}
	if pw, ok := u.User.Password(); ok {
		r.Add(pw)
	} else {
		r.Add(u.User.Username())
	}
	return r
}

// URLString returns raw, a URL, fit for logs and error messages: its credential masked wherever it
// appears (see URLSecrets) besides what URL masks. When raw does not parse, everything between the scheme
// and the last '@' is masked, since a password may hold characters that end the authority early.
func URLString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return String(maskAuthority(raw))
	}
	return URLSecrets(u).String(URL(u))
}

// ParseError returns err, the error of parsing raw as a URL, fit for messages: the repetition of the
// whole URL by *url.Error is dropped, and every piece of what may be raw's userinfo (see maskAuthority)
// is masked in the reason, which may quote part of it. errors.Is and errors.As still see err's chain.
// A nil err gives nil.
func ParseError(raw string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	r := New()
	if start, end := userinfoBounds(raw); end > start {
		info := raw[start:end]
		r.Add(info)
		r.Add(strings.FieldsFunc(info, func(c rune) bool { return c == ':' || c == '/' })...)
	}
	return r.Error(err)
}

// userinfoBounds returns where the userinfo of raw, a URL that may not parse, lies: between "scheme://"
// (or the start) and the last '@'; end <= start when there is none.
func userinfoBounds(raw string) (start, end int) {
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	return start, strings.LastIndex(raw, "@")
}

// maskAuthority masks the userinfo of a URL that does not parse.
func maskAuthority(raw string) string {
	start, end := userinfoBounds(raw)
	if end <= start {
		return raw
	}
	return raw[:start] + Mask + raw[end:]
}

// Redactor masks registered secret values in addition to what String masks. The zero value is not
// usable; create one with New. It is safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
}

// New returns a Redactor that masks the given secrets (values shorter than MinSecretLen are ignored).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers more secret values. Their URL-escaped forms are registered too, so a secret embedded in a
// URL is caught as well.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if len(v) < MinSecretLen || slices.Contains(r.secrets, v) {
				continue
			}
			r.secrets = append(r.secrets, v)
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// String returns s with registered secrets replaced by Mask and then everything String (the package
// function) masks. A nil Redactor only applies the package function.
func (r *Redactor) String(s string) string {
	if r != nil {
		r.mu.RLock()
		for _, secret := range r.secrets {
			if strings.Contains(s, secret) {
				s = strings.ReplaceAll(s, secret, Mask)
			}
		}
		r.mu.RUnlock()
	}
	return String(s)
}

// Error returns err unchanged for errors.Is/As but with its message masked by r. A nil err gives nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, msg: r.String(err.Error())}
}

// Error returns err with its message masked by String; errors.Is and errors.As still see the original
// chain. A nil err gives nil.
func Error(err error) error {
	var r *Redactor
	return r.Error(err)
}

type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Is reports whether target is a redacted error; it lets callers recognise already-masked errors.
func (e *redactedError) Is(target error) bool { return target == ErrRedacted }

// ErrRedacted matches (with errors.Is) every error returned by Error, so callers can tell that a message
// was already masked.
var ErrRedacted = errors.New("redacted")
