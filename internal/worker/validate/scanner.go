package validate

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxDepth bounds the nesting of skipped values so a hostile payload cannot exhaust the stack.
const maxDepth = 64

// errSyntax is wrapped by every structural JSON error of the scanner.
var errSyntax = errors.New("malformed json")

// scanner is a minimal one-pass JSON tokenizer. It reads only the values a decoder asks for and skips
// the rest without building them, which keeps decoding of large pages cheap. It rejects anything that is
// not well-formed JSON in the parts it reads and skips.
type scanner struct {
	b []byte
	i int
	// base is where the value being decoded starts in b: errors give offsets from it.
	base int
}

func (s *scanner) errf(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errSyntax, what, s.i-s.base)
}

func (s *scanner) skipWS() {
	for s.i < len(s.b) {
		// Every token starts above ' ', white space at or below it: one comparison for the usual case.
		if c := s.b[s.i]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return
		}
		s.i++
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.skipWS()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// end reports an error unless only white space is left.
func (s *scanner) end() error {
	if s.peek() != 0 || s.i < len(s.b) {
		return s.errf("trailing data")
	}
	return nil
}

// str reads a string token and returns its raw content between the quotes and whether it holds escapes.
func (s *scanner) str() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.errf("expected string")
	}
	s.i++
	start := s.i
	esc := false
	for {
		s.i = plainEnd(s.b, s.i)
		if s.i >= len(s.b) {
			return nil, false, s.errf("unterminated string")
		}
		switch c := s.b[s.i]; {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			return raw, esc, nil
		case c == '\\':
			esc = true
			if !s.escape() {
				return nil, false, s.errf("bad escape")
			}
		default:
			return nil, false, s.errf("control character in string")
		}
	}
}

// SWAR constants of plainEnd: a byte value repeated in each of a word's eight bytes.
const (
	swarOnes  = 0x0101010101010101
	swarHigh  = 0x8080808080808080
	swarQuote = '"' * swarOnes
	swarBack  = '\\' * swarOnes
	swarSpace = 0x20 * swarOnes
)

// plainEnd returns the index of the first byte at or after i of b that ends a plain run inside a JSON
// string: a quote, a backslash or a control character (below 0x20), or len(b) when there is none. It
// tests eight bytes at a time: (x - 0x01…) &^ x has a byte's high bit set for a zero byte of x, and
// (x - 0x20…) &^ x for a byte below 0x20 (exact for whether a word holds one, which is all it is used
// for), applied to x ^ '"'…, x ^ '\\'… and x; a word that holds one is then read byte by byte.
func plainEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^swarQuote, x^swarBack
		if ((q-swarOnes)&^q|(bs-swarOnes)&^bs|(x-swarSpace)&^x)&swarHigh != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// escape checks the escape sequence at s.i (a backslash) and moves past it.
func (s *scanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if _, ok := hex4(s.b, s.i+2); !ok {
			return false
		}
		s.i += 6
		return true
	}
	return false
}

// number reads a number token (strict JSON grammar) and returns its text.
func (s *scanner) number() ([]byte, error) {
	s.skipWS()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return nil, s.errf("expected value")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, s.errf("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, s.errf("bad number")
		}
	}
	return s.b[start:s.i], nil
}

// digits consumes decimal digits and returns how many.
func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) literal(word string) error {
	s.skipWS()
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.errf("expected " + word)
	}
	s.i += len(word)
	return nil
}

// boolean reads true or false.
func (s *scanner) boolean() (bool, error) {
	if s.peek() == 't' {
		return true, s.literal("true")
	}
	return false, s.literal("false")
}

// beginObject consumes '{'.
func (s *scanner) beginObject() error {
	if !s.consume('{') {
		return s.errf("expected object")
	}
	return nil
}

