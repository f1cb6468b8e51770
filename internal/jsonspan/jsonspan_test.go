package jsonspan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/buger/jsonparser"
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

// requireSpans checks the positions jsonspan gives for every value of the object or array in
// doc (valid JSON), recursively: the JSON text there is the value encoding/json reads.
func requireSpans(t *testing.T, doc []byte, at int, v []byte, typ jsonparser.ValueType) {
	t.Helper()
	raw := doc[at : at+RawLen(v, typ)]
	require.True(t, json.Valid(raw), "%q at %d", raw, at)
	if typ == jsonparser.String {
		require.Equal(t, v, raw[1:len(raw)-1])
	} else {
		require.Equal(t, v, raw)
	}
	switch typ {
	case jsonparser.Object:
		require.NoError(t, jsonparser.ObjectEach(v, func(key, e []byte, typ jsonparser.ValueType, end int) error {
			eAt := at + ObjectValueStart(e, typ, end)
			var decoded string
			k := doc[:eAt]
			k = k[:strings.LastIndexByte(string(k), ':')]
			k = []byte(strings.TrimRight(string(k), " \t\r\n"))
			k = k[strings.LastIndexByte(string(k[:len(k)-1]), '"'):] // keys here hold no quotes
			require.NoError(t, json.Unmarshal(k, &decoded))
			require.Equal(t, decoded, string(key))
			require.Equal(t, !strings.Contains(string(k), `\`), RawKey(doc, key, eAt), "key %q", k)
			requireSpans(t, doc, eAt, e, typ)
			return nil
		}))
	case jsonparser.Array:
		_, err := jsonparser.ArrayEach(v, func(e []byte, typ jsonparser.ValueType, offset int, _ error) {
			requireSpans(t, doc, at+ArrayValueStart(typ, offset), e, typ)
		})
		require.NoError(t, err)
	}
}

func TestSpans(t *testing.T) {
	for _, doc := range []string{
		`{"a":"x","b":1,"c":[1,"two",{"d":null},[]],"e":{},"f":"","g":[""],"\u0061b":true,"c\n":-1.5e3}`,
		" {\n \"a\" : \"x\" ,\t\"b\"\r\n:\n[ \"y\" , 2 ] , \"\" : { \"k\\n\" : \"\\\"\" } } ",
		`[{"a":"é"},"s",0,{"b\\":["\\"]}]`,
	} {
		b := []byte(doc)
		start := SkipSpace(b, 0)
		_, typ, _, err := jsonparser.Get(b)
		require.NoError(t, err)
		end := len(strings.TrimRight(doc, " \t\r\n"))
		requireSpans(t, b, start, b[start:end], typ)
	}
}

func TestSkipSpace(t *testing.T) {
	require.Equal(t, 4, SkipSpace([]byte(" \t\r\nx"), 0))
	require.Equal(t, 2, SkipSpace([]byte("  "), 0))
	require.Equal(t, 1, SkipSpace([]byte("x\f"), 1), "form feed is not JSON whitespace")
}
