package pricestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The market read decodes hundreds of thousands of small JSON objects per read. encoding/json with
// reflection and maps costs most of the read's time, so the flat objects of SPEC §5.2 are scanned here
// without allocating: members are handed out as raw substrings and only the numbers needed are parsed.
// The scanner validates the JSON grammar of what it walks, so malformed values are still rejected.

var errJSON = errors.New("invalid json")

// eachMember calls fn with every member of the JSON object s, key unquoted and value raw (a JSON
// literal, string with quotes, object or array). It fails on anything but exactly one object.
func eachMember(s string, fn func(key, raw string) error) error {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return fmt.Errorf("%w: not an object", errJSON)
	}
	end, err := walkObject(s, i, fn)
	if err != nil {
		return err
	}
	if skipWS(s, end) != len(s) {
		return fmt.Errorf("%w: data after the object", errJSON)
	}
	return nil
}

// eachMemberAt is eachMember for callers that parse some values in place: fn gets each member's value
// start index in s and returns the index after the value (walkValue does that for values it skips).
func eachMemberAt(s string, fn func(key string, i int) (int, error)) error {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return fmt.Errorf("%w: not an object", errJSON)
	}
	end, err := walkMembers(s, i, fn, nil)
	if err != nil {
		return err
	}
	if skipWS(s, end) != len(s) {
		return fmt.Errorf("%w: data after the object", errJSON)
	}
	return nil
}

// walkObject walks the object starting at s[i] == '{' and returns the index after it.
func walkObject(s string, i int, fn func(key, raw string) error) (int, error) {
	return walkMembers(s, i, func(_ string, start int) (int, error) { return walkValue(s, start) }, fn)
}

// walkMembers walks the object starting at s[i] == '{' and returns the index after it. value finds each
// value's end; raw, when set, then gets the member.
func walkMembers(s string, i int, value func(key string, i int) (int, error), raw func(key, raw string) error) (int, error) {
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, fmt.Errorf("%w: expected a member name", errJSON)
		}
		kEnd, err := walkString(s, i)
		if err != nil {
			return 0, err
		}
		key := s[i+1 : kEnd-1]
		if strings.IndexByte(key, '\\') >= 0 {
			if key, err = unquote(s[i:kEnd]); err != nil {
				return 0, err
			}
		}
		i = skipWS(s, kEnd)
		if i >= len(s) || s[i] != ':' {
			return 0, fmt.Errorf("%w: expected ':'", errJSON)
		}
		i = skipWS(s, i+1)
		vEnd, err := value(key, i)
		if err != nil {
			return 0, err
		}
		if raw != nil {
			if err := raw(key, s[i:vEnd]); err != nil {
				return 0, err
			}
		}
		i = skipWS(s, vEnd)
		if i >= len(s) {
			return 0, fmt.Errorf("%w: unterminated object", errJSON)
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("%w: expected ',' or '}'", errJSON)
		}
	}
}

// walkValue returns the index after the JSON value starting at s[i].
func walkValue(s string, i int) (int, error) {
	if i >= len(s) {
		return 0, fmt.Errorf("%w: missing value", errJSON)
	}
	switch c := s[i]; {
	case c == '"':
		return walkString(s, i)
	case c == '{':
		return walkObject(s, i, nil)
	case c == '[':
		return eachElement(s, i, func(j int) (int, error) { return walkValue(s, j) })
	case c == 't':
		return walkWord(s, i, "true")
	case c == 'f':
		return walkWord(s, i, "false")
	case c == 'n':
		return walkWord(s, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return walkNumber(s, i)
	default:
		return 0, fmt.Errorf("%w: unexpected %q", errJSON, c)
	}
}

func walkWord(s string, i int, word string) (int, error) {
	if !strings.HasPrefix(s[i:], word) {
		return 0, fmt.Errorf("%w: bad literal", errJSON)
	}
	return i + len(word), nil
}

// walkNumber checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func walkNumber(s string, i int) (int, error) {
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return 0, fmt.Errorf("%w: bad number", errJSON)
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return 0, fmt.Errorf("%w: bad number", errJSON)
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, fmt.Errorf("%w: bad number", errJSON)
		}
	}
	return i, nil
}

// walkString returns the index after the string starting at s[i] == '"'.
func walkString(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return j + 1, nil
		case c == '\\':
			j++
			if j >= len(s) {
				return 0, fmt.Errorf("%w: unterminated string", errJSON)
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) || !isHex(s[j+1:j+5]) {
					return 0, fmt.Errorf("%w: bad \\u escape", errJSON)
				}
				j += 4
			default:
				return 0, fmt.Errorf("%w: bad escape", errJSON)
			}
		case c < 0x20:
			return 0, fmt.Errorf("%w: control character in string", errJSON)
		}
	}
	return 0, fmt.Errorf("%w: unterminated string", errJSON)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// unquote decodes a raw JSON string (with its quotes).
func unquote(raw string) (string, error) {
	if strings.IndexByte(raw, '\\') < 0 {
		if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return "", fmt.Errorf("%w: not a string", errJSON)
		}
		return raw[1 : len(raw)-1], nil
	}
	var out string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return "", fmt.Errorf("%w: %w", errJSON, err)
	}
	return out, nil
}

// stringValue decodes a raw JSON string; null is the empty string.
func stringValue(raw string) (string, error) {
	if raw == "null" {
		return "", nil
	}
	if raw == "" || raw[0] != '"' {
		return "", fmt.Errorf("%w: not a string", errJSON)
	}
	return unquote(raw)
}

// intValue decodes a raw JSON number that holds an integer (1, -3, 2.0, 1e3); null is 0.
func intValue(raw string) (int64, error) {
	if raw == "null" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return n, nil
	}
	f, err := floatValue(raw)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("%w: %s is not an integer", errJSON, raw)
	}
	return int64(f), nil
}

// floatValue decodes a raw JSON number; null is 0.
func floatValue(raw string) (float64, error) {
	if raw == "null" {
		return 0, nil
	}
	if raw == "" || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, fmt.Errorf("%w: not a number", errJSON)
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", errJSON, raw, err)
	}
	return f, nil
}

// boolValue decodes a raw JSON boolean; null is false.
func boolValue(raw string) (bool, error) {
	switch raw {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("%w: not a boolean", errJSON)
}

// skipValue returns the index after the JSON value starting at s[i] without checking the grammar inside
// arrays and objects: only strings and bracket nesting are followed. It is for members a decoder does not
// use, such as a history's chart points, which would otherwise cost a full walk on every market read.
func skipValue(s string, i int) (int, error) {
	if i >= len(s) || (s[i] != '[' && s[i] != '{') {
		return walkValue(s, i)
	}
	depth := 0
	for i < len(s) {
		j := strings.IndexAny(s[i:], "[]{}\"")
		if j < 0 {
			break
		}
		i += j
		switch s[i] {
		case '"':
			end, err := walkString(s, i)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case '[', '{':
			depth++
		default:
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, fmt.Errorf("%w: unterminated value", errJSON)
}
