package otlpwire

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Attr is a string-valued attribute.
type Attr struct{ Key, Value string }

// Field numbers SetResourceAttributes reads; they are the same for the three signals.
const (
	numResourceX = 1 // Export*ServiceRequest.resource_logs / resource_spans / resource_metrics
	numResource  = 1 // ResourceLogs / ResourceSpans / ResourceMetrics.resource
	numAttribute = 1 // Resource.attributes
	numKey       = 1 // KeyValue.key
	numValue     = 2 // KeyValue.value
	numString    = 1 // AnyValue.string_value
)

// SetResourceAttributes appends to dst req, an Export<s>ServiceRequest that passed Check, with
// attrs set as string attributes of every resource (field 1 of each ResourceLogs, ResourceSpans
// or ResourceMetrics) and returns the extended slice. Decoded with pdata, the result equals req
// decoded with pdata after Attributes().PutStr(a.Key, a.Value) for each a in attrs, in order:
//   - an attribute whose key the resource has (its first occurrence, in pdata's order) keeps its
//     place and its other fields and gets the value: its value fields (2) are dropped and one
//     holding the string appended;
//   - the other attrs are appended, in order, to the resource's last occurrence of field 1, or
//     to a resource field inserted first in the ResourceX if it has none;
//   - when attrs has a key twice, the first occurrence places it and the last gives its value;
//   - when attrs is empty, every ResourceX is copied byte for byte.
//
// Every other byte (scopes, unknown fields, other attributes) is copied unchanged. On input it
// cannot parse SetResourceAttributes returns an error, never panics; it does not check what it
// does not rewrite (Check does). It allocates only to grow dst, and when attrs has more than 16
// entries. It is safe for concurrent use; req and attrs are only read.
func SetResourceAttributes(dst, req []byte, s Signal, attrs []Attr) ([]byte, error) {
	extra := 0
	for _, a := range attrs {
		extra += newAttributeSize(a.Key, a.Value)
	}
	return setResourceAttributes(dst, req, s, attrs, nil, 2*extra+16)
}

// SetResourceAttributesFunc is SetResourceAttributes with the attributes chosen per resource.
// It calls attrs once for each ResourceLogs, ResourceSpans or ResourceMetrics of req, in order,
// with a reader of the attributes it has in req, and sets on it the attributes attrs returns, as
// SetResourceAttributes sets its attrs on every resource; when attrs returns none, the
// ResourceX is copied byte for byte. The slice attrs returns is read before attrs is called again
// and never after, so attrs may return the same buffer each time, refilled.
//
// On input it cannot parse SetResourceAttributesFunc returns an error, never panics; attrs may
// then have been called for the ResourceX before the fault, and on the one at fault (whose
// Resource then reads what it can). It allocates only what attrs allocates, to grow dst, and
// when attrs returns more than 16 entries. It is safe for concurrent use if attrs is; req is
// only read, and attrs runs on the calling goroutine.
func SetResourceAttributesFunc(dst, req []byte, s Signal, attrs func(Resource) []Attr) ([]byte, error) {
	if attrs == nil {
		return dst, fmt.Errorf("cannot rewrite otlp request: nil attrs function")
	}
	return setResourceAttributes(dst, req, s, nil, attrs, 16)
}

// setResourceAttributes sets attrs, or the attributes fn returns per ResourceX if fn is not
// nil, on the resources of req; it first grows dst by len(req)+extra.
func setResourceAttributes(dst, req []byte, s Signal, attrs []Attr, fn func(Resource) []Attr, extra int) ([]byte, error) {
	root, ok := s.request()
	if !ok {
		return dst, fmt.Errorf("cannot rewrite otlp request: unknown signal %d", int(s))
	}
	var valueBuf, atBuf [16]int
	r := rewriter{req: req, request: &schema[root], value: valueBuf[:0], at: atBuf[:0]}
	x := schema[root].fields[0].child
	r.resourceX = &schema[x]
	if fn == nil {
		r.setAttrs(attrs)
	}
	out, err := r.rewrite(slices.Grow(dst, len(req)+extra), req, x, fn)
	if err != nil {
		err.signal = s
		return dst, err
	}
	return out, nil
}

