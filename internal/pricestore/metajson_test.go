package pricestore

// metaJSON is the meta field of a prices hash, for tests that inspect it.
type metaJSON struct {
	Title          string `json:"title"`
	GameID         string `json:"game_id"`
	Image          string `json:"image"`
	SuggestedPrice int64  `json:"suggested_price"`
	UpdatedAt      int64  `json:"updated_at"`
}
