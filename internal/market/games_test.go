package market

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGames(t *testing.T) {
	require.Equal(t, []string{GameCS2, GameDota2, GameTF2, GameRust}, GameIDs())
	require.Equal(t, []string{"a8db", "9a92", "tf2", "rust"}, GameIDs())

	ids := GameIDs()
	ids[0] = "changed"
	require.Equal(t, GameCS2, GameIDs()[0], "GameIDs returns a copy")
}

func TestLookupGame(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want Game
		ok   bool
	}{
		{id: "a8db", want: Game{ID: "a8db", Name: "CS2", Slug: "csgo-skins"}, ok: true},
		{id: "9a92", want: Game{ID: "9a92", Name: "Dota 2", Slug: "dota2-skins"}, ok: true},
		{id: "tf2", want: Game{ID: "tf2", Name: "TF2", Slug: "team-fortress-2-skins"}, ok: true},
		{id: "rust", want: Game{ID: "rust", Name: "Rust", Slug: "rust-skins"}, ok: true},
		{id: "TF2"},
		{id: ""},
		{id: "csgo"},
		{id: "a8db "},
	} {
		t.Run(tc.id, func(t *testing.T) {
			g, ok := LookupGame(tc.id)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, g)
			require.Equal(t, tc.want.ID, KnownGameID(tc.id))
			require.Equal(t, tc.want.ID, KnownGameID([]byte(tc.id)))
		})
	}
}

func TestBuyOrder(t *testing.T) {
	require.False(t, BuyOrder{Title: "x"}.Exists())
	require.True(t, BuyOrder{Title: "x", Price: 1, Count: 1}.Exists())
}
