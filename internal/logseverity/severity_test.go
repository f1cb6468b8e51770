package logseverity

import (
	"bytes"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

// refFromWords and refLevel are fromWords and level as they were before they stopped allocating
// (bytes.Fields, bytes.ToUpper): the reference the faster ones must agree with.
func refLevel(word []byte) (plog.SeverityNumber, string) {
	if len(word) == 0 || len(word) > 8 {
		return plog.SeverityNumberUnspecified, ""
	}
	up := string(bytes.ToUpper(word))
	if n, ok := levels[up]; ok {
		return n, up
	}
	return plog.SeverityNumberUnspecified, ""
}

func refFromWords(b []byte) (plog.SeverityNumber, string) {
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
		if n, text := refLevel(w); n != plog.SeverityNumberUnspecified {
			return n, text
		}
	}
	return plog.SeverityNumberUnspecified, ""
}

var wordSamples = []string{
	"ERROR something broke", "[warn] disk", "<info> ok", "(DEBUG) x", "ERROR:root:message",
	"2023/10/06 00:17:10 [error] 29#29: open() failed", "level warn", "Warning: lower", "WARNING: upper",
	"  \t INFO\vmessage", "a b c d ERROR", "a b c ERROR", "[ınfo] dotless", "ınfo", "[Info]", "[I]",
	"café ERROR", "x\u00a0ERROR y", "\u00a0\u00a0WARN", "ÉRROR x", "[WARNING]x", "||ERROR||", "[]", "",
	"FATAL", "CRITICAL!", "notice NOTICE", "GET /index.html 200", strings.Repeat("word ", 40) + "ERROR",
	"\xff\xfe ERROR", "[\xffWARN]",
}

func TestFromWordsAsBefore(t *testing.T) {
	for _, s := range wordSamples {
		n, text := fromWords([]byte(s))
		wn, wtext := refFromWords([]byte(s))
		if n != wn || text != wtext {
			t.Errorf("fromWords(%q) = %v %q, before %v %q", s, n, text, wn, wtext)
		}
	}
}

func FuzzFromWordsAsBefore(f *testing.F) {
	for _, s := range wordSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, text := fromWords(b)
		wn, wtext := refFromWords(b)
		if n != wn || text != wtext {
			t.Errorf("fromWords(%q) = %v %q, before %v %q", b, n, text, wn, wtext)
		}
		n, text = level(b)
		wn, wtext = refLevel(b)
		if n != wn || text != wtext {
			t.Errorf("level(%q) = %v %q, before %v %q", b, n, text, wn, wtext)
		}
	})
}

func BenchmarkOf(b *testing.B) {
	bodies := [][]byte{[]byte(`10.0.0.1 - - [06/Oct/2023:00:17:10 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 5123`),
		[]byte(`{"level":"warn","msg":"slow request","ms":1234}`), []byte("E0102 15:04:05.000000 1 main.go:1] boom")}
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			if n, _ := Of("stdout", body); n == plog.SeverityNumberUnspecified {
				b.Fatal("no level")
			}
		}
	}
}
