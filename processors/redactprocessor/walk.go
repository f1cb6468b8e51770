package redactprocessor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Reasons an object (or an admission webhook's patch annotation) is removed whole instead of
// being redacted field by field (label "reason" of vigil_redact_removed_objects_total).
const (
	// ReasonNotAnObject: the object is a JSON string, number or boolean (e.g. an apply patch
	// kept as YAML text), or a response that is a JSON array.
	ReasonNotAnObject = "not_an_object"
	// ReasonInvalidJSONPatch: an array request object whose operations are not JSON patch
	// operations with a JSON pointer path.
	ReasonInvalidJSONPatch = "invalid_json_patch"
	// ReasonUnknownShape: list items, table rows, annotations, labels or managedFields of an
	// unexpected type.
	ReasonUnknownShape = "unknown_shape"
	// ReasonUnredactedField: a field the rules remove appears where the redactor does not
	// look for it (e.g. inside a wrapper object it does not know).
	ReasonUnredactedField = "unredacted_field"
	// ReasonPatchMovesSecret: a JSON patch copies or moves a redacted field to another path,
	// where the response would show it.
	ReasonPatchMovesSecret = "patch_moves_secret" //nolint:gosec // a metric label, not a credential
	// ReasonValueElsewhere: a value removed from a redacted field still appears elsewhere in
	// the event (copied into an annotation or a label, say).
	ReasonValueElsewhere = "secret_value_elsewhere"
)

// minValueLen is the length from which a removed value is looked for in the rest of the event:
// shorter ones ("true", "1") would match by chance.
const minValueLen = 8

type shapeError struct{ reason, msg string }

type seg struct {
	key string
	idx int // >= 0: an array element
}

// pass redacts the objects of one event. Objects are walked with the path from their root on
// a stack; a path at or under one of fields is removed, and a key named like the last segment
// of a field anywhere else makes the object one the redactor does not understand (err).
type pass struct {
	fields  [][]string
	leaves  []string // the last segment of each field
	joined  string   // the fields joined by "|" (the marker of list items)
	removed []string // display paths of what was removed
	values  []string // string values removed, at least minValueLen long
	moved   bool     // a JSON patch copies or moves a redacted field elsewhere
	err     *shapeError

	prefix string // display path of the root being walked
	stack  []seg
	base   int   // the first segment of stack that display shows
	item   *bool // set, not marked, when a top-level field of a list item is removed
}

func newPass(fields []string) *pass {
	p := &pass{joined: strings.Join(fields, "|")}
	for _, f := range fields {
		segs := strings.Split(f, ".")
		p.fields = append(p.fields, segs)
		p.leaves = append(p.leaves, segs[len(segs)-1])
	}
	return p
}

func (p *pass) fail(reason, format string, args ...any) {
	if p.err == nil {
		p.err = &shapeError{reason: reason, msg: fmt.Sprintf(format, args...)}
	}
}

// state is what a nested root saves and restores.
type state struct {
	prefix string
	stack  []seg
	base   int
	item   *bool
}

func (p *pass) enter(prefix string) state {
	s := state{p.prefix, p.stack, p.base, p.item}
	p.prefix, p.stack, p.base, p.item = prefix, nil, 0, nil
	return s
}

func (p *pass) leave(s state) { p.prefix, p.stack, p.base, p.item = s.prefix, s.stack, s.base, s.item }

func (p *pass) push(key string, idx int) { p.stack = append(p.stack, seg{key: key, idx: idx}) }
func (p *pass) pop()                     { p.stack = p.stack[:len(p.stack)-1] }

// display renders the current path, e.g. requestObject.metadata.annotations[a.b/c].data.
func (p *pass) display() string {
	var b strings.Builder
	b.WriteString(p.prefix)
	for _, s := range p.stack[p.base:] {
		switch {
		case s.idx >= 0:
			b.WriteString("[" + strconv.Itoa(s.idx) + "]")
		case s.key == "" || strings.ContainsAny(s.key, "./[]"):
			b.WriteString("[" + s.key + "]")
		default:
			b.WriteString("." + s.key)
		}
	}
	return b.String()
}

// relation says whether the current path is at or under a field, or a strict prefix of one.
func (p *pass) relation() (under, above bool) {
	for _, f := range p.fields {
		match := true
		for i := 0; i < len(f) && i < len(p.stack); i++ {
			if p.stack[i].idx >= 0 || p.stack[i].key != f[i] {
				match = false
				break
			}
		}
		if match {
			if len(p.stack) >= len(f) {
				return true, false
			}
			above = true
		}
	}
	return false, above
}

func (p *pass) at(i int, key string) bool {
	return len(p.stack) > i && p.stack[i].idx < 0 && p.stack[i].key == key
}

// remove records the removal of v at the current path.
func (p *pass) remove(v any) {
	p.collect(v)
	if p.item != nil && len(p.stack) == 1 {
		*p.item = true
		return
	}
	p.removed = append(p.removed, p.display())
}

func (p *pass) collect(v any) {
	switch t := v.(type) {
	case string:
		if len(t) >= minValueLen {
			p.values = append(p.values, t)
		}
	case map[string]any:
		for _, c := range t {
			p.collect(c)
		}
	case []any:
		for _, c := range t {
			p.collect(c)
		}
	}
}

// root redacts a request or response object (a JSON patch only for a request).
func (p *pass) root(v any, request bool) {
	switch t := v.(type) {
	case nil:
	case map[string]any:
		p.object(t)
	case []any:
		if request {
			p.jsonPatch(t)
			return
		}
		p.fail(ReasonNotAnObject, "%s is a JSON array, not an object", p.prefix)
	default:
		p.fail(ReasonNotAnObject, "%s is a JSON %s, not an object or a JSON patch", p.prefix, jsonType(v))
	}
}

// object redacts an object, a list of objects (items) or a meta.k8s.io Table, whose root the
// stack is.
func (p *pass) object(m map[string]any) {
	kind, _ := m["kind"].(string)
	if kind == "Table" {
		p.table(m)
		return
	}
	if items, ok := m["items"]; ok && (kind == "" || strings.HasSuffix(kind, "List")) {
		p.items(items)
		p.walkMap(m, "items")
		return
	}
	p.walkMap(m)
}

func (p *pass) items(v any) {
	items, ok := v.([]any)
	if !ok {
		if v != nil {
			p.fail(ReasonUnknownShape, "%s.items is a JSON %s, not a list", p.display(), jsonType(v))
		}
		return
	}
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			p.fail(ReasonUnknownShape, "%s.items[%d] is a JSON %s, not an object", p.display(), i, jsonType(it))
			return
		}
		prefix := p.display() + ".items[" + strconv.Itoa(i) + "]"
		s := p.enter(prefix)
		hit := false
		p.item = &hit
		p.object(m)
		p.leave(s)
		if hit {
			p.removed = append(p.removed, prefix+"."+p.joined)
		}
	}
}

