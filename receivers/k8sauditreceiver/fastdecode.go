package k8sauditreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/buger/jsonparser"
	gojson "github.com/goccy/go-json"

	"github.com/vigil-obs/vigil/internal/jsonspan"
)

// The fast path of Decode: the body's syntax is checked by go-json's Valid (the same grammar
// and nesting limit as encoding/json), then jsonparser walks it and the fields vigil indexes are
// read straight from the bytes. It takes only the shapes it is sure of — the ones the
// kube-apiserver sends. Anything else goes to the encoding/json path, which stays the definition
// of what Decode returns: a body that is not valid JSON or whose list fields are unusual
// (decodeSlow), or one item with a field of an unexpected type, null, repeated, or a key that
// encoding/json would match case-insensitively (decodeEvent). FuzzDecodeAgrees checks that both
// paths give the same answer.

// errUnusual stops a jsonparser walk: the shape is left to encoding/json.
var errUnusual = errors.New("unusual shape")

// decodeFast returns ok=false when the whole body must go to decodeSlow. It walks the list's
// keys itself: jsonparser.ObjectEach would scan the whole items array once to find its end
// before readItems reads it.
func decodeFast(body []byte, limits Limits) (events []Event, rejected []Rejected, ok bool) {
	if !gojson.Valid(body) {
		return nil, nil, false // decodeSlow words the answer
	}
	// The events' strings (body, attributes) are substrings of text: one copy of the body.
	text := string(body)
	var kind, apiVersion string
	var seen uint8
	i := jsonspan.SkipSpace(body, 0)
	if body[i] != '{' {
		return nil, nil, false
	}
	i = jsonspan.SkipSpace(body, i+1)
	for body[i] != '}' { // valid JSON: a key, ':', a value, then ',' or '}'
		key, k, good := plainString(body, i)
		if !good {
			return nil, nil, false
		}
		v := jsonspan.SkipSpace(body, jsonspan.SkipSpace(body, k)+1)
		var bit uint8
		var end int
		switch string(key) {
		case "kind", "apiVersion":
			value, e, good := plainString(body, v)
			if !good {
				return nil, nil, false
			}
			if string(key) == "kind" {
				kind, bit = text[v+1:v+1+len(value)], 1
			} else {
				apiVersion, bit = text[v+1:v+1+len(value)], 2
			}
			end = e
		case "items":
			if body[v] != '[' {
				return nil, nil, false
			}
			if events, rejected, end, good = readItems(body, text, v, limits); !good {
				return nil, nil, false
			}
			bit = 4
		default:
			if foldsTo(key, "kind", "apiVersion", "items") {
				return nil, nil, false
			}
			_, _, size, err := jsonparser.Get(body[v:])
			if err != nil {
				return nil, nil, false
			}
			end = v + size
		}
		if seen&bit != 0 {
			return nil, nil, false
		}
		seen |= bit
		if i = jsonspan.SkipSpace(body, end); body[i] == ',' {
			i = jsonspan.SkipSpace(body, i+1)
		}
	}
	if kind != wantKind || apiVersion != wantAPIVersion || seen&4 == 0 {
		return nil, nil, false // not an EventList with items: decodeSlow words the answer
	}
	return events, rejected, true
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
// offset after it. It steps from item to item itself rather than with jsonparser.ArrayEach,
// which would scan each item once more to find its end: an item read by readEvent ends where
// its object does.
func readItems(body []byte, text string, at int, limits Limits) (events []Event, rejected []Rejected, end int, ok bool) {
	items := body[at:]
	events = make([]Event, 0, len(items)/1024+1)
	r := reader{b: body, s: text}
	i := jsonspan.SkipSpace(items, 1)
	if items[i] == ']' {
		return events, nil, at + i + 1, true
	}
	for n := 0; ; n++ {
		var f fields
		end, good := -1, false
		if items[i] == '{' {
			end, good = readEvent(&r, items[i:], at+i, &f)
		}
		if !good {
			_, _, size, err := jsonparser.Get(items[i:])
			if err != nil {
				return nil, nil, 0, false
			}
			end = at + i + size
		}
		start := at + i
		raw := body[start:end:end]
		var ev Event
		var rej *Rejected
		if !good || (limits.MaxEventBytes > 0 && len(raw) > limits.MaxEventBytes) {
			ev, rej = decodeEvent(n, raw, limits)
		} else {
			ev, rej = eventOf(n, raw, text[start:end], &f)
		}
		if rej != nil {
			rejected = append(rejected, *rej)
		} else {
			events = append(events, ev)
		}
		i = jsonspan.SkipSpace(items, end-at)
		if items[i] == ']' { // valid JSON: ']' or ','
			return events, rejected, at + i + 1, true
		}
		i = jsonspan.SkipSpace(items, i+1)
	}
}

// plainKey reports that the key jsonparser gave for the value at data[at:] has neither escapes
// nor bytes outside ASCII.
func plainKey(data, key []byte, at int) bool {
	return plain(key) && jsonspan.RawKey(data, key, at)
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

// eventKeys are the keys of fields, by level, for foldsTo.
var (
	eventKeys = []string{"level", "auditID", "stage", "requestURI", "verb", "user", "sourceIPs", "userAgent", "objectRef",
		"responseStatus", "requestReceivedTimestamp", "stageTimestamp"}
	userKeys      = []string{"username", "groups"}
	objectRefKeys = []string{"resource", "namespace", "name", "apiGroup", "apiVersion", "subresource"}
	statusKeys    = []string{"code"}
)

// reader reads the values of one item; a false return from any of its methods means: use
// decodeEvent.
type reader struct {
	b []byte // the whole body
	s string // the same bytes
}

// object calls field for each known key of the object at r.b[at:] (obj: it and perhaps what
// follows), with its value and where it is, and returns the end of the object. It refuses keys
// with escapes or outside ASCII, keys that fold to a known one, and repeated known keys.
func (r *reader) object(obj []byte, typ jsonparser.ValueType, at int, known []string,
	field func(idx int, v []byte, typ jsonparser.ValueType, at int) bool) (int, bool) {
	if typ != jsonparser.Object {
		return 0, false
	}
	var seen uint32
	last := at + 1 // the end of the last value
	err := jsonparser.ObjectEach(obj, func(key, v []byte, typ jsonparser.ValueType, end int) error {
		last = at + end
		vAt := at + jsonspan.ObjectValueStart(v, typ, end)
		if !plainKey(r.b, key, vAt) {
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
		case seen&(1<<idx) != 0:
			return errUnusual
		default:
			seen |= 1 << idx
			if !field(idx, v, typ, vAt) {
				return errUnusual
			}
		}
		return nil
	})
	if err != nil {
		return 0, false
	}
	return jsonspan.SkipSpace(r.b, last) + 1, true // valid JSON: '}' follows
}

// objectOK is object without the end.
func (r *reader) objectOK(obj []byte, typ jsonparser.ValueType, at int, known []string,
	field func(idx int, v []byte, typ jsonparser.ValueType, at int) bool) bool {
	_, ok := r.object(obj, typ, at, known, field)
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
	return json.Unmarshal(r.b[at:at+len(v)+2], dst) == nil
}

// strs reads an array of strings.
func (r *reader) strs(v []byte, typ jsonparser.ValueType, at int, dst *[]string) bool {
	if typ != jsonparser.Array {
		return false
	}
	out := make([]string, 0, 2)
	good := true
	_, err := jsonparser.ArrayEach(v, func(e []byte, typ jsonparser.ValueType, offset int, _ error) {
		var s string
		if good = good && r.str(e, typ, at+jsonspan.ArrayValueStart(typ, offset), &s); good {
			out = append(out, s)
		}
	})
	if err != nil || !good {
		return false
	}
	*dst = out
	return true
}

// timestamp reads a time as time.Time.UnmarshalJSON does (RFC 3339).
func (r *reader) timestamp(v []byte, typ jsonparser.ValueType, at int, dst *time.Time) bool {
	if typ != jsonparser.String {
		return false
	}
	return dst.UnmarshalJSON(r.b[at:at+len(v)+2]) == nil
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
func readEvent(r *reader, item []byte, at int, f *fields) (int, bool) {
	return r.object(item, jsonparser.Object, at, eventKeys, func(idx int, v []byte, typ jsonparser.ValueType, at int) bool {
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
			return r.objectOK(v, typ, at, userKeys, func(idx int, v []byte, typ jsonparser.ValueType, at int) bool {
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
			return r.objectOK(v, typ, at, objectRefKeys, func(idx int, v []byte, typ jsonparser.ValueType, at int) bool {
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
			return r.objectOK(v, typ, at, statusKeys, func(_ int, v []byte, typ jsonparser.ValueType, _ int) bool {
				return r.int32(v, typ, &f.ResponseStatus.Code)
			})
		case 10:
			return r.timestamp(v, typ, at, &f.RequestReceivedTimestamp)
		default:
			return r.timestamp(v, typ, at, &f.StageTimestamp)
		}
	})
}
