package logseverity

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Of finds the level of a record: from a level field near the start of the body (JSON
// "level"/"severity"/"lvl", logfmt level=, a klog header such as "E0102 15:04:05.000000", or a
// level word among the first words: "ERROR", "[WARN]", "level:info"), else from the stream:
// stdout INFO, stderr ERROR. It returns the severity number and the text found (the stream's
// default text when none was found).
func Of(stream string, body []byte) (plog.SeverityNumber, string) {
	head := body[:min(len(body), 512)]
	if n, text := fromKlog(head); n != plog.SeverityNumberUnspecified {
		return n, text
	}
	if n, text := fromField(head); n != plog.SeverityNumberUnspecified {
		return n, text
	}
	if n, text := fromWords(head); n != plog.SeverityNumberUnspecified {
		return n, text
	}
	if stream == "stderr" {
		return plog.SeverityNumberError, "ERROR"
	}
	return plog.SeverityNumberInfo, "INFO"
}

// levels maps level names (upper case) to severity numbers.
var levels = map[string]plog.SeverityNumber{
	"TRACE": plog.SeverityNumberTrace, "DEBUG": plog.SeverityNumberDebug, "DBG": plog.SeverityNumberDebug,
	"INFO": plog.SeverityNumberInfo, "INF": plog.SeverityNumberInfo, "NOTICE": plog.SeverityNumberInfo2,
	"WARN": plog.SeverityNumberWarn, "WARNING": plog.SeverityNumberWarn, "WRN": plog.SeverityNumberWarn,
	"ERROR": plog.SeverityNumberError, "ERR": plog.SeverityNumberError, "ERRO": plog.SeverityNumberError,
	"CRITICAL": plog.SeverityNumberFatal, "CRIT": plog.SeverityNumberFatal, "FATAL": plog.SeverityNumberFatal,
	"PANIC": plog.SeverityNumberFatal, "ALERT": plog.SeverityNumberFatal2, "EMERG": plog.SeverityNumberFatal3,
	"SEVERE": plog.SeverityNumberError,
}

// Level maps a level name of any case ("warn", "ERROR", "Info") to its severity number and
// upper-case text; unknown names give SeverityNumberUnspecified.
func Level(word string) (plog.SeverityNumber, string) {
	if len(word) > 8 {
		return plog.SeverityNumberUnspecified, ""
	}
	return level([]byte(word))
}

func level(word []byte) (plog.SeverityNumber, string) {
	if len(word) == 0 || len(word) > 8 {
		return plog.SeverityNumberUnspecified, ""
	}
	var up [8]byte // ASCII upper case without allocating; other bytes as bytes.ToUpper does
	for i, c := range word {
		if c >= utf8.RuneSelf {
			return levelUnicode(word)
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if name, ok := levelNames[string(up[:len(word)])]; ok { // a lookup by a converted key: no allocation
		return levels[name], name
	}
	return plog.SeverityNumberUnspecified, ""
}

// levelUnicode is level for a word with bytes outside ASCII (whose upper case may be ASCII).
func levelUnicode(word []byte) (plog.SeverityNumber, string) {
	up := string(bytes.ToUpper(word))
	if _, ok := levels[up]; ok {
		return levels[up], up
	}
	return plog.SeverityNumberUnspecified, ""
}

// levelNames maps each key of levels to itself: the text level returns, without allocating it.
var levelNames = func() map[string]string {
	m := make(map[string]string, len(levels))
	for k := range levels {
		m[k] = k
	}
	return m
}()

// fromKlog reads the header of klog (Kubernetes components): "I0102 15:04:05.123456 ...".
func fromKlog(b []byte) (plog.SeverityNumber, string) {
	if len(b) < 15 || b[5] != ' ' || b[8] != ':' || b[11] != ':' {
		return plog.SeverityNumberUnspecified, ""
	}
	for _, c := range b[1:5] {
		if c < '0' || c > '9' {
			return plog.SeverityNumberUnspecified, ""
		}
	}
	switch b[0] {
	case 'I':
		return plog.SeverityNumberInfo, "INFO"
	case 'W':
		return plog.SeverityNumberWarn, "WARNING"
	case 'E':
		return plog.SeverityNumberError, "ERROR"
	case 'F':
		return plog.SeverityNumberFatal, "FATAL"
	}
	return plog.SeverityNumberUnspecified, ""
}

// fieldKeys are the keys of level fields, as JSON ("level":) and logfmt (level=) write them.
var fieldKeys = [][]byte{[]byte("level"), []byte("severity"), []byte("lvl"), []byte("loglevel")}

// fromField finds a level field in a JSON object or logfmt line.
func fromField(b []byte) (plog.SeverityNumber, string) {
	for _, key := range fieldKeys {
		for i := 0; i < len(b); {
			j := bytes.Index(b[i:], key)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(key)
			i = end
			var q bool // the key is quoted (JSON)
			if start > 0 && b[start-1] == '"' && end < len(b) && b[end] == '"' {
				q, end = true, end+1
			} else if start > 0 && !isSep(b[start-1]) {
				continue // part of a longer word
			}
			rest := b[end:]
			rest = bytes.TrimLeft(rest, " ")
			if len(rest) == 0 || (rest[0] != '=' && rest[0] != ':') || (q && rest[0] != ':') {
				continue
			}
			rest = bytes.TrimLeft(rest[1:], " \"")
			k := 0
			for k < len(rest) && isWordByte(rest[k]) {
				k++
			}
			if n, text := level(rest[:k]); n != plog.SeverityNumberUnspecified {
				return n, text
			}
		}
	}
	return plog.SeverityNumberUnspecified, ""
}

// fromWords looks for a level word among the first four words, written in capitals or in
// brackets ("ERROR", "[warn]", "<info>"): lower-case words alone are too often ordinary text.
func fromWords(b []byte) (plog.SeverityNumber, string) {
	b = b[:min(len(b), 160)]
	for i := 0; i < 4; i++ { // the first four words, as bytes.Fields splits them (ASCII spaces)
		start := 0
		for start < len(b) && asciiSpace(b[start]) {
			start++
		}
		if start == len(b) {
			break
		}
		end := start
		for end < len(b) && !asciiSpace(b[end]) {
			end++
		}
		w := b[start:end]
		b = b[end:]
		if !ascii(w) { // bytes.Fields splits on Unicode spaces too: the general path
			return fromWordsUnicode(w, b, i)
		}
		if n, text := wordLevel(w); n != plog.SeverityNumberUnspecified {
			return n, text
		}
	}
	return plog.SeverityNumberUnspecified, ""
}

// fromWordsUnicode is fromWords from word i (w, the rest after it) on, for text outside ASCII.
func fromWordsUnicode(w, rest []byte, i int) (plog.SeverityNumber, string) {
	words := bytes.Fields(append(append(append([]byte(nil), w...), ' '), rest...))
	for _, w := range words {
		if i == 4 {
			break
		}
		i++
		if n, text := wordLevel(w); n != plog.SeverityNumberUnspecified {
			return n, text
		}
	}
	return plog.SeverityNumberUnspecified, ""
}

// wordLevel is the level of one word: written in capitals or in brackets.
func wordLevel(w []byte) (plog.SeverityNumber, string) {
	bracketed := len(w) > 2 && strings.IndexByte("[(<", w[0]) >= 0
	w = bytes.Trim(w, "[]()<>:,|")
	if p := bytes.IndexByte(w, ':'); p > 0 { // Python's logging: ERROR:root:message
		w = w[:p]
	}
	if !bracketed && !upper(w) {
		return plog.SeverityNumberUnspecified, ""
	}
	return level(w)
}

// upper reports whether w is its own upper case (bytes.ToUpper), without allocating when ASCII.
func upper(w []byte) bool {
	for _, c := range w {
		if c >= utf8.RuneSelf {
			return bytes.Equal(w, bytes.ToUpper(w))
		}
		if 'a' <= c && c <= 'z' {
			return false
		}
	}
	return true
}

func ascii(w []byte) bool {
	for _, c := range w {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiSpace is unicode.IsSpace for ASCII bytes (bytes.Fields' separators).
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isSep(c byte) bool { return c == ' ' || c == '{' || c == ',' || c == '\t' || c == '"' }

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
