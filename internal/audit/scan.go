package audit

import (
	"bytes"
	"errors"

	"github.com/buger/jsonparser"
)

// The scanner of audit events' JSON walks JSON that is known to be valid (check it first, with
// go-json's Valid) in one pass and says where values lie in the input, so that callers can slice
// the input (or a string of it) instead of copying. Values are handed out as
// github.com/buger/jsonparser does: a string without its quotes, with its jsonparser.ValueType.
// It is used instead of jsonparser's ObjectEach, ArrayEach and Get because jsonparser looks for the end of a
// string byte by byte: on audit events, whose long strings (user agents, annotations such as
// last-applied-configuration, object data) are most of their bytes, that was the largest single
// cost of the audit path. StringEnd finds quotes with bytes.IndexByte. On input that is not
// valid JSON the functions do not panic, but what they return means nothing.

// ErrNotJSON is returned by EachMember and EachElement when the input is not well formed where
// they looked.
var ErrNotJSON = errors.New("not valid JSON")

// StringEnd returns the offset after the closing quote of the string whose opening quote is
// b[i], or -1 when the string does not end.
func StringEnd(b []byte, i int) int {
	for j := i + 1; j <= len(b); {
		n := bytes.IndexByte(b[j:], '"')
		if n < 0 {
			return -1
		}
		q := j + n
		k := q - 1
		for k > i && b[k] == '\\' {
			k--
		}
		if (q-1-k)%2 == 0 { // an even number of backslashes before it: the closing quote
			return q + 1
		}
		j = q + 1
	}
	return -1
}

// ValueEnd returns the offset after the value whose first byte is b[i], or -1 when it does not
// end.
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return StringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := StringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i // a number, true, false or null
	for j < len(b) && !IsSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j
}

// Value returns the value whose JSON text is b[start:end] as jsonparser hands values out: a
// string without its quotes (escapes not decoded), anything else as it is, with its type.
func Value(b []byte, start, end int) ([]byte, jsonparser.ValueType) {
	switch b[start] {
	case '"':
		return b[start+1 : end-1], jsonparser.String
	case '{':
		return b[start:end], jsonparser.Object
	case '[':
		return b[start:end], jsonparser.Array
	case 't', 'f':
		return b[start:end], jsonparser.Boolean
	case 'n':
		return b[start:end], jsonparser.Null
	}
	return b[start:end], jsonparser.Number
}

// EachMember calls fn for each member of the object whose '{' is b[i]: with the key's text as
// written (without its quotes, escapes not decoded) and the span b[start:end] of the value's
// JSON text. It returns the offset after the object's '}', or fn's first error.
func EachMember(b []byte, i int, fn func(key []byte, start, end int) error) (int, error) {
	return each(b, i, '{', '}', func(start int) (int, error) {
		if b[start] != '"' {
			return 0, ErrNotJSON
		}
		ke := StringEnd(b, start)
		if ke < 0 {
			return 0, ErrNotJSON
		}
		c := SkipSpace(b, ke)
		if c >= len(b) || b[c] != ':' {
			return 0, ErrNotJSON
		}
		v := SkipSpace(b, c+1)
		end := ValueEnd(b, v)
		if end < 0 {
			return 0, ErrNotJSON
		}
		return end, fn(b[start+1:ke-1], v, end)
	})
}

// EachElement calls fn for each element of the array whose '[' is b[i], with the span
// b[start:end] of its JSON text. It returns the offset after the array's ']', or fn's first
// error.
func EachElement(b []byte, i int, fn func(start, end int) error) (int, error) {
	return each(b, i, '[', ']', func(start int) (int, error) {
		end := ValueEnd(b, start)
		if end < 0 {
			return 0, ErrNotJSON
		}
		return end, fn(start, end)
	})
}

// each steps through the comma-separated items between open at b[i] and its close; item reads
// the one at start and returns its end.
func each(b []byte, i int, open, close byte, item func(start int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != open {
		return 0, ErrNotJSON
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == close {
		return i + 1, nil
	}
	for i < len(b) {
		end, err := item(i)
		if err != nil {
			return 0, err
		}
		if i = SkipSpace(b, end); i >= len(b) {
			break
		}
		switch b[i] {
		case close:
			return i + 1, nil
		case ',':
			i = SkipSpace(b, i+1)
		default:
			return 0, ErrNotJSON
		}
	}
	return 0, ErrNotJSON
}

// SkipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
