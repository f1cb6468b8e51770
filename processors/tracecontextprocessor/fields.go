package tracecontextprocessor

import (
	"bytes"
	"strings"

	"github.com/buger/jsonparser"
	"github.com/go-logfmt/logfmt"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// found are the values a record carries under the configured keys (present: the key is there,
// whatever its value).
type found struct {
	traceparent, traceID, spanID          string
	hasTraceparent, hasTraceID, hasSpanID bool
}

func (f *found) any() bool { return f.hasTraceparent || f.hasTraceID }

// keys are the configured keys, by what they hold.
type keys struct {
	traceparent, traceID, spanID []string
	leaves                       []string // the last dotted segment of every key: a text body without one is not read
	// paths are the JSON paths of every key (a dotted key also as nested objects), for
	// jsonparser.EachKey, and field what each one fills: 0 traceparent, 1 trace ID, 2 span ID.
	paths [][]string
	field []int
}

func newKeys(cfg *Config) keys {
	k := keys{traceparent: cfg.TraceparentKeys, traceID: cfg.TraceIDKeys, spanID: cfg.SpanIDKeys}
	for f, list := range [][]string{k.traceparent, k.traceID, k.spanID} {
		for _, key := range list {
			k.leaves = append(k.leaves, key[strings.LastIndexByte(key, '.')+1:])
			k.paths, k.field = append(k.paths, []string{key}), append(k.field, f)
			if strings.Contains(key, ".") {
				k.paths, k.field = append(k.paths, strings.Split(key, ".")), append(k.field, f)
			}
		}
	}
	return k
}

// fromMap looks the keys up in a map (attributes, or a map body): the key itself, then, for a
// dotted key, the nested maps it names.
func (k *keys) fromMap(m pcommon.Map) found {
	var f found
	get := func(list []string, dst *string, has *bool) {
		for _, key := range list {
			if v, ok := mapValue(m, key); ok {
				*dst, *has = v, true
				return
			}
		}
	}
	get(k.traceparent, &f.traceparent, &f.hasTraceparent)
	get(k.traceID, &f.traceID, &f.hasTraceID)
	get(k.spanID, &f.spanID, &f.hasSpanID)
	return f
}

func mapValue(m pcommon.Map, key string) (string, bool) {
	if v, ok := m.Get(key); ok {
		return valueString(v), true
	}
	head, rest, nested := strings.Cut(key, ".")
	if !nested {
		return "", false
	}
	if v, ok := m.Get(head); ok && v.Type() == pcommon.ValueTypeMap {
		return mapValue(v.Map(), rest)
	}
	return "", false
}

// valueString is a value as text; a slice (a captured HTTP header, say) is its first element.
func valueString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeSlice {
		if v.Slice().Len() == 0 {
			return ""
		}
		return valueString(v.Slice().At(0))
	}
	return v.AsString()
}

// fromText looks the keys up in a text body: a JSON object, else a logfmt line.
func (k *keys) fromText(body []byte) found {
	mentioned := false
	for _, leaf := range k.leaves {
		if bytes.Contains(body, []byte(leaf)) {
			mentioned = true
			break
		}
	}
	if !mentioned {
		return found{}
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		return k.fromJSON(trimmed)
	}
	return k.fromLogfmt(body)
}

// fromJSON reads the keys of a JSON object's top level (and, for dotted keys, nested objects).
func (k *keys) fromJSON(obj []byte) found {
	var f found
	dst := [3]*string{&f.traceparent, &f.traceID, &f.spanID}
	has := [3]*bool{&f.hasTraceparent, &f.hasTraceID, &f.hasSpanID}
	var seen [3]int // per field, 1 + the earliest configured path found (0: none)
	jsonparser.EachKey(obj, func(i int, value []byte, typ jsonparser.ValueType, err error) {
		fld := k.field[i]
		if err != nil || (seen[fld] != 0 && seen[fld]-1 < i) { // of one field's keys, the first configured wins
			return
		}
		seen[fld] = i + 1
		s := string(value)
		if typ == jsonparser.String {
			if u, err := jsonparser.ParseString(value); err == nil {
				s = u
			}
		}
		*dst[fld], *has[fld] = s, true
	}, k.paths...)
	return f
}

// fromLogfmt reads the keys from the first line of a logfmt body; a key=value pair inside other
// text (Python's OpenTelemetry logging format: "[trace_id=... span_id=...]") is read too.
func (k *keys) fromLogfmt(body []byte) found {
	var f found
	pairs := map[string]string{}
	d := logfmt.NewDecoder(bytes.NewReader(body))
	if d.ScanRecord() {
		for d.ScanKeyval() {
			key := string(d.Key())
			if _, dup := pairs[key]; !dup {
				pairs[key] = string(d.Value())
			}
		}
	}
	for _, list := range [][]string{k.traceparent, k.traceID, k.spanID} {
		for _, key := range list {
			if _, ok := pairs[key]; !ok {
				if v, ok := embeddedValue(body, key); ok {
					pairs[key] = v
				}
			}
		}
	}
	get := func(list []string, dst *string, has *bool) {
		for _, key := range list {
			if v, ok := pairs[key]; ok {
				*dst, *has = v, true
				return
			}
		}
	}
	get(k.traceparent, &f.traceparent, &f.hasTraceparent)
	get(k.traceID, &f.traceID, &f.hasTraceID)
	get(k.spanID, &f.spanID, &f.hasSpanID)
	return f
}

// embeddedValue finds key=value in text where key is not part of a longer word (the byte before
// it is not a letter, digit, '_' or '.'), the value running to the next space, quote, comma or
// bracket.
func embeddedValue(text []byte, key string) (string, bool) {
	needle := []byte(key + "=")
	for i := 0; ; {
		j := bytes.Index(text[i:], needle)
		if j < 0 {
			return "", false
		}
		at := i + j
		if at == 0 || !wordByte(text[at-1]) {
			v := text[at+len(needle):]
			end := bytes.IndexAny(v, " \t\r\n\"',;[]{}()")
			if end < 0 {
				end = len(v)
			}
			return string(v[:end]), true
		}
		i = at + 1
	}
}

func wordByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}
