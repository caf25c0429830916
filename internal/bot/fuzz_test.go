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
		"p:-1", "g:chess", "h:zz", "x", "", "t:1", "p:99999999999999999999",
		"c:0123456789abcdef01234567", "c:0123456789abcdef", "v:d", "v:q", "v:x", "v:dd", "v"} {
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

// FuzzVolumeArguments checks that /set_quiet_hours and /set_timezone accept only values in range, and
// that an accepted offset reads back from how /settings shows it.
func FuzzVolumeArguments(f *testing.F) {
	for _, s := range []string{"23-8", "off", "0-6", "24-1", "+3", "-3:30", "UTC+5:45", "+99", "1e3", "", "--5", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if from, to, err := parseQuiet(s); err == nil {
			if !validHour(from) || !validHour(to) || (from == to && from != 0) {
				t.Fatalf("%q: accepted quiet hours %d-%d", s, from, to)
			}
		}
		mins, err := parseZone(s)
		if err != nil {
			return
		}
		if mins < minZoneMins || mins > maxZoneMins {
			t.Fatalf("%q: accepted offset %d minutes", s, mins)
		}
		if back, err := parseZone(formatZone(mins)); err != nil || back != mins {
			t.Fatalf("%q: %d shown as %q reads back as %d, %v", s, mins, formatZone(mins), back, err)
		}
	})
}
