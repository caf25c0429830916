package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Error classes of Telegram calls; match them with errors.Is.
var (
	// ErrRateLimited is a 429 answer (flood control); APIError.RetryAfter says how long to wait.
	ErrRateLimited = errors.New("telegram rate limited")
	// ErrChatUnavailable is a chat the bot may not write to: blocked by the user (403) or unknown.
	ErrChatUnavailable = errors.New("telegram chat unavailable")
	// ErrNotModified is an edit that would not change the message.
	ErrNotModified = errors.New("telegram message not modified")
	// ErrBadMedia is a file Telegram refused (for example a photo URL it could not fetch).
	ErrBadMedia = errors.New("telegram refused the media")
	// ErrBadRequest is any other request Telegram rejected; retrying it does not help.
	ErrBadRequest = errors.New("telegram bad request")
	// ErrUnauthorized is a rejected bot token.
	ErrUnauthorized = errors.New("telegram unauthorized")
	// ErrServer is a 5xx answer; retrying later may help.
	ErrServer = errors.New("telegram server error")
	// ErrTransport is a failure to reach Telegram; retrying later may help.
	ErrTransport = errors.New("telegram unreachable")
)

// APIError is an error answer of the Bot API. Its text never contains the bot token.
type APIError struct {
	// Method is the Bot API method called.
	Method string
	// Code is the HTTP status / error_code.
	Code int
	// Description is Telegram's description of the error.
	Description string
	// RetryAfter is the flood-control wait of a 429 answer.
	RetryAfter time.Duration
	class      error
}

// Error describes the failure.
func (e *APIError) Error() string {
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

// Unwrap returns the error class (ErrRateLimited, ErrChatUnavailable, ...).
func (e *APIError) Unwrap() error { return e.class }

// transportError is a failure to reach Telegram with the token scrubbed out of its text.
type transportError struct {
	method string
	msg    string
	ctxErr error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("telegram %s: %s", e.method, e.msg)
}

func (e *transportError) Unwrap() []error {
	if e.ctxErr != nil {
		return []error{ErrTransport, e.ctxErr}
	}
	return []error{ErrTransport}
}

// Retryable reports whether err may succeed when the same request is sent again later.
func Retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrServer) || errors.Is(err, ErrTransport)
}

// scrubber removes a secret from texts, in the raw and URL-escaped spellings the library may use.
type scrubber struct {
	r *strings.Replacer
}

func newScrubber(secret string) scrubber {
	if secret == "" {
		return scrubber{r: strings.NewReplacer()}
	}
	pairs := []string{secret, "<token>"}
	for _, v := range []string{url.PathEscape(secret), url.QueryEscape(secret)} {
		if v != secret {
			pairs = append(pairs, v, "<token>")
		}
	}
	return scrubber{r: strings.NewReplacer(pairs...)}
}

func (s scrubber) String(v string) string { return s.r.Replace(v) }

// classify turns the library's error into an APIError or transportError with the token scrubbed.
func classify(method string, status int, code int, desc string, retryAfter int, scrub scrubber) *APIError {
	if code == 0 {
		code = status
	}
	desc = scrub.String(desc)
	e := &APIError{Method: method, Code: code, Description: desc}
	low := strings.ToLower(desc)
	switch {
	case code == 429:
		e.class = ErrRateLimited
		e.RetryAfter = time.Duration(max(retryAfter, 1)) * time.Second
	case code == 403 || strings.Contains(low, "chat not found") || strings.Contains(low, "user is deactivated"):
		e.class = ErrChatUnavailable
	case code == 401 || code == 404:
		e.class = ErrUnauthorized
	case code >= 500:
		e.class = ErrServer
	case strings.Contains(low, "message is not modified"):
		e.class = ErrNotModified
	case strings.Contains(low, "wrong file identifier") || strings.Contains(low, "http url") ||
		strings.Contains(low, "failed to get http url content") || strings.Contains(low, "wrong type of the web page content"):
		e.class = ErrBadMedia
	default:
		e.class = ErrBadRequest
	}
	return e
}
