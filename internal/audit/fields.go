package audit

import (
	"bytes"
	"errors"
	"time"

	"github.com/buger/jsonparser"
	gojson "github.com/goccy/go-json"
)

// LabelNames are the names of an event's labels (the archive's index and query labels), in the
// order of Fields.Labels.
var LabelNames = [...]string{"namespace", "resource", "stage", "user", "verb"}

// Fields are the fields of an audit event that indexes and query labels are made of: the
// labels (LabelNames order: namespace, resource, stage, user, verb) and the tokens that are
// only in the bloom filter.
type Fields struct {
	Namespace, Resource, Stage, User, Verb string
	Name, AuditID                          string
	SourceIPs                              []string
	Time                                   time.Time // stageTimestamp, else requestReceivedTimestamp
}

var eventPaths = [][]string{
	{"objectRef", "namespace"}, {"objectRef", "resource"}, {"stage"}, {"user", "username"}, {"verb"},
	{"objectRef", "name"}, {"auditID"}, {"sourceIPs"}, {"stageTimestamp"}, {"requestReceivedTimestamp"},
}

// ParseFields extracts the indexed fields of one archived line (an audit event). It never
// fails: what is missing or malformed stays empty. A line that is one valid JSON object (go-json's
// Valid) whose keys have no escapes is read member by member with the package's scanner (scan.go), which skips
// the values of other keys (requestObject, responseObject) without looking for the wanted keys
// inside them: faster than jsonparser.EachKey (about 1.4× on BenchmarkParseFields' events,
// more on long strings), which reads any other line and whose results the indexes already
// written hold. Both take the first occurrence of a duplicate key.
func ParseFields(line []byte) Fields { return ParseRaw(line).Decode() }

// decode turns the fields as written into their values.
func (r RawFields) Decode() Fields {
	var f Fields
	for i, dst := range [...]*string{&f.Namespace, &f.Resource, &f.Stage, &f.User, &f.Verb, &f.Name, &f.AuditID} {
		*dst = str(r.Strs[i])
	}
	if r.SourceIPs != nil {
		f.SourceIPs = sourceIPs(r.SourceIPs)
	}
	f.Time, _ = time.Parse(time.RFC3339Nano, str(r.StageTime))
	if f.Time.IsZero() {
		f.Time, _ = time.Parse(time.RFC3339Nano, str(r.Received))
	}
	return f
}

// RawFields are an event's indexed fields as its line holds them, for BuildIndex, which needs
// neither the timestamps nor a string for each value it has already seen. A string field is its
// text between the quotes, escapes not decoded; nil when the field is absent or not a string.
type RawFields struct {
	Strs                [RawStrings][]byte // namespace, resource, stage, user, verb, name, auditID
	SourceIPs           []byte             // the array's JSON text; nil when absent or not an array
	StageTime, Received []byte
}

// Indexes of RawFields.strs: the labels (IndexedLabels order), then the name and auditID tokens.
const (
	RawNamespace = iota
	RawResource
	RawStage
	RawUser
	RawVerb
	RawName
	RawAuditID
	RawStrings
)

func ParseRaw(line []byte) RawFields {
	if r, ok := parseObject(line); ok {
		return r
	}
	return parseEachKey(line)
}

// str is a string field's value ("" when it is nil or its escapes are malformed).
func str(v []byte) string {
	if v == nil {
		return ""
	}
	s, err := jsonparser.ParseString(v)
	if err != nil {
		return ""
	}
	return s
}

// parseObject reads line when it is one valid JSON object whose keys have no escapes; ok is
// false for anything else.
func parseObject(line []byte) (RawFields, bool) {
	if !gojson.Valid(line) {
		return RawFields{}, false
	}
	i := SkipSpace(line, 0)
	if line[i] != '{' {
		return RawFields{}, false
	}
	return readFields(line[i:])
}

