package k8sauditreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/buger/jsonparser"
	gojson "github.com/goccy/go-json"

	"github.com/vigil-obs/vigil/internal/audit"
)

// The fast path of Decode: the body's syntax is checked by go-json's Valid (the same grammar
// and nesting limit as encoding/json), then the audit package's scanner walks it and the fields vigil
// indexes are read straight from the bytes. It takes only the shapes it is sure of — the ones the
// kube-apiserver sends. Anything else goes to the encoding/json path, which stays the definition
// of what Decode returns: a body that is not valid JSON or whose list fields are unusual
// (decodeSlow), or one item with a field of an unexpected type, null, repeated, or a key that
// encoding/json would match case-insensitively (decodeEvent). FuzzDecodeAgrees checks that both
// paths give the same answer.

// errUnusual stops a walk: the shape is left to encoding/json.
var errUnusual = errors.New("unusual shape")

// decodeFast returns ok=false when the whole body must go to decodeSlow. It walks the list's
// keys itself: audit.EachMember would scan the whole items array once to find its end
// before readItems reads it. err is a *TooManyEventsError for a list of more than
// limits.MaxEvents items (whose items past the limit are skipped, not read).
func decodeFast(body []byte, limits Limits) (events []Event, rejected []Rejected, err error, ok bool) {
	if !gojson.Valid(body) {
		return nil, nil, nil, false // decodeSlow words the answer
	}
	// The events' strings (body, attributes) are substrings of text: one copy of the body, made
	// once the items are reached (a body left to decodeSlow before them is not copied).
	var text string
	var kind, version string
	var seen uint8
	var tooMany bool
	i := audit.SkipSpace(body, 0)
	if body[i] != '{' {
		return nil, nil, nil, false
	}
	i = audit.SkipSpace(body, i+1)
	for body[i] != '}' { // valid JSON: a key, ':', a value, then ',' or '}'
		key, k, good := plainString(body, i)
		if !good {
			return nil, nil, nil, false
		}
		v := audit.SkipSpace(body, audit.SkipSpace(body, k)+1)
		var bit uint8
		var end int
		switch string(key) {
		case "kind", "apiVersion":
			value, e, good := plainString(body, v)
			if !good {
				return nil, nil, nil, false
			}
			if string(key) == "kind" {
				kind, bit = string(value), 1
			} else {
				version, bit = string(value), 2
			}
			end = e
		case "items":
			if body[v] != '[' {
				return nil, nil, nil, false
			}
			if text == "" {
				text = string(body)
			}
			if events, rejected, end, tooMany, good = readItems(body, text, v, limits); !good {
				return nil, nil, nil, false
			}
			bit = 4
		default:
			if foldsTo(key, "kind", "apiVersion", "items") {
				return nil, nil, nil, false
			}
			if end = audit.ValueEnd(body, v); end < 0 {
				return nil, nil, nil, false
			}
		}
		if seen&bit != 0 {
			return nil, nil, nil, false
		}
		seen |= bit
		if i = audit.SkipSpace(body, end); body[i] == ',' {
			i = audit.SkipSpace(body, i+1)
		}
	}
	if kind != wantKind || !auditAPIVersion(version) || seen&4 == 0 {
		return nil, nil, nil, false // not an EventList with items: decodeSlow words the answer
	}
	if tooMany {
		return nil, nil, &TooManyEventsError{Limit: limits.MaxEvents}, true
	}
	return events, rejected, nil, true
}

// plainString reads the string at body[at:] (valid JSON, starting with its quote) when it is
// plain (see plain): its characters, and the offset after its closing quote. ok is false for a
// value that is not a string or not plain.
func plainString(body []byte, at int) (s []byte, end int, ok bool) {
	if body[at] != '"' {
		return nil, 0, false
	}
	// Without a backslash before it, the first quote is the closing one.
	n := bytes.IndexByte(body[at+1:], '"')
	if n < 0 || !plain(body[at+1:at+1+n]) {
		return nil, 0, false
	}
	return body[at+1 : at+1+n], at + 1 + n + 1, true
}

