package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skinflip/dmarket-monitor/internal/market"
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

// fastReader is the state of one fast-path read of an envelope (see DecodeMessage). Its methods return
// false as soon as the body leaves the canonical form, and the caller falls back to message.Decode.
type fastReader struct {
	s          scanner
	m          Message
	encoding   []byte
	hasEnc     bool
	packed     []byte // base64 text of a compressed payload
	hasPayload bool
}

// fastMessage reads body on the fast path; ok is false when message.Decode must read it instead.
func fastMessage(body []byte) (m Message, ok bool) {
	r := fastReader{s: scanner{b: body}}
	if !r.members() {
		return r.m, false
	}
	return r.finish()
}

// members reads the envelope object and checks that nothing follows it.
func (r *fastReader) members() bool {
	err := r.s.object(func(key []byte) error {
		if !r.member(key) {
			return errOffFastPath
		}
		return nil
	})
	return err == nil && r.s.end() == nil
}

// errOffFastPath stops the fast read of an envelope that is not in the canonical form.
var errOffFastPath = errors.New("not the canonical envelope")

// member reads the value of the envelope member key.
func (r *fastReader) member(key []byte) bool {
	env := &r.m.Envelope
	switch string(key) {
	case "schema":
		return r.schema()
	case "kind", "game_id":
		raw, esc, err := r.s.str()
		if err != nil || esc || !plainASCII(raw) {
			return false
		}
		if key[0] == 'k' {
			env.Kind = message.Kind(raw)
		} else {
			env.GameID = string(raw)
		}
		return true
	case "fetched_at":
		start, ok := r.value(kindString)
		return ok && env.FetchedAt.UnmarshalJSON(r.s.b[start:r.s.i]) == nil
	case "request":
		env.Request = message.Request{}
		return r.object(&env.Request)
	case "crawl":
		var c message.Crawl
		env.Crawl = &c
		return r.object(&c)
	case "scan":
		var sc message.Scan
		env.Scan = &sc
		return r.object(&sc)
	case "encoding":
		raw, esc, err := r.s.str()
		if err != nil || esc || r.hasEnc {
			return false
		}
		r.encoding, r.hasEnc = raw, true
		return true
	case "payload":
		return r.payload()
	}
	return false
}

// schema reads the schema version, a JSON number that fits an int32.
func (r *fastReader) schema() bool {
	if r.s.kind() != kindNumber {
		return false
	}
	t, err := r.s.number()
	if err != nil {
		return false
	}
	v, ok := parseInt(t)
	if !ok || v < -1<<31 || v > 1<<31-1 {
		return false
	}
	r.m.Schema = int(v)
	return true
}

// value skips the next value, which must be of kind k, and returns where it starts.
func (r *fastReader) value(k valueKind) (start int, ok bool) {
	r.s.skipWS()
	start = r.s.i
	return start, r.s.kind() == k && r.s.skip() == nil
}

// object decodes the next value, which must be an object, into v.
func (r *fastReader) object(v any) bool {
	start, ok := r.value(kindObject)
	return ok && json.Unmarshal(r.s.b[start:r.s.i], v) == nil
}

// payload reads the payload: the base64 text of a compressed payload is kept for finish; a plain listings
// payload is decoded as it is read; any other plain payload is skipped and kept as it stands.
func (r *fastReader) payload() bool {
	if r.hasPayload {
		return false
	}
	r.hasPayload = true
	s := &r.s
	s.skipWS()
	start := s.i
	if s.kind() == kindString {
		// A compressed payload: base64 text, which holds no quote or escape.
		end := bytes.IndexByte(s.b[start+1:], '"')
		if end < 0 {
			return false
		}
		r.packed = s.b[start+1 : start+1+end]
		s.i = start + end + 2
		return true
	}
	if !r.hasEnc && r.listingsKind() && r.inlineListings(start) {
		return true
	}
	if s.skip() != nil {
		return false
	}
	r.m.Payload = json.RawMessage(s.b[start:s.i])
	return true
}

// listingsKind reports whether the envelope read so far is a listings message of a known game.
func (r *fastReader) listingsKind() bool {
	return r.m.Kind == message.KindListings && market.KnownGameID(r.m.GameID) != ""
}

// inlineListings decodes the plain listings payload starting at start. It reports false, with the
// scanner back at start, when the payload is not a listings page; the error is kept for Listings.
func (r *fastReader) inlineListings(start int) bool {
	s, m := &r.s, &r.m
	m.decoded = true
	s.base = start
	page, sawObjects, err := s.listingsPage(m.GameID)
	s.base = 0
	if err != nil {
		m.listingsErr = err
		s.i = start
		return false
	}
	m.listings = page
	if !sawObjects {
		m.listings, m.listingsErr = ListingsPage{}, errNoObjects()
	}
	m.Payload = json.RawMessage(s.b[start:s.i])
	return true
}

// finish decompresses a compressed payload (decoding it when it is a listings page) once the whole
// envelope is read.
func (r *fastReader) finish() (Message, bool) {
	m := &r.m
	switch {
	case !r.hasEnc && r.packed == nil:
		return *m, true
	case !r.hasEnc || r.packed == nil || string(r.encoding) != message.EncodingZstd || m.Schema != message.SchemaVersion:
		return *m, false
	}
	raw, err := message.DecodeBase64Payload(r.packed)
	if err != nil {
		return *m, false
	}
	m.Payload = raw
	if r.listingsKind() {
		m.decoded = true
		m.listings, m.listingsErr = DecodeListings(raw, m.GameID)
		if m.listingsErr == nil {
			return *m, true // the page's scan read the whole payload: it is JSON
		}
		m.listings = ListingsPage{}
	}
	ps := scanner{b: raw}
	if ps.skip() != nil || ps.end() != nil {
		return *m, false
	}
	return *m, true
}
