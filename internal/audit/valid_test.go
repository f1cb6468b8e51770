package audit

import (
	"encoding/json"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/stretchr/testify/require"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// validityCases are the inputs on which the validator vigil uses (go-json's Valid) must answer
// as encoding/json.Valid does: grammar, numbers, escapes, control characters, invalid UTF-8
// (accepted by both), the nesting limit. (fastjson.Validate, segmentio's and gjson's Valid have no
// nesting limit: they accept what encoding/json refuses, and recurse once per level.)
var validityCases = []string{
	`{}`, ` [] `, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":"d"}`, `"x"`, `0`, `-0`, `-0.5e+10`, `1E2`, `true`, `false`, `null`,
	`"\u00e9\n\t\\\/\""`, `"héllo"`, "\"\xff\xfe\"", "{\"\xff\":1}", "\"\xed\xa0\x80\"", `"\ud800"`, `{"a" : 1 , "b" :[ ] }`,
	`{"a":1,"a":2}`, "\t\n\r {} ", "\f{}", "\v1", "\u00a01", "{}\x00", "\x00", "\"\x7f\"",
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `01`, `-01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`, `[-]`,
	`NaN`, `Infinity`, `tru`, `nul`, `falsey`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", "{\"\x01\":1}", "\"a\nb\"", `"abc`,
	`"a\"`, `{"a":1}x`, `[1 2]`, `{"a" 1}`, `{1:2}`, `"12345678\"90123456789"`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	`{"a":` + strings.Repeat(`{"b":`, maxDepth-1) + `1` + strings.Repeat("}", maxDepth),
	`{"a":` + strings.Repeat(`{"b":`, maxDepth) + `1` + strings.Repeat("}", maxDepth+1),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validityCases {
		if got, want := gojson.Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("go-json Valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validityCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := gojson.Valid(b), json.Valid(b); got != want {
			t.Fatalf("go-json Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func TestSkipSpace(t *testing.T) {
	require.Equal(t, 4, SkipSpace([]byte(" \t\r\nx"), 0))
	require.Equal(t, 2, SkipSpace([]byte("  "), 0))
	require.Equal(t, 1, SkipSpace([]byte("x\f"), 1), "form feed is not JSON whitespace")
}