// walk redacts v, the value at the current path: it returns what to put there, or remove.
func (p *pass) walk(v any) (_ any, remove bool) {
	if p.err != nil {
		return v, false
	}
	if under, _ := p.relation(); under {
		p.remove(v)
		return nil, true
	}
	if n := len(p.stack); n >= 2 && p.at(0, "metadata") {
		switch {
		case p.at(1, "annotations"):
			switch n {
			case 2:
				p.annotations(v)
				return v, false
			case 3:
				return p.annotation(v)
			}
			p.remove(v) // inside an annotation value, which is a string
			return nil, true
		case p.at(1, "labels"):
			switch n {
			case 2:
				p.labels(v)
			case 3:
				if !scalar(v) {
					p.fail(ReasonUnknownShape, "%s is a JSON %s, not a string", p.display(), jsonType(v))
				}
			default:
				p.remove(v)
				return nil, true
			}
			return v, false
		case p.at(1, "managedFields"):
			switch {
			case n == 2:
				p.managedFields(v)
				return v, false
			case n == 3:
				p.managedEntry(v)
				return v, false
			case p.at(3, "fieldsV1") || p.at(3, "fields"):
				if n == 4 {
					p.fieldSet(v)
					return v, false
				}
				p.remove(v) // a patch deep into a field set
				return nil, true
			}
		}
	}
	switch t := v.(type) {
	case map[string]any:
		p.walkMap(t)
	case []any:
		for i, c := range t {
			p.push("", i)
			t[i], _ = p.walk(c) // fields never end inside an array
			p.pop()
		}
	}
	return v, false
}

