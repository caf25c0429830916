package validate

import (
	"encoding/json"
	"fmt"

	"github.com/skinflip/dmarket-monitor/internal/message"
)

// DecodeEnvelope is message.Decode with a fast path: a well-formed envelope in the canonical form that
// message.Encode writes is read in one pass of the scanner (its payload is skipped, not re-validated and
// copied by encoding/json), then checked with Envelope.Validate. Anything else — an unknown or
// differently cased key, an escaped kind or game id, a syntax error — is handed to message.Decode, so the
// result and its errors are always those of message.Decode. On the fast path the envelope's Payload
// aliases body, which must not change while the envelope is in use.
func DecodeEnvelope(body []byte) (message.Envelope, error) {
	env, ok := fastEnvelope(body)
	if !ok {
		return message.Decode(body)
	}
	if err := env.Validate(); err != nil {
		return message.Envelope{}, message.Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	return env, nil
}

func fastEnvelope(body []byte) (message.Envelope, bool) {
	var env message.Envelope
	s := scanner{b: body}
	if s.beginObject() != nil {
		return env, false
	}
	first := true
	for {
		key, more, err := s.nextKey(&first)
		if err != nil {
			return env, false
		}
		if !more {
			break
		}
		switch string(key) {
		case "schema":
			if s.kind() != kindNumber {
				return env, false
			}
			t, err := s.number()
			if err != nil {
				return env, false
			}
			v, ok := parseInt(t)
			if !ok || v < -1<<31 || v > 1<<31-1 {
				return env, false
			}
			env.Schema = int(v)
		case "kind", "game_id":
			raw, esc, err := s.str()
			if err != nil || esc || !plainASCII(raw) {
				return env, false
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
				return env, false
			}
			if _, _, err := s.str(); err != nil {
				return env, false
			}
			if env.FetchedAt.UnmarshalJSON(body[start:s.i]) != nil {
				return env, false
			}
		case "request":
			s.skipWS()
			start := s.i
			if s.kind() != kindObject || s.skip() != nil {
				return env, false
			}
			env.Request = message.Request{}
			if json.Unmarshal(body[start:s.i], &env.Request) != nil {
				return env, false
			}
		case "crawl":
			s.skipWS()
			start := s.i
			if s.kind() != kindObject || s.skip() != nil {
				return env, false
			}
			var c message.Crawl
			if json.Unmarshal(body[start:s.i], &c) != nil {
				return env, false
			}
			env.Crawl = &c
		case "payload":
			s.skipWS()
			start := s.i
			if s.skip() != nil {
				return env, false
			}
			env.Payload = json.RawMessage(body[start:s.i])
		default:
			return env, false
		}
	}
	if s.end() != nil {
		return env, false
	}
	return env, true
}
