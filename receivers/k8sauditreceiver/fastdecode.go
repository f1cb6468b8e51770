package k8sauditreceiver

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-obs/vigil/internal/jsonscan"
)

// The fast path of Decode: one pass over the body that checks its syntax (jsonscan, the same
// grammar as encoding/json) and reads the fields vigil indexes straight from the bytes. It takes
// only the shapes it is sure of — the ones the kube-apiserver sends. Anything else goes to the
// encoding/json path, which stays the definition of what Decode returns: a body that is not
// valid JSON or whose list fields are unusual (decodeSlow), or one item with a field of an
// unexpected type, null, repeated, or a key that encoding/json would match case-insensitively
// (decodeEvent). FuzzDecodeAgrees checks that both paths give the same answer.

// decodeFast returns ok=false when the whole body must go to decodeSlow.
func decodeFast(body []byte, limits Limits) (events []Event, rejected []Rejected, ok bool) {
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, false
	}
	// The events' strings (body, attributes) are substrings of text: one copy of the body.
	text := string(body)
	var kind, apiVersion string
	var seen uint8
	i = jsonscan.SkipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			key, next, plain, good := scanKey(body, i)
			if !good || !plain {
				return nil, nil, false
			}
			i = next
			var bit uint8
			switch string(key) {
			case "kind", "apiVersion":
				end, plainV, good := stringValue(body, i)
				if !good || !plainV {
					return nil, nil, false
				}
				v := text[i+1 : end-1]
				if string(key) == "kind" {
					kind, bit = v, 1
				} else {
					apiVersion, bit = v, 2
				}
				i = end
			case "items":
				if events, rejected, i, ok = readItems(body, text, i, limits); !ok {
					return nil, nil, false
				}
				bit = 4
			default:
				if foldsTo(key, "kind", "apiVersion", "items") {
					return nil, nil, false
				}
				end, good := jsonscan.SkipValue(body, i, 1)
				if !good {
					return nil, nil, false
				}
				i = end
			}
			if seen&bit != 0 {
				return nil, nil, false
			}
			seen |= bit
			i = jsonscan.SkipSpace(body, i)
			if i >= len(body) {
				return nil, nil, false
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return nil, nil, false
			}
			i = jsonscan.SkipSpace(body, i+1)
		}
	}
	if jsonscan.SkipSpace(body, i) != len(body) || kind != wantKind || apiVersion != wantAPIVersion || seen&4 == 0 {
		return nil, nil, false // not valid, or not an EventList with items: decodeSlow words the answer
	}
	return events, rejected, true
}

// readItems reads the items array that starts at body[i] and returns the index after it.
func readItems(body []byte, text string, i int, limits Limits) (events []Event, rejected []Rejected, next int, ok bool) {
	if i >= len(body) || body[i] != '[' {
		return nil, nil, i, false
	}
	events = make([]Event, 0, len(body)/1024+1)
	i = jsonscan.SkipSpace(body, i+1)
	if i < len(body) && body[i] == ']' {
		return events, nil, i + 1, true
	}
	for n := 0; ; n++ {
		r := reader{b: body, s: text, i: i}
		var f fields
		good := readEvent(&r, &f)
		end := r.i
		if !good {
			// Not a shape the fast path reads: check its syntax, then let encoding/json decide.
			if end, ok = jsonscan.SkipValue(body, i, 2); !ok {
				return nil, nil, end, false
			}
		}
		raw := body[i:end:end]
		switch {
		case !good || (limits.MaxEventBytes > 0 && len(raw) > limits.MaxEventBytes):
			ev, rej := decodeEvent(n, raw, limits)
			if rej != nil {
				rejected = append(rejected, *rej)
			} else {
				events = append(events, ev)
			}
		default:
			ev, rej := eventOf(n, raw, text[i:end], &f)
			if rej != nil {
				rejected = append(rejected, *rej)
			} else {
				events = append(events, ev)
			}
		}
		i = jsonscan.SkipSpace(body, end)
		if i >= len(body) {
			return nil, nil, i, false
		}
		switch body[i] {
		case ']':
			return events, rejected, i + 1, true
		case ',':
			i = jsonscan.SkipSpace(body, i+1)
		default:
			return nil, nil, i, false
		}
	}
}

// scanKey reads the object key at b[i] and the colon after it; next is the start of the value.
func scanKey(b []byte, i int) (key []byte, next int, plain, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false, false
	}
	end, plain, ok := jsonscan.String(b, i)
	if !ok {
		return nil, end, false, false
	}
	j := jsonscan.SkipSpace(b, end)
	if j >= len(b) || b[j] != ':' {
		return nil, j, false, false
	}
	return b[i+1 : end-1], jsonscan.SkipSpace(b, j+1), plain, true
}

// stringValue checks that a string starts at b[i] and returns the index after it.
func stringValue(b []byte, i int) (end int, plain, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false, false
	}
	return jsonscan.String(b, i)
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