// eachPlainMember calls fn for the members of obj (valid JSON), with their values as jsonparser
// gives them. A key with an escape stops it with errEscapedKey.
func eachPlainMember(obj []byte, fn func(k, v []byte, typ jsonparser.ValueType) error) error {
	_, err := EachMember(obj, 0, func(key []byte, start, end int) error {
		if bytes.IndexByte(key, '\\') >= 0 {
			return errEscapedKey
		}
		v, typ := Value(obj, start, end)
		return fn(key, v, typ)
	})
	return err
}

// readFields reads the fields of the object obj (valid JSON); ok is false when a key has an
// escape. The first occurrence of a key counts, whatever its type, as with EachKey.
func readFields(obj []byte) (r RawFields, ok bool) {
	var seen [RawStrings + 3]bool // the strings, then sourceIPs, stageTimestamp, requestReceivedTimestamp
	take := func(i int, dst *[]byte, v []byte, typ jsonparser.ValueType) {
		if !seen[i] {
			seen[i] = true
			if typ == jsonparser.String {
				*dst = v
			}
		}
	}
	field := func(i int, v []byte, typ jsonparser.ValueType) { take(i, &r.Strs[i], v, typ) }
	err := eachPlainMember(obj, func(k, v []byte, typ jsonparser.ValueType) error {
		switch string(k) {
		case "auditID":
			field(RawAuditID, v, typ)
		case "stage":
			field(RawStage, v, typ)
		case "verb":
			field(RawVerb, v, typ)
		case "user":
			if typ != jsonparser.Object {
				return nil
			}
			return eachPlainMember(v, func(k, v []byte, typ jsonparser.ValueType) error {
				if string(k) == "username" {
					field(RawUser, v, typ)
				}
				return nil
			})
		case "objectRef":
			if typ != jsonparser.Object {
				return nil
			}
			return eachPlainMember(v, func(k, v []byte, typ jsonparser.ValueType) error {
				switch string(k) {
				case "namespace":
					field(RawNamespace, v, typ)
				case "resource":
					field(RawResource, v, typ)
				case "name":
					field(RawName, v, typ)
				}
				return nil
			})
		case "sourceIPs":
			if !seen[RawStrings] {
				seen[RawStrings] = true
				if typ == jsonparser.Array {
					r.SourceIPs = v
				}
			}
		case "stageTimestamp":
			take(RawStrings+1, &r.StageTime, v, typ)
		case "requestReceivedTimestamp":
			take(RawStrings+2, &r.Received, v, typ)
		}
		return nil
	})
	if err != nil {
		return RawFields{}, false
	}
	return r, true
}

var errEscapedKey = errors.New("escaped key")

// sourceIPs are the string elements of the array v, as written (escapes not decoded).
func sourceIPs(v []byte) []string {
	var ips []string
	EachSourceIP(v, func(ip []byte) { ips = append(ips, string(ip)) })
	return ips
}

func EachSourceIP(v []byte, fn func(ip []byte)) {
	_, _ = jsonparser.ArrayEach(v, func(ip []byte, t jsonparser.ValueType, _ int, _ error) {
		if t == jsonparser.String {
			fn(ip)
		}
	})
}

// parseEachKey is parseRaw for any line: one pass of jsonparser.EachKey.
func parseEachKey(line []byte) RawFields {
	var r RawFields
	jsonparser.EachKey(line, func(i int, v []byte, typ jsonparser.ValueType, _ error) {
		switch {
		case i == 7:
			if typ == jsonparser.Array {
				r.SourceIPs = v
			}
		case typ != jsonparser.String:
		case i < RawStrings:
			r.Strs[i] = v
		case i == 8:
			r.StageTime = v
		case i == 9:
			r.Received = v
		}
	}, eventPaths...)
	return r
}

// Labels returns the label values, in LabelNames order.
func (f Fields) Labels() [5]string {
	return [5]string{f.Namespace, f.Resource, f.Stage, f.User, f.Verb}
}
