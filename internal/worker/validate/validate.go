// Package validate owns the decoding, validation and sanitisation of the raw DMarket API payloads a
// worker consumes (SPEC §5.1): listings pages, aggregated prices, last sales and customized fees. It
// turns them into typed values in integer cents, drops invalid items with a reason from a fixed set and
// reports a payload that is not the expected JSON at all as a permanent error.
package validate

import (
	"errors"
	"fmt"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
	"github.com/skinflip/dmarket-monitor/internal/message"
)

// MaxPriceCents is the sane ceiling of a price: $100,000. A price above it is rejected as out of range;
// no skin trades that high on DMarket, so such a value is a unit or parsing error upstream.
const MaxPriceCents int64 = 10_000_000

// Reason names why an item was dropped. The set is fixed (see Reasons) so it can label a metric.
type Reason string

// The reasons an item is dropped.
const (
	// ReasonMissingField: a required field is absent or null.
	ReasonMissingField Reason = "missing_field"
	// ReasonWrongType: a field has the wrong JSON type.
	ReasonWrongType Reason = "wrong_type"
	// ReasonBadPrice: a price is not a number in the expected unit format.
	ReasonBadPrice Reason = "bad_price"
	// ReasonPriceOutOfRange: a price is negative or above MaxPriceCents.
	ReasonPriceOutOfRange Reason = "price_out_of_range"
	// ReasonEmptyTitle: the title is empty after sanitisation.
	ReasonEmptyTitle Reason = "empty_title"
	// ReasonTitleTooLong: the title has more than MaxTitleRunes code points.
	ReasonTitleTooLong Reason = "title_too_long"
	// ReasonInvalidUTF8: the title is not valid UTF-8 (or has a malformed escape).
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	// ReasonUnknownGame: the item's game id is not one of the known games.
	ReasonUnknownGame Reason = "unknown_game"
	// ReasonGameMismatch: the item's game id differs from the message's.
	ReasonGameMismatch Reason = "game_mismatch"
	// ReasonBadLock: a trade-lock value is negative or not an integer.
	ReasonBadLock Reason = "bad_lock"
	// ReasonBadCount: a count is negative or not an integer.
	ReasonBadCount Reason = "bad_count"
	// ReasonBadTime: a timestamp is not a positive integer of unix seconds.
	ReasonBadTime Reason = "bad_time"
	// ReasonBadFraction: a fee fraction is not a decimal string in [0, 1).
	ReasonBadFraction Reason = "bad_fraction"
	// ReasonFetchedInFuture: the message's fetch time lies more than MaxFetchSkew ahead of the worker's
	// clock; the whole message is rejected (counted once per message).
	ReasonFetchedInFuture Reason = "fetched_in_future"
)

// Reasons lists every Reason in a stable order.
var Reasons = []Reason{
	ReasonMissingField, ReasonWrongType, ReasonBadPrice, ReasonPriceOutOfRange, ReasonEmptyTitle,
	ReasonTitleTooLong, ReasonInvalidUTF8, ReasonUnknownGame, ReasonGameMismatch, ReasonBadLock,
	ReasonBadCount, ReasonBadTime, ReasonBadFraction, ReasonFetchedInFuture,
}

// Invalid counts dropped items per reason.
type Invalid map[Reason]int

// Total returns the number of dropped items.
func (v Invalid) Total() int {
	n := 0
	for _, c := range v {
		n += c
	}
	return n
}

func (v *Invalid) add(r Reason) {
	if *v == nil {
		*v = make(Invalid, 2)
	}
	(*v)[r]++
}

// Sentinel errors. Every error the decoders return wraps ErrInvalidPayload and is marked
// message.Permanent: the same bytes can never decode later.
var (
	// ErrInvalidPayload means the payload is not the expected JSON at all.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrUnknownGame means the message's game id is not a known game.
	ErrUnknownGame = errors.New("unknown game id")
	// ErrFetchedInFuture means the message's fetch time lies more than MaxFetchSkew ahead of the
	// worker's clock.
	ErrFetchedInFuture = errors.New("fetch time in the future")
)

// MaxFetchSkew is how far a message's fetch time may lie ahead of the worker's clock (clock skew between
// parser and worker) and still be accepted. Stored values are ordered by fetch time, so a message from
// further ahead would win every later compare-and-set until the clocks caught up.
const MaxFetchSkew = time.Minute