type rewriter struct {
	req       []byte
	request   *message // Export*ServiceRequest
	resourceX *message // ResourceLogs, ResourceSpans or ResourceMetrics
	// attrs are set on the current ResourceX.
	attrs []Attr
	// value[i] is the index in attrs of the value of attrs[i].Key, or -1 if an earlier attr has
	// that key.
	value []int
	// at[i] is the offset in req of the attribute of the current ResourceX that attrs[i]
	// replaces, or -1 if it has none.
	at []int
	// lastResource is the offset of the current ResourceX's last resource field, -1 if it has none.
	lastResource int
}

// setAttrs makes attrs the attributes set on the ResourceX that follow.
func (r *rewriter) setAttrs(attrs []Attr) {
	r.attrs = attrs
	if n := len(attrs); cap(r.value) < n || cap(r.at) < n {
		r.value, r.at = make([]int, n), make([]int, n)
	}
	r.value = r.value[:len(attrs)] // resliced in place: value and at can stay on the caller's stack
	r.at = r.at[:len(attrs)]
	for i, a := range attrs {
		r.value[i] = i
		for j := range i {
			if attrs[j].Key == a.Key && r.value[j] >= 0 {
				r.value[j], r.value[i] = i, -1 // j places the key, i gives its value
				break
			}
		}
	}
}

// wireField is one field of a message in req: req[start:end] is the field, tag included, and
// for wire type 2, req[val:end] is its content.
type wireField struct {
	num             protowire.Number
	wt              protowire.Type
	start, val, end int
}

// next reads the field at req[pos:end], in a message m ending at end.
func (r *rewriter) next(m *message, pos, end int) (wireField, *wireError) {
	b := r.req[:end]
	num, wt, n := protowire.ConsumeTag(b[pos:])
	if n < 0 {
		return wireField{}, fail(m, pos, "bad tag: %v", tagError(b[pos:]))
	}
	f := wireField{num: num, wt: wt, start: pos, val: pos + n}
	if wt == protowire.BytesType {
		v, k := protowire.ConsumeBytes(b[f.val:])
		if k < 0 {
			return wireField{}, fail(m, pos, "field %d: %v", num, varintError(k))
		}
		f.end = f.val + k
		f.val = f.end - len(v)
		return f, nil
	}
	e, err := skipUnknown(b, f.val, wt)
	if err != nil {
		return wireField{}, fail(m, pos, "field %d (wire type %d): %v", num, wt, err)
	}
	f.end = e
	return f, nil
}

// message reads the field at req[pos:end] and requires wire type 2 if it is field num.
func (r *rewriter) message(m *message, pos, end int, num protowire.Number) (wireField, *wireError) {
	f, err := r.next(m, pos, end)
	if err == nil && f.num == num && f.wt != protowire.BytesType {
		err = fail(m, pos, "field %d: wire type %d, want %d", num, f.wt, protowire.BytesType)
	}
	return f, err
}

// rewrite appends r.req to dst with the attributes set, those of fn per ResourceX if fn is not
// nil. req is r.req and x the type of its ResourceX: fn gets them from parameters so that r's
// content (the buffers of value and at) does not escape to the heap through fn.
func (r *rewriter) rewrite(dst, req []byte, x msgID, fn func(Resource) []Attr) ([]byte, *wireError) {
	for pos := 0; pos < len(r.req); {
		f, err := r.message(r.request, pos, len(r.req), numResourceX)
		if err != nil {
			return dst, err
		}
		pos = f.end
		if f.num != numResourceX {
			dst = append(dst, r.req[f.start:f.end]...)
			continue
		}
		if fn != nil {
			r.setAttrs(fn(Resource{b: req[f.val:f.end], x: x}))
		}
		if err := r.match(f.val, f.end); err != nil {
			return dst, err
		}
		if len(r.attrs) == 0 {
			dst = append(dst, r.req[f.start:f.end]...)
			continue
		}
		size := r.resourceXSize(f.val, f.end)
		dst = slices.Grow(dst, fieldSize(numResourceX, size))
		dst = appendField(dst, numResourceX, size)
		n := len(dst)
		dst = r.appendResourceX(dst, f.val, f.end)
		if len(dst)-n != size {
			return dst, fail(r.resourceX, f.start, "internal error: wrote %d bytes, want %d", len(dst)-n, size)
		}
	}
	return dst, nil
}

