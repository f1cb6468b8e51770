package redactprocessor

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

func (p *pass) annotations(v any) {
	switch t := v.(type) {
	case nil:
	case map[string]any:
		for k, c := range t {
			p.push(k, -1)
			if nv, rm := p.annotation(c); rm {
				delete(t, k)
			} else {
				t[k] = nv
			}
			p.pop()
		}
	default:
		p.fail(ReasonUnknownShape, "%s is a JSON %s, not a map of strings", p.display(), jsonType(v))
	}
}

// annotation redacts the value of an annotation of a sensitive object. One that holds JSON
// (kubectl.kubernetes.io/last-applied-configuration holds the whole object as applied) is
// redacted as an object of its own, and removed if the redactor does not understand it; one
// that looks like a copy of a redacted field in another notation (YAML: "data:") is removed.
func (p *pass) annotation(v any) (_ any, remove bool) {
	s, ok := v.(string)
	if !ok {
		if v == nil { // a merge patch deleting the annotation
			return nil, false
		}
		p.remove(v)
		return nil, true
	}
	if t := strings.TrimLeft(s, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') {
		if doc, err := decodeJSON(t); err == nil {
			before, err := len(p.removed), p.err
			st := p.enter(p.display())
			p.err = nil
			if m, ok := doc.(map[string]any); ok {
				p.object(m)
			} else {
				p.walk(doc)
			}
			failed := p.err != nil
			p.leave(st)
			p.err = err
			if failed {
				p.removed = p.removed[:before]
				p.remove(s)
				return nil, true
			}
			if len(p.removed) == before {
				return s, false
			}
			out := encodeJSON(doc)
			if strings.HasSuffix(s, "\n") {
				out += "\n"
			}
			return out, false
		}
	}
	if p.copiesField(s) {
		p.remove(s)
		return nil, true
	}
	return s, false
}

