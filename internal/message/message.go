// Package message owns the contract between the parser and the workers: the envelope that carries one
// raw DMarket API answer through RabbitMQ, the queue each kind of answer travels on, and the error
// classification a consumer uses to decide between retry and dead-letter.
package message

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Envelope versions. Version 1 carries the payload as raw JSON; version 2 carries it compressed (field
// "encoding": "zstd", "payload" the base64 text of the zstd frame). Decoders accept both, so workers of
// this build consume the messages of parsers of either version; a worker of version 1 dead-letters a
// version-2 message (unsupported schema), so a rolling upgrade updates the workers first.
const (
	// SchemaVersion is the envelope version written by this build.
	SchemaVersion = 2
	// SchemaV1 is the previous version, still read: the payload is raw JSON.
	SchemaV1 = 1
)

// EncodingZstd is the envelope's encoding of a version-2 payload compressed with zstd.
const EncodingZstd = "zstd"

// MaxPayloadBytes bounds a decompressed payload (a listings page is about 250 KB), so a hostile frame
// cannot exhaust memory.
const MaxPayloadBytes = 64 << 20

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
	// Last marks the final page of a crawl that completed: the range's crawl is complete once pages 0 to
	// Page of this cycle are all written, and the (title, status, price) levels of the range that none of
	// them showed are removed then (SPEC §9.1). A crawl that was interrupted never sends it.
	Last bool `json:"last,omitempty"`
}

// Scan marks a listings page that answers a request for one title's cheapest listings (the title
// filter, ordered by price ascending, first page): every listing of the title priced below the page's
// last price is on the page, and every listing of the title at all when Complete is set. A worker
// removes the title's stored levels the page proves gone (SPEC §9.1). The parser's watch lane and the
// bot's re-checks publish such pages.
type Scan struct {
	// Title is the title the request filtered on, exactly as sent.
	Title string `json:"title"`
	// Complete says the answer had no further page: the page holds every listing of the title.
	Complete bool `json:"complete,omitempty"`
}

// Envelope is the body of every message on the DMarket queues.
type Envelope struct {
	// Schema is the envelope version; see SchemaVersion.
	Schema int `json:"schema"`
	// Kind names the payload.
	Kind Kind `json:"kind"`
	// GameID is the DMarket game id, one of market.GameIDs (a8db, 9a92, tf2, rust).
	GameID string `json:"game_id"`
	// FetchedAt is when the parser received the answer.
	FetchedAt time.Time `json:"fetched_at"`
	// Request is the request that produced the payload.
	Request Request `json:"request"`
	// Payload is the raw API answer body (decompressed when the message carried it compressed).
	Payload json.RawMessage `json:"payload"`
	// Crawl identifies the crawl page of a listings message; nil when the page is not part of a range
	// crawl (or the parser predates the field).
	Crawl *Crawl `json:"crawl,omitempty"`
	// Scan marks a listings page of one title's cheapest listings; nil otherwise. At most one of Crawl
	// and Scan is set.
	Scan *Scan `json:"scan,omitempty"`
}

// Sentinel errors of envelope decoding.
var (
	// ErrUnsupportedSchema means the envelope's schema version is neither SchemaVersion nor SchemaV1.
	ErrUnsupportedSchema = errors.New("unsupported schema version")
	// ErrUnsupportedEncoding means the envelope's payload encoding is unknown or not allowed by its
	// schema version.
	ErrUnsupportedEncoding = errors.New("unsupported payload encoding")
	// ErrCorruptPayload means a compressed payload could not be decompressed.
	ErrCorruptPayload = errors.New("corrupt compressed payload")
	// ErrUnknownKind means the envelope's kind is not one of Kinds.
	ErrUnknownKind = errors.New("unknown message kind")
	// ErrMissingField means a required envelope field is empty.
	ErrMissingField = errors.New("missing field")
	// ErrInvalidCrawl means the envelope's crawl field is malformed or on a message that is not listings.
	ErrInvalidCrawl = errors.New("invalid crawl")
	// ErrInvalidScan means the envelope's scan field is malformed, on a message that is not listings, or
	// beside a crawl field.
	ErrInvalidScan = errors.New("invalid scan")
)

