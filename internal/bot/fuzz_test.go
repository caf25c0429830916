package bot

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseHundredths checks that the command-argument parser accepts exactly plain decimals with at most
// two decimals and returns their value in hundredths.
func FuzzParseHundredths(f *testing.F) {
	for _, s := range []string{"0", "12.5", "12.50", "-30", "1000000", "abc", "nan", "inf", "1e999", "--5", "5%",
		"", " 1", "1.", ".5", "1.234", "999999999999", "-0.01", "１２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseHundredths(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("%q: error with value %d", s, v)
			}
			return
		}
		// An accepted argument is a plain decimal whose value round-trips.
		neg := strings.HasPrefix(s, "-")
		whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
		for len(frac) < 2 {
			frac += "0"
		}
		w, werr := strconv.ParseInt(whole, 10, 64)
		fr, ferr := strconv.ParseInt(frac, 10, 64)
		if werr != nil || ferr != nil || len(frac) != 2 {
			t.Fatalf("%q accepted but is not a plain decimal", s)
		}
		want := w*100 + fr
		if neg {
			want = -want
		}
		if v != want {
			t.Fatalf("%q: got %d, want %d", s, v, want)
		}
	})
}

// FuzzParseCallback checks that callback data is either refused or one of the shapes the bot issues.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"n", "o", "s", "t", "u", "p:2", "r:1", "g:a8db", "h:0123456789abcdef", "m:0123456789abcdef",
		"p:-1", "g:chess", "h:zz", "x", "", "t:1", "p:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		action, arg, ok := parseCallback(s)
		if !ok {
			return
		}
		if _, known := callbackActions[action]; !known {
			t.Fatalf("%q: accepted unknown action %q", s, action)
		}
		if arg != "" && s != action+":"+arg {
			t.Fatalf("%q: argument %q does not come from the data", s, arg)
		}
	})
}
