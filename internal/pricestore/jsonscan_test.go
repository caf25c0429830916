package pricestore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

func TestEachMember(t *testing.T) {
	type member struct{ key, raw string }
	cases := []struct {
		name    string
		in      string
		want    []member
		wantErr bool
	}{
		{"empty object", ` { } `, nil, false},
		{"scalars", `{"a":1,"b":"x","c":true,"d":false,"e":null,"f":-1.5e+3}`,
			[]member{{"a", "1"}, {"b", `"x"`}, {"c", "true"}, {"d", "false"}, {"e", "null"}, {"f", "-1.5e+3"}}, false},
		{"nested", `{"o":{"x":[1,{"y":[]}]},"a":[ ]}`, []member{{"o", `{"x":[1,{"y":[]}]}`}, {"a", "[ ]"}}, false},
		{"whitespace", "{\n \"a\" :\t 0 ,\r\"b\":\"\\u00e9\\n\" }", []member{{"a", "0"}, {"b", `"\u00e9\n"`}}, false},
		{"escaped key", `{"a\"b":1}`, []member{{`a"b`, "1"}}, false},
		{"not object", `[1]`, nil, true},
		{"empty", ``, nil, true},
		{"trailing data", `{} x`, nil, true},
		{"trailing comma", `{"a":1,}`, nil, true},
		{"missing colon", `{"a" 1}`, nil, true},
		{"missing value", `{"a":}`, nil, true},
		{"unterminated", `{"a":1`, nil, true},
		{"bad separator", `{"a":1;"b":2}`, nil, true},
		{"unquoted key", `{a:1}`, nil, true},
		{"bad key escape", `{"\x":1}`, nil, true},
		{"unterminated key", `{"a`, nil, true},
		{"leading zero", `{"a":01}`, nil, true},
		{"bare minus", `{"a":-}`, nil, true},
		{"bad fraction", `{"a":1.}`, nil, true},
		{"bad exponent", `{"a":1e}`, nil, true},
		{"bad literal", `{"a":tru}`, nil, true},
		{"bad word", `{"a":nul}`, nil, true},
		{"unknown token", `{"a":@}`, nil, true},
		{"unterminated array", `{"a":[1`, nil, true},
		{"bad array separator", `{"a":[1;2]}`, nil, true},
		{"bad array value", `{"a":[,]}`, nil, true},
		{"unterminated string", `{"a":"x}`, nil, true},
		{"escape at end", `{"a":"x\`, nil, true},
		{"bad escape", `{"a":"\q"}`, nil, true},
		{"bad unicode escape", `{"a":"\u12g4"}`, nil, true},
		{"short unicode escape", `{"a":"\u12`, nil, true},
		{"control character", "{\"a\":\"\x01\"}", nil, true},
		{"invalid escaped key", `{"\ud800\u":1}`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []member
			err := eachMember(tc.in, func(key, raw string) error {
				got = append(got, member{key, raw})
				return nil
			})
			if tc.wantErr {
				require.ErrorIs(t, err, errJSON)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestScalarValues(t *testing.T) {
	s, err := stringValue(`"a\u00e9"`)
	require.NoError(t, err)
	require.Equal(t, "aé", s)
	s, err = stringValue(`null`)
	require.NoError(t, err)
	require.Empty(t, s)
	_, err = stringValue(`1`)
	require.ErrorIs(t, err, errJSON)
	_, err = stringValue(`"\ud800\u"`)
	require.ErrorIs(t, err, errJSON)
	_, err = unquote(`x`)
	require.ErrorIs(t, err, errJSON)

	intCases := []struct {
		in   string
		want int64
		err  bool
	}{
		{"12", 12, false}, {"-3", -3, false}, {"2.0", 2, false}, {"1e3", 1000, false}, {"null", 0, false},
		{"1.5", 0, true}, {`"1"`, 0, true}, {"1e300", 0, true}, {"true", 0, true},
	}
	for _, tc := range intCases {
		n, err := intValue(tc.in)
		if tc.err {
			require.ErrorIs(t, err, errJSON, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, n, tc.in)
	}
	f, err := floatValue("null")
	require.NoError(t, err)
	require.Zero(t, f)
	_, err = floatValue("1e999")
	require.ErrorIs(t, err, errJSON)

	for in, want := range map[string]bool{"true": true, "false": false, "null": false} {
		b, err := boolValue(in)
		require.NoError(t, err)
		require.Equal(t, want, b)
	}
	_, err = boolValue("1")
	require.ErrorIs(t, err, errJSON)
}

func TestDecodeHistory(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    market.ResaleHistory
		wantErr bool
	}{
		{"levels", `{"stable":true,"sold_per_week":9,"probability":{"100":100,"150":50,"170":49,"200":20,"250":3}}`,
			market.ResaleHistory{Stable: true, SoldPerWeek: 9, PriceAtLow: 150, PriceAtHigh: 200}, false},
		{"float percents and spaces", `{"stable":false,"probability":{ "100" : 100.0 , "120" : 20.0 }}`,
			market.ResaleHistory{PriceAtLow: 100, PriceAtHigh: 120}, false},
		{"empty and null", `{"probability":{}}`, market.ResaleHistory{}, false},
		{"null probability", `{"probability":null,"sold_per_week":null}`, market.ResaleHistory{}, false},
		{"nothing reaches a level", `{"probability":{"100":10}}`, market.ResaleHistory{}, false},
		{"bad price", `{"probability":{"1.5":10}}`, market.ResaleHistory{}, true},
		{"escaped price", `{"probability":{"1\"":10}}`, market.ResaleHistory{}, true},
		{"fractional percent", `{"probability":{"100":10.5}}`, market.ResaleHistory{}, true},
		{"string percent", `{"probability":{"100":"10"}}`, market.ResaleHistory{}, true},
		{"probability array", `{"probability":[1]}`, market.ResaleHistory{}, true},
		{"bad stable", `{"stable":"yes"}`, market.ResaleHistory{}, true},
		{"unterminated price", `{"probability":{"1`, market.ResaleHistory{}, true},
		{"unquoted price", `{"probability":{1:2}}`, market.ResaleHistory{}, true},
		{"missing colon", `{"probability":{"1" 2}}`, market.ResaleHistory{}, true},
		{"missing percent", `{"probability":{"1":`, market.ResaleHistory{}, true},
		{"bad percent", `{"probability":{"1":-}}`, market.ResaleHistory{}, true},
		{"bad separator", `{"probability":{"1":2;"3":4}}`, market.ResaleHistory{}, true},
		{"unterminated probability", `{"probability":{"1":2`, market.ResaleHistory{}, true},
		{"points are skipped", `{"stable":true,"points":[[1,2,3],[4,5,6]],"x":{"a":"]}"},"sold_per_week":6}`,
			market.ResaleHistory{Stable: true, SoldPerWeek: 6}, false},
		{"unbalanced points", `{"points":[[1,2,3]}`, market.ResaleHistory{}, true},
		{"unterminated points", `{"points":[[1,2`, market.ResaleHistory{}, true},
		{"bad string in points", `{"points":["\q"]}`, market.ResaleHistory{}, true},
		{"bad scalar elsewhere", `{"x":tru}`, market.ResaleHistory{}, true},
		{"trailing data", `{"stable":true} x`, market.ResaleHistory{}, true},
		{"not an object", `[]`, market.ResaleHistory{}, true},
		{"bad sold", `{"sold_per_week":"x"}`, market.ResaleHistory{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := decodeHistory(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, errJSON)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, *h.resale)
		})
	}
	v, ok := parseDigits("1234567890123456789")
	require.False(t, ok)
	require.Zero(t, v)
}

func TestDecodeOrderAndLevel(t *testing.T) {
	o, err := decodeOrder(`{"price":120,"count":2,"updated_at":1700000000.5}`)
	require.NoError(t, err)
	require.Equal(t, market.Cents(120), o.Price)
	require.Equal(t, 2, o.Count)
	require.Equal(t, int64(1700000000500), o.UpdatedAt.UnixMilli())
	_, err = decodeOrder(`{"price":"x"}`)
	require.Error(t, err)

	lv, err := decodeLevel(`{"n":2,"exp":10,"days":1.5,"t":99}`)
	require.NoError(t, err)
	require.Equal(t, storedLevel{n: 2, t: 99, exp: 10, days: 1.5}, lv)
	_, err = decodeLevel(`{"n":2,"exp":null}`)
	require.ErrorContains(t, err, "no exp")
}