// wireV2 is the JSON form of a version-2 envelope: the fields of Envelope in the same order, with the
// encoding before the payload so that a reader knows how to take the payload when it reaches it.
type wireV2 struct {
	Schema    int       `json:"schema"`
	Kind      Kind      `json:"kind"`
	GameID    string    `json:"game_id"`
	FetchedAt time.Time `json:"fetched_at"`
	Request   Request   `json:"request"`
	Encoding  string    `json:"encoding,omitempty"`
	Payload   any       `json:"payload"`
	Crawl     *Crawl    `json:"crawl,omitempty"`
	Scan      *Scan     `json:"scan,omitempty"`
}

// Encode validates e and returns its JSON body: for e.Schema == SchemaVersion the payload is compressed
// (zstd, base64 in the JSON), for SchemaV1 it is written as raw JSON as a parser of version 1 wrote it.
func Encode(e Envelope) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	v := any(e)
	if e.Schema == SchemaVersion {
		if !json.Valid(e.Payload) {
			return nil, fmt.Errorf("encode envelope: payload is not valid JSON")
		}
		v = wireV2{Schema: e.Schema, Kind: e.Kind, GameID: e.GameID, FetchedAt: e.FetchedAt, Request: e.Request,
			Encoding: EncodingZstd, Payload: Compress(e.Payload), Crawl: e.Crawl, Scan: e.Scan}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return b, nil
}

// Decode parses and validates an envelope of either version, decompressing a compressed payload. Every
// error it returns is permanent: the same bytes never decode later.
func Decode(body []byte) (Envelope, error) {
	var w struct {
		Envelope
		Encoding *string `json:"encoding"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	e := w.Envelope
	if w.Encoding != nil && (e.Schema == SchemaVersion || e.Schema == SchemaV1) {
		if e.Schema != SchemaVersion || *w.Encoding != EncodingZstd {
			return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w: %q in schema %d", ErrUnsupportedEncoding,
				truncate(*w.Encoding, 16), e.Schema))
		}
		var packed []byte
		if err := json.Unmarshal(e.Payload, &packed); err != nil {
			return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w: %w", ErrCorruptPayload, err))
		}
		raw, err := Decompress(packed)
		if err != nil {
			return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w", err))
		}
		if !json.Valid(raw) {
			return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w: not JSON", ErrCorruptPayload))
		}
		e.Payload = raw
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	return e, nil
}

// zstd codecs: both are safe for concurrent use (up to GOMAXPROCS frames at once, so the parser's crawl
// chains compress in parallel) and are built once, on first use.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			panic(err) // only invalid options fail
		}
		return enc
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxPayloadBytes), zstd.WithDecoderConcurrency(0))
		if err != nil {
			panic(err) // only invalid options fail
		}
		return dec
	})
)

// Compress returns payload as one zstd frame (the form of a version-2 payload before base64).
func Compress(payload []byte) []byte {
	return zstdEncoder().EncodeAll(payload, make([]byte, 0, len(payload)/8+64))
}

// Decompress returns the payload held in one zstd frame, at most MaxPayloadBytes; an error wraps
// ErrCorruptPayload.
func Decompress(frame []byte) ([]byte, error) {
	raw, err := zstdDecoder().DecodeAll(frame, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptPayload, err)
	}
	return raw, nil
}

// DecodeBase64Payload decodes the base64 text of a version-2 payload (as it stands between the quotes of
// the JSON string, without escapes) and decompresses it.
func DecodeBase64Payload(text []byte) ([]byte, error) {
	packed := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(packed, text)
	if err != nil || base64.StdEncoding.EncodedLen(n) != len(text) {
		return nil, fmt.Errorf("%w: bad base64", ErrCorruptPayload)
	}
	return Decompress(packed[:n])
}

// Validate reports the first structural problem of e.
func (e Envelope) Validate() error {
	if e.Schema != SchemaVersion && e.Schema != SchemaV1 {
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
	if sc := e.Scan; sc != nil {
		switch {
		case e.Kind != KindListings:
			return fmt.Errorf("%w: on a %s message", ErrInvalidScan, e.Kind)
		case e.Crawl != nil:
			return fmt.Errorf("%w: beside a crawl", ErrInvalidScan)
		case sc.Title == "" || len(sc.Title) > maxScanTitle:
			return fmt.Errorf("%w: title of %d bytes", ErrInvalidScan, len(sc.Title))
		}
	}
	return nil
}

// maxScanTitle bounds Scan.Title in bytes (a title is at most 256 code points of up to 4 bytes).
const maxScanTitle = 1024

// maxCrawlRange bounds the length of Crawl.Range ("<from>-<to>" of two int64s is at most 41 bytes).
const maxCrawlRange = 41

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
