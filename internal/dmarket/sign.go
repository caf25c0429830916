package dmarket

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of DMarket request signing.
const (
	HeaderAPIKey      = "X-Api-Key" //nolint:gosec // a header name, not a credential
	HeaderSignDate    = "X-Sign-Date"
	HeaderRequestSign = "X-Request-Sign"
	// SignaturePrefix precedes the hex signature in HeaderRequestSign.
	SignaturePrefix = "dmar ed25519 "
)

// Signer signs DMarket requests with an account's Ed25519 key. It is safe for concurrent use. Its
// String and GoString never reveal the secret key.
type Signer struct {
	publicHex string
	private   ed25519.PrivateKey
}

// NewSigner builds a Signer from the hex public key (32 bytes) and the hex secret key, either the 32-byte
// seed or the 64-byte seed followed by the public key. It checks that the keys belong together. Errors
// never include key material.
func NewSigner(publicHex, secretHex string) (*Signer, error) {
	publicHex = strings.ToLower(strings.TrimSpace(publicHex))
	secretHex = strings.TrimSpace(secretHex)
	pub, err := hex.DecodeString(publicHex)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key must be %d hex characters", ErrInvalidKey, 2*ed25519.PublicKeySize)
	}
	sec, err := hex.DecodeString(secretHex)
	if err != nil {
		return nil, fmt.Errorf("%w: secret key is not hex", ErrInvalidKey)
	}
	var priv ed25519.PrivateKey
	switch len(sec) {
	case ed25519.SeedSize:
		priv = ed25519.NewKeyFromSeed(sec)
	case ed25519.PrivateKeySize:
		priv = ed25519.NewKeyFromSeed(sec[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], sec[ed25519.SeedSize:]) != 1 {
			return nil, fmt.Errorf("%w: secret key's public half does not match its seed", ErrInvalidKey)
		}
	default:
		return nil, fmt.Errorf("%w: secret key must be %d or %d hex characters", ErrInvalidKey,
			2*ed25519.SeedSize, 2*ed25519.PrivateKeySize)
	}
	if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], pub) != 1 {
		return nil, fmt.Errorf("%w: public key does not belong to the secret key", ErrInvalidKey)
	}
	return &Signer{publicHex: publicHex, private: priv}, nil
}

// PublicKey returns the hex public key sent as X-Api-Key.
func (s *Signer) PublicKey() string { return s.publicHex }

// String identifies the signer by its public key only.
func (s *Signer) String() string { return "dmarket.Signer{" + s.publicHex + "}" }

// GoString is like String so that %#v does not print the key.
func (s *Signer) GoString() string { return s.String() }

// StringToSign returns what DMarket verifies: METHOD + decoded path + ("?" + query as sent) + body +
// unix seconds.
func StringToSign(method, path, rawQuery string, body []byte, t time.Time) []byte {
	var b strings.Builder
	b.Grow(len(method) + len(path) + len(rawQuery) + len(body) + 12)
	b.WriteString(method)
	b.WriteString(path)
	if rawQuery != "" {
		b.WriteByte('?')
		b.WriteString(rawQuery)
	}
	b.Write(body)
	b.WriteString(strconv.FormatInt(t.Unix(), 10))
	return []byte(b.String())
}

// Sign sets the signing headers on req for the given body and time. The path signed is req.URL.Path
// (decoded) and the query is req.URL.RawQuery exactly as it is sent.
func (s *Signer) Sign(req *http.Request, body []byte, t time.Time) {
	msg := StringToSign(req.Method, req.URL.Path, req.URL.RawQuery, body, t)
	sig := ed25519.Sign(s.private, msg)
	req.Header.Set(HeaderAPIKey, s.publicHex)
	req.Header.Set(HeaderSignDate, strconv.FormatInt(t.Unix(), 10))
	req.Header.Set(HeaderRequestSign, SignaturePrefix+hex.EncodeToString(sig))
}
