package archive

import (
	"time"

	"github.com/buger/jsonparser"

	"github.com/vigil-obs/vigil/internal/jsonscan"
)

// parseEventFieldsFast is ParseEventFields in one jsonscan pass for lines that are one valid
// JSON object whose keys (at the two levels jsonparser looks at) have no escapes and whose
// sourceIPs hold only strings: the lines vigil writes. It gives what jsonparser.EachKey gives on
// them — for each path the first occurrence, through objects only, never inside arrays — and
// returns false for anything else (parseEventFieldsSlow decides). FuzzParseEventFieldsAgrees
// checks the two against each other.
func parseEventFieldsFast(line []byte) (EventFields, bool) {
	var f EventFields
	p := fieldParser{b: line}
	i := jsonscan.SkipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return f, false
	}
	end, ok := p.object(i, 1, parentTop, &f)
	if !ok || jsonscan.SkipSpace(line, end) != len(line) {
		return f, false
	}
	if f.Time.IsZero() {
		f.Time = p.received
	}
	return f, true
}

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

// object walks the object at b[i] (level 1 or 2) and returns the index after it.
func (p *fieldParser) object(i, level, parent int, f *EventFields) (int, bool) {
	b := p.b
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		kend, plain, ok := jsonscan.String(b, i)
		if !ok || !plain {
			return i, false
		}
		key := b[i+1 : kend-1]
		i = jsonscan.SkipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		v := jsonscan.SkipSpace(b, i+1)
		if idx := pathIndex(parent, key); idx >= 0 && p.matched&(1<<idx) == 0 {
			p.matched |= 1 << idx
			if !p.value(idx, v, f) {
				return v, false
			}
		}
		if level == 1 && v < len(b) && b[v] == '{' {
			i, ok = p.object(v, 2, parentOf(key), f)
		} else {
			i, ok = jsonscan.SkipValue(b, v, level)
		}
		if !ok {
			return i, false
		}
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// value reads the value of path idx at b[v] into f as ParseEventFields does; false: cannot say.
func (p *fieldParser) value(idx, v int, f *EventFields) bool {
	b := p.b
	if idx == 7 {
		if v >= len(b) || b[v] != '[' {
			return true // not an array: ignored
		}
		i := jsonscan.SkipSpace(b, v+1)
		if i < len(b) && b[i] == ']' {
			return true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return false
			}
			end, _, ok := jsonscan.String(b, i)
			if !ok {
				return false
			}
			f.SourceIPs = append(f.SourceIPs, string(b[i+1:end-1])) // as jsonparser.ArrayEach gives it: not unescaped
			i = jsonscan.SkipSpace(b, end)
			if i >= len(b) {
				return false
			}
			switch b[i] {
			case ',':
				i = jsonscan.SkipSpace(b, i+1)
			case ']':
				return true
			default:
				return false
			}
		}
	}
	if v >= len(b) || b[v] != '"' {
		return true // not a string: ignored
	}
	end, plain, ok := jsonscan.String(b, v)
	if !ok {
		return false
	}
	var s string
	if plain {
		s = string(b[v+1 : end-1])
	} else if s, ok = parseString(b[v+1 : end-1]); !ok {
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

func parseString(b []byte) (string, bool) {
	s, err := jsonparser.ParseString(b)
	return s, err == nil
}
