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