// walkMap walks the members of m, but those named in skip.
func (p *pass) walkMap(m map[string]any, skip ...string) {
	for k, c := range m {
		if p.err != nil {
			return
		}
		if slices.Contains(skip, k) {
			continue
		}
		if p.directive(m, k, c) {
			continue
		}
		p.push(k, -1)
		nv, rm := p.walk(c)
		if rm {
			delete(m, k)
		} else {
			m[k] = nv
			if slices.Contains(p.leaves, k) {
				if _, above := p.relation(); !above {
					p.fail(ReasonUnredactedField, "%s: a field named %q where the redactor does not expect one", p.display(), k)
				}
			}
		}
		p.pop()
	}
}

// directive removes a strategic merge patch directive about a redacted field
// ("$setElementOrder/<field>", "$deleteFromPrimitiveList/<field>"), which lists its values.
func (p *pass) directive(m map[string]any, k string, c any) bool {
	if !strings.HasPrefix(k, "$") {
		return false
	}
	_, name, ok := strings.Cut(k, "/")
	if !ok {
		return false
	}
	p.push(name, -1)
	under, _ := p.relation()
	p.pop()
	if !under {
		return false
	}
	p.push(k, -1)
	p.remove(c)
	p.pop()
	delete(m, k)
	return true
}

func (p *pass) labels(v any) {
	switch t := v.(type) {
	case nil:
	case map[string]any:
		for k, c := range t {
			if !scalar(c) {
				p.fail(ReasonUnknownShape, "%s.labels[%s] is a JSON %s, not a string", p.display(), k, jsonType(c))
			}
		}
	default:
		p.fail(ReasonUnknownShape, "%s is a JSON %s, not a map of strings", p.display(), jsonType(v))
	}
}

func (p *pass) managedFields(v any) {
	switch t := v.(type) {
	case nil:
	case []any:
		for i, e := range t {
			p.push("", i)
			p.managedEntry(e)
			p.pop()
		}
	default:
		p.fail(ReasonUnknownShape, "%s is a JSON %s, not a list", p.display(), jsonType(v))
	}
}

func (p *pass) managedEntry(v any) {
	switch t := v.(type) {
	case nil:
	case map[string]any:
		for k, c := range t {
			if k == "fieldsV1" || k == "fields" { // fields: before Kubernetes 1.18
				p.push(k, -1)
				p.fieldSet(c)
				p.pop()
			}
		}
		p.walkMap(t, "fieldsV1", "fields")
	default:
		p.fail(ReasonUnknownShape, "%s is a JSON %s, not a managedFields entry", p.display(), jsonType(v))
	}
}

// fieldSet removes the redacted fields from a managedFields field set ({"f:data":{"f:k":{}}}):
// it names the keys of a secret's data, and the values of lists of scalars ("v:...").
func (p *pass) fieldSet(v any) {
	set, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			p.fail(ReasonUnknownShape, "%s is a JSON %s, not a field set", p.display(), jsonType(v))
		}
		return
	}
	for _, f := range p.fields {
		cur := set
		for _, s := range f[:len(f)-1] {
			if cur, ok = cur["f:"+s].(map[string]any); !ok {
				break
			}
		}
		if key := "f:" + f[len(f)-1]; ok {
			if _, found := cur[key]; found {
				delete(cur, key)
				p.removed = append(p.removed, p.display()+".f:"+strings.Join(f, ".f:"))
			}
		}
	}
}

func scalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "number"
}
