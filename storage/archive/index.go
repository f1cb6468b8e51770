package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/buger/jsonparser"
	gojson "github.com/goccy/go-json"

	"github.com/vigil-obs/vigil/internal/jsonspan"
)

// Index is stored beside each object (<seq>.index.json) and hashed into its manifest entry, so a
// query opens only the objects that can match. It holds, per label, the distinct values in the
// object when there are few (MaxIndexValues), and a bloom filter of "name=value" for every label
// value and every token field.
type Index struct {
	Version int                 `json:"version"` // 1
	Events  int                 `json:"events"`
	Labels  map[string][]string `json:"labels"` // label -> sorted distinct values ("" when an event lacks it); absent: too many values
	Bloom   *bloom.BloomFilter  `json:"bloom"`
}

// MaxIndexValues is the most distinct values of a label listed in an index; a label with more is
// only in the bloom filter.
const MaxIndexValues = 64

// EventFields are the fields of an audit event that indexes and query labels are made of: the
// labels (Fields.Labels order: namespace, resource, stage, user, verb) and the tokens that are
// only in the bloom filter.
type EventFields struct {
	Namespace, Resource, Stage, User, Verb string
	Name, AuditID                          string
	SourceIPs                              []string
	Time                                   time.Time // stageTimestamp, else requestReceivedTimestamp
}

// Indexed label names, and the token names that are only in the bloom filter.
const (
	TokenName     = "name"      // objectRef.name
	TokenAuditID  = "audit_id"  // auditID
	TokenSourceIP = "source_ip" // each of sourceIPs
)

// IndexedLabels are the per-event labels an index lists.
var IndexedLabels = []string{"namespace", "resource", "stage", "user", "verb"}

var eventPaths = [][]string{
	{"objectRef", "namespace"}, {"objectRef", "resource"}, {"stage"}, {"user", "username"}, {"verb"},
	{"objectRef", "name"}, {"auditID"}, {"sourceIPs"}, {"stageTimestamp"}, {"requestReceivedTimestamp"},
}

// ParseEventFields extracts the indexed fields of one archived line (an audit event). It never
// fails: what is missing or malformed stays empty. A line that is one valid JSON object (go-json's
// Valid) whose keys have no escapes is read member by member with jsonspan's scanner, which skips
// the values of other keys (requestObject, responseObject) without looking for the wanted keys
// inside them: faster than jsonparser.EachKey (about 1.4× on BenchmarkParseEventFields' events,
// more on long strings), which reads any other line and whose results the indexes already
// written hold. Both take the first occurrence of a duplicate key.
func ParseEventFields(line []byte) EventFields {
	if f, ok := parseObject(line); ok {
		return f
	}
	return parseEachKey(line)
}

// Bits of readFields' seen: which fields were met (the first occurrence counts, whatever its
// type, as with EachKey).
const (
	seenNamespace = 1 << iota
	seenResource
	seenStage
	seenUser
	seenVerb
	seenName
	seenAuditID
	seenSourceIPs
	seenStageTime
	seenReceived
)

// parseObject reads line when it is one valid JSON object whose keys have no escapes; ok is
// false for anything else.
func parseObject(line []byte) (EventFields, bool) {
	if !gojson.Valid(line) {
		return EventFields{}, false
	}
	i := jsonspan.SkipSpace(line, 0)
	if line[i] != '{' {
		return EventFields{}, false
	}
	return readFields(line[i:])
}

// eachMember calls fn for the members of obj (valid JSON), with their values as jsonparser
// gives them. A key with an escape stops it with errEscapedKey.
func eachMember(obj []byte, fn func(k, v []byte, typ jsonparser.ValueType) error) error {
	_, err := jsonspan.EachMember(obj, 0, func(key []byte, start, end int) error {
		if bytes.IndexByte(key, '\\') >= 0 {
			return errEscapedKey
		}
		v, typ := jsonspan.Value(obj, start, end)
		return fn(key, v, typ)
	})
	return err
}

// readFields reads the fields of the object obj (valid JSON); ok is false when a key has an
// escape.
func readFields(obj []byte) (f EventFields, ok bool) {
	var (
		received time.Time
		seen     int
	)
	first := func(bit int) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	str := func(v []byte, typ jsonparser.ValueType) string {
		if typ != jsonparser.String {
			return ""
		}
		s, err := jsonparser.ParseString(v)
		if err != nil {
			return ""
		}
		return s
	}
	take := func(bit int, dst *string, v []byte, typ jsonparser.ValueType) {
		if first(bit) {
			*dst = str(v, typ)
		}
	}
	err := eachMember(obj, func(k, v []byte, typ jsonparser.ValueType) error {
		switch string(k) {
		case "auditID":
			take(seenAuditID, &f.AuditID, v, typ)
		case "stage":
			take(seenStage, &f.Stage, v, typ)
		case "verb":
			take(seenVerb, &f.Verb, v, typ)
		case "user":
			if typ != jsonparser.Object {
				return nil
			}
			return eachMember(v, func(k, v []byte, typ jsonparser.ValueType) error {
				if string(k) == "username" {
					take(seenUser, &f.User, v, typ)
				}
				return nil
			})
		case "objectRef":
			if typ != jsonparser.Object {
				return nil
			}
			return eachMember(v, func(k, v []byte, typ jsonparser.ValueType) error {
				switch string(k) {
				case "namespace":
					take(seenNamespace, &f.Namespace, v, typ)
				case "resource":
					take(seenResource, &f.Resource, v, typ)
				case "name":
					take(seenName, &f.Name, v, typ)
				}
				return nil
			})
		case "sourceIPs":
			if first(seenSourceIPs) && typ == jsonparser.Array {
				f.SourceIPs = sourceIPs(v)
			}
		case "stageTimestamp":
			if first(seenStageTime) {
				f.Time, _ = time.Parse(time.RFC3339Nano, str(v, typ))
			}
		case "requestReceivedTimestamp":
			if first(seenReceived) {
				received, _ = time.Parse(time.RFC3339Nano, str(v, typ))
			}
		}
		return nil
	})
	if err != nil {
		return EventFields{}, false
	}
	if f.Time.IsZero() {
		f.Time = received
	}
	return f, true
}

