package audit

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audit/testlines"
)

// TestObjectReaderAgreesWithEachKey: wherever the fast reader answers, it answers what EachKey
// answers (the indexes already written were made with EachKey).
func TestObjectReaderAgreesWithEachKey(t *testing.T) {
	fast := 0
	for _, l := range testlines.OddLines {
		if f, ok := parseObject([]byte(l)); ok {
			fast++
			require.Equal(t, fmt.Sprintf("%+v", parseEachKey([]byte(l))), fmt.Sprintf("%+v", f), "line %q", l)
		}
		require.Equal(t, fmt.Sprintf("%+v", parseEachKey([]byte(l)).Decode()), fmt.Sprintf("%+v", ParseFields([]byte(l))), "line %q", l)
	}
	require.Greater(t, fast, 5, "the fast reader takes the well-formed lines")
	_, ok := parseObject([]byte(`{"stage":"x"}{"verb":"y"}`))
	require.False(t, ok, "two objects are left to EachKey")
}

func FuzzObjectReaderAgreesWithEachKey(f *testing.F) {
	for _, l := range testlines.OddLines {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		want := fmt.Sprintf("%+v", parseEachKey(line).Decode())
		if got := fmt.Sprintf("%+v", ParseFields(line)); got != want {
			t.Fatalf("line %q: EachKey %s, ParseFields %s", line, want, got)
		}
	})
}

// ParseEachKey is ParseFields by jsonparser.EachKey alone, for the external tests.
func ParseEachKey(line []byte) Fields { return parseEachKey(line).Decode() }