// reader reads one item; a false return from any of its methods means: use decodeEvent.
type reader struct {
	b []byte // the whole body
	s string // the same bytes
	i int
}

// object calls field for each key of the object at r.i, with r.i at its value; field must
// consume the value. It refuses keys with escapes or outside ASCII, and repeated known keys.
func (r *reader) object(depth int, known []string, field func(idx int) bool) bool {
	b := r.b
	if r.i >= len(b) || b[r.i] != '{' {
		return false
	}
	var seen uint32
	r.i = jsonscan.SkipSpace(b, r.i+1)
	if r.i < len(b) && b[r.i] == '}' {
		r.i++
		return true
	}
	for {
		key, next, plain, ok := scanKey(b, r.i)
		if !ok || !plain {
			return false
		}
		r.i = next
		idx := -1
		for k, name := range known {
			if string(key) == name {
				idx = k
				break
			}
		}
		if idx < 0 {
			if foldsTo(key, known...) {
				return false
			}
			end, ok := jsonscan.SkipValue(b, r.i, depth)
			if !ok {
				return false
			}
			r.i = end
		} else {
			if seen&(1<<idx) != 0 {
				return false
			}
			seen |= 1 << idx
			if !field(idx) {
				return false
			}
		}
		r.i = jsonscan.SkipSpace(b, r.i)
		if r.i >= len(b) {
			return false
		}
		switch b[r.i] {
		case '}':
			r.i++
			return true
		case ',':
			r.i = jsonscan.SkipSpace(b, r.i+1)
		default:
			return false
		}
	}
}

// str reads a string value as encoding/json decodes it.
func (r *reader) str(dst *string) bool {
	end, plain, ok := stringValue(r.b, r.i)
	if !ok {
		return false
	}
	if plain {
		*dst = r.s[r.i+1 : end-1]
	} else if json.Unmarshal(r.b[r.i:end], dst) != nil {
		return false
	}
	r.i = end
	return true
}

// strs reads an array of strings.
func (r *reader) strs(dst *[]string) bool {
	b := r.b
	if r.i >= len(b) || b[r.i] != '[' {
		return false
	}
	out := make([]string, 0, 2)
	r.i = jsonscan.SkipSpace(b, r.i+1)
	if r.i < len(b) && b[r.i] == ']' {
		r.i++
		*dst = out
		return true
	}
	for {
		var s string
		if !r.str(&s) {
			return false
		}
		out = append(out, s)
		r.i = jsonscan.SkipSpace(b, r.i)
		if r.i >= len(b) {
			return false
		}
		switch b[r.i] {
		case ']':
			r.i++
			*dst = out
			return true
		case ',':
			r.i = jsonscan.SkipSpace(b, r.i+1)
		default:
			return false
		}
	}
}

// timestamp reads a time as time.Time.UnmarshalJSON does (RFC 3339).
func (r *reader) timestamp(dst *time.Time) bool {
	end, _, ok := stringValue(r.b, r.i)
	if !ok || dst.UnmarshalJSON(r.b[r.i:end]) != nil {
		return false
	}
	r.i = end
	return true
}

// int32 reads an integer that fits an int32, as encoding/json does.
func (r *reader) int32(dst *int32) bool {
	end, ok := jsonscan.Number(r.b, r.i)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(r.b[r.i:end]), 10, 32)
	if err != nil {
		return false
	}
	*dst = int32(n)
	r.i = end
	return true
}

// readEvent reads the fields of the item at r.i into f, leaving r.i after it; false means:
// decode it with encoding/json (r.i is then anywhere).
func readEvent(r *reader, f *fields) bool {
	return r.object(3, eventKeys, func(idx int) bool {
		switch idx {
		case 0:
			return r.str(&f.Level)
		case 1:
			return r.str(&f.AuditID)
		case 2:
			return r.str(&f.Stage)
		case 3:
			return r.str(&f.RequestURI)
		case 4:
			return r.str(&f.Verb)
		case 5:
			return r.object(4, userKeys, func(idx int) bool {
				if idx == 0 {
					return r.str(&f.User.Username)
				}
				return r.strs(&f.User.Groups)
			})
		case 6:
			return r.strs(&f.SourceIPs)
		case 7:
			return r.str(&f.UserAgent)
		case 8:
			f.ObjectRef = &objectRef{}
			o := f.ObjectRef
			return r.object(4, objectRefKeys, func(idx int) bool {
				switch idx {
				case 0:
					return r.str(&o.Resource)
				case 1:
					return r.str(&o.Namespace)
				case 2:
					return r.str(&o.Name)
				case 3:
					return r.str(&o.APIGroup)
				case 4:
					return r.str(&o.APIVersion)
				default:
					return r.str(&o.Subresource)
				}
			})
		case 9:
			f.ResponseStatus = &responseStatus{}
			return r.object(4, statusKeys, func(int) bool { return r.int32(&f.ResponseStatus.Code) })
		case 10:
			return r.timestamp(&f.RequestReceivedTimestamp)
		default:
			return r.timestamp(&f.StageTimestamp)
		}
	})
}
