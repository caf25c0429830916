package market

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFraction(t *testing.T) {
	requireParseFraction(t, ParseFraction, []fractionCase{
		{"0.05", "0.05", false},
		{"0.050", "0.05", false},
		{".5", "0.5", false},
		{"1", "1", false},
		{"1.000", "1", false},
		{"0", "0", false},
		{"0.000000000001", "0.000000000001", false},
		{"0.0000000000001", "", true},
		{"1.01", "", true},
		{"2", "", true},
		{"", "", true},
		{".", "", true},
		{"5.", "", true},
		{"-0.05", "", true},
		{"+0.05", "", true},
		{"5e-2", "", true},
		{"0,05", "", true},
		{"NaN", "", true},
		{"00001", "1", false},
	})
}

func TestParsePercent(t *testing.T) {
	requireParseFraction(t, ParsePercent, []fractionCase{
		{"5", "0.05", false},
		{"2.5", "0.025", false},
		{"10", "0.1", false},
		{"100", "1", false},
		{"0", "0", false},
		{"0.0000000001", "0.000000000001", false},
		{"0.00000000001", "", true},
		{"100.5", "", true},
		{"abc", "", true},
	})
}

// fractionCase is one input of a fraction parser: want is the parsed fraction's String, wantErr that the
// input is refused with ErrBadFraction.
type fractionCase struct {
	in, want string
	wantErr  bool
}

// requireParseFraction runs parse on every case as a subtest named after the input.
func requireParseFraction(t *testing.T, parse func(string) (Fraction, error), cases []fractionCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			f, err := parse(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrBadFraction)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, f.String())
		})
	}
}

func TestFractionFee(t *testing.T) {
	cases := []struct {
		name     string
		fraction string
		sell     Cents
		want     Cents
	}{
		{"plain", "0.05", 1000, 50},
		{"half rounds up", "0.05", 1010, 51},         // 50.5
		{"below half rounds down", "0.05", 1009, 50}, // 50.45
		{"above half rounds up", "0.05", 1011, 51},   // 50.55
		{"three decimals half", "0.025", 1020, 26},   // 25.5
		{"tiny", "0.025", 10, 0},                     // 0.25
		{"two decimal tie", "0.07", 50, 4},           // 3.5
		{"zero rate", "0", 1000, 0},
		{"whole rate", "1", 1234, 1234},
		{"zero sell", "0.05", 0, 0},
		{"huge sell does not overflow", "0.999999999999", 1 << 62, 4611686018422776218},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, mustFraction(tc.fraction).Fee(tc.sell))
		})
	}
	require.Equal(t, Cents(0), Fraction{}.Fee(1000))
	require.Panics(t, func() { mustFraction("x") })
}

func TestFractionJSON(t *testing.T) {
	cases := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"string", `"0.05"`, "0.05", false},
		{"number", `0.025`, "0.025", false},
		{"null", `null`, "", true},
		{"bad string", `"abc"`, "", true},
		{"bad quoting", `"0.05`, "", true},
		{"exponent", `5e-2`, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f Fraction
			err := f.UnmarshalJSON([]byte(tc.in))
			if tc.wantErr {
				require.ErrorIs(t, err, ErrBadFraction)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, f.String())
			out, err := json.Marshal(f)
			require.NoError(t, err)
			require.Equal(t, `"`+tc.want+`"`, string(out))
		})
	}
}

func mustFraction(s string) Fraction {
	f, err := ParseFraction(s)
	if err != nil {
		panic(err)
	}
	return f
}
