package validate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// Message is a decoded envelope together with, for a listings message, its page decoded in the same pass.
type Message struct {
	// Envelope is the decoded envelope; its Payload is the plain JSON payload.
	message.Envelope

	listings    ListingsPage
	listingsErr error
	decoded     bool
}

// Listings returns the listings page of a listings message: the one decoded in the same pass as the
// envelope when DecodeMessage could, else DecodeListings of the payload. Its result and errors are those
// of DecodeListings(m.Payload, m.GameID).
func (m *Message) Listings() (ListingsPage, error) {
	if m.decoded {
		return m.listings, m.listingsErr
	}
	return DecodeListings(m.Payload, m.GameID)
}

// DecodeEnvelope is DecodeMessage without the listings page.
func DecodeEnvelope(body []byte) (message.Envelope, error) {
	m, err := DecodeMessage(body)
	return m.Envelope, err
}

// DecodeMessage is message.Decode with a fast path: a well-formed envelope (of either schema version)
// in the canonical form that message.Encode writes is read in one pass of the scanner, then checked with
// Envelope.Validate. On that path a listings payload is decoded and validated (DecodeListings) while the
// envelope is read, so the payload is scanned once; a compressed payload is decompressed, then scanned
// once. Anything else — an unknown or differently cased key, an escaped kind or game id, a syntax error —
// is handed to message.Decode, so the envelope and its errors are always those of message.Decode. On the
// fast path a version-1 envelope's Payload aliases body, which must not change while the message is in
// use.
func DecodeMessage(body []byte) (Message, error) {
	m, ok := fastMessage(body)
	if !ok {
		env, err := message.Decode(body)
		return Message{Envelope: env}, err
	}
	if err := m.Validate(); err != nil {
		return Message{}, message.Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	return m, nil
}

// fastEnvelope is the envelope of fastMessage.
func fastEnvelope(body []byte) (message.Envelope, bool) {
	m, ok := fastMessage(body)
	return m.Envelope, ok
}

func fastMessage(body []byte) (Message, bool) {
	var m Message
	env := &m.Envelope
	s := scanner{b: body}
	if s.beginObject() != nil {
		return m, false
	}
	var (
		encoding   []byte
		hasEnc     bool
		packed     []byte // base64 text of a compressed payload
		hasPayload bool
	)
	first := true
	for {
		key, more, err := s.nextKey(&first)
		if err != nil {
			return m, false
		}
		if !more {
			break
		}
		switch string(key) {
		case "schema":
			if s.kind() != kindNumber {
				return m, false
			}
			t, err := s.number()
			if err != nil {
				return m, false
			}
			v, ok := parseInt(t)
			if !ok || v < -1<<31 || v > 1<<31-1 {
				return m, false
			}
			env.Schema = int(v)
		case "kind", "game_id":
			raw, esc, err := s.str()
			if err != nil || esc || !plainASCII(raw) {
				return m, false
			}
			if key[0] == 'k' {
				env.Kind = message.Kind(raw)
			} else {
				env.GameID = string(raw)
			}
		case "fetched_at":
			s.skipWS()
			start := s.i
			if s.kind() != kindString {
				return m, false
			}
			if _, _, err := s.str(); err != nil {
				return m, false
			}
			if env.FetchedAt.UnmarshalJSON(body[start:s.i]) != nil {
				return m, false
			}
		case "request":
			s.skipWS()
			start := s.i
			if s.kind() != kindObject || s.skip() != nil {
				return m, false
			}
			env.Request = message.Request{}
			if json.Unmarshal(body[start:s.i], &env.Request) != nil {
				return m, false
			}
		case "crawl":
			s.skipWS()
			start := s.i
			if s.kind() != kindObject || s.skip() != nil {
				return m, false
			}
			var c message.Crawl
			if json.Unmarshal(body[start:s.i], &c) != nil {
				return m, false
			}
			env.Crawl = &c
		case "encoding":
			raw, esc, err := s.str()
			if err != nil || esc || hasEnc {
				return m, false
			}
			encoding, hasEnc = raw, true
		case "payload":
			if hasPayload {
				return m, false
			}
			hasPayload = true
			s.skipWS()
			start := s.i
			if s.kind() == kindString {
				// A compressed payload: base64 text, which holds no quote or escape.
				end := bytes.IndexByte(body[start+1:], '"')
				if end < 0 {
					return m, false
				}
				packed = body[start+1 : start+1+end]
				s.i = start + end + 2
				continue
			}
			if env.Kind == message.KindListings && KnownGame([]byte(env.GameID)) != "" && !hasEnc {
				m.decoded = true
				s.base = start
				page, sawObjects, err := s.listingsPage(env.GameID)
				s.base = 0
				if err == nil {
					m.listings = page
					if !sawObjects {
						m.listings, m.listingsErr = ListingsPage{}, errNoObjects()
					}
					env.Payload = json.RawMessage(body[start:s.i])
					continue
				}
				m.listingsErr = err
				s.i = start
			}
			if s.skip() != nil {
				return m, false
			}
			env.Payload = json.RawMessage(body[start:s.i])
		default:
			return m, false
		}
	}
	if s.end() != nil {
		return m, false
	}
	switch {
	case !hasEnc && packed == nil:
		return m, true
	case !hasEnc || packed == nil || string(encoding) != message.EncodingZstd || env.Schema != message.SchemaVersion:
		return m, false
	}
	raw, err := message.DecodeBase64Payload(packed)
	if err != nil {
		return m, false
	}
	env.Payload = raw
	if env.Kind == message.KindListings && KnownGame([]byte(env.GameID)) != "" {
		m.decoded = true
		m.listings, m.listingsErr = DecodeListings(raw, env.GameID)
		if m.listingsErr == nil {
			return m, true // the page's scan read the whole payload: it is JSON
		}
		m.listings = ListingsPage{}
	}
	ps := scanner{b: raw}
	if ps.skip() != nil || ps.end() != nil {
		return m, false
	}
	return m, true
}
