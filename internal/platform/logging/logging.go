// Package logging owns the construction of every binary's *slog.Logger: level and format from the
// configuration, and a handler that masks secrets whatever path they take into a record — the message,
// string, error, URL, fmt.Stringer and other attribute values, attributes nested in groups, and
// attributes whose key names a secret.
//
// What is masked: passwords inside URLs and Telegram bot tokens (see package redact), values registered
// with WithSecrets or with the Redactor given to NewHandler, and the whole value of any attribute whose key
// looks secret (see SecretKey).
package logging

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"unicode"

	"github.com/skinflip/dmarket-monitor/internal/platform/redact"
)

// Formats accepted by New.
const (
	// FormatText is slog's logfmt-like text format.
	FormatText = "text"
	// FormatJSON is one JSON object per line.
	FormatJSON = "json"
)

// Sentinel errors.
var (
	// ErrUnknownLevel means a level name is not debug, info, warn or error.
	ErrUnknownLevel = errors.New("unknown log level")
	// ErrUnknownFormat means a format is not text or json.
	ErrUnknownFormat = errors.New("unknown log format")
)

// ParseLevel returns the slog level named s: debug, info, warn (or warning) or error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%w %q (want debug, info, warn or error)", ErrUnknownLevel, s)
}

// ParseFormat checks a format name (text or json, any case) and returns it in lower case.
func ParseFormat(s string) (string, error) {
	f := strings.ToLower(strings.TrimSpace(s))
	if f != FormatText && f != FormatJSON {
		return "", fmt.Errorf("%w %q (want text or json)", ErrUnknownFormat, s)
	}
	return f, nil
}

// Option configures New.
type Option func(*options)

type options struct {
	secrets []string
}

// WithSecrets registers values (keys, tokens, passwords) that are replaced by **** wherever they appear.
func WithSecrets(secrets ...string) Option {
	return func(o *options) { o.secrets = append(o.secrets, secrets...) }
}

// New returns a logger writing to w at level ("debug", "info", "warn", "error") in format ("text" or
// "json") through a redacting handler.
func New(w io.Writer, level, format string, opts ...Option) (*slog.Logger, error) {
	lvl, errLevel := ParseLevel(level)
	f, errFormat := ParseFormat(format)
	if err := errors.Join(errLevel, errFormat); err != nil {
		return nil, err
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	r := redact.New(o.secrets...)
	ho := &slog.HandlerOptions{Level: lvl}
	var inner slog.Handler
	if f == FormatJSON {
		inner = slog.NewJSONHandler(w, ho)
	} else {
		inner = slog.NewTextHandler(w, ho)
	}
	return slog.New(NewHandler(inner, r)), nil
}

// Handler masks secrets in records before passing them to the wrapped handler.
type Handler struct {
	inner slog.Handler
	r     *redact.Redactor
	json  bool
}

// NewHandler wraps inner so that every record, and every attribute added with WithAttrs, is masked by r
// (nil r masks only what package redact masks by pattern).
func NewHandler(inner slog.Handler, r *redact.Redactor) *Handler {
	_, isJSON := inner.(*slog.JSONHandler)
	return &Handler{inner: inner, r: r, json: isJSON}
}

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle masks the record's message and attributes and passes it on.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs masks attrs and returns a handler that adds them to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.attr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(masked), r: h.r, json: h.json}
}

// WithGroup returns a handler that qualifies later attributes with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), r: h.r, json: h.json}
}

func (h *Handler) attr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if SecretKey(a.Key) {
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			return a
		}
		return slog.String(a.Key, redact.Mask)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.r.String(a.Value.String()))
	case slog.KindGroup:
		group := a.Value.Group()
		masked := make([]slog.Attr, len(group))
		for i, g := range group {
			masked[i] = h.attr(g)
		}
		a.Value = slog.GroupValue(masked...)
	case slog.KindAny:
		a.Value = h.anyValue(a.Value.Any())
	}
	return a
}

// anyValue masks an arbitrary value. Errors, URLs, Stringers and byte slices become their masked text;
// other values are kept as they are unless their printed (or, for JSON output, marshalled) form holds a
// secret, in which case they become the masked printed form.
func (h *Handler) anyValue(v any) slog.Value {
	switch x := v.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		// fmt recovers from a panicking Error method (a nil pointer receiver, say).
		return slog.StringValue(h.r.String(fmt.Sprint(x)))
	case *url.URL:
		return slog.StringValue(h.r.String(redact.URL(x)))
	case url.URL:
		return slog.StringValue(h.r.String(redact.URL(&x)))
	case fmt.Stringer:
		return slog.StringValue(h.r.String(fmt.Sprint(x)))
	case []byte:
		return slog.StringValue(h.r.String(string(x)))
	}
	printed := fmt.Sprintf("%+v", v)
	if masked := h.r.String(printed); masked != printed {
		return slog.StringValue(masked)
	}
	if h.json {
		if b, err := json.Marshal(v); err == nil {
			if s := string(b); h.r.String(s) != s {
				return slog.StringValue(h.r.String(s))
			}
		}
	}
	if m, ok := v.(encoding.TextMarshaler); ok {
		if b, err := m.MarshalText(); err == nil {
			if s := string(b); h.r.String(s) != s {
				return slog.StringValue(h.r.String(s))
			}
		}
	}
	return slog.AnyValue(v)
}

// secretWords are key words whose attribute value is always masked.
var secretWords = map[string]bool{
	"token": true, "tokens": true, "secret": true, "secrets": true, "password": true, "passwd": true,
	"pwd": true, "pass": true, "passphrase": true, "apikey": true, "authorization": true,
	"credential": true, "credentials": true, "cookie": true, "signature": true,
	"privatekey": true, "secretkey": true,
}

// publicKeyPrefixes are words before "key" that make a key name harmless.
var publicKeyPrefixes = map[string]bool{"public": true, "redis": true, "cache": true, "dedup": true, "routing": true}

// SecretKey reports whether an attribute key looks like it names a secret: one of its words (split at
// '_', '-', '.', blanks and camel case) is token, secret, password, passwd, pwd, pass, passphrase,
// apikey, privatekey, secretkey, authorization, credential(s), cookie or signature, or its last word is "key"
// (key, api_key, secret_key, X-Api-Key…) unless the word before it is public, redis, cache, dedup or
// routing. Log Redis key names under such a qualified key (redis_key) or another name (title).
func SecretKey(key string) bool {
	words := splitWords(key)
	for _, w := range words {
		if secretWords[w] {
			return true
		}
	}
	n := len(words)
	if n > 0 && words[n-1] == "key" {
		return n == 1 || !publicKeyPrefixes[words[n-2]]
	}
	return false
}

func splitWords(key string) []string {
	var words []string
	var cur []rune
	prevLower := false
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, c := range key {
		switch {
		case c == '_' || c == '-' || c == '.' || unicode.IsSpace(c):
			flush()
			prevLower = false
		case unicode.IsUpper(c) && prevLower:
			flush()
			cur = append(cur, c)
			prevLower = false
		default:
			cur = append(cur, c)
			prevLower = unicode.IsLower(c) || unicode.IsDigit(c)
		}
	}
	flush()
	return words
}
