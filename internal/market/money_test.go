package market

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Cents
		err  error
	}{
		{in: "0", want: 0},
		{in: "1234", want: 1234},
		{in: "000042", want: 42},
		{in: "-0", want: 0},
		{in: "-5", want: -5},
		{in: "9223372036854775807", want: MaxCents},
		{in: "-9223372036854775807", want: -MaxCents},
		{in: "", err: ErrEmpty},
		{in: "-", err: ErrSyntax},
		{in: "+5", err: ErrSyntax},
		{in: " 5", err: ErrSyntax},
		{in: "5 ", err: ErrSyntax},
		{in: "12.34", err: ErrSyntax},
		{in: "1e3", err: ErrSyntax},
		{in: "--1", err: ErrSyntax},
		{in: "abc", err: ErrSyntax},
		{in: "9223372036854775808", err: ErrRange},
		{in: "-9223372036854775808", err: ErrRange},
		{in: "99999999999999999999999", err: ErrRange},
		{in: "99999999999999999999999x", err: ErrSyntax},
	} {
		t.Run(tc.in, func(t *testing.T) {
			requireParse(t, ParseCents[string], ParseCents[[]byte], tc.in, tc.want, tc.err)
		})
	}
}

// requireParse checks that in reads as want, or fails with wantErr, alike as a string and as bytes.
func requireParse(t *testing.T, parse func(string) (Cents, error), parseBytes func([]byte) (Cents, error),
	in string, want Cents, wantErr error) {
	t.Helper()
	got, err := parse(in)
	require.ErrorIs(t, err, wantErr)
	require.Equal(t, want, got)
	gotBytes, errBytes := parseBytes([]byte(in))
	require.Equal(t, err, errBytes)
	require.Equal(t, got, gotBytes)
}

func TestParseDollars(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Cents
		rounded Cents // ParseDollarsRounded's result when it differs (ErrSubCent cases)
		err     error
	}{
		{in: "12.57", want: 1257},
		{in: "12.5", want: 1250},
		{in: "12", want: 1200},
		{in: "0.05", want: 5},
		{in: "0", want: 0},
		{in: "00.10", want: 10},
		{in: "-0.05", want: -5},
		{in: "-0", want: 0},
		{in: "-12.30", want: -1230},
		{in: "92233720368547758.07", want: MaxCents},
		{in: "-92233720368547758.07", want: -MaxCents},
		{in: "12.345", rounded: 1235, err: ErrSubCent},
		{in: "12.344", rounded: 1234, err: ErrSubCent},
		{in: "0.995", rounded: 100, err: ErrSubCent},
		{in: "-0.005", rounded: -1, err: ErrSubCent},
		{in: "1.0000000000000000000001", rounded: 100, err: ErrSubCent},
		{in: "", err: ErrEmpty},
		{in: "-", err: ErrSyntax},
		{in: ".5", err: ErrSyntax},
		{in: "-.5", err: ErrSyntax},
		{in: "12.", err: ErrSyntax},
		{in: "1.2.3", err: ErrSyntax},
		{in: "+1.00", err: ErrSyntax},
		{in: " 1.00", err: ErrSyntax},
		{in: "1,00", err: ErrSyntax},
		{in: "1e2", err: ErrSyntax},
		{in: "$1.00", err: ErrSyntax},
		{in: "12.3x", err: ErrSyntax},
		{in: "12.345x", err: ErrSyntax},
		{in: "92233720368547758.08", err: ErrRange},
		{in: "92233720368547759", err: ErrRange},
		{in: "99999999999999999999999.00", err: ErrRange},
		{in: "99999999999999999999999.0x", err: ErrSyntax},
	} {
		t.Run(tc.in, func(t *testing.T) {
			requireParse(t, ParseDollars[string], ParseDollars[[]byte], tc.in, tc.want, tc.err)

			rounded, err := ParseDollarsRounded(tc.in)
			if errors.Is(tc.err, ErrSubCent) {
				require.NoError(t, err)
				require.Equal(t, tc.rounded, rounded)
				return
			}
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.want, rounded)
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in      Cents
		str     string
		dollars string
	}{
		{in: 0, str: "0.00", dollars: "$0.00"},
		{in: 5, str: "0.05", dollars: "$0.05"},
		{in: 50, str: "0.50", dollars: "$0.50"},
		{in: 1234, str: "12.34", dollars: "$12.34"},
		{in: 100000000, str: "1000000.00", dollars: "$1000000.00"},
		{in: -5, str: "-0.05", dollars: "-$0.05"},
		{in: -1234, str: "-12.34", dollars: "-$12.34"},
		{in: MaxCents, str: "92233720368547758.07", dollars: "$92233720368547758.07"},
		{in: math.MinInt64, str: "-92233720368547758.08", dollars: "-$92233720368547758.08"},
	} {
		t.Run(tc.str, func(t *testing.T) {
			require.Equal(t, tc.str, tc.in.String())
			require.Equal(t, tc.dollars, tc.in.Dollars())
		})
	}
}

// TestRoundTrip checks that formatting then parsing returns the amount exactly, over the edges of the
// cents digits and of the range.
func TestRoundTrip(t *testing.T) {
	var amounts []Cents
	for _, base := range []Cents{0, 100, 1_000_000, MaxCents - 200} {
		for d := Cents(0); d < 200; d++ {
			amounts = append(amounts, base+d, -(base + d))
		}
	}
	for _, c := range amounts {
		got, err := ParseDollars(c.String())
		require.NoError(t, err, c.String())
		require.Equal(t, c, got)
		got, err = ParseCents(strconv.FormatInt(int64(c), 10))
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
}

func TestNoAllocations(t *testing.T) {
	amount, dollars, game := []byte("123456"), []byte("1234.56"), []byte("tf2")
	allocs := testing.AllocsPerRun(100, func() {
		if c, err := ParseCents(amount); err != nil || c != 123456 {
			t.Fatal(c, err)
		}
		if c, err := ParseDollars(dollars); err != nil || c != 123456 {
			t.Fatal(c, err)
		}
		if _, err := ParseDollars(amount[:0]); !errors.Is(err, ErrEmpty) {
			t.Fatal(err)
		}
		if KnownGameID(game) != GameTF2 {
			t.Fatal("tf2 not known")
		}
	})
	require.Zero(t, allocs)
}

// FuzzParse checks that the parsers never panic, that the byte and string forms agree, and that every
// accepted amount survives parse -> format -> parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "12.57", "-0.05", "12.5", "12.345", "1234", "-", ".5", "12.", "+1",
		"92233720368547758.07", "9223372036854775807", "9223372036854775808", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Cents, error){ParseDollars[string], ParseDollarsRounded[string]} {
			if c, err := parse(s); err == nil {
				back, err := ParseDollars(c.String())
				if err != nil || back != c {
					t.Fatalf("%q -> %d -> %q -> %d, %v", s, c, c.String(), back, err)
				}
			}
		}
		c, err := ParseCents(s)
		cb, errb := ParseCents([]byte(s))
		if c != cb || !errors.Is(err, errb) {
			t.Fatalf("%q: string %d %v, bytes %d %v", s, c, err, cb, errb)
		}
		if err != nil {
			return
		}
		if back, err := ParseCents(strconv.FormatInt(int64(c), 10)); err != nil || back != c {
			t.Fatalf("%q -> %d -> %d, %v", s, c, back, err)
		}
		if back, err := ParseDollars(c.String()); err != nil || back != c {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, c, c.String(), back, err)
		}
	})
}
