package validate

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// fixtureItem returns the first item of the listings fixture as a generic map, for editing.
func fixtureItem(t testing.TB) map[string]any {
	t.Helper()
	var page struct {
		Objects []map[string]any `json:"objects"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "market-items-page.json"), &page))
	return page.Objects[0]
}

func pageOf(t testing.TB, items ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"objects": items, "cursor": "abc", "total": map[string]int{"items": len(items)}})
	require.NoError(t, err)
	return b
}

func TestDecodeListingsFixtures(t *testing.T) {
	page, err := DecodeListings(readFixture(t, "market-items-page.json"), "a8db")
	require.NoError(t, err)
	require.Empty(t, page.Invalid)
	require.Equal(t, "WzUsMTc0OTU1MTE5ODAwMCwiMGFkODhlNmYtMmVlZi00NmIyLTgwMDAtMTVhNDEwNGZhM2VmIl0=", page.Cursor)
	require.Len(t, page.Items, 5)
	want := []struct {
		title     string
		price     int64
		suggested int64
		locked    bool
		days      int
	}{
		{"AK-47 | Redline (Field-Tested)", 1289, 1342, false, 0},
		{"StatTrak™ MP9 | Hydra (Minimal Wear)", 2874, 2911, false, 0},
		{"AWP | Asiimov (Field-Tested)", 10250, 10990, true, 5},
		{"Sticker | Battle Scarred", 3, 4, false, 0},
		{"★ Sport Gloves | Vice (Battle-Scarred)", 62917, 70430, false, 0},
	}
	for i, w := range want {
		got := page.Items[i]
		require.Equal(t, w.title, got.Title)
		require.Equal(t, w.price, got.PriceCents)
		require.Equal(t, w.suggested, got.SuggestedCents)
		require.Equal(t, w.locked, got.Locked, w.title)
		require.Equal(t, w.days, got.LockDays)
		require.Equal(t, "a8db", got.GameID)
		require.NotEmpty(t, got.ItemID)
		require.True(t, strings.HasPrefix(got.Image, "https://"))
	}
	require.Equal(t, "34fffe00-54de-453c-a914-285c6d25972e", page.Items[0].ItemID)

	last, err := DecodeListings(readFixture(t, "market-items-last-page.json"), "a8db")
	require.NoError(t, err)
	require.Equal(t, "", last.Cursor)
	require.Len(t, last.Items, 2)
	require.False(t, last.Items[0].Locked)
	require.True(t, last.Items[1].Locked, "sub-day lock without tradeLock key is locked")
	require.Equal(t, 0, last.Items[1].LockDays)
	require.Equal(t, int64(11499), last.Items[1].PriceCents)
}

func TestDecodeListingsItemRules(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		raw    func(b []byte) []byte
		game   string
		reason Reason
		check  func(t *testing.T, l Listing)
	}{
		{name: "valid", check: func(t *testing.T, l Listing) { require.Equal(t, int64(1289), l.PriceCents) }},
		{name: "missing title", edit: func(m map[string]any) { delete(m, "title") }, reason: ReasonMissingField},
		{name: "null title", edit: func(m map[string]any) { m["title"] = nil }, reason: ReasonMissingField},
		{name: "title not string", edit: func(m map[string]any) { m["title"] = 5 }, reason: ReasonWrongType},
		{name: "empty title", edit: func(m map[string]any) { m["title"] = "" }, reason: ReasonEmptyTitle},
		{name: "blank title", edit: func(m map[string]any) { m["title"] = " \t\u0001 " }, reason: ReasonEmptyTitle},
		{name: "title 256 runes ok", edit: func(m map[string]any) { m["title"] = strings.Repeat("★", 256) },
			check: func(t *testing.T, l Listing) { require.Equal(t, strings.Repeat("★", 256), l.Title) }},
		{name: "title 257 runes", edit: func(m map[string]any) { m["title"] = strings.Repeat("★", 257) }, reason: ReasonTitleTooLong},
		{name: "title 257 ascii", edit: func(m map[string]any) { m["title"] = strings.Repeat("a", 257) }, reason: ReasonTitleTooLong},
		{name: "control characters removed", edit: func(m map[string]any) { m["title"] = "AK\u0000-47\n | \u0085Redline\u007f" },
			check: func(t *testing.T, l Listing) { require.Equal(t, "AK-47 | Redline", l.Title) }},
		{name: "escapes decoded", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"AK-47 | Redline (Field-Tested)"`), []byte(`"AK\u002d47 \"Red\" \u2605 \ud83d\ude00"`), 1)
		}, check: func(t *testing.T, l Listing) { require.Equal(t, "AK-47 \"Red\" ★ 😀", l.Title) }},
		{name: "invalid utf8", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"AK-47 | Redline (Field-Tested)"`), []byte("\"AK\xff47\""), 1)
		}, reason: ReasonInvalidUTF8},
		{name: "lone surrogate", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"AK-47 | Redline (Field-Tested)"`), []byte(`"AK\ud83d47"`), 1)
		}, reason: ReasonInvalidUTF8},
		{name: "missing price", edit: func(m map[string]any) { delete(m, "price") }, reason: ReasonMissingField},
		{name: "empty price", edit: func(m map[string]any) { m["price"] = map[string]any{"DMC": "", "USD": ""} }, reason: ReasonMissingField},
		{name: "price not object", edit: func(m map[string]any) { m["price"] = "1289" }, reason: ReasonWrongType},
		{name: "price usd not string", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": true} }, reason: ReasonWrongType},
		{name: "price as number accepted", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": 77} },
			check: func(t *testing.T, l Listing) { require.Equal(t, int64(77), l.PriceCents) }},
		{name: "price decimal", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "12.89"} }, reason: ReasonBadPrice},
		{name: "price text", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "abc"} }, reason: ReasonBadPrice},
		{name: "price negative", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "-5"} }, reason: ReasonPriceOutOfRange},
		{name: "price zero", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "0"} },
			check: func(t *testing.T, l Listing) { require.Equal(t, int64(0), l.PriceCents) }},
		{name: "price at ceiling", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "10000000"} },
			check: func(t *testing.T, l Listing) { require.Equal(t, MaxPriceCents, l.PriceCents) }},
		{name: "price above ceiling", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "10000001"} }, reason: ReasonPriceOutOfRange},
		{name: "price overflow", edit: func(m map[string]any) { m["price"] = map[string]any{"USD": "99999999999999999999999"} }, reason: ReasonPriceOutOfRange},
		{name: "bad suggested price ignored", edit: func(m map[string]any) { m["suggestedPrice"] = "x" },
			check: func(t *testing.T, l Listing) { require.Zero(t, l.SuggestedCents) }},
		{name: "missing game", edit: func(m map[string]any) { delete(m, "gameId") }, reason: ReasonMissingField},
		{name: "unknown game", edit: func(m map[string]any) { m["gameId"] = "csgo" }, reason: ReasonUnknownGame},
		{name: "game mismatch", edit: func(m map[string]any) { m["gameId"] = "9a92" }, reason: ReasonGameMismatch},
		{name: "other game page", game: "9a92", edit: func(m map[string]any) { m["gameId"] = "9a92" },
			check: func(t *testing.T, l Listing) { require.Equal(t, "9a92", l.GameID) }},
		{name: "missing item id", edit: func(m map[string]any) { delete(m, "itemId") }, reason: ReasonMissingField},
		{name: "item id not string", edit: func(m map[string]any) { m["itemId"] = 1 }, reason: ReasonWrongType},
		{name: "tradable false is locked", edit: func(m map[string]any) {
			m["extra"].(map[string]any)["tradable"] = false
		}, check: func(t *testing.T, l Listing) { require.True(t, l.Locked); require.Zero(t, l.LockDays) }},
		{name: "lock duration is locked", edit: func(m map[string]any) {
			x := m["extra"].(map[string]any)
			x["tradeLockDuration"] = 3600
		}, check: func(t *testing.T, l Listing) { require.True(t, l.Locked) }},
		{name: "lock days", edit: func(m map[string]any) {
			x := m["extra"].(map[string]any)
			x["tradable"], x["tradeLock"], x["tradeLockDuration"] = false, 3, 270000
		}, check: func(t *testing.T, l Listing) { require.True(t, l.Locked); require.Equal(t, 3, l.LockDays) }},
		{name: "absent tradable is tradable", edit: func(m map[string]any) { delete(m["extra"].(map[string]any), "tradable") },
			check: func(t *testing.T, l Listing) { require.False(t, l.Locked) }},
		{name: "no extra", edit: func(m map[string]any) { delete(m, "extra") },
			check: func(t *testing.T, l Listing) { require.False(t, l.Locked) }},
		{name: "extra not object", edit: func(m map[string]any) { m["extra"] = "x" }, reason: ReasonWrongType},
		{name: "tradable not bool", edit: func(m map[string]any) { m["extra"].(map[string]any)["tradable"] = "no" }, reason: ReasonWrongType},
		{name: "negative lock", edit: func(m map[string]any) { m["extra"].(map[string]any)["tradeLock"] = -1 }, reason: ReasonBadLock},
		{name: "fractional lock", edit: func(m map[string]any) { m["extra"].(map[string]any)["tradeLockDuration"] = 1.5 }, reason: ReasonBadLock},
		{name: "huge lock", edit: func(m map[string]any) { m["extra"].(map[string]any)["tradeLock"] = 9999 }, reason: ReasonBadLock},
		{name: "image optional", edit: func(m map[string]any) { delete(m, "image") },
			check: func(t *testing.T, l Listing) { require.Empty(t, l.Image) }},
		{name: "image not http dropped", edit: func(m map[string]any) { m["image"] = "javascript:alert(1)" },
			check: func(t *testing.T, l Listing) { require.Empty(t, l.Image) }},
		{name: "image too long dropped", edit: func(m map[string]any) { m["image"] = "https://x/" + strings.Repeat("a", 3000) },
			check: func(t *testing.T, l Listing) { require.Empty(t, l.Image) }},
		{name: "image wrong type dropped", edit: func(m map[string]any) { m["image"] = 1 },
			check: func(t *testing.T, l Listing) { require.Empty(t, l.Image) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			item := fixtureItem(t)
			if tc.edit != nil {
				tc.edit(item)
			}
			if tc.raw != nil {
				item["itemId"] = "middle-item"
			}
			good := fixtureItem(t)
			body := pageOf(t, good, item, good)
			if tc.raw != nil {
				// Apply the raw edit to the middle item only: replace within its own encoding.
				one, err := json.Marshal(item)
				require.NoError(t, err)
				edited := tc.raw(one)
				body = bytes.Replace(body, one, edited, 1)
				require.NotEqual(t, string(one), string(edited), "raw edit applied")
			}
			game := tc.game
			if game == "" {
				game = "a8db"
			}
			page, err := DecodeListings(body, game)
			require.NoError(t, err)
			if tc.reason != "" {
				require.Len(t, page.Items, 2, "the rest of the page is kept")
				require.Equal(t, Invalid{tc.reason: 1}, page.Invalid)
				return
			}
			if game != "a8db" {
				require.Len(t, page.Items, 1)
				require.Equal(t, Invalid{ReasonGameMismatch: 2}, page.Invalid)
				tc.check(t, page.Items[0])
				return
			}
			require.Empty(t, page.Invalid)
			require.Len(t, page.Items, 3)
			tc.check(t, page.Items[1])
		})
	}
}