// readItems reads the items array, a valid JSON array starting at body[at], and returns the
// offset after it. It steps from item to item itself: an item read by readEvent ends where its
// object does, and is not scanned once more to find its end. Past limits.MaxEvents items it
// returns tooMany, with no events, having only scanned the rest of the array.
func readItems(body []byte, text string, at int, limits Limits) (events []Event, rejected []Rejected, end int, tooMany, ok bool) {
	items := body[at:]
	capacity := len(items)/1024 + 1
	if limits.MaxEvents > 0 {
		capacity = min(capacity, limits.MaxEvents)
	}
	events = make([]Event, 0, capacity)
	r := reader{b: body, s: text}
	i := audit.SkipSpace(items, 1)
	if items[i] == ']' {
		return events, nil, at + i + 1, false, true
	}
	for n := 0; ; n++ {
		if n == limits.MaxEvents && n > 0 {
			if end = audit.ValueEnd(body, at); end < 0 {
				return nil, nil, 0, false, false
			}
			return nil, nil, end, true, true
		}
		var f fields
		end, good := -1, false
		r.decoded, r.reserved, r.depth = false, false, 0
		if items[i] == '{' {
			end, good = readEvent(&r, at+i, &f)
		}
		if !good {
			if end = audit.ValueEnd(body, at+i); end < 0 {
				return nil, nil, 0, false, false
			}
		}
		start := at + i
		raw := body[start:end:end]
		var ev Event
		var rej *Rejected
		if !good || (limits.MaxEventBytes > 0 && len(raw) > limits.MaxEventBytes) {
			ev, rej = decodeEvent(n, raw, limits)
		} else {
			ev, rej = eventOf(n, raw, text[start:end], &f)
			// Read by the rules of audit.ParseFields too: plain keys, no key twice, its
			// fields strings without escapes; and none of audit.ReservedKeys (see internal/audit).
			ev.attestable = !r.decoded && !r.reserved
		}
		if rej != nil {
			rejected = append(rejected, *rej)
		} else {
			if len(events) == cap(events) {
				// Doubled rather than grown by append (×1.25 at this size): the capacity is a
				// guess from the body's length, far short for a list of tiny items.
				events = slices.Grow(events, len(events))
			}
			events = append(events, ev)
		}
		i = audit.SkipSpace(items, end-at)
		if items[i] == ']' { // valid JSON: ']' or ','
			return events, rejected, at + i + 1, false, true
		}
		i = audit.SkipSpace(items, i+1)
	}
}

// unchanged reports that encoding/json decodes the characters b of a string (valid JSON, without
// its quotes) to b itself: no escapes, and valid UTF-8 (it replaces invalid bytes).
func unchanged(b []byte) bool {
	return bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b)
}

// plain reports that the bytes of a string (without its quotes) hold neither escapes nor bytes
// outside ASCII: they are the string as encoding/json would decode it.
func plain(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// foldsTo reports whether key would be matched by encoding/json to one of names without being
// equal to it (it matches field names case-insensitively).
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(key) == len(n) && strings.EqualFold(string(key), n) {
			return true
		}
	}
	return false
}

// isReserved reports whether key (plain) is one of audit.ReservedKeys.
func isReserved(key []byte) bool {
	for _, k := range audit.ReservedKeys {
		if string(key) == k {
			return true
		}
	}
	return false
}

// eventKeys are the keys of fields, by level, for foldsTo.
var (
	eventKeys = []string{"level", "auditID", "stage", "requestURI", "verb", "user", "sourceIPs", "userAgent", "objectRef",
		"responseStatus", "requestReceivedTimestamp", "stageTimestamp", "kind", "apiVersion", "timestamp"}
	userKeys      = []string{"username", "groups"}
	objectRefKeys = []string{"resource", "namespace", "name", "apiGroup", "apiVersion", "subresource"}
	statusKeys    = []string{"code"}
)

// reader reads the values of one item; a false return from any of its methods means: use
// decodeEvent.
type reader struct {
	b []byte // the whole body
	s string // the same bytes
	// decoded is set when a string of the item had escapes or bytes that are not UTF-8, which
	// encoding/json decodes (and audit.ParseFields may read otherwise).
	decoded bool
	// reserved is set when the item has a top-level key of audit.ReservedKeys: not attested.
	reserved bool
	depth    int // of the object being read: 1 for the item
}

// object calls field for each known key of the object at r.b[at] (typ: its type), with its
// value and where it is, and returns the end of the object. It refuses keys with escapes or
// outside ASCII, keys that fold to a known one, and repeated known keys.
func (r *reader) object(typ jsonparser.ValueType, at int, known []string,
	field func(idx int, v []byte, typ jsonparser.ValueType, at int) bool) (int, bool) {
	if typ != jsonparser.Object {
		return 0, false
	}
	var seen uint32
	r.depth++
	defer func() { r.depth-- }()
	end, err := audit.EachMember(r.b, at, func(key []byte, start, end int) error {
		if !plain(key) {
			return errUnusual
		}
		idx := -1
		for k, name := range known {
			if string(key) == name {
				idx = k
				break
			}
		}
		switch {
		case idx < 0:
			if foldsTo(key, known...) {
				return errUnusual
			}
			if r.depth == 1 && !r.reserved && isReserved(key) {
				r.reserved = true
			}
		case seen&(1<<idx) != 0:
			return errUnusual
		default:
			seen |= 1 << idx
			v, typ := audit.Value(r.b, start, end)
			if !field(idx, v, typ, start) {
				return errUnusual
			}
		}
		return nil
	})
	return end, err == nil
}

