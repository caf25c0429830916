package market

// The DMarket game ids the system knows (SPEC §2), as DMarket writes them in requests and answers.
const (
	// GameCS2 is Counter-Strike 2.
	GameCS2 = "a8db"
	// GameDota2 is Dota 2.
	GameDota2 = "9a92"
	// GameTF2 is Team Fortress 2.
	GameTF2 = "tf2"
	// GameRust is Rust.
	GameRust = "rust"
)

// Game describes one DMarket game.
type Game struct {
	// ID is DMarket's game id (GameCS2, ...).
	ID string
	// Name is what users read ("CS2", "Dota 2").
	Name string
	// Slug is the game's path segment in dmarket.com item-list links ("csgo-skins").
	Slug string
}

// catalogue holds every known game, in the order of GameIDs.
var catalogue = [...]Game{
	{ID: GameCS2, Name: "CS2", Slug: "csgo-skins"},
	{ID: GameDota2, Name: "Dota 2", Slug: "dota2-skins"},
	{ID: GameTF2, Name: "TF2", Slug: "team-fortress-2-skins"},
	{ID: GameRust, Name: "Rust", Slug: "rust-skins"},
}

// GameIDs returns the ids of every known game, in a stable order (CS2, Dota 2, TF2, Rust). The slice is
// the caller's.
func GameIDs() []string {
	out := make([]string, len(catalogue))
	for i, g := range catalogue {
		out[i] = g.ID
	}
	return out
}

// LookupGame returns the known game with id; ok is false for an unknown id (ids are case-sensitive).
func LookupGame(id string) (g Game, ok bool) {
	for _, g := range catalogue {
		if g.ID == id {
			return g, true
		}
	}
	return Game{}, false
}

// KnownGameID returns the canonical id constant equal to id (so a caller holding the bytes of a JSON
// token keeps no reference to them), or "" when id is not a known game. It does not allocate.
func KnownGameID[T Text](id T) string {
	for _, g := range catalogue {
		if len(g.ID) == len(id) && string(id) == g.ID {
			return g.ID
		}
	}
	return ""
}
