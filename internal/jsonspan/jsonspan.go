// Package jsonspan says where the values that github.com/buger/jsonparser hands to its callbacks
// lie in the input, so that callers can slice the input (or a string of it) instead of copying:
// jsonparser gives a string value without its quotes, an ObjectEach callback the end of the
// value, an ArrayEach callback its start (of a string: one byte after the start of its
// characters), and an object key with escapes unescaped, in a buffer of its own.
// The functions assume input that is valid JSON (check it first, e.g. with go-json's Valid).
package jsonspan

import "github.com/buger/jsonparser"

// RawLen is the length of the JSON text of the value v of type typ given by jsonparser.
func RawLen(v []byte, typ jsonparser.ValueType) int {
	if typ == jsonparser.String {
		return len(v) + 2
	}
	return len(v)
}

// ObjectValueStart is the start of the JSON text of the value given to an ObjectEach callback
// with offset end, relative to the data given to ObjectEach.
func ObjectValueStart(v []byte, typ jsonparser.ValueType, end int) int {
	return end - RawLen(v, typ)
}

// ArrayValueStart is the start of the JSON text of the value given to an ArrayEach callback
// with offset, relative to the data given to ArrayEach.
func ArrayValueStart(typ jsonparser.ValueType, offset int) int {
	if typ == jsonparser.String {
		return offset - 2
	}
	return offset
}

// RawKey reports that key, given by ObjectEach with the value whose JSON text starts at
// data[at], is the key's text in data: it has no escapes.
func RawKey(data, key []byte, at int) bool {
	j := at - 1
	for j >= 0 && IsSpace(data[j]) {
		j--
	}
	j-- // the colon
	for j >= 0 && IsSpace(data[j]) {
		j--
	}
	p := j - len(key) // data[j] is the key's closing quote
	if p < 1 {
		return false
	}
	return len(key) == 0 || &data[p] == &key[0]
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
