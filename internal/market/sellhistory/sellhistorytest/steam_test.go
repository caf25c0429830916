package sellhistorytest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
)

func TestParseSteamHistory(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		want    []sellhistory.Point
		wantErr string
	}{
		{
			name: "string and number amounts, offsets",
			body: `[["Apr 22 2022 18: +0",1.3,"3337"],["Apr 22 2022 20: +2",1.25,4]]`,
			want: []sellhistory.Point{
				{Hour: time.Date(2022, 4, 22, 18, 0, 0, 0, time.UTC), Mean: 1.3, Count: 3337},
				{Hour: time.Date(2022, 4, 22, 18, 0, 0, 0, time.UTC), Mean: 1.25, Count: 4},
			},
		},
		{name: "not json", body: `{`, wantErr: "decode"},
		{name: "short row", body: `[["Apr 22 2022 18: +0",1.3]]`, wantErr: "2 elements"},
		{name: "date not string", body: `[[1,1.3,"1"]]`, wantErr: "date"},
		{name: "no hour separator", body: `[["Apr 22 2022",1.3,"1"]]`, wantErr: "missing hour separator"},
		{name: "bad date", body: `[["Foo 22 2022 18: +0",1.3,"1"]]`, wantErr: "Foo"},
		{name: "bad offset", body: `[["Apr 22 2022 18: x",1.3,"1"]]`, wantErr: "offset"},
		{name: "bad price", body: `[["Apr 22 2022 18: +0","x","1"]]`, wantErr: "price"},
		{name: "bad amount", body: `[["Apr 22 2022 18: +0",1.3,"x"]]`, wantErr: "amount"},
		{name: "negative amount", body: `[["Apr 22 2022 18: +0",1.3,-1]]`, wantErr: "amount"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSteamHistory(strings.NewReader(tc.body))
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrBadSteamHistory)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
