package archivequery

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/grafana/loki/v3/pkg/logql/log"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/prometheus/prometheus/model/labels"
)

// jsonFilter rejects, before Loki's JSON parser runs, lines that the label filters right after a
// plain `| json` are certain to reject. It reads from the raw line only the labels those filters
// name, as Loki's `| json` would name and set them, and runs Loki's own filters on them (numeric,
// duration, bytes and string comparisons, and their `and`/`or`). Whenever it cannot be sure what
// Loki would see it lets the line through, and the full pipeline decides:
//
//   - the line is not a strictly valid JSON object (Loki's parser may then stop half way, or set
//     __error__), is nested deeper than maxJSONDepth, or has a key written with a \ escape (Loki
//     unescapes keys, and can fail to);
//   - a named label is set by more than one field (which value Loki keeps depends on the
//     filters: it can stop at the first), or is a string with a \ escape or a byte above 0x7f
//     (Loki unescapes it and replaces invalid UTF-8);
//   - a filter names a stream label (a field of the same name then becomes `<name>_extracted`,
//     and the stream label may be absent), a name ending in _extracted, __error__ or another
//     name starting with __, or is of a kind not listed above (ip()).
//
// A jsonFilter is not safe for concurrent use: each scan builds its own.
type jsonFilter struct {
	stages []*jsonCond // every one must hold
	names  []string    // the labels the conditions read from the event
	vals   []jsonVal   // per name, for the current line
	lb     *log.LabelsBuilder
	buf    []byte // the flattened names being built
	// nameLen[n]: a name the filter reads has n bytes (the last entry: n or more).
	nameLen [64]bool
	// seen and rejected count lines; off: too few were rejected for the pass to pay off (most
	// lines match), and every line goes to the full pipeline.
	seen, rejected int
	off            bool
}

// jsonFilterTrial is the number of lines after which a filter that rejected fewer than one in
// eight switches itself off: it would only add its pass to Loki's parser on most lines.
const jsonFilterTrial = 1024

// maxJSONDepth bounds the nesting the prefilter follows; deeper lines go to the full pipeline.
const maxJSONDepth = 64

type jsonValState uint8

const (
	valAbsent jsonValState = iota // no field sets the label
	valSet                        // one field sets it, to val
	valUnsure                     // several fields set it, or its value needs unescaping
)

type jsonVal struct {
	state jsonValState
	val   []byte // points into the line
}

// jsonCond is one label filter: a leaf that reads one label (name < 0: one it cannot judge) or
// the and/or of two.
type jsonCond struct {
	leaf        log.LabelFilterer
	name        int
	and         bool
	left, right *jsonCond
}

type tri uint8

const (
	triNo tri = iota
	triYes
	triMaybe
)

// newJSONFilter returns the filter for the label filter stages that follow a plain `| json`,
// or nil when none of them can ever reject a line on the raw event.
func newJSONFilter(stages []syntax.StageExpr) *jsonFilter {
	f := &jsonFilter{}
	for _, st := range stages {
		lf, ok := st.(*syntax.LabelFilterExpr)
		if !ok {
			break
		}
		c := f.cond(lf.LabelFilterer)
		if c.canReject() {
			f.stages = append(f.stages, c)
		}
	}
	if len(f.stages) == 0 {
		return nil
	}
	f.vals = make([]jsonVal, len(f.names))
	for _, n := range f.names {
		f.nameLen[min(len(n), len(f.nameLen)-1)] = true
	}
	f.lb = log.NewBaseLabelsBuilder().ForLabels(labels.EmptyLabels(), 0)
	f.buf = make([]byte, 0, 256)
	return f
}

func (f *jsonFilter) cond(lf log.LabelFilterer) *jsonCond {
	switch lf := lf.(type) {
	case *log.BinaryLabelFilter:
		return &jsonCond{and: lf.And, left: f.cond(lf.Left), right: f.cond(lf.Right)}
	case *log.NumericLabelFilter, *log.DurationLabelFilter, *log.BytesLabelFilter, *log.StringLabelFilter, *log.LineFilterLabelFilter:
		names := lf.RequiredLabelNames()
		if len(names) != 1 || !fromJSONOnly(names[0]) {
			return &jsonCond{leaf: lf, name: -1}
		}
		return &jsonCond{leaf: lf, name: f.nameIndex(names[0])}
	default:
		return &jsonCond{leaf: lf, name: -1}
	}
}

func (f *jsonFilter) nameIndex(name string) int {
	for i, n := range f.names {
		if n == name {
			return i
		}
	}
	f.names = append(f.names, name)
	return len(f.names) - 1
}

// fromJSONOnly reports whether only `| json` can set label name on an archived event: not a
// stream label, not the name Loki gives a field that collides with one, not an internal label.
func fromJSONOnly(name string) bool {
	for _, n := range LabelNames {
		if n == name {
			return false
		}
	}
	return name != "" && !strings.HasPrefix(name, "__") && !strings.HasSuffix(name, "_extracted")
}

