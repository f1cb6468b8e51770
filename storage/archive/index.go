package archive

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/buger/jsonparser"

	"github.com/vigil-obs/vigil/internal/audit"
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

// Indexed label names, and the token names that are only in the bloom filter.
const (
	TokenName     = "name"      // objectRef.name
	TokenAuditID  = "audit_id"  // auditID
	TokenSourceIP = "source_ip" // each of sourceIPs
)

// IndexedLabels are the per-event labels an index lists.
var IndexedLabels = audit.LabelNames[:]

// BuildIndex indexes events. The result is deterministic: the same events give the same bytes.
func BuildIndex(events [][]byte) *Index {
	b := NewIndexBuilder()
	for _, line := range events {
		b.AddLine(line)
	}
	return b.Index()
}

// tokenNames are the token fields of IndexBuilder.tokens, in order.
var tokenNames = [...]string{TokenName, TokenAuditID, TokenSourceIP}

// IndexBuilder gathers the events of an object for its Index, one by one: AddLine reads an
// event's line, AddFields takes fields read already (as audit.ParseFields reads them), and AddList
// a list of such fields. Whatever way the events come, the Index is the same.
type IndexBuilder struct {
	events int
	// The distinct values of each label and token field; the bloom filter holds "name=value" for
	// each (but a label's "").
	values  [len(audit.LabelNames)]map[string]struct{}
	tokens  [len(tokenNames)]map[string]struct{}
	scratch []byte
}

// NewIndexBuilder returns a builder without events.
func NewIndexBuilder() *IndexBuilder {
	b := &IndexBuilder{}
	for i := range b.values {
		b.values[i] = map[string]struct{}{}
	}
	for i := range b.tokens {
		b.tokens[i] = map[string]struct{}{}
	}
	return b
}

// Events is how many events were added.
func (b *IndexBuilder) Events() int { return b.events }

// add puts v in m; a value is looked up as bytes (no string made) and copied only the first time.
func add(m map[string]struct{}, v []byte) {
	if _, ok := m[string(v)]; !ok {
		m[string(v)] = struct{}{}
	}
}

func addString(m map[string]struct{}, v string) {
	if _, ok := m[v]; !ok {
		m[strings.Clone(v)] = struct{}{}
	}
}

// AddLine adds the event of an archived line.
func (b *IndexBuilder) AddLine(line []byte) {
	// unescape is str's value as bytes: nil for an absent field or malformed escapes.
	unescape := func(raw []byte) []byte {
		if bytes.IndexByte(raw, '\\') < 0 {
			return raw
		}
		b.scratch = slices.Grow(b.scratch[:0], len(raw)) // Unescape writes into it (never into raw)
		v, err := jsonparser.Unescape(raw, b.scratch)
		if err != nil {
			return nil
		}
		return v
	}
	b.events++
	r := audit.ParseRaw(line)
	for i := range b.values {
		add(b.values[i], unescape(r.Strs[i]))
	}
	for i, f := range [...]int{audit.RawName, audit.RawAuditID} {
		if v := unescape(r.Strs[f]); len(v) > 0 {
			add(b.tokens[i], v)
		}
	}
	audit.EachSourceIP(r.SourceIPs, func(ip []byte) { add(b.tokens[2], ip) })
}

// AddFields adds an event whose fields are f (its Time is not indexed). The strings are copied
// when kept.
func (b *IndexBuilder) AddFields(f *audit.Fields) {
	b.events++
	for i, v := range f.Labels() {
		addString(b.values[i], v)
	}
	for i, v := range [...]string{f.Name, f.AuditID} {
		if v != "" {
			addString(b.tokens[i], v)
		}
	}
	for _, ip := range f.SourceIPs {
		addString(b.tokens[2], ip)
	}
}

// FieldsList is a compact list of events' index fields, for a caller that keeps them until it
// indexes the events (IndexBuilder.AddList): the strings are copied into one buffer, each
// after its length.
type FieldsList struct {
	b []byte
	n int
}

// Add appends the fields of an event (its Time is not kept).
func (l *FieldsList) Add(f *audit.Fields) {
	for _, v := range [...]string{f.Namespace, f.Resource, f.Stage, f.User, f.Verb, f.Name, f.AuditID} {
		l.b = binary.AppendUvarint(l.b, uint64(len(v)))
		l.b = append(l.b, v...)
	}
	l.b = binary.AppendUvarint(l.b, uint64(len(f.SourceIPs)))
	for _, ip := range f.SourceIPs {
		l.b = binary.AppendUvarint(l.b, uint64(len(ip)))
		l.b = append(l.b, ip...)
	}
	l.n++
}

// Len is how many events the list holds.
func (l *FieldsList) Len() int { return l.n }

// Size is the bytes the list holds.
func (l *FieldsList) Size() int { return len(l.b) }

// AddList adds the events of l, as AddFields adds each.
func (b *IndexBuilder) AddList(l *FieldsList) {
	buf := l.b
	next := func() []byte {
		n, k := binary.Uvarint(buf)
		v := buf[k : k+int(n)]
		buf = buf[k+int(n):]
		return v
	}
	for range l.n {
		b.events++
		for i := range b.values {
			add(b.values[i], next())
		}
		for i := range 2 { // name, auditID
			if v := next(); len(v) > 0 {
				add(b.tokens[i], v)
			}
		}
		ips, k := binary.Uvarint(buf)
		buf = buf[k:]
		for range ips {
			add(b.tokens[2], next())
		}
	}
}

// Index returns the index of the events added.
func (b *IndexBuilder) Index() *Index {
	count := 0
	for i := range b.values {
		count += len(b.values[i])
		if _, ok := b.values[i][""]; ok {
			count--
		}
	}
	for i := range b.tokens {
		count += len(b.tokens[i])
	}
	idx := &Index{Version: 1, Events: b.events, Labels: map[string][]string{},
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
		if len(b.values[i]) <= MaxIndexValues {
			idx.Labels[name] = sortedKeys(b.values[i])
		}
		addBloom(name, b.values[i])
	}
	for i, name := range tokenNames {
		addBloom(name, b.tokens[i])
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
