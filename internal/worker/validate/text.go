package validate

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxTitleRunes is the longest title accepted, in Unicode code points (after control characters are
// removed).
const MaxTitleRunes = 256

// maxImageBytes bounds an image URL; a longer one is dropped (the item is kept without image).
const maxImageBytes = 2048

// unescape decodes the content of a JSON string (between the quotes). ok is false for a malformed
// escape or an escaped lone surrogate, which cannot be valid UTF-8.
func unescape(raw []byte, dst []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			return dst, false
		}
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+2 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return dst, false
				}
				r2, ok := hex4(raw, i+3)
				if !ok {
					return dst, false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return dst, false
				}
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// isControl reports the Unicode control characters (category Cc: C0, DEL and C1).
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// plainASCII reports whether raw needs no unescaping or cleaning: printable ASCII without backslash.
func plainASCII(raw []byte) bool {
	for _, c := range raw {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// cleanText turns the raw content of a JSON string into sanitised text: escapes decoded, valid UTF-8
// required, control characters removed, surrounding white space trimmed. reason is "" when the text is
// acceptable and at most maxRunes code points long (0 = no limit), else why it is not.
func cleanText(raw []byte, esc bool, maxRunes int) (string, Reason) {
	if !esc && plainASCII(raw) {
		t := trimASCII(raw)
		if len(t) == 0 {
			return "", ReasonEmptyTitle
		}
		if maxRunes > 0 && len(t) > maxRunes {
			return "", ReasonTitleTooLong
		}
		return string(t), ""
	}
	var scratch [512]byte
	buf := scratch[:0]
	if esc {
		var ok bool
		buf, ok = unescape(raw, buf)
		if !ok {
			return "", ReasonInvalidUTF8
		}
	} else {
		buf = append(buf, raw...)
	}
	if !utf8.Valid(buf) {
		return "", ReasonInvalidUTF8
	}
	out := buf[:0]
	runes := 0
	for i := 0; i < len(buf); {
		r, n := utf8.DecodeRune(buf[i:])
		if !isControl(r) {
			out = append(out, buf[i:i+n]...)
			runes++
		}
		i += n
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return "", ReasonEmptyTitle
	}
	if maxRunes > 0 && runes > maxRunes && utf8.RuneCountInString(s) > maxRunes {
		return "", ReasonTitleTooLong
	}
	return s, ""
}

func trimASCII(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// SanitizeTitle applies the title rules of SPEC §5.1 to an already decoded Go string (for example the
// title an envelope's request names): valid UTF-8, control characters removed, trimmed, non-empty and at
// most MaxTitleRunes code points. It returns the clean title or the reason it is rejected.
func SanitizeTitle(s string) (string, Reason) {
	if !utf8.ValidString(s) {
		return "", ReasonInvalidUTF8
	}
	return cleanText([]byte(s), false, MaxTitleRunes)
}

// cleanImage sanitises an image URL; an unusable one (not http(s), too long, invalid text) becomes empty
// (the image is optional).
func cleanImage(raw []byte, esc bool) string {
	if len(raw) == 0 || len(raw) > maxImageBytes {
		return ""
	}
	s, reason := cleanText(raw, esc, 0)
	if reason != "" || !(strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) {
		return ""
	}
	return s
}
