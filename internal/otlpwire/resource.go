package otlpwire

// Resource reads the attributes of the resource of one ResourceLogs, ResourceSpans or
// ResourceMetrics of a request, as pdata decodes them: the attributes of all its resource fields
// (field 1), one after the other. It is a small value that refers to the request, which must not
// change while it is used; SetResourceAttributesFunc passes one to its attrs function. Its
// methods do not allocate but for the string Str returns, and are safe for concurrent use.
//
// On a request that passed Check a Resource reads what pdata reads. On one that did not, it
// never panics, and reports an attribute it cannot parse (or any after it) as absent.
type Resource struct {
	b []byte // the content of the ResourceX
	x msgID  // the ResourceX's type, 0 in the zero Resource
}

// Str returns the value of the attribute key when it is a string (AnyValue.string_value), as
// pdata's Resource().Attributes().Get(key) and then Str() give it: the value of the first
// attribute whose key is key. ok is false when the resource has no attribute key or its value is
// not a string (another type, or none). Like pdata, Str reads the last key field of a KeyValue,
// and the last of the AnyValue fields string_value to string_value_strindex in all its value
// fields (pdata merges repeated value fields, and a later field of the oneof replaces an earlier).
func (r Resource) Str(key string) (value string, ok bool) {
	v, ok := r.str(key)
	return string(v), ok
}

// AppendStr appends to dst what Str(key) returns, and returns the extended slice. It allocates
// only to grow dst, so that a caller reusing dst can look the value up (m[string(b)]) without
// allocating.
func (r Resource) AppendStr(dst []byte, key string) (b []byte, ok bool) {
	v, ok := r.str(key)
	return append(dst, v...), ok
}

func (r Resource) str(key string) ([]byte, bool) {
	if r.x == 0 {
		return nil, false
	}
	var value []byte
	found := false
	w := rewriter{req: r.b}
	_, _ = w.attributes(&schema[r.x], 0, len(r.b), func(a wireField, keyStart, keyEnd int) bool {
		if string(r.b[keyStart:keyEnd]) != key {
			return true
		}
		value, found = w.stringValue(a)
		return false
	})
	return value, found
}

// stringValue returns the string value of the KeyValue field kv, with ok false if its value
// is not a string or does not parse.
func (r *rewriter) stringValue(kv wireField) (value []byte, ok bool) {
	for pos := kv.val; pos < kv.end; {
		v, err := r.message(&schema[mKeyValue], pos, kv.end, numValue)
		if err != nil {
			return nil, false
		}
		pos = v.end
		if v.num != numValue {
			continue
		}
		for pos := v.val; pos < v.end; {
			f, err := r.message(&schema[mAnyValue], pos, v.end, numString)
			if err != nil {
				return nil, false
			}
			pos = f.end
			if schema[mAnyValue].lookup(int32(f.num)) != nil { // every known field is in the oneof
				value, ok = r.req[f.val:f.end], f.num == numString
			}
		}
	}
	if !ok {
		return nil, false
	}
	return value, true
}