// match sets r.at and r.lastResource for the ResourceX req[start:end].
func (r *rewriter) match(start, end int) *wireError {
	for i := range r.at {
		r.at[i] = -1
	}
	last, err := r.attributes(r.resourceX, start, end, func(a wireField, keyStart, keyEnd int) bool {
		key := r.req[keyStart:keyEnd]
		for i, at := range r.at {
			if at < 0 && r.value[i] >= 0 && r.attrs[i].Key == string(key) {
				r.at[i] = a.start
				break
			}
		}
		return true
	})
	r.lastResource = last
	return err
}

// attributes calls yield with each attribute of the resource of the ResourceX x req[start:end],
// in pdata's order (those of its resource fields one after the other), and its key
// req[keyStart:keyEnd], until yield returns false. It returns the offset of the last resource
// field, or -1 if there is none. (yield gets offsets, not a slice of req, so that r's content
// does not escape to the heap.)
func (r *rewriter) attributes(x *message, start, end int, yield func(a wireField, keyStart, keyEnd int) bool) (int, *wireError) {
	last := -1
	for pos := start; pos < end; {
		f, err := r.message(x, pos, end, numResource)
		if err != nil {
			return last, err
		}
		pos = f.end
		if f.num != numResource {
			continue
		}
		last = f.start
		for pos := f.val; pos < f.end; {
			a, err := r.message(&schema[mResource], pos, f.end, numAttribute)
			if err != nil {
				return last, err
			}
			pos = a.end
			if a.num != numAttribute {
				continue
			}
			ks, ke, err := r.key(a.val, a.end)
			if err != nil {
				return last, err
			}
			if !yield(a, ks, ke) {
				return last, nil
			}
		}
	}
	return last, nil
}

// key returns the key of the KeyValue req[start:end], its last field 1 as pdata decodes it, as
// the offsets of its content in req (0, 0 when it has none).
func (r *rewriter) key(start, end int) (keyStart, keyEnd int, err *wireError) {
	for pos := start; pos < end; {
		f, err := r.message(&schema[mKeyValue], pos, end, numKey)
		if err != nil {
			return 0, 0, err
		}
		pos = f.end
		if f.num == numKey {
			keyStart, keyEnd = f.val, f.end
		}
	}
	return keyStart, keyEnd, nil
}

// replacing returns the index in attrs of the attribute whose value replaces that of the
// attribute at offset pos, or -1.
func (r *rewriter) replacing(pos int) int {
	for i, at := range r.at {
		if at == pos {
			return r.value[i]
		}
	}
	return -1
}

// appended reports whether attrs[i] is appended to the resource.
func (r *rewriter) appended(i int) bool { return r.value[i] >= 0 && r.at[i] < 0 }

func fieldSize(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// stringValueSize is the size of an AnyValue holding the string v.
func stringValueSize(v string) int { return fieldSize(numString, len(v)) }

// newAttributeSize is the size of a Resource.attributes field holding the KeyValue k, v.
func newAttributeSize(k, v string) int {
	return fieldSize(numAttribute, fieldSize(numKey, len(k))+fieldSize(numValue, stringValueSize(v)))
}

func appendField(dst []byte, num protowire.Number, n int) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendVarint(dst, uint64(n))
}

func appendStringValue(dst []byte, v string) []byte {
	dst = appendField(dst, numValue, stringValueSize(v))
	dst = appendField(dst, numString, len(v))
	return append(dst, v...)
}

func appendNewAttribute(dst []byte, k, v string) []byte {
	dst = appendField(dst, numAttribute, fieldSize(numKey, len(k))+fieldSize(numValue, stringValueSize(v)))
	dst = appendField(dst, numKey, len(k))
	dst = append(dst, k...)
	return appendStringValue(dst, v)
}

