package logseverity

import (
	"bytes"
	"strings"

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
	up := string(bytes.ToUpper(word))
	if n, ok := levels[up]; ok {
		return n, up
	}
	return plog.SeverityNumberUnspecified, ""
}

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
	words := bytes.Fields(b[:min(len(b), 160)])
	for i, w := range words {
		if i == 4 {
			break
		}
		bracketed := len(w) > 2 && strings.IndexByte("[(<", w[0]) >= 0
		w = bytes.Trim(w, "[]()<>:,|")
		if p := bytes.IndexByte(w, ':'); p > 0 { // Python's logging: ERROR:root:message
			w = w[:p]
		}
		if !bracketed && !bytes.Equal(w, bytes.ToUpper(w)) {
			continue
		}
		if n, text := level(w); n != plog.SeverityNumberUnspecified {
			return n, text
		}
	}
	return plog.SeverityNumberUnspecified, ""
}

func isSep(c byte) bool { return c == ' ' || c == '{' || c == ',' || c == '\t' || c == '"' }

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