// canReject reports whether c can be false for some line while reading labels it can judge.
func (c *jsonCond) canReject() bool {
	switch {
	case c.left != nil && c.and:
		return c.left.canReject() || c.right.canReject()
	case c.left != nil:
		return c.left.canReject() && c.right.canReject()
	default:
		return c.name >= 0
	}
}

// passes reports whether line can pass the label filters after `| json`: false only when Loki
// is certain to drop it.
func (f *jsonFilter) passes(line []byte) bool {
	if f.off {
		return true
	}
	if f.seen++; f.seen == jsonFilterTrial && f.rejected*8 < f.seen {
		f.off = true
	}
	if f.judge(line) {
		return true
	}
	f.rejected++
	return false
}

// judge reports whether line can pass the filters.
func (f *jsonFilter) judge(line []byte) bool {
	for i := range f.vals {
		f.vals[i] = jsonVal{}
	}
	s := jsonScanner{f: f, line: line}
	s.skipSpace()
	if !s.object(f.buf[:0], 0) {
		return true
	}
	s.skipSpace()
	if s.pos != len(line) {
		return true
	}
	f.lb.Reset()
	for i, v := range f.vals {
		if v.state == valSet {
			// The builder is reset before the next line and keeps nothing of the value.
			f.lb.Set(log.ParsedLabel, f.names[i], unsafe.String(unsafe.SliceData(v.val), len(v.val)))
		}
	}
	for _, c := range f.stages {
		if f.eval(c) == triNo {
			return false
		}
	}
	return true
}

// eval runs c on the labels of the line as Loki's label filters do (left first; `or` stops at
// a true left), in three-valued logic for the leaves it cannot judge.
func (f *jsonFilter) eval(c *jsonCond) tri {
	if c.left != nil {
		l, r := f.eval(c.left), f.eval(c.right)
		if c.and {
			if l == triNo || r == triNo {
				return triNo
			}
			if l == triYes && r == triYes {
				return triYes
			}
			return triMaybe
		}
		if l == triYes || r == triYes {
			return triYes
		}
		if l == triNo && r == triNo {
			return triNo
		}
		return triMaybe
	}
	if c.name < 0 || f.vals[c.name].state == valUnsure {
		return triMaybe
	}
	if _, ok := c.leaf.Process(0, nil, f.lb); ok {
		return triYes
	}
	return triNo
}