// copiesField reports whether s names a redacted field as a key ("data:", "data =",
// `"data":`), which a YAML or truncated JSON copy of the object does.
func (p *pass) copiesField(s string) bool {
	for _, leaf := range p.leaves {
		for from := 0; ; {
			i := strings.Index(s[from:], leaf)
			if i < 0 {
				break
			}
			i += from
			from = i + len(leaf)
			if i > 0 && isWordByte(s[i-1]) {
				continue
			}
			j := from
			if j < len(s) && (s[j] == '"' || s[j] == '\'') {
				j++
			}
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && (s[j] == ':' || s[j] == '=') {
				return true
			}
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// table redacts a meta.k8s.io Table (kubectl get): each row's object as an object, and the
// cells of every column but the name, namespace and age, which printers may fill from any field.
func (p *pass) table(m map[string]any) {
	cols, _ := m["columnDefinitions"].([]any)
	safe := make([]bool, len(cols))
	for i, c := range cols {
		if cm, ok := c.(map[string]any); ok {
			name, _ := cm["name"].(string)
			format, _ := cm["format"].(string)
			safe[i] = format == "name" || name == "Name" || name == "Namespace" || name == "Age"
		}
	}
	rows, ok := m["rows"].([]any)
	if !ok && m["rows"] != nil {
		p.fail(ReasonUnknownShape, "%s.rows is a JSON %s, not a list", p.display(), jsonType(m["rows"]))
		return
	}
	cleared := map[int]bool{}
	for i, r := range rows {
		row, ok := r.(map[string]any)
		if !ok {
			p.fail(ReasonUnknownShape, "%s.rows[%d] is a JSON %s, not an object", p.display(), i, jsonType(r))
			return
		}
		cells, ok := row["cells"].([]any)
		if !ok && row["cells"] != nil {
			p.fail(ReasonUnknownShape, "%s.rows[%d].cells is a JSON %s, not a list", p.display(), i, jsonType(row["cells"]))
			return
		}
		for j, c := range cells {
			if c != nil && (j >= len(safe) || !safe[j] || !scalar(c)) {
				cells[j] = nil // not collected: a printed column is a summary (a type, a count)
				cleared[j] = true
			}
		}
		if obj := row["object"]; obj != nil {
			om, ok := obj.(map[string]any)
			if !ok {
				p.fail(ReasonUnknownShape, "%s.rows[%d].object is a JSON %s, not an object", p.display(), i, jsonType(obj))
				return
			}
			s := p.enter(p.display() + ".rows[" + strconv.Itoa(i) + "].object")
			p.object(om)
			p.leave(s)
		}
		p.push("rows", -1)
		p.push("", i)
		p.walkMap(row, "cells", "object")
		p.pop()
		p.pop()
	}
	for _, j := range slices.Sorted(maps.Keys(cleared)) {
		p.removed = append(p.removed, p.display()+".rows[*].cells["+strconv.Itoa(j)+"]")
	}
	p.walkMap(m, "rows")
}

// jsonPatch redacts the operations of a JSON patch (RFC 6902): a value at or under a redacted
// field is removed; one above it (the whole object, or a parent) is redacted as what it
// replaces. A copy or move from a redacted field to elsewhere sets moved: the response shows
// the value at a path the redactor cannot know.
func (p *pass) jsonPatch(ops []any) {
	for i, o := range ops {
		op, ok := o.(map[string]any)
		if !ok {
			p.fail(ReasonInvalidJSONPatch, "%s[%d] is a JSON %s, not a JSON patch operation", p.display(), i, jsonType(o))
			return
		}
		path, ok := op["path"].(string)
		segs, valid := pointer(path)
		if !ok || !valid {
			p.fail(ReasonInvalidJSONPatch, "%s[%d]: the path %v is not a JSON pointer", p.display(), i, op["path"])
			return
		}
		if from, ok := op["from"]; ok {
			fs, _ := from.(string)
			fsegs, valid := pointer(fs)
			if !valid {
				p.fail(ReasonInvalidJSONPatch, "%s[%d]: from %v is not a JSON pointer", p.display(), i, from)
				return
			}
			if kind, _ := op["op"].(string); kind != "remove" && p.touches(fsegs) && !p.isUnder(segs) {
				p.moved = true
			}
		}
		// Members of the operation beyond RFC 6902's are recorded as sent: walk them as members
		// of the object.
		st := p.enter(p.display() + "[" + strconv.Itoa(i) + "]")
		p.walkMap(op, "op", "path", "from", "value")
		p.leave(st)
		val, ok := op["value"]
		if !ok || p.err != nil {
			continue
		}
		st = p.enter(p.display() + "[" + strconv.Itoa(i) + "].value")
		if len(segs) == 0 {
			if m, ok := val.(map[string]any); ok {
				p.object(m)
			} else if val != nil {
				p.fail(ReasonInvalidJSONPatch, "%s replaces the whole object with a JSON %s", p.prefix, jsonType(val))
			}
		} else {
			for _, s := range segs {
				p.push(s, -1)
			}
			p.base = len(segs)
			if nv, rm := p.walk(val); rm {
				delete(op, "value")
			} else {
				op["value"] = nv
			}
		}
		p.leave(st)
	}
}

// touches reports whether a JSON pointer is at, under or above a redacted field.
func (p *pass) touches(segs []string) bool {
	st := p.enter("")
	defer p.leave(st)
	for _, s := range segs {
		p.push(s, -1)
	}
	under, above := p.relation()
	return under || above || len(segs) == 0
}

func (p *pass) isUnder(segs []string) bool {
	st := p.enter("")
	defer p.leave(st)
	for _, s := range segs {
		p.push(s, -1)
	}
	under, _ := p.relation()
	return under
}

// pointer splits a JSON pointer (RFC 6901) into its unescaped reference tokens.
func pointer(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	if s[0] != '/' {
		return nil, false
	}
	segs := strings.Split(s[1:], "/")
	for i, t := range segs {
		if !strings.Contains(t, "~") {
			continue
		}
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, false
			}
		}
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return segs, true
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number.
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return v, nil
}

type trailingError struct{}

func (trailingError) Error() string { return "data after the JSON value" }

var errTrailing error = trailingError{}

// encodeJSON encodes v as encoding/json does (map keys sorted), without escaping <, > and &.
func encodeJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(buf.String(), "\n")
}