// objectOK is object without the end.
func (r *reader) objectOK(typ jsonparser.ValueType, at int, known []string,
	field func(idx int, v []byte, typ jsonparser.ValueType, at int) bool) bool {
	_, ok := r.object(typ, at, known, field)
	return ok
}

// str reads the string value v at r.b[at:] as encoding/json decodes it.
func (r *reader) str(v []byte, typ jsonparser.ValueType, at int, dst *string) bool {
	if typ != jsonparser.String {
		return false
	}
	if unchanged(v) {
		*dst = r.s[at+1 : at+1+len(v)]
		return true
	}
	r.decoded = true
	return json.Unmarshal(r.b[at:at+len(v)+2], dst) == nil
}

// strs reads an array of strings.
func (r *reader) strs(v []byte, typ jsonparser.ValueType, at int, dst *[]string) bool {
	if typ != jsonparser.Array {
		return false
	}
	out := make([]string, 0, 2)
	_, err := audit.EachElement(r.b, at, func(start, end int) error {
		var s string
		if e, typ := audit.Value(r.b, start, end); !r.str(e, typ, start, &s) {
			return errUnusual
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return false
	}
	*dst = out
	return true
}

// timestamp reads a time as time.Time.UnmarshalJSON does (RFC 3339), and its text.
func (r *reader) timestamp(v []byte, typ jsonparser.ValueType, at int, dst *time.Time, text *string) bool {
	if typ != jsonparser.String || dst.UnmarshalJSON(r.b[at:at+len(v)+2]) != nil {
		return false
	}
	*text = r.s[at+1 : at+1+len(v)] // a time's text has no escapes (UnmarshalJSON does not decode them)
	return true
}

// int32 reads an integer that fits an int32, as encoding/json does.
func (r *reader) int32(v []byte, typ jsonparser.ValueType, dst *int32) bool {
	if typ != jsonparser.Number {
		return false
	}
	n, err := strconv.ParseInt(string(v), 10, 32)
	if err != nil {
		return false
	}
	*dst = int32(n)
	return true
}

// readEvent reads the fields of the item (an object at r.b[at:]) into f and returns its end;
// false means: decode it with encoding/json.
func readEvent(r *reader, at int, f *fields) (int, bool) {
	return r.object(jsonparser.Object, at, eventKeys, func(idx int, v []byte, typ jsonparser.ValueType, at int) bool {
		switch idx {
		case 0:
			return r.str(v, typ, at, &f.Level)
		case 1:
			return r.str(v, typ, at, &f.AuditID)
		case 2:
			return r.str(v, typ, at, &f.Stage)
		case 3:
			return r.str(v, typ, at, &f.RequestURI)
		case 4:
			return r.str(v, typ, at, &f.Verb)
		case 5:
			return r.objectOK(typ, at, userKeys, func(idx int, v []byte, typ jsonparser.ValueType, at int) bool {
				if idx == 0 {
					return r.str(v, typ, at, &f.User.Username)
				}
				return r.strs(v, typ, at, &f.User.Groups)
			})
		case 6:
			return r.strs(v, typ, at, &f.SourceIPs)
		case 7:
			return r.str(v, typ, at, &f.UserAgent)
		case 8:
			f.ObjectRef = &objectRef{}
			o := f.ObjectRef
			return r.objectOK(typ, at, objectRefKeys, func(idx int, v []byte, typ jsonparser.ValueType, at int) bool {
				switch idx {
				case 0:
					return r.str(v, typ, at, &o.Resource)
				case 1:
					return r.str(v, typ, at, &o.Namespace)
				case 2:
					return r.str(v, typ, at, &o.Name)
				case 3:
					return r.str(v, typ, at, &o.APIGroup)
				case 4:
					return r.str(v, typ, at, &o.APIVersion)
				default:
					return r.str(v, typ, at, &o.Subresource)
				}
			})
		case 9:
			f.ResponseStatus = &responseStatus{}
			return r.objectOK(typ, at, statusKeys, func(_ int, v []byte, typ jsonparser.ValueType, _ int) bool {
				return r.int32(v, typ, &f.ResponseStatus.Code)
			})
		case 10:
			return r.timestamp(v, typ, at, &f.RequestReceivedTimestamp, &f.receivedText)
		case 11:
			return r.timestamp(v, typ, at, &f.StageTimestamp, &f.stageText)
		case 12:
			return r.str(v, typ, at, &f.Kind)
		case 13:
			return r.str(v, typ, at, &f.APIVersion)
		default:
			var text string
			return r.timestamp(v, typ, at, &f.Timestamp, &text)
		}
	})
}
