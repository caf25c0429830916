package dmarket

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewSigner(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(200 - i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pubHex := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	mixed := append(append([]byte{}, seed...), other.Public().(ed25519.PublicKey)...)

	tests := []struct {
		name      string
		pub, sec  string
		wantErr   string
		secretHex string
	}{
		{name: "seed and public key (128 hex)", pub: pubHex, sec: hex.EncodeToString(priv)},
		{name: "seed only (64 hex)", pub: pubHex, sec: hex.EncodeToString(seed)},
		{name: "upper case and spaces", pub: " " + strings.ToUpper(pubHex) + "\n", sec: strings.ToUpper(hex.EncodeToString(seed))},
		{name: "short public key", pub: pubHex[:10], sec: hex.EncodeToString(seed), wantErr: "public key must be 64"},
		{name: "non-hex secret", pub: pubHex, sec: strings.Repeat("zz", 32), wantErr: "secret key is not hex"},
		{name: "wrong secret length", pub: pubHex, sec: hex.EncodeToString(seed[:20]), wantErr: "64 or 128"},
		{name: "secret halves disagree", pub: pubHex, sec: hex.EncodeToString(mixed), wantErr: "public half does not match"},
		{name: "keys of two accounts", pub: hex.EncodeToString(other.Public().(ed25519.PublicKey)), sec: hex.EncodeToString(seed), wantErr: "does not belong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.pub, tt.sec)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidKey)
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), hex.EncodeToString(seed), "errors never carry the secret")
				return
			}
			require.NoError(t, err)
			require.Equal(t, pubHex, s.PublicKey())
			for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v", s, s, s)} {
				require.NotContains(t, out, hex.EncodeToString(seed))
			}
		})
	}
}

func TestSignerSignsWhatDMarketVerifies(t *testing.T) {
	pub, s := testKeys(t)
	at := time.Unix(1749568028, 0)
	tests := []struct {
		name, method, url, body, want string
	}{
		{"get with query", "GET", "https://api.dmarket.com/exchange/v1/market/items?gameId=a8db&limit=100", "",
			"GET/exchange/v1/market/items?gameId=a8db&limit=1001749568028"},
		{"post with body", "POST", "https://api.dmarket.com/marketplace-api/v1/aggregated-prices", `{"filter":{}}`,
			`POST/marketplace-api/v1/aggregated-prices{"filter":{}}1749568028`},
		{"encoded path is signed decoded, query as sent", "GET",
			"https://api.dmarket.com/marketplace-api/v1/targets-by-title/a8db/AK-47%20%7C%20Redline?x=a%20b", "",
			"GET/marketplace-api/v1/targets-by-title/a8db/AK-47 | Redline?x=a%20b1749568028"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			require.NoError(t, err)
			s.Sign(req, []byte(tt.body), at)
			require.Equal(t, tt.want, string(StringToSign(req.Method, req.URL.Path, req.URL.RawQuery, []byte(tt.body), at)))
			require.Equal(t, "1749568028", req.Header.Get(HeaderSignDate))
			sigHex, ok := strings.CutPrefix(req.Header.Get(HeaderRequestSign), "dmar ed25519 ")
			require.True(t, ok)
			require.Len(t, sigHex, 128)
			sig, err := hex.DecodeString(sigHex)
			require.NoError(t, err)
			require.True(t, ed25519.Verify(pub, []byte(tt.want), sig))
			require.False(t, ed25519.Verify(pub, []byte(tt.want+"x"), sig))
		})
	}
}