// jsonScanner walks one line as Loki's `| json` does (objects flattened into label names,
// arrays and nulls set nothing) and records the values of the labels the filter reads. Its
// methods return false when the line is not one it can judge.
type jsonScanner struct {
	f    *jsonFilter
	line []byte
	pos  int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.line) {
		switch s.line[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// object reads an object at pos whose keys' flattened names start with prefix.
func (s *jsonScanner) object(prefix []byte, depth int) bool {
	if depth >= maxJSONDepth || s.pos >= len(s.line) || s.line[s.pos] != '{' {
		return false
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.line) && s.line[s.pos] == '}' {
		s.pos++
		return true
	}
	for {
		if s.pos >= len(s.line) || s.line[s.pos] != '"' {
			return false
		}
		key, escaped, ok := s.str()
		if !ok || escaped {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.line) || s.line[s.pos] != ':' {
			return false
		}
		s.pos++
		s.skipSpace()
		if s.pos >= len(s.line) {
			return false
		}
		if !s.member(prefix, key, depth) {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.line) {
			return false
		}
		switch s.line[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// member reads the value of key at pos.
func (s *jsonScanner) member(prefix, key []byte, depth int) bool {
	c := s.line[s.pos]
	switch {
	case c == '{':
		if p := appendLabelPart(prefix, key); s.f.underPrefix(p) {
			return s.object(p, depth+1)
		}
		return s.skipObject(depth+1, true)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		val, escaped, ok := s.str()
		if !ok {
			return false
		}
		s.record(prefix, key, val, escaped)
		return true
	case c == 't':
		return s.literal("true") && s.record(prefix, key, s.line[s.pos-4:s.pos], false)
	case c == 'f':
		return s.literal("false") && s.record(prefix, key, s.line[s.pos-5:s.pos], false)
	case c == 'n':
		return s.literal("null")
	default:
		start := s.pos
		return s.number() && s.record(prefix, key, s.line[start:s.pos], false)
	}
}

// record notes the value of a field if its label is one the filter reads. escaped: val is a
// string with a backslash escape. It returns true.
func (s *jsonScanner) record(prefix, key, val []byte, escaped bool) bool {
	f := s.f
	if len(key) > 0 && key[0] > ' ' && key[len(key)-1] > ' ' && isASCII(key) {
		// A key of ASCII characters, none of them blank at either end, keeps its length
		// (plus the _ that joins it, or that goes before a leading digit): most names of the
		// line are not even built.
		n := len(prefix) + len(key)
		if len(prefix) > 0 || key[0] >= '0' && key[0] <= '9' {
			n++
		}
		if !f.nameLen[min(n, len(f.nameLen)-1)] {
			return true
		}
	}
	name := appendLabelPart(prefix, key)
	if cap(name) > cap(f.buf) {
		f.buf = name[:0]
	}
	for i, n := range f.names {
		if n != string(name) {
			continue
		}
		v := &f.vals[i]
		if v.state != valAbsent || escaped || !isASCII(val) {
			v.state = valUnsure
		} else {
			*v = jsonVal{state: valSet, val: val}
		}
	}
	return true
}

// underPrefix reports whether the names of a nested object's fields, which start with prefix,
// can be names the filter reads.
func (f *jsonFilter) underPrefix(prefix []byte) bool {
	for _, n := range f.names {
		if strings.HasPrefix(n, string(prefix)) {
			return true
		}
	}
	return false
}

// str reads a string at pos (at its opening quote) and returns its raw content and whether it
// holds a backslash escape. Escapes are not checked: Loki's parser does not check them either.
func (s *jsonScanner) str() ([]byte, bool, bool) {
	start := s.pos + 1
	rest := s.line[start:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, false, false
	}
	if bytes.IndexByte(rest[:end], '\\') < 0 {
		s.pos = start + end + 1
		return rest[:end], false, true
	}
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case '"':
			s.pos = start + i + 1
			return rest[:i], true, true
		}
	}
	return nil, true, false
}

func (s *jsonScanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.line[s.pos:], []byte(lit)) {
		return false
	}
	s.pos += len(lit)
	return true
}

// number reads a number as JSON (RFC 8259) writes it.
func (s *jsonScanner) number() bool {
	l := s.line
	i := s.pos
	if i < len(l) && l[i] == '-' {
		i++
	}
	switch {
	case i < len(l) && l[i] == '0':
		i++
	case i < len(l) && l[i] >= '1' && l[i] <= '9':
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(l) && l[i] == '.' {
		i++
		d := i
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(l) && (l[i] == 'e' || l[i] == 'E') {
		i++
		if i < len(l) && (l[i] == '+' || l[i] == '-') {
			i++
		}
		d := i
		for i < len(l) && l[i] >= '0' && l[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	s.pos = i
	return true
}

// array reads an array at pos; Loki's `| json` sets no label from arrays.
func (s *jsonScanner) array(depth int) bool {
	if depth >= maxJSONDepth {
		return false
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.line) && s.line[s.pos] == ']' {
		s.pos++
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.line) {
			return false
		}
		switch s.line[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case ']':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// value reads any value at pos inside an array: nothing in it becomes a label.
func (s *jsonScanner) value(depth int) bool {
	if s.pos >= len(s.line) {
		return false
	}
	switch c := s.line[s.pos]; c {
	case '{':
		return s.skipObject(depth+1, false)
	case '[':
		return s.array(depth + 1)
	case '"':
		_, _, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

// skipObject reads an object none of whose fields sets a label the filter reads: one inside an
// array (parsed false), which Loki's `| json` skips, or one whose names cannot be those
// the filter reads, which it parses (a key with an escape may then make it stop half way).
func (s *jsonScanner) skipObject(depth int, parsed bool) bool {
	if depth >= maxJSONDepth {
		return false
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.line) && s.line[s.pos] == '}' {
		s.pos++
		return true
	}
	for {
		if s.pos >= len(s.line) || s.line[s.pos] != '"' {
			return false
		}
		if _, escaped, ok := s.str(); !ok || (escaped && parsed) {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.line) || s.line[s.pos] != ':' {
			return false
		}
		s.pos++
		s.skipSpace()
		if parsed && s.pos < len(s.line) && s.line[s.pos] == '{' {
			if !s.skipObject(depth+1, true) {
				return false
			}
		} else if !s.value(depth) {
			return false
		}
		s.skipSpace()
		if s.pos >= len(s.line) {
			return false
		}
		switch s.line[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// appendLabelPart appends key to the flattened label name prefix as Loki's `| json` does
// (buildSanitizedPrefixFromBuffer, appendSanitized): keys blank after trimming are left out,
// the others joined with _, each rune other than [a-zA-Z0-9_] written _, and a name starting
// with a digit prefixed with _. prefix is never modified: the result may share its array
// beyond len(prefix), which is how the names of one line reuse one buffer.
func appendLabelPart(prefix, key []byte) []byte {
	key = bytes.TrimSpace(key)
	if len(key) == 0 {
		return prefix
	}
	to := prefix
	if len(to) > 0 {
		to = append(to, '_')
	} else if key[0] >= '0' && key[0] <= '9' {
		to = append(to, '_')
	}
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9') {
				c = '_'
			}
			to = append(to, c)
			i++
			continue
		}
		_, n := utf8.DecodeRune(key[i:])
		to = append(to, '_')
		i += n
	}
	return to
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
