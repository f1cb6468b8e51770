// Package jsonscan is a small, allocation-free JSON syntax scanner for hot paths: it finds where
// values start and end and checks them exactly as encoding/json does (the same grammar, the same
// nesting limit of 10000, and like encoding/json it does not check UTF-8), several times faster.
// It never decodes: callers that need a value's Go form hand the bytes it found to encoding/json.
package jsonscan

import (
	"encoding/binary"
)

// MaxDepth is the deepest nesting of arrays and objects accepted, as in encoding/json.
const MaxDepth = 10000

// Valid reports whether b is one JSON value with optional surrounding whitespace; it agrees with
// encoding/json.Valid.
func Valid(b []byte) bool {
	i := SkipSpace(b, 0)
	end, ok := SkipValue(b, i, 0)
	if !ok {
		return false
	}
	return SkipSpace(b, end) == len(b)
}

// SkipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipValue checks the value that starts at b[i] (no leading whitespace) and returns the index
// just after it. depth is the nesting depth of the value's container (0 at the top level).
func SkipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := String(b, i)
		return end, ok
	case c == '{':
		return skipObject(b, i, depth+1)
	case c == '[':
		return skipArray(b, i, depth+1)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return Number(b, i)
	}
	return i, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

func skipObject(b []byte, i, depth int) (int, bool) {
	if depth > MaxDepth {
		return i, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		end, _, ok := String(b, i)
		if !ok {
			return end, false
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		i = SkipSpace(b, i+1)
		if i, ok = SkipValue(b, i, depth); !ok {
			return i, false
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func skipArray(b []byte, i, depth int) (int, bool) {
	if depth > MaxDepth {
		return i, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = SkipValue(b, i, depth); !ok {
			return i, false
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether any of the 8 bytes of v is a control character (< 0x20), '"' or '\\'.
func special(v uint64) bool {
	q := v ^ (ones * '"')
	s := v ^ (ones * '\\')
	return ((v-ones*0x20)&^v|(q-ones)&^q|(s-ones)&^s)&highs != 0
}

// String checks the string that starts with the quote at b[i] and returns the index after its
// closing quote. plain reports that it holds neither escapes nor bytes outside ASCII, so that
// b[i+1:end-1] is its value as encoding/json would decode it.
func String(b []byte, i int) (end int, plain bool, ok bool) {
	j := i + 1
	plain = true
	for {
		for j+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[j:])
			if special(v) {
				break
			}
			if v&highs != 0 {
				plain = false
			}
			j += 8
		}
		if j >= len(b) {
			return j, false, false
		}
		c := b[j]
		switch {
		case c == '"':
			return j + 1, plain, true
		case c == '\\':
			plain = false
			if j+1 >= len(b) {
				return j, false, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) || !isHex(b[j+5]) {
					return j, false, false
				}
				j += 6
			default:
				return j, false, false
			}
		case c < 0x20:
			return j, false, false
		default:
			if c >= 0x80 {
				plain = false
			}
			j++
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// Number checks the number that starts at b[i] and returns the index after it.
func Number(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