var errEscapedKey = errors.New("escaped key")

func sourceIPs(v []byte) []string {
	var ips []string
	_, _ = jsonparser.ArrayEach(v, func(ip []byte, t jsonparser.ValueType, _ int, _ error) {
		if t == jsonparser.String {
			ips = append(ips, string(ip))
		}
	})
	return ips
}

// parseEachKey is ParseEventFields for any line: one pass of jsonparser.EachKey.
func parseEachKey(line []byte) EventFields {
	var f EventFields
	var received time.Time
	jsonparser.EachKey(line, func(i int, v []byte, typ jsonparser.ValueType, _ error) {
		if i == 7 {
			if typ == jsonparser.Array {
				f.SourceIPs = sourceIPs(v)
			}
			return
		}
		if typ != jsonparser.String {
			return
		}
		s, err := jsonparser.ParseString(v)
		if err != nil {
			return
		}
		switch i {
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
			received, _ = time.Parse(time.RFC3339Nano, s)
		}
	}, eventPaths...)
	if f.Time.IsZero() {
		f.Time = received
	}
	return f
}

// Labels returns the indexed labels' values, in IndexedLabels order.
func (f EventFields) Labels() [5]string {
	return [5]string{f.Namespace, f.Resource, f.Stage, f.User, f.Verb}
}

// BuildIndex indexes events. The result is deterministic: the same events give the same bytes.
func BuildIndex(events [][]byte) *Index {
	// The distinct values of each label and token field; the bloom filter holds "name=value" for
	// each (but a label's "").
	values := make([]map[string]struct{}, len(IndexedLabels))
	for i := range values {
		values[i] = map[string]struct{}{}
	}
	tokenNames := []string{TokenName, TokenAuditID, TokenSourceIP}
	tokens := make([]map[string]struct{}, len(tokenNames))
	for i := range tokens {
		tokens[i] = map[string]struct{}{}
	}
	add := func(m map[string]struct{}, v string) {
		if _, ok := m[v]; !ok {
			m[v] = struct{}{}
		}
	}
	for _, line := range events {
		f := ParseEventFields(line)
		for i, v := range f.Labels() {
			add(values[i], v)
		}
		if f.Name != "" {
			add(tokens[0], f.Name)
		}
		if f.AuditID != "" {
			add(tokens[1], f.AuditID)
		}
		for _, ip := range f.SourceIPs {
			add(tokens[2], ip)
		}
	}
	count := 0
	for i := range values {
		count += len(values[i])
		if _, ok := values[i][""]; ok {
			count--
		}
	}
	for i := range tokens {
		count += len(tokens[i])
	}
	idx := &Index{Version: 1, Events: len(events), Labels: map[string][]string{},
		Bloom: bloom.NewWithEstimates(uint(max(count, 1)), 0.01)}
	var buf []byte
	addBloom := func(name string, m map[string]struct{}) {
		for v := range m { // in any order: a bloom filter's bits do not depend on it
			if v != "" {
				buf = append(append(append(buf[:0], name...), '='), v...)
				idx.Bloom.Add(buf)
			}
		}
	}
	for i, name := range IndexedLabels {
		if len(values[i]) <= MaxIndexValues {
			idx.Labels[name] = sortedKeys(values[i])
		}
		addBloom(name, values[i])
	}
	for i, name := range tokenNames {
		addBloom(name, tokens[i])
	}
	return idx
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Encode returns the index as stored: JSON and a newline.
func (x *Index) Encode() ([]byte, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the index: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeIndex reads a stored index.
func DecodeIndex(b []byte) (*Index, error) {
	var x Index
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("cannot decode the index: %w", err)
	}
	if x.Version != 1 || x.Bloom == nil {
		return nil, fmt.Errorf("cannot decode the index: version %d (want 1) or no bloom filter", x.Version)
	}
	return &x, nil
}

// MayContain reports whether the object can hold an event whose label has a value for which
// match is true; literal, when not nil, lists the only values match accepts (an equality or a
// set of alternatives), so that the bloom filter can answer for labels with many values.
func (x *Index) MayContain(label string, match func(string) bool, literal []string) bool {
	if vals, ok := x.Labels[label]; ok {
		for _, v := range vals {
			if match(v) {
				return true
			}
		}
		return false
	}
	return x.MayContainToken(label, literal)
}

// MayContainToken reports whether a token (a label or token field) may have one of values;
// without values it cannot tell, and says true.
func (x *Index) MayContainToken(name string, values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if v == "" || x.Bloom.TestString(name+"="+v) {
			return true
		}
	}
	return false
}

// IndexName is the name of the index of an object.
func IndexName(object string) string {
	return strings.TrimSuffix(object, ".ndjson.zst") + ".index.json"
}