// The functions below run after match succeeded on the ResourceX they read, so the fields
// they read parse; they stop where one does not, and rewrite then sees a size mismatch.

// newResourceSize is the size of the new content of the resource of the current ResourceX when
// it has none.
func (r *rewriter) newResourceSize() int {
	n := 0
	for i, a := range r.attrs {
		if r.appended(i) {
			n += newAttributeSize(a.Key, r.attrs[r.value[i]].Value)
		}
	}
	return n
}

func (r *rewriter) resourceXSize(start, end int) int {
	n := 0
	if r.lastResource < 0 {
		n += fieldSize(numResource, r.newResourceSize())
	}
	for pos := start; pos < end; {
		f, err := r.next(r.resourceX, pos, end)
		if err != nil {
			break
		}
		pos = f.end
		if f.num != numResource {
			n += f.end - f.start
			continue
		}
		n += fieldSize(numResource, r.resourceSize(f))
	}
	return n
}

func (r *rewriter) appendResourceX(dst []byte, start, end int) []byte {
	if r.lastResource < 0 {
		dst = appendField(dst, numResource, r.newResourceSize())
		dst = r.appendAttributes(dst)
	}
	for pos := start; pos < end; {
		f, err := r.next(r.resourceX, pos, end)
		if err != nil {
			break
		}
		pos = f.end
		if f.num != numResource {
			dst = append(dst, r.req[f.start:f.end]...)
			continue
		}
		dst = appendField(dst, numResource, r.resourceSize(f))
		dst = r.appendResource(dst, f)
	}
	return dst
}

// appendAttributes appends the attributes of attrs the current ResourceX does not have.
func (r *rewriter) appendAttributes(dst []byte) []byte {
	for i, a := range r.attrs {
		if r.appended(i) {
			dst = appendNewAttribute(dst, a.Key, r.attrs[r.value[i]].Value)
		}
	}
	return dst
}

// resourceSize is the size of the new content of the resource field res.
func (r *rewriter) resourceSize(res wireField) int {
	n := 0
	for pos := res.val; pos < res.end; {
		f, err := r.next(&schema[mResource], pos, res.end)
		if err != nil {
			break
		}
		pos = f.end
		if i := r.replacing(f.start); f.num == numAttribute && i >= 0 {
			n += fieldSize(numAttribute, r.attributeSize(f, r.attrs[i].Value))
			continue
		}
		n += f.end - f.start
	}
	if res.start == r.lastResource {
		n += r.newResourceSize()
	}
	return n
}

func (r *rewriter) appendResource(dst []byte, res wireField) []byte {
	for pos := res.val; pos < res.end; {
		f, err := r.next(&schema[mResource], pos, res.end)
		if err != nil {
			break
		}
		pos = f.end
		if i := r.replacing(f.start); f.num == numAttribute && i >= 0 {
			v := r.attrs[i].Value
			dst = appendField(dst, numAttribute, r.attributeSize(f, v))
			dst = r.appendAttribute(dst, f, v)
			continue
		}
		dst = append(dst, r.req[f.start:f.end]...)
	}
	if res.start == r.lastResource {
		dst = r.appendAttributes(dst)
	}
	return dst
}

// attributeSize is the size of the new content of the attribute field kv given the value v.
func (r *rewriter) attributeSize(kv wireField, v string) int {
	n := fieldSize(numValue, stringValueSize(v))
	for pos := kv.val; pos < kv.end; {
		f, err := r.next(&schema[mKeyValue], pos, kv.end)
		if err != nil {
			break
		}
		pos = f.end
		if f.num != numValue {
			n += f.end - f.start
		}
	}
	return n
}

func (r *rewriter) appendAttribute(dst []byte, kv wireField, v string) []byte {
	for pos := kv.val; pos < kv.end; {
		f, err := r.next(&schema[mKeyValue], pos, kv.end)
		if err != nil {
			break
		}
		pos = f.end
		if f.num != numValue {
			dst = append(dst, r.req[f.start:f.end]...)
		}
	}
	return appendStringValue(dst, v)
}