// CheckFetchedAt returns a permanent error (wrapping ErrFetchedInFuture) when fetchedAt lies more than
// MaxFetchSkew after now.
func CheckFetchedAt(fetchedAt, now time.Time) error {
	if ahead := fetchedAt.Sub(now); ahead > MaxFetchSkew {
		return message.Permanent(fmt.Errorf("%w: %s ahead of the worker's clock (tolerance %s)",
			ErrFetchedInFuture, ahead.Round(time.Millisecond), MaxFetchSkew))
	}
	return nil
}

// CheckGame returns a permanent error unless game is a known game id.
func CheckGame(game string) error {
	if market.KnownGameID(game) == "" {
		return message.Permanent(fmt.Errorf("%w: %w: %q", ErrInvalidPayload, ErrUnknownGame, game))
	}
	return nil
}

func payloadErr(what string, err error) error {
	if err == nil {
		return message.Permanent(fmt.Errorf("%w: %s", ErrInvalidPayload, what))
	}
	return message.Permanent(fmt.Errorf("%w: %s: %w", ErrInvalidPayload, what, err))
}

// parseCents parses a price in DMarket's integer cents (market.ParseCents) and checks it against the
// rules of SPEC §5.1: an empty text is a missing field, a malformed one a bad price, and a negative
// price or one above MaxPriceCents is out of range. It does not allocate.
func parseCents(b []byte) (int64, Reason) { return checkPrice(market.ParseCents(b)) }

// parseDollars parses a decimal-dollar price ("12.57", "12.5", "12"; market.ParseDollars) with the
// rules of parseCents; more than two decimals is a bad price.
func parseDollars(b []byte) (int64, Reason) { return checkPrice(market.ParseDollars(b)) }

// checkPrice turns the result of a market parser into a price of SPEC §5.1 or the reason it is not one.
func checkPrice(c market.Cents, err error) (int64, Reason) {
	switch {
	case err == nil && (c < 0 || int64(c) > MaxPriceCents):
		return 0, ReasonPriceOutOfRange
	case err == nil:
		return int64(c), ""
	case errors.Is(err, market.ErrEmpty):
		return 0, ReasonMissingField
	case errors.Is(err, market.ErrRange):
		return 0, ReasonPriceOutOfRange
	}
	return 0, ReasonBadPrice
}

// parseInt parses a plain decimal integer (optional leading '-') that fits comfortably in int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// readCount reads a non-negative integer given as a number or a string; absent or null is 0.
func (s *scanner) count() (int64, Reason, error) {
	t, present, ok, err := s.intText()
	if err != nil || !present {
		return 0, "", err
	}
	if !ok {
		return 0, ReasonWrongType, nil
	}
	if len(t) == 0 {
		return 0, "", nil
	}
	v, ok := parseInt(t)
	if !ok || v < 0 {
		return 0, ReasonBadCount, nil
	}
	return v, "", nil
}

// readText reads an optional string value: null gives present=false; a non-string is consumed and
// reported with ok=false.
func (s *scanner) text() (raw []byte, esc, present, ok bool, err error) {
	switch s.kind() {
	case kindString:
		raw, esc, err = s.str()
		return raw, esc, true, true, err
	case kindNull:
		return nil, false, false, true, s.literal("null")
	default:
		return nil, false, true, false, s.skip()
	}
}

// usdCents reads a money object {"DMC": "...", "USD": "<cents>"} (or {"Currency","Amount"} with
// capitalised keys) and returns the raw USD amount text. present is false for null or an absent or
// empty amount.
func (s *scanner) usdAmount() (amount []byte, present bool, reason Reason, err error) {
	switch s.kind() {
	case kindNull:
		return nil, false, "", s.literal("null")
	case kindObject:
	default:
		return nil, true, ReasonWrongType, s.skip()
	}
	if err := s.beginObject(); err != nil {
		return nil, false, "", err
	}
	first := true
	for {
		key, more, err := s.nextKey(&first)
		if err != nil {
			return nil, false, "", err
		}
		if !more {
			break
		}
		if string(key) != "USD" && string(key) != "Amount" {
			if err := s.skip(); err != nil {
				return nil, false, "", err
			}
			continue
		}
		t, present, ok, err := s.intText()
		if err != nil {
			return nil, false, "", err
		}
		switch {
		case !ok:
			reason = ReasonWrongType
		case present && len(t) > 0:
			amount = t
		}
	}
	if reason != "" {
		return nil, true, reason, nil
	}
	return amount, amount != nil, "", nil
}