// nextKey advances to the next member of the current object and returns its key (raw, unescaped bytes
// are compared as is) or more=false at the closing brace. first must start true for each object.
func (s *scanner) nextKey(first *bool) (key []byte, more bool, err error) {
	if s.consume('}') {
		return nil, false, nil
	}
	if !*first && !s.consume(',') {
		return nil, false, s.errf("expected ',' or '}'")
	}
	*first = false
	key, _, err = s.str()
	if err != nil {
		return nil, false, err
	}
	if !s.consume(':') {
		return nil, false, s.errf("expected ':'")
	}
	return key, true, nil
}

// beginArray consumes '['.
func (s *scanner) beginArray() error {
	if !s.consume('[') {
		return s.errf("expected array")
	}
	return nil
}

// nextElem advances to the next element of the current array or returns more=false at the closing
// bracket. first must start true for each array.
func (s *scanner) nextElem(first *bool) (more bool, err error) {
	if s.consume(']') {
		return false, nil
	}
	if !*first && !s.consume(',') {
		return false, s.errf("expected ',' or ']'")
	}
	if *first {
		*first = false
		return true, nil
	}
	if s.peek() == ']' {
		return false, s.errf("trailing comma")
	}
	return true, nil
}

// skip skips one value of any type.
func (s *scanner) skip() error { return s.skipDepth(0) }

func (s *scanner) skipDepth(depth int) error {
	if depth > maxDepth {
		return s.errf("nesting too deep")
	}
	switch c := s.peek(); c {
	case '"':
		_, _, err := s.str()
		return err
	case '{', '[':
		s.i++
		first := true
		for {
			var more bool
			var err error
			if c == '{' {
				_, more, err = s.nextKey(&first)
			} else {
				more, err = s.nextElem(&first)
			}
			if err != nil || !more {
				return err
			}
			if err := s.skipDepth(depth + 1); err != nil {
				return err
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, err := s.number()
		return err
	}
}

// object reads the object at the scanner's position, calling member with each key; member must read
// the member's value. The per-item readers of a listings page, the hot path, walk their members
// without it.
func (s *scanner) object(member func(key []byte) error) error {
	if err := s.beginObject(); err != nil {
		return err
	}
	first := true
	for {
		key, more, err := s.nextKey(&first)
		if err != nil || !more {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// array reads the array at the scanner's position, calling elem for each element; elem must read it.
func (s *scanner) array(elem func() error) error {
	if err := s.beginArray(); err != nil {
		return err
	}
	first := true
	for {
		more, err := s.nextElem(&first)
		if err != nil || !more {
			return err
		}
		if err := elem(); err != nil {
			return err
		}
	}
}

// collect reads an array of items with read, appending each valid item to items and counting the
// reason of each dropped one in invalid.
func collect[T any](s *scanner, items *[]T, invalid *Invalid, read func() (T, Reason, error)) error {
	return s.array(func() error {
		item, reason, err := read()
		switch {
		case err != nil:
			return err
		case reason != "":
			invalid.add(reason)
		default:
			*items = append(*items, item)
		}
		return nil
	})
}

// valueKind classifies the next value for typed reads.
type valueKind int

const (
	kindOther valueKind = iota
	kindString
	kindNumber
	kindBool
	kindNull
	kindObject
	kindArray
)

func (s *scanner) kind() valueKind {
	switch c := s.peek(); {
	case c == '"':
		return kindString
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	default:
		return kindOther
	}
}

// intText reads an integer given either as a JSON number or as a string holding one (int64 values of
// gRPC-gateway APIs arrive as strings). present is false for null; ok is false for any other type or a
// value that is not an integer. The value is always consumed.
func (s *scanner) intText() (text []byte, present, ok bool, err error) {
	switch s.kind() {
	case kindNull:
		return nil, false, true, s.literal("null")
	case kindNumber:
		t, err := s.number()
		return t, true, true, err
	case kindString:
		t, esc, err := s.str()
		return t, true, !esc, err
	default:
		return nil, true, false, s.skip()
	}
}
