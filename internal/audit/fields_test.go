package audit_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/internal/audittest"
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

// TestParseFieldsOnOddLines: unusual, malformed and hostile lines never panic, and a
// usual line gives its fields.
func TestParseFieldsOnOddLines(t *testing.T) {
	for _, c := range fieldCases {
		_ = audit.ParseFields([]byte(c))
	}
	f := audit.ParseFields([]byte(fieldCases[0]))
	require.Equal(t, "a", f.AuditID)
	require.Equal(t, "u", f.User)
	require.Equal(t, []string{"1.2.3.4", "::1"}, f.SourceIPs)
	require.Equal(t, "pods", f.Resource)
}

// TestParseFieldsAsEachKey: the realistic events and the odd lines give what EachKey gives
// (the reader the indexes already written were made with).
func TestParseFieldsAsEachKey(t *testing.T) {
	lines := audittest.RealisticEvents(2000)
	for _, c := range fieldCases {
		lines = append(lines, []byte(c))
	}
	for _, l := range lines {
		require.Equal(t, fmt.Sprintf("%+v", audit.ParseEachKey(l)), fmt.Sprintf("%+v", audit.ParseFields(l)), "line %.300q", l)
	}
}

func FuzzParseFields(f *testing.F) {
	for _, c := range fieldCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(_ *testing.T, line []byte) { _ = audit.ParseFields(line) })
}

func BenchmarkParseFields(b *testing.B) {
	events := audittest.RealisticEvents(1000)
	var n int64
	for _, e := range events {
		n += int64(len(e))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range events {
			_ = audit.ParseFields(e)
		}
	}
}
