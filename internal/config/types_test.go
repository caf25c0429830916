package config

import (
	"encoding"
	"testing"

	"github.com/stretchr/testify/require"
)

// unmarshalCase is one case of an UnmarshalText test: in reads as want, or fails with an error that
// contains wantErr.
type unmarshalCase[T any] struct {
	in      string
	want    T
	wantErr string
}

// requireUnmarshal runs the cases against (*T).UnmarshalText.
func requireUnmarshal[T any, P interface {
	*T
	encoding.TextUnmarshaler
}](t *testing.T, cases []unmarshalCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			var got T
			err := P(&got).UnmarshalText([]byte(tc.in))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCents(t *testing.T) {
	requireUnmarshal(t, []unmarshalCase[Cents]{
		{in: "10", want: 1000},
		{in: "10.5", want: 1050},
		{in: "10.05", want: 1005},
		{in: "0.01", want: 1},
		{in: ".5", want: 50},
		{in: "0", want: 0},
		{in: " 7.10 ", want: 710},
		{in: "+3", want: 300},
		{in: "007", want: 700},
		{in: "999999999999.99", want: 99999999999999},
		{in: "10.015", wantErr: "more than two decimal places"},
		{in: "0.001", wantErr: "more than two decimal places"},
		{in: "-1", wantErr: "must not be negative"},
		{in: "abc", wantErr: "is not a dollar amount"},
		{in: "1e3", wantErr: "is not a dollar amount"},
		{in: "1.", wantErr: "is not a dollar amount"},
		{in: ".", wantErr: "is not a dollar amount"},
		{in: "", wantErr: "is not a dollar amount"},
		{in: "$5", wantErr: "is not a dollar amount"},
		{in: "1,5", wantErr: "is not a dollar amount"},
		{in: "NaN", wantErr: "is not a dollar amount"},
		{in: "1000000000000", wantErr: "too large"},
		{in: "99999999999999999999999", wantErr: "too large"},
		{in: "+-5", wantErr: "is not a dollar amount"},
	})
	require.Equal(t, "$10.05", Cents(1005).Dollars())
	require.Equal(t, "0.07", Cents(7).String())
}

func TestPercent(t *testing.T) {
	requireUnmarshal(t, []unmarshalCase[Percent]{
		{in: "5", want: 500},
		{in: "2.5", want: 250},
		{in: "-30", want: -3000},
		{in: "-0.25", want: -25},
		{in: "0", want: 0},
		{in: "5%", wantErr: "is not a percentage"},
		{in: "--5", wantErr: "is not a percentage"},
		{in: "1.234", wantErr: "more than two decimal places"},
		{in: "inf", wantErr: "is not a percentage"},
	})
	require.Equal(t, "-30.05", Percent(-3005).String())
}

func TestGameIDs(t *testing.T) {
	requireUnmarshal(t, []unmarshalCase[GameIDs]{
		{in: "a8db", want: GameIDs{"a8db"}},
		{in: " A8DB, 9a92 ,tf2,rust,", want: GameIDs{"a8db", "9a92", "tf2", "rust"}},
		{in: "csgo", wantErr: `unknown game id "csgo" (known: a8db, 9a92, tf2, rust)`},
		{in: "a8db,dota,x", wantErr: `unknown game id "dota", unknown game id "x"`},
		{in: "a8db,a8db", wantErr: `game id "a8db" listed twice`},
		{in: " , ", wantErr: "no game id given"},
	})
}

func TestWhitelist(t *testing.T) {
	tests := []struct {
		in      string
		want    Whitelist
		wantErr string
	}{
		{in: "1", want: Whitelist{1}},
		{in: " 12345678, 987654321 ,,12345678", want: Whitelist{12345678, 987654321}},
		{in: "12,abc,-5,0,99999999999999999999", wantErr: `"abc" is not a Telegram user id (a positive integer), "-5" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var w Whitelist
			err := w.UnmarshalText([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, `"0"`)
				require.ErrorContains(t, err, `"99999999999999999999"`)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, w)
		})
	}
	require.True(t, Whitelist{1, 2}.Contains(2))
	require.False(t, Whitelist{1, 2}.Contains(3))
}

func TestCentsList(t *testing.T) {
	requireUnmarshal(t, []unmarshalCase[CentsList]{
		{in: "0.10,1,5", want: CentsList{10, 100, 500}},
		{in: " 1 , ,2", want: CentsList{100, 200}},
		{in: "1,1", wantErr: "1.00 is not above 1.00"},
		{in: "5,2", wantErr: "bounds must increase"},
		{in: "0,1", wantErr: "bounds must be above 0"},
		{in: "1,x,0.001", wantErr: `"x" is not a dollar amount`},
	})
}
