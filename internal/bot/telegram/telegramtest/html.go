package telegramtest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// allowedTags are the HTML tags Telegram's HTML parse mode accepts.
var allowedTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true,
	"del": true, "span": true, "tg-spoiler": true, "a": true, "code": true, "pre": true, "blockquote": true,
	"tg-emoji": true,
}

// ParseHTML checks text the way Telegram parses HTML parse mode and returns the visible text (entities
// removed and decoded). The error text follows Telegram's "can't parse entities: ..." wording.
func ParseHTML(text string) (string, error) {
	var out strings.Builder
	var stack []string
	i := 0
	for i < len(text) {
		c := text[i]
		switch c {
		case '<':
			end := strings.IndexByte(text[i:], '>')
			if end < 0 {
				return "", fmt.Errorf("can't parse entities: unclosed start tag at byte offset %d", i)
			}
			tag := text[i+1 : i+end]
			if strings.HasPrefix(tag, "/") {
				name := strings.ToLower(strings.TrimSpace(tag[1:]))
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return "", fmt.Errorf("can't parse entities: can't find start tag for end tag %q at byte offset %d", name, i)
				}
				stack = stack[:len(stack)-1]
			} else {
				name, attrs, _ := strings.Cut(tag, " ")
				name = strings.ToLower(name)
				if !allowedTags[name] {
					return "", fmt.Errorf("can't parse entities: unsupported start tag %q at byte offset %d", name, i)
				}
				if err := checkAttrs(name, attrs, i); err != nil {
					return "", err
				}
				stack = append(stack, name)
			}
			i += end + 1
		case '>':
			return "", fmt.Errorf("can't parse entities: unexpected '>' at byte offset %d", i)
		case '&':
			end := strings.IndexByte(text[i:], ';')
			if end < 0 || end > 10 {
				return "", fmt.Errorf("can't parse entities: unescaped '&' at byte offset %d", i)
			}
			r, ok := decodeEntity(text[i+1 : i+end])
			if !ok {
				return "", fmt.Errorf("can't parse entities: unsupported entity %q at byte offset %d", text[i:i+end+1], i)
			}
			out.WriteString(r)
			i += end + 1
		default:
			out.WriteByte(c)
			i++
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("can't parse entities: can't find end tag corresponding to start tag %q", stack[len(stack)-1])
	}
	return out.String(), nil
}

func checkAttrs(name, attrs string, offset int) error {
	attrs = strings.TrimSpace(attrs)
	if attrs == "" {
		if name == "a" {
			return fmt.Errorf("can't parse entities: tag \"a\" must have attribute \"href\" at byte offset %d", offset)
		}
		return nil
	}
	key, val, ok := strings.Cut(attrs, "=")
	if !ok || len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' || strings.Contains(val[1:len(val)-1], "\"") {
		return fmt.Errorf("can't parse entities: malformed attributes of tag %q at byte offset %d", name, offset)
	}
	if _, err := ParseHTML(val[1 : len(val)-1]); err != nil {
		return fmt.Errorf("can't parse entities: bad attribute value of tag %q at byte offset %d", name, offset)
	}
	switch {
	case name == "a" && key == "href":
	case name == "span" && key == "class" && val == `"tg-spoiler"`:
	case (name == "code" || name == "pre") && key == "class":
	case name == "tg-emoji" && key == "emoji-id":
	default:
		return fmt.Errorf("can't parse entities: unsupported attribute %q of tag %q at byte offset %d", key, name, offset)
	}
	return nil
}

func decodeEntity(name string) (string, bool) {
	switch name {
	case "lt":
		return "<", true
	case "gt":
		return ">", true
	case "amp":
		return "&", true
	case "quot":
		return "\"", true
	}
	if strings.HasPrefix(name, "#x") || strings.HasPrefix(name, "#X") {
		n, err := strconv.ParseUint(name[2:], 16, 32)
		return string(rune(n)), err == nil
	}
	if strings.HasPrefix(name, "#") {
		n, err := strconv.ParseUint(name[1:], 10, 32)
		return string(rune(n)), err == nil
	}
	return "", false
}

// UTF16Len is the length of s in UTF-16 code units, the unit of Telegram's text limits.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += len(utf16.Encode([]rune{r}))
	}
	return n
}
