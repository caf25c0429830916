package validate

import (
	"errors"
	"math"
	"time"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Order is the best buy order of one title from POST /marketplace-api/v1/aggregated-prices.
type Order struct {
	// Title is the sanitised title.
	Title string
	// HasOrder is false when the title has no buy order (no orderBestPrice, or an amount of 0).
	HasOrder bool
	// PriceCents is the best buy order's price.
	PriceCents int64
	// Count is the number of buy orders (orderCount).
	Count int
}

// Orders is a decoded aggregated-prices answer.
type Orders struct {
	// Items are the valid entries in answer order.
	Items []Order
	// Invalid counts the dropped entries by reason.
	Invalid Invalid
}

// maxCount bounds a count; a larger value is a bad count.
const maxCount = 1 << 30

// DecodeOrders decodes and validates an aggregated-prices answer. An error (message.Permanent,
// wrapping ErrInvalidPayload) means the body is not such an answer.
func DecodeOrders(body []byte) (Orders, error) {
	var out Orders
	if err := decodeItems(body, "aggregatedPrices", "aggregated prices", &out.Items, &out.Invalid, (*scanner).order); err != nil {
		return Orders{}, err
	}
	return out, nil
}

// decodeItems reads body, an object whose member key is an array of items, reading each item with read
// into items or invalid (see collect); other members are skipped. what names the answer in errors.
func decodeItems[T any](body []byte, key, what string, items *[]T, invalid *Invalid, read func(*scanner) (T, Reason, error)) error {
	s := scanner{b: body}
	found := false
	err := s.object(func(k []byte) error {
		if string(k) != key || s.kind() != kindArray {
			return s.skip()
		}
		found = true
		return collect(&s, items, invalid, func() (T, Reason, error) { return read(&s) })
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return payloadErr(what, err)
	}
	if !found {
		return payloadErr(what+": no "+key+" array", nil)
	}
	return nil
}

// fields walks the members of an object value, calling member for each key. A value that is not an
// object is skipped and reported with ok=false.
func (s *scanner) fields(member func(key []byte) error) (ok bool, err error) {
	if s.kind() != kindObject {
		return false, s.skip()
	}
	err = s.object(member)
	return err == nil, err
}

// unixSeconds reads a time in unix seconds, given as a number or as a string holding one. given is false
// for null and for an empty value; wrongType reports a value of another type (or an escaped string),
// and v is -1 for text that is not an integer.
func (s *scanner) unixSeconds() (v int64, given, wrongType bool, err error) {
	t, present, ok, err := s.intText()
	if err != nil {
		return 0, false, false, err
	}
	given = present && len(t) > 0
	if !given || !ok {
		return 0, given, !ok, nil
	}
	v, good := parseInt(t)
	if !good {
		v = -1
	}
	return v, true, false, nil
}

// itemFields reads an item object with member, like fields; a value that is not an object makes the
// item wrong_type (in *reason).
func (s *scanner) itemFields(reason *Reason, member func(key []byte) error) error {
	ok, err := s.fields(member)
	if err == nil && !ok {
		firstReason(reason, ReasonWrongType)
	}
	return err
}

// firstReason keeps the first non-empty reason.
func firstReason(cur *Reason, r Reason) {
	if *cur == "" {
		*cur = r
	}
}

// titleField reads a required title member.
func (s *scanner) titleField(title *string, reason *Reason) error {
	raw, esc, present, ok, err := s.text()
	if err != nil {
		return err
	}
	switch {
	case !ok:
		firstReason(reason, ReasonWrongType)
	case !present:
		firstReason(reason, ReasonMissingField)
	default:
		t, r := cleanText(raw, esc, MaxTitleRunes)
		firstReason(reason, r)
		*title = t
	}
	return nil
}

func (s *scanner) order() (Order, Reason, error) {
	var o Order
	var reason Reason
	var amount []byte
	err := s.itemFields(&reason, func(key []byte) error {
		switch string(key) {
		case "title":
			return s.titleField(&o.Title, &reason)
		case "orderBestPrice":
			a, _, r, err := s.usdAmount()
			firstReason(&reason, r)
			amount = a
			return err
		case "orderCount":
			n, r, err := s.count()
			if r == ReasonWrongType {
				r = ReasonBadCount
			}
			firstReason(&reason, r)
			if n > maxCount {
				firstReason(&reason, ReasonBadCount)
			}
			o.Count = int(n)
			return err
		default:
			return s.skip()
		}
	})
	if err != nil {
		return Order{}, "", err
	}
	if reason == "" && o.Title == "" {
		reason = ReasonMissingField
	}
	if reason != "" {
		return Order{}, reason, nil
	}
	if amount != nil {
		p, r := parseCents(amount)
		if r != "" {
			return Order{}, r, nil
		}
		o.PriceCents = p
		o.HasOrder = p > 0
	}
	if !o.HasOrder {
		o.PriceCents, o.Count = 0, 0
	}
	return o, "", nil
}

// Sale is one sale from GET /trade-aggregator/v1/last-sales: its price (the API sends decimal dollars)
// and when it happened (UTC).
type Sale = market.Sale

// Sales is a decoded last-sales body.
type Sales struct {
	// Items are the valid sales in answer order (newest first).
	Items []Sale
	// Invalid counts the dropped sales by reason.
	Invalid Invalid
	// BadAttrs counts the attributes (offerAttributes) left out of kept sales, by reason (see
	// AttrReasons).
	BadAttrs Invalid
}

// DecodeSales decodes and validates a last-sales shaped body {"sales":[...]} whose prices are
// decimal-dollar strings. An error (message.Permanent, wrapping ErrInvalidPayload) means the body is not
// such an answer.
func DecodeSales(body []byte) (Sales, error) {
	var out Sales
	read := func(s *scanner) (Sale, Reason, error) { return s.sale(&out.BadAttrs) }
	if err := decodeItems(body, "sales", "last sales", &out.Items, &out.Invalid, read); err != nil {
		return Sales{}, err
	}
	return out, nil
}

// sale reads one element of sales[]; the attributes a kept sale leaves out are counted in badAttrs.
func (s *scanner) sale(badAttrs *Invalid) (Sale, Reason, error) {
	var sale Sale
	var reason Reason
	var price []byte
	var attrs rawAttrs
	havePrice, haveDate := false, false
	err := s.itemFields(&reason, func(key []byte) error {
		switch string(key) {
		case "price":
			t, present, ok, err := s.intText()
			if !ok {
				firstReason(&reason, ReasonWrongType)
			}
			price, havePrice = t, present && ok && len(t) > 0
			return err
		case "date":
			v, given, wrongType, err := s.unixSeconds()
			switch {
			case err != nil:
				return err
			case wrongType:
				firstReason(&reason, ReasonWrongType)
			case !given:
			case v <= 0:
				haveDate = true
				firstReason(&reason, ReasonBadTime)
			default:
				haveDate = true
				sale.At = time.Unix(v, 0).UTC()
			}
			return nil
		case "offerAttributes":
			_, err := s.fields(func(key []byte) error { return s.attrMember(&attrs, key) })
			return err
		default:
			return s.skip()
		}
	})
	if err != nil {
		return Sale{}, "", err
	}
	if reason != "" {
		return Sale{}, reason, nil
	}
	if !havePrice || !haveDate {
		return Sale{}, ReasonMissingField, nil
	}
	p, r := parseDollars(price)
	if r != "" {
		return Sale{}, r, nil
	}
	sale.Price = market.Cents(p)
	sale.Attrs = attrs.resolve(badAttrs)
	return sale, "", nil
}

// ReducedFee is a per-title fee of the customized-fees answer. Money is integer cents.
type ReducedFee struct {
	// Title is the sanitised title.
	Title string
	// Fraction is the fee share as the exact decimal string the API sent (e.g. "0.03").
	Fraction string
	// MinPriceCents is the lowest listing price the fee applies to; nil = open.
	MinPriceCents *int64
	// MaxPriceCents is the highest listing price the fee applies to; nil = open.
	MaxPriceCents *int64
	// ExpiresAt is when the reduced fee ends; zero = not given.
	ExpiresAt time.Time
}

// Fees is a decoded GET /exchange/v1/customized-fees answer.
type Fees struct {
	// Fraction is the game's default fee share as an exact decimal string.
	Fraction string
	// MinCents is the default minimum fee (minAmount).
	MinCents int64
	// Reduced are the valid per-title reduced fees.
	Reduced []ReducedFee
	// Invalid counts the dropped reduced fees by reason.
	Invalid Invalid
}

// DecodeFees decodes and validates a customized-fees answer. A missing or invalid defaultFee makes the
// whole payload invalid (message.Permanent, wrapping ErrInvalidPayload); bad reduced fees are dropped
// and counted.
func DecodeFees(body []byte) (Fees, error) {
	var out Fees
	s := scanner{b: body}
	haveDefault := false
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "defaultFee":
			haveDefault = true
			return s.defaultFee(&out)
		case "reducedFees":
			if s.kind() == kindArray {
				return s.reducedFees(&out)
			}
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	switch {
	case errors.Is(err, errInvalidDefaultFee):
		return Fees{}, payloadErr("customized fees: invalid defaultFee", nil)
	case err != nil:
		return Fees{}, payloadErr("customized fees", err)
	case !haveDefault:
		return Fees{}, payloadErr("customized fees: no defaultFee", nil)
	}
	return out, nil
}

// errInvalidDefaultFee stops the read of a customized-fees answer whose defaultFee breaks a rule.
var errInvalidDefaultFee = errors.New("invalid defaultFee")

// defaultFee reads the defaultFee member into out; a fee that breaks a rule is errInvalidDefaultFee.
func (s *scanner) defaultFee(out *Fees) error {
	var reason Reason
	var fraction []byte
	haveFraction := false
	ok, err := s.fields(func(k []byte) error {
		switch string(k) {
		case "fraction":
			t, present, ok, err := s.intText()
			if !ok {
				firstReason(&reason, ReasonWrongType)
			}
			fraction, haveFraction = t, present && ok
			return err
		case "minAmount":
			v, r, err := s.count()
			firstReason(&reason, r)
			if v > MaxPriceCents {
				firstReason(&reason, ReasonPriceOutOfRange)
			}
			out.MinCents = v
			return err
		}
		return s.skip()
	})
	switch {
	case err != nil:
		return err
	case !ok || !haveFraction || reason != "" || !validFraction(fraction):
		return errInvalidDefaultFee
	}
	out.Fraction = string(fraction)
	return nil
}

func (s *scanner) reducedFees(out *Fees) error {
	return collect(s, &out.Reduced, &out.Invalid, s.reducedFee)
}

func (s *scanner) reducedFee() (ReducedFee, Reason, error) {
	var f ReducedFee
	var reason Reason
	var fraction []byte
	bound := func(dst **int64, upper bool) error {
		t, present, ok, err := s.intText()
		if err != nil || !present {
			return err
		}
		if !ok {
			firstReason(&reason, ReasonWrongType)
			return nil
		}
		v, open, r := parseBound(t, upper)
		if r != "" {
			firstReason(&reason, r)
			return nil
		}
		if !open {
			*dst = &v
		}
		return nil
	}
	err := s.itemFields(&reason, func(key []byte) error {
		switch string(key) {
		case "title":
			return s.titleField(&f.Title, &reason)
		case "fraction":
			t, _, ok, err := s.intText()
			if !ok {
				firstReason(&reason, ReasonWrongType)
			}
			fraction = t
			return err
		case "minPrice":
			return bound(&f.MinPriceCents, false)
		case "maxPrice":
			return bound(&f.MaxPriceCents, true)
		case "expiresAt":
			v, given, wrongType, err := s.unixSeconds()
			switch {
			case err != nil || !given:
				return err
			case wrongType || v < 0:
				firstReason(&reason, ReasonBadTime)
			case v > 0:
				f.ExpiresAt = time.Unix(v, 0).UTC()
			}
			return nil
		default:
			return s.skip()
		}
	})
	if err != nil {
		return ReducedFee{}, "", err
	}
	if reason == "" && (f.Title == "" || fraction == nil) {
		reason = ReasonMissingField
	}
	if reason == "" && !validFraction(fraction) {
		reason = ReasonBadFraction
	}
	if reason != "" {
		return ReducedFee{}, reason, nil
	}
	f.Fraction = string(fraction)
	return f, "", nil
}

// parseBound parses a reduced fee's price bound: a non-negative integer of cents. A bound is not a price,
// so the price ceiling does not reject it: an empty or zero bound is open (DMarket leaves zero values out,
// and a zero bound limits nothing), an upper bound above MaxPriceCents is open (no price the system
// accepts lies beyond it) and a lower bound too large for int64 saturates (no price reaches it).
func parseBound(b []byte, upper bool) (v int64, open bool, reason Reason) {
	if len(b) == 0 {
		return 0, true, ""
	}
	if b[0] == '-' {
		if len(b) == 1 || !allDigits(b[1:]) {
			return 0, false, ReasonBadPrice
		}
		if allZero(b[1:]) {
			return 0, true, ""
		}
		return 0, false, ReasonPriceOutOfRange
	}
	if !allDigits(b) {
		return 0, false, ReasonBadPrice
	}
	for _, c := range b {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			v = math.MaxInt64
			break
		}
		v = v*10 + d
	}
	switch {
	case v == 0:
		return 0, true, ""
	case upper && v > MaxPriceCents:
		return 0, true, ""
	}
	return v, false, ""
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

// validFraction accepts a plain decimal ("0.05", "0", ".05" is rejected) in [0, 1).
func validFraction(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	if b[0] != '0' {
		return false
	}
	if len(b) == 1 {
		return true
	}
	if b[1] != '.' || len(b) == 2 {
		return false
	}
	for _, c := range b[2:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
