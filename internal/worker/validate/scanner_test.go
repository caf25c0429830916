package validate

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainEndByByte is plainEnd's definition read one byte at a time.
func plainEndByByte(b []byte, i int) int {
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

// TestPlainEndFindsEveryStop: plainEnd agrees with the byte-by-byte definition from every start of
// random buffers in which a stop byte (quote, backslash, each control character) sits at every position
// of an eight-byte word, beside bytes just above and below the stops and UTF-8 continuation bytes.
func TestPlainEndFindsEveryStop(t *testing.T) {
	near := []byte{'!', '#', '[', ']', ' ', 0x7f, 0x80, 0xa2, 0xdc, 0xff, 'a', 'z'}
	var stops []byte
	for c := range 0x20 {
		stops = append(stops, byte(c))
	}
	stops = append(stops, '"', '\\')
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		// stop returns the buffer's only stop byte and its position, or -1 for none.
		stopAt func(n int) int
	}{
		{name: "no stop", stopAt: func(int) int { return -1 }},
		{name: "one stop anywhere", stopAt: func(n int) int { return rng.IntN(n) }},
		{name: "stop in the last word", stopAt: func(n int) int { return n - 1 - rng.IntN(min(n, 8)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 2000 {
				n := 1 + rng.IntN(40)
				b := make([]byte, n)
				for k := range b {
					b[k] = near[rng.IntN(len(near))]
				}
				stop := byte(0)
				if at := tc.stopAt(n); at >= 0 {
					stop = stops[rng.IntN(len(stops))]
					b[at] = stop
				}
				for i := 0; i <= n; i++ {
					require.Equal(t, plainEndByByte(b, i), plainEnd(b, i), "round %d: %q from %d (stop %#x)", round, b, i, stop)
				}
			}
		})
	}
}

// TestScannerStrings: the string reader returns the raw content and whether it holds escapes, and
// refuses what JSON refuses, wherever the quote, backslash or control character falls in a word.
func TestScannerStrings(t *testing.T) {
	long := "https://steamcommunity-a.akamaihd.net/economy/image/-9a81dlWLwJ2UUGcVs_nsVtzdOEdtWwKGZZLQHTxDZ7I56KU0Zwwo4NUX4oFJZEHLbXH5ApeO4YmlhxYQknCRvCo04DEVlxkKgpot7HxfDhjxszJemkV09-5lpKKqPrxN7LEmyVQ7MEpiLuSrYmnjQO3-UdsZGHyd4_Bd1RvNQ7T_FDrw-_ng5Pu75iY1zI97bhLsvQz"
	for _, tc := range []struct {
		name    string
		in      string
		want    string
		esc     bool
		wantErr string
	}{
		{name: "empty", in: `""`, want: ""},
		{name: "short", in: `"AK"`, want: "AK"},
		{name: "long", in: `"` + long + `"`, want: long},
		{name: "utf-8", in: `"StatTrak™ ★ Karambit"`, want: "StatTrak™ ★ Karambit"},
		{name: "escape early", in: `"\"AK-47 | Redline (Field-Tested)"`, want: `\"AK-47 | Redline (Field-Tested)`, esc: true},
		{name: "escape late", in: `"AK-47 | Redline (Field-Tested)\u00e9"`, want: `AK-47 | Redline (Field-Tested)\u00e9`, esc: true},
		{name: "escape at a word's end", in: `"1234567\n89"`, want: `1234567\n89`, esc: true},
		{name: "unterminated", in: `"AK-47 | Redline`, wantErr: "unterminated string"},
		{name: "unterminated after an escape", in: `"AK-47 | Redline\"`, wantErr: "unterminated string"},
		{name: "control character", in: "\"AK-47 |\x01 Redline\"", wantErr: "control character in string"},
		{name: "control character in a later word", in: "\"AK-47 | Redline (Field-Tested)\x1f\"", wantErr: "control character in string"},
		{name: "bad escape", in: `"AK-47 | Redline \x47"`, wantErr: "bad escape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scanner{b: []byte(tc.in + ",")}
			raw, esc, err := s.str()
			if tc.wantErr != "" {
				require.ErrorIs(t, err, errSyntax)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(raw))
			require.Equal(t, tc.esc, esc)
			require.Equal(t, len(tc.in), s.i, "the scanner stops right after the closing quote")
		})
	}
}

// TestSkipAgreesWithJSON: skip followed by end accepts an input exactly when encoding/json finds it valid
// (nesting within maxDepth), on designed cases and on every one-byte change of them to a structural byte.
func TestSkipAgreesWithJSON(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	tooDeep := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	cases := []string{
		`1`, `-0.5e+3`, `"x"`, `true`, `false`, `null`, `{}`, `[]`, ` { } `, `[1,2,3]`, `[[],[{}],{"a":[]}]`,
		`{"a":1,"b":{"c":[true,false,null,"\u00e9\"",{"d":-1.5E7}]},"e":""}`,
		`{"fees":{"f2f":{"sell":{"default":{"percentage":"2.00","minFee":{"USD":"1"}}}}},"x":[1,[2,[3]]]}`,
		deep,
		// Malformed: trailing commas, missing colons, unquoted keys, mismatched brackets, bare words.
		`[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1 2]`, `{"a":1 "b":2}`, `[}`, `{]`, `[1}`, `{"a":]`, `[`, `{`,
		`{"a":`, `[1,`, `tru`, `nul`, `-`, `01`, `1.`, `"a`, `{"a":[1,2}`, `[{"a":1]]`, `{"a":{"b":1}`,
	}
	check := func(t *testing.T, in string) {
		s := &scanner{b: []byte(in)}
		err := s.skip()
		if err == nil {
			err = s.end()
		}
		if json.Valid([]byte(in)) {
			require.NoError(t, err, "%q is valid JSON", in)
		} else {
			require.ErrorIs(t, err, errSyntax, "%q is not valid JSON", in)
		}
	}
	for _, in := range cases {
		t.Run(in[:min(len(in), 40)], func(t *testing.T) {
			check(t, in)
			for i := range len(in) {
				for _, b := range []byte(`{}[],:" 1an`) {
					check(t, in[:i]+string(b)+in[i+1:])
				}
			}
		})
	}
	t.Run("too deep", func(t *testing.T) {
		s := &scanner{b: []byte(tooDeep)}
		require.ErrorContains(t, s.skip(), "nesting too deep")
	})
}
