package validate

import (
	"errors"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// Listing is one valid market listing. Money is integer US cents.
type Listing struct {
	// ItemID is DMarket's asset id.
	ItemID string
	// Title is the sanitised title.
	Title string
	// GameID is the canonical game id.
	GameID string
	// Image is the image URL, possibly empty.
	Image string
	// PriceCents is what a buyer pays.
	PriceCents int64
	// SuggestedCents is DMarket's reference price, 0 when absent or unusable.
	SuggestedCents int64
	// Locked is true when the item cannot be traded now: extra.tradable is false or
	// extra.tradeLockDuration is positive. An absent tradable counts as tradable.
	Locked bool
	// LockDays is extra.tradeLock, whole days of lock left (absent = 0).
	LockDays int
	// Attrs are the validated attributes of extra (floatValue, paintSeed, phaseTitle, stickers); an
	// attribute that breaks a rule is left out and counted, the listing kept.
	Attrs market.Attributes
}

// ListingsPage is a decoded GET /exchange/v1/market/items body.
type ListingsPage struct {
	// Items are the valid listings in page order.
	Items []Listing
	// Cursor is the next-page token ("" on the last page).
	Cursor string
	// Invalid counts the dropped items by reason.
	Invalid Invalid
	// BadAttrs counts the attributes left out of kept items, by reason (see AttrReasons).
	BadAttrs Invalid
}

// DecodeListings decodes and validates one listings page of game (the envelope's game id). Items that
// break a rule are dropped and counted; an error (always message.Permanent, wrapping ErrInvalidPayload)
// means the body is not a listings page at all.
func DecodeListings(body []byte, game string) (ListingsPage, error) {
	if err := CheckGame(game); err != nil {
		return ListingsPage{}, err
	}
	s := scanner{b: body}
	page, sawObjects, err := s.listingsPage(game)
	if err != nil {
		return ListingsPage{}, err
	}
	if err := s.end(); err != nil {
		return ListingsPage{}, payloadErr("listings page", err)
	}
	if !sawObjects {
		return ListingsPage{}, errNoObjects()
	}
	return page, nil
}

func errNoObjects() error { return payloadErr("listings page: no objects array", nil) }

// errObjectsNotArray stops the read of a listings page whose objects member is not an array.
var errObjectsNotArray = errors.New("objects is not an array")

// listingsPage reads one listings page object at the scanner's position (game is a known game id) and
// leaves the scanner after it; sawObjects says whether it had an objects array. Its errors are those of
// DecodeListings.
func (s *scanner) listingsPage(game string) (page ListingsPage, sawObjects bool, err error) {
	err = s.object(func(key []byte) error {
		switch string(key) {
		case "objects":
			if s.kind() != kindArray {
				return errObjectsNotArray
			}
			sawObjects = true
			return s.listings(&page, game)
		case "cursor":
			raw, esc, _, ok, err := s.text()
			if ok && !esc {
				page.Cursor = string(raw)
			}
			return err
		}
		return s.skip()
	})
	switch {
	case errors.Is(err, errObjectsNotArray):
		return ListingsPage{}, false, payloadErr("listings page: objects is not an array", nil)
	case err != nil:
		return ListingsPage{}, false, payloadErr("listings page", err)
	}
	return page, sawObjects, nil
}

func (s *scanner) listings(page *ListingsPage, game string) error {
	if page.Items == nil {
		page.Items = make([]Listing, 0, 100)
	}
	return collect(s, &page.Items, &page.Invalid, func() (Listing, Reason, error) { return s.listing(game, &page.BadAttrs) })
}

// rawListing holds the raw tokens of one item before validation.
type rawListing struct {
	title, itemID, image, price, suggested []byte
	game                                   []byte
	titleEsc, imageEsc                     bool
	hasTitle, hasGame, hasItemID           bool
	hasPrice                               bool
	tradable                               int8 // -1 absent, 0 false, 1 true
	lockDays, lockSeconds                  int64
	typeErr                                Reason
	attrs                                  rawAttrs
}

func (r *rawListing) fail(reason Reason) {
	if r.typeErr == "" {
		r.typeErr = reason
	}
}

// listing reads one element of objects[]. A non-nil error is a syntax error of the whole payload; a
// reason drops only this item. The attributes a kept item leaves out are counted in badAttrs.
func (s *scanner) listing(game string, badAttrs *Invalid) (Listing, Reason, error) {
	if s.kind() != kindObject {
		return Listing{}, ReasonWrongType, s.skip()
	}
	r := rawListing{tradable: -1}
	if err := s.beginObject(); err != nil {
		return Listing{}, "", err
	}
	first := true
	for {
		key, more, err := s.nextKey(&first)
		if err != nil {
			return Listing{}, "", err
		}
		if !more {
			break
		}
		if err := s.listingMember(&r, key); err != nil {
			return Listing{}, "", err
		}
	}
	l, reason := r.validate(game)
	if reason == "" {
		l.Attrs = r.attrs.resolve(badAttrs)
		if l.Attrs.DropStrayPhase(l.Title) {
			// A phase on a title without phases would split the title's kept items for nothing.
			badAttrs.add(ReasonBadPhase)
		}
	}
	return l, reason, nil
}

// listingMember reads the value of the member key of a listing into r.
func (s *scanner) listingMember(r *rawListing, key []byte) (err error) {
	switch string(key) {
	case "title":
		r.title, r.titleEsc, r.hasTitle, err = s.itemText(r)
	case "itemId":
		r.itemID, _, r.hasItemID, err = s.itemText(r)
		r.hasItemID = r.hasItemID && len(r.itemID) > 0
	case "gameId":
		r.game, _, r.hasGame, err = s.itemText(r)
	case "image":
		raw, esc, _, ok, err := s.text()
		if ok {
			r.image, r.imageEsc = raw, esc
		}
		return err
	case "price":
		amount, present, reason, err := s.usdAmount()
		if reason != "" {
			r.fail(reason)
		}
		r.price, r.hasPrice = amount, present && reason == ""
		return err
	case "suggestedPrice":
		r.suggested, _, _, err = s.usdAmount()
	case "extra":
		err = s.extra(r)
	default:
		err = s.skip()
	}
	return err
}

// itemText reads an optional string member of a listing; another type marks the listing wrong_type.
// present is false for null and for another type.
func (s *scanner) itemText(r *rawListing) (raw []byte, esc, present bool, err error) {
	raw, esc, present, ok, err := s.text()
	if !ok {
		r.fail(ReasonWrongType)
	}
	return raw, esc, present && ok, err
}

func (s *scanner) extra(r *rawListing) error {
	switch s.kind() {
	case kindNull:
		return s.literal("null")
	case kindObject:
	default:
		r.fail(ReasonWrongType)
		return s.skip()
	}
	return s.object(func(key []byte) error { return s.extraMember(r, key) })
}

// extraMember reads the value of the member key of a listing's extra object into r.
func (s *scanner) extraMember(r *rawListing, key []byte) error {
	switch string(key) {
	case "tradable":
		return s.tradable(r)
	case "tradeLock", "tradeLockDuration":
		v, reason, err := s.count()
		if reason != "" {
			r.fail(ReasonBadLock)
		}
		if key[len(key)-1] == 'k' {
			r.lockDays = v
		} else {
			r.lockSeconds = v
		}
		return err
	case "floatValue", "paintSeed", "phaseTitle", "phase", "stickers":
		return s.attrMember(&r.attrs, key)
	}
	return s.skip()
}

// tradable reads extra.tradable: a boolean, or null for absent.
func (s *scanner) tradable(r *rawListing) error {
	switch s.kind() {
	case kindBool:
		b, err := s.boolean()
		r.tradable = 0
		if b {
			r.tradable = 1
		}
		return err
	case kindNull:
		return s.literal("null")
	}
	r.fail(ReasonWrongType)
	return s.skip()
}

// maxLockDays bounds extra.tradeLock; Steam locks last at most a few weeks.
const maxLockDays = 365

func (r *rawListing) validate(game string) (Listing, Reason) {
	if r.typeErr != "" {
		return Listing{}, r.typeErr
	}
	if !r.hasTitle || !r.hasGame || !r.hasItemID {
		return Listing{}, ReasonMissingField
	}
	if !r.hasPrice {
		return Listing{}, ReasonMissingField
	}
	g := market.KnownGameID(r.game)
	if g == "" {
		return Listing{}, ReasonUnknownGame
	}
	if g != game {
		return Listing{}, ReasonGameMismatch
	}
	price, reason := parseCents(r.price)
	if reason != "" {
		return Listing{}, reason
	}
	if r.lockDays > maxLockDays {
		return Listing{}, ReasonBadLock
	}
	title, reason := cleanText(r.title, r.titleEsc, MaxTitleRunes)
	if reason != "" {
		return Listing{}, reason
	}
	l := Listing{
		ItemID:     string(r.itemID),
		Title:      title,
		GameID:     g,
		Image:      cleanImage(r.image, r.imageEsc),
		PriceCents: price,
		Locked:     r.tradable == 0 || r.lockSeconds > 0,
		LockDays:   int(r.lockDays),
	}
	if sp, reason := parseCents(r.suggested); reason == "" {
		l.SuggestedCents = sp
	}
	return l, ""
}
