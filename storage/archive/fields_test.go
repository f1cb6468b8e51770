package archive_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

var fieldCases = []string{
	`{"auditID":"a","stage":"x","verb":"get","user":{"username":"u","groups":["g"]},"sourceIPs":["1.2.3.4","::1"],"objectRef":{"resource":"pods","namespace":"n","name":"p"},"stageTimestamp":"2026-11-22T10:00:00.5Z"}`,
	` { "stage" : "x" , "objectRef" : { "name" : "a" } , "objectRef" : { "name" : "b" , "namespace" : "c" } , "stage" : "y" } `,
	`{"stage":5,"stage":"late","verb":null,"user":"u","objectRef":[{"name":"in-array"}],"sourceIPs":"1.2.3.4"}`,
	`{"requestObject":{"metadata":{"namespace":"not-this"},"items":[{"stage":"no"}]},"annotations":{"stage":"no"},"stage":"yes"}`,
	`{"user":{"username":"o'neil \"x\" \u00e9"},"auditID":"\ud800","sourceIPs":["a\"b","c"],"requestReceivedTimestamp":"2026-11-22T09:00:00Z"}`,
	`{"sourceIPs":["a",1,null],"stage":"x"}`, `{"sourceIPs":[],"stage":"x"}`, `{"a\u0062":1,"stage":"x"}`, `{"requestObject":{"k\n":1},"stage":"x"}`,
	`{"stage":"x"}{"verb":"y"}`, `{"stage":"x"`, `not json`, ``, `[]`, `{}`, `"str"`, `{"stageTimestamp":"yesterday","requestReceivedTimestamp":"2026-11-22T09:00:00+02:00"}`,
	"{\"stage\":\"\xff\",\"verb\":\"h\xc3\xa9\",\"user\":{\"username\":\"\xed\xa0\x80\"},\"sourceIPs\":[\"\xfe\",\"a\\\\b\"]}",
	`{"requestObject":{"a\"}":"}\\","b":["]",{"stage":"{"}]},"stage":"a\\\"b","verb":"x\u0000y","auditID":"\/"}`,
	`{"stage":1e2,"verb":-0,"auditID":"a","user":{"username":0.5}}`, "\n\t{ \"stage\" :\r\n\"x\" }\n",
	`{"stage":"x","requestObject":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"stage":"x","requestObject":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"héllo":1,"stage":"x"}`, `{"user":{"usérname":"x","username":"u"}}`, `{"a":[[[{"stage":"deep"}]]],"b":{"c":{"stage":"deep"}}}`,
}

func requireSameFields(t *testing.T, line []byte) {
	t.Helper()
	fast, ok := archive.ParseEventFieldsFast(line)
	if !ok {
		return
	}
	require.Equal(t, archive.ParseEventFieldsSlow(line), fast, "line %q", line)
}

func TestParseEventFieldsFastAgrees(t *testing.T) {
	for _, c := range fieldCases {
		requireSameFields(t, []byte(c))
	}
	for i, e := range audittest.RealisticEvents(2000) {
		requireSameFields(t, e)
		_, ok := archive.ParseEventFieldsFast(e)
		require.True(t, ok, "event %d takes the fast path", i)
	}
	_, ok := archive.ParseEventFieldsFast([]byte(fieldCases[0]))
	require.True(t, ok)
	// Past encoding/json's nesting limit the line is not valid JSON: jsonparser decides.
	for depth, fast := range map[int]bool{9999: true, 10000: false} {
		line := `{"stage":"x","requestObject":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
		_, ok := archive.ParseEventFieldsFast([]byte(line))
		require.Equal(t, fast, ok, "depth %d", depth)
	}
}

func FuzzParseEventFieldsAgrees(f *testing.F) {
	for _, c := range fieldCases {
		f.Add([]byte(c))
	}
	for _, e := range audittest.RealisticEvents(20) {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		requireSameFields(t, line)
		require.NotPanics(t, func() { archive.ParseEventFields(line) })
	})
}

// BenchmarkParseEventFields compares the one-pass path with jsonparser.EachKey.
func BenchmarkParseEventFields(b *testing.B) {
	events := audittest.RealisticEvents(1000)
	size := 0
	for _, e := range events {
		size += len(e)
	}
	for _, p := range []struct {
		name  string
		parse func([]byte) archive.EventFields
	}{{"now", archive.ParseEventFields}, {"jsonparser", archive.ParseEventFieldsSlow}} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, e := range events {
					if f := p.parse(e); f.AuditID == "" {
						b.Fatal("no auditID in", strings.TrimSpace(string(e[:40])))
					}
				}
			}
		})
	}
}
