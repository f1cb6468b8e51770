// Package jsonspan walks JSON that is known to be valid (check it first, e.g. with go-json's
// Valid) and says where values lie in the input, so that callers can slice the input (or a
// string of it) instead of copying. Values are handed out as github.com/buger/jsonparser does: a
// string without its quotes, with its jsonparser.ValueType.
package jsonspan

// SkipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
