package archive

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// oddLines are lines on which the two readers could part: duplicate keys, wrong types, escaped
// keys, trailing and missing bytes.
var oddLines = []string{
	` { "stage" : "x" , "objectRef" : { "name" : "a" } , "objectRef" : { "name" : "b" , "namespace" : "c" } , "stage" : "y" } `,
	`{"stage":5,"stage":"late","verb":null,"user":"u","objectRef":[{"name":"in-array"}],"sourceIPs":"1.2.3.4"}`,
	`{"st\u0061ge":"escaped key","verb":"v"}`, `{"user":{"username":1,"username":"second"}}`,
	`{"sourceIPs":["a"],"sourceIPs":["b"]}`, `{"stageTimestamp":"bad","stageTimestamp":"2026-11-22T10:00:00Z","requestReceivedTimestamp":"2026-11-22T09:00:00Z"}`,
	`{"stage":"x"}{"verb":"y"}`, `{"stage":"x"} x`, `{"stage":"x"`, `{"stage":"x",}`, `{ }`, " {\n}\t", `{"stage":"x"}}`,
	`{"stage":"x" "verb":"y"}`, `{"stage":"x","verb"}`, `{"objectRef":{"name":"a"`, `{"a":{"b":"c"}, "stage":"x"}`,
	`{"user":{"username":"u"},"user":{"username":"v"}}`, `{"verb":"\u0041\"b"}`, `{"verb":"bad \x escape"}`,
}

// TestObjectReaderAgreesWithEachKey: wherever the fast reader answers, it answers what EachKey
// answers (the indexes already written were made with EachKey).
func TestObjectReaderAgreesWithEachKey(t *testing.T) {
	fast := 0
	for _, l := range oddLines {
		if f, ok := parseObject([]byte(l)); ok {
			fast++
			require.Equal(t, fmt.Sprintf("%+v", parseEachKey([]byte(l))), fmt.Sprintf("%+v", f), "line %q", l)
		}
		require.Equal(t, fmt.Sprintf("%+v", parseEachKey([]byte(l)).decode()), fmt.Sprintf("%+v", ParseEventFields([]byte(l))), "line %q", l)
	}
	require.Greater(t, fast, 5, "the fast reader takes the well-formed lines")
	_, ok := parseObject([]byte(`{"stage":"x"}{"verb":"y"}`))
	require.False(t, ok, "two objects are left to EachKey")
}

func FuzzObjectReaderAgreesWithEachKey(f *testing.F) {
	for _, l := range oddLines {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		want := fmt.Sprintf("%+v", parseEachKey(line).decode())
		if got := fmt.Sprintf("%+v", ParseEventFields(line)); got != want {
			t.Fatalf("line %q: EachKey %s, ParseEventFields %s", line, want, got)
		}
	})
}

// ParseEachKey is ParseEventFields by jsonparser.EachKey alone, for the external tests.
func ParseEachKey(line []byte) EventFields { return parseEachKey(line).decode() }

// OddLines are oddLines for the external tests.
var OddLines = oddLines