func TestDecodeListingsWholePayload(t *testing.T) {
	tests := []struct {
		name string
		body string
		game string
	}{
		{name: "not json", body: "<html>"},
		{name: "empty", body: ""},
		{name: "array", body: "[]"},
		{name: "no objects", body: `{"cursor":""}`},
		{name: "objects null", body: `{"objects":null}`},
		{name: "objects object", body: `{"objects":{}}`},
		{name: "truncated", body: `{"objects":[{"title":"a"`},
		{name: "unterminated string", body: `{"objects":[{"title":"a}]}`},
		{name: "trailing comma object", body: `{"objects":[{"title":"a",}]}`},
		{name: "trailing comma array", body: `{"objects":[{},]}`},
		{name: "missing colon", body: `{"objects" []}`},
		{name: "missing comma", body: `{"objects":[] "cursor":""}`},
		{name: "trailing data", body: `{"objects":[]} x`},
		{name: "bad literal", body: `{"objects":[{"extra":{"tradable":tru}}]}`},
		{name: "bad number", body: `{"objects":[],"total":-}`},
		{name: "raw control char", body: "{\"objects\":[],\"cursor\":\"a\x01\"}"},
		{name: "too deep", body: `{"objects":[],"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`},
		{name: "unknown game", body: `{"objects":[]}`, game: "csgo"},
		{name: "bad escape", body: `{"objects":[{"title":"AK\x47"}]}`},
		{name: "short unicode escape", body: `{"objects":[{"title":"AK\u47"}]}`},
		{name: "leading zero", body: `{"objects":[],"total":01}`},
		{name: "bad fraction", body: `{"objects":[],"total":1.}`},
		{name: "bad exponent", body: `{"objects":[],"total":1e}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			game := tc.game
			if game == "" {
				game = "a8db"
			}
			_, err := DecodeListings([]byte(tc.body), game)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidPayload)
			require.True(t, message.IsPermanent(err))
		})
	}
}

func TestDecodeListingsOddButValid(t *testing.T) {
	body := ` { "total" : {"items": 1e3, "x": [true, false, null, -1.5E+2, "s\"\\"]}, "objects" : [ 5, {"title": "x"} ] , "cursor": null } `
	page, err := DecodeListings([]byte(body), "tf2")
	require.NoError(t, err)
	require.Empty(t, page.Items)
	require.Equal(t, Invalid{ReasonWrongType: 1, ReasonMissingField: 1}, page.Invalid)
	require.Equal(t, 2, page.Invalid.Total())
}

func TestSanitizeTitle(t *testing.T) {
	tests := []struct {
		name, in, want string
		reason         Reason
	}{
		{name: "plain", in: "AK-47", want: "AK-47"},
		{name: "trim", in: "  AK-47 ", want: "AK-47"},
		{name: "control", in: "A\x00B\tC", want: "ABC"},
		{name: "invalid", in: "A\xffB", reason: ReasonInvalidUTF8},
		{name: "empty", in: "", reason: ReasonEmptyTitle},
		{name: "long", in: strings.Repeat("é", 257), reason: ReasonTitleTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := SanitizeTitle(tc.in)
			require.Equal(t, tc.reason, reason)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCheckGame(t *testing.T) {
	for _, g := range []string{"a8db", "9a92", "tf2", "rust"} {
		require.NoError(t, CheckGame(g))
	}
	err := CheckGame("csgo")
	require.ErrorIs(t, err, ErrUnknownGame)
	require.True(t, message.IsPermanent(err))
}

// benchPage builds a 100-item listings page from the fixture's item shapes.
func benchPage(b testing.TB) []byte {
	var page struct {
		Objects []json.RawMessage `json:"objects"`
	}
	require.NoError(b, json.Unmarshal(readFixture(b, "market-items-page.json"), &page))
	items := make([]json.RawMessage, 0, 100)
	for i := 0; i < 100; i++ {
		items = append(items, page.Objects[i%len(page.Objects)])
	}
	out, err := json.Marshal(map[string]any{"objects": items, "cursor": "abc", "total": map[string]int{"items": 10000}})
	require.NoError(b, err)
	return out
}

func BenchmarkDecodeListings(b *testing.B) {
	body := benchPage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		page, err := DecodeListings(body, "a8db")
		if err != nil || len(page.Items) != 100 {
			b.Fatalf("decode: %v %d", err, len(page.Items))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(testing.AllocsPerRun(10, func() { _, _ = DecodeListings(body, "a8db") })/100, "allocs/item")
}

func FuzzDecodeListings(f *testing.F) {
	f.Add(readFixture(f, "market-items-page.json"), "a8db")
	f.Add(readFixture(f, "market-items-last-page.json"), "a8db")
	f.Add(readFixture(f, "market-items-attrs.json"), "a8db")
	f.Add([]byte(`{"objects":[{"title":"a\u0000b","gameId":"tf2","itemId":"x","price":{"USD":"5"},"extra":{"tradable":false}}]}`), "tf2")
	f.Add([]byte(listingWithExtra(`"floatValue":"0.5","paintSeed":12,"phaseTitle":"ruby","stickers":[{"name":"a\u0007"},{"name":1}]`)), "a8db")
	f.Fuzz(func(t *testing.T, body []byte, game string) {
		page, err := DecodeListings(body, game)
		if err != nil {
			require.True(t, message.IsPermanent(err))
			return
		}
		require.True(t, json.Valid(body), "accepted invalid JSON")
		for _, l := range page.Items {
			require.NotEmpty(t, l.Title)
			require.True(t, utf8.ValidString(l.Title))
			require.LessOrEqual(t, utf8.RuneCountInString(l.Title), MaxTitleRunes)
			require.GreaterOrEqual(t, l.PriceCents, int64(0))
			require.LessOrEqual(t, l.PriceCents, MaxPriceCents)
			require.Equal(t, game, l.GameID)
			requireValidAttrs(t, l.Attrs)
		}
	})
}
