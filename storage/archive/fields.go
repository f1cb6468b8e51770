package archive

import (
	"bytes"
	"errors"
	"time"

	"github.com/buger/jsonparser"
	gojson "github.com/goccy/go-json"

	"github.com/vigil-obs/vigil/internal/jsonspan"
)

// parseEventFieldsFast is ParseEventFields in one jsonparser walk for lines that are one valid
// JSON object (go-json's Valid: encoding/json's grammar) whose keys (at the two levels jsonparser
// looks at) have no escapes and whose sourceIPs hold only strings: the lines vigil writes. It
// gives what jsonparser.EachKey gives on them — for each path the first occurrence, through
// objects only, never inside arrays — and returns false for anything else
// (parseEventFieldsSlow decides). FuzzParseEventFieldsAgrees checks the two against each other.
func parseEventFieldsFast(line []byte) (EventFields, bool) {
	var f EventFields
	i := jsonspan.SkipSpace(line, 0)
	if i >= len(line) || line[i] != '{' || !gojson.Valid(line) {
		return f, false
	}
	p := fieldParser{b: line}
	if !p.object(line[i:], i, parentTop, &f) {
		return f, false
	}
	if f.Time.IsZero() {
		f.Time = p.received
	}
	return f, true
}

// errUnusual stops a jsonparser walk: parseEventFieldsSlow decides.
var errUnusual = errors.New("unusual line")

type fieldParser struct {
	b        []byte
	matched  uint16 // eventPaths found (first occurrence wins, as in jsonparser)
	received time.Time
}

// Parents of the keys of eventPaths.
const (
	parentTop = iota
	parentObjectRef
	parentUser
	parentOther
)

func parentOf(key []byte) int {
	switch string(key) {
	case "objectRef":
		return parentObjectRef
	case "user":
		return parentUser
	}
	return parentOther
}

// pathIndex is the index in eventPaths of the key under parent, or -1.
func pathIndex(parent int, key []byte) int {
	switch parent {
	case parentTop:
		switch string(key) {
		case "stage":
			return 2
		case "verb":
			return 4
		case "auditID":
			return 6
		case "sourceIPs":
			return 7
		case "stageTimestamp":
			return 8
		case "requestReceivedTimestamp":
			return 9
		}
	case parentObjectRef:
		switch string(key) {
		case "namespace":
			return 0
		case "resource":
			return 1
		case "name":
			return 5
		}
	case parentUser:
		if string(key) == "username" {
			return 3
		}
	}
	return -1
}

// object walks the object at b[at:] (obj: it and what follows) of level 1 (parent parentTop)
// or 2.
func (p *fieldParser) object(obj []byte, at, parent int, f *EventFields) bool {
	err := jsonparser.ObjectEach(obj, func(key, v []byte, typ jsonparser.ValueType, end int) error {
		vAt := at + jsonspan.ObjectValueStart(v, typ, end)
		if !ascii(key) || !jsonspan.RawKey(p.b, key, vAt) {
			return errUnusual
		}
		if idx := pathIndex(parent, key); idx >= 0 && p.matched&(1<<idx) == 0 {
			p.matched |= 1 << idx
			if !p.value(idx, v, typ, f) {
				return errUnusual
			}
		}
		if parent == parentTop && typ == jsonparser.Object && !p.object(v, vAt, parentOf(key), f) {
			return errUnusual
		}
		return nil
	})
	return err == nil
}

// value reads the value v of path idx into f as ParseEventFields does; false: cannot say.
func (p *fieldParser) value(idx int, v []byte, typ jsonparser.ValueType, f *EventFields) bool {
	if idx == 7 {
		if typ != jsonparser.Array {
			return true // not an array: ignored
		}
		good := true
		_, err := jsonparser.ArrayEach(v, func(ip []byte, typ jsonparser.ValueType, _ int, _ error) {
			if good = good && typ == jsonparser.String; good {
				f.SourceIPs = append(f.SourceIPs, string(ip)) // as jsonparser.ArrayEach gives it: not unescaped
			}
		})
		return good && err == nil
	}
	if typ != jsonparser.String {
		return true // not a string: ignored
	}
	var s string
	if bytes.IndexByte(v, '\\') < 0 {
		s = string(v)
	} else if parsed, ok := parseString(v); ok {
		s = parsed
	} else {
		return true // jsonparser cannot unescape it: ignored
	}
	switch idx {
	case 0:
		f.Namespace = s
	case 1:
		f.Resource = s
	case 2:
		f.Stage = s
	case 3:
		f.User = s
	case 4:
		f.Verb = s
	case 5:
		f.Name = s
	case 6:
		f.AuditID = s
	case 8:
		f.Time, _ = time.Parse(time.RFC3339Nano, s)
	case 9:
		p.received, _ = time.Parse(time.RFC3339Nano, s)
	}
	return true
}

// ascii reports that b holds no bytes outside ASCII.
func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func parseString(b []byte) (string, bool) {
	s, err := jsonparser.ParseString(b)
	return s, err == nil
}
