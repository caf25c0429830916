// Package message owns the contract between the parser and the workers: the envelope that carries one
// raw DMarket API answer through RabbitMQ, the queue each kind of answer travels on, and the error
// classification a consumer uses to decide between retry and dead-letter.
package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SchemaVersion is the envelope version written by this build. Decoders accept exactly this version.
const SchemaVersion = 1

// Kind names what a message's payload is; each kind travels on its own queue.
type Kind string

// The kinds of payload the parser publishes.
const (
	// KindListings is one page of GET /exchange/v1/market/items.
	KindListings Kind = "listings"
	// KindOrders is one answer of POST /marketplace-api/v1/aggregated-prices.
	KindOrders Kind = "orders"
	// KindSales is the sales of one title: a last-sales shaped body {"sales":[...]} holding every page read
	// for that title, newest first.
	KindSales Kind = "sales"
	// KindFees is one answer of GET /exchange/v1/customized-fees for one game.
	KindFees Kind = "fees"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindListings, KindOrders, KindSales, KindFees}

// Queue returns the durable queue that carries messages of kind k. Its dead-letter queue is Queue(k)+".dlq".
func Queue(k Kind) string { return "dmarket." + string(k) }

// DeadLetterSuffix is appended to a queue's name to name its dead-letter queue.
const DeadLetterSuffix = ".dlq"

// HeaderError is the AMQP header that carries the reason a message was dead-lettered.
const HeaderError = "x-error"

// Request describes the DMarket request that produced a payload. It never holds credentials.
type Request struct {
	// Method is the HTTP method.
	Method string `json:"method"`
	// Path is the URL path, e.g. /exchange/v1/market/items.
	Path string `json:"path"`
	// Query is the encoded query string as sent, without the leading '?'.
	Query string `json:"query,omitempty"`
	// Title is the item title the request was about (sales), if any.
	Title string `json:"title,omitempty"`
	// Pages is how many API pages were merged into the payload (sales, fees), if more than one.
	Pages int `json:"pages,omitempty"`
}

// Crawl identifies the listings page of a price-range crawl that a listings message carries, so that a
// worker can count the listings at a price over every page of the range's latest crawl (a price shared
// by many listings spans several pages). It is optional: an envelope without it is handled page by page,
// and a worker that does not know the field ignores it (the schema version is unchanged).
type Crawl struct {
	// Range is the crawled price range in cents, "<from>-<to>" ("<from>-" when open-ended).
	Range string `json:"range"`
	// Cycle identifies one crawl of the range; a later crawl has a larger cycle (the parser uses the
	// crawl's start in unix milliseconds, kept strictly increasing).
	Cycle int64 `json:"cycle"`
	// Page is the page's index in the crawl's cursor chain, from 0.
	Page int `json:"page"`
}

// Envelope is the body of every message on the DMarket queues.
type Envelope struct {
	// Schema is the envelope version; see SchemaVersion.
	Schema int `json:"schema"`
	// Kind names the payload.
	Kind Kind `json:"kind"`
	// GameID is the DMarket game id (a8db, 9a92, tf2, rust).
	GameID string `json:"game_id"`
	// FetchedAt is when the parser received the answer.
	FetchedAt time.Time `json:"fetched_at"`
	// Request is the request that produced the payload.
	Request Request `json:"request"`
	// Payload is the raw API answer body.
	Payload json.RawMessage `json:"payload"`
	// Crawl identifies the crawl page of a listings message; nil when the page is not part of a range
	// crawl (or the parser predates the field).
	Crawl *Crawl `json:"crawl,omitempty"`
}

// Sentinel errors of envelope decoding.
var (
	// ErrUnsupportedSchema means the envelope's schema version is not SchemaVersion.
	ErrUnsupportedSchema = errors.New("unsupported schema version")
	// ErrUnknownKind means the envelope's kind is not one of Kinds.
	ErrUnknownKind = errors.New("unknown message kind")
	// ErrMissingField means a required envelope field is empty.
	ErrMissingField = errors.New("missing field")
	// ErrInvalidCrawl means the envelope's crawl field is malformed or on a message that is not listings.
	ErrInvalidCrawl = errors.New("invalid crawl")
)

// Encode validates e and returns its JSON body.
func Encode(e Envelope) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return b, nil
}

// Decode parses and validates an envelope. Every error it returns is permanent: the same bytes never
// decode later.
func Decode(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	return e, nil
}

// Validate reports the first structural problem of e.
func (e Envelope) Validate() error {
	if e.Schema != SchemaVersion {
		return fmt.Errorf("%w: %d", ErrUnsupportedSchema, e.Schema)
	}
	known := false
	for _, k := range Kinds {
		if e.Kind == k {
			known = true
			break
		}
	}
	if !known {
		return fmt.Errorf("%w: %q", ErrUnknownKind, e.Kind)
	}
	switch {
	case e.GameID == "":
		return fmt.Errorf("%w: game_id", ErrMissingField)
	case e.FetchedAt.IsZero():
		return fmt.Errorf("%w: fetched_at", ErrMissingField)
	case len(e.Payload) == 0 || string(e.Payload) == "null":
		return fmt.Errorf("%w: payload", ErrMissingField)
	}
	if c := e.Crawl; c != nil {
		switch {
		case e.Kind != KindListings:
			return fmt.Errorf("%w: on a %s message", ErrInvalidCrawl, e.Kind)
		case c.Cycle <= 0 || c.Page < 0 || c.Range == "" || len(c.Range) > maxCrawlRange:
			return fmt.Errorf("%w: range %q cycle %d page %d", ErrInvalidCrawl, truncate(c.Range, maxCrawlRange), c.Cycle, c.Page)
		}
	}
	return nil
}

// maxCrawlRange bounds the length of Crawl.Range ("<from>-<to>" of two int64s is at most 41 bytes).
const maxCrawlRange = 41

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
