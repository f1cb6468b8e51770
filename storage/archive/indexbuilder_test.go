package archive_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// indexBytes is the stored index of what b gathered.
func indexBytes(t testing.TB, b *archive.IndexBuilder) []byte {
	out, err := b.Index().Encode()
	require.NoError(t, err)
	return out
}

// TestIndexBuilderWaysAgree: an index is the same whether its events come as lines, as the
// fields ParseEventFields reads from them, or in parts merged.
func TestIndexBuilderWaysAgree(t *testing.T) {
	lines := audittest.RealisticEvents(500)
	for _, l := range append(archive.OddLines, fieldCasesForIndex...) {
		lines = append(lines, []byte(l))
	}
	want, err := archive.BuildIndex(lines).Encode()
	require.NoError(t, err)

	fields := archive.NewIndexBuilder()
	parts := []*archive.IndexBuilder{archive.NewIndexBuilder(), archive.NewIndexBuilder(), archive.NewIndexBuilder()}
	for i, l := range lines {
		f := archive.ParseEventFields(l)
		fields.AddFields(&f)
		if i%2 == 0 {
			parts[i%3].AddFields(&f)
		} else {
			parts[i%3].AddLine(l)
		}
	}
	merged := archive.NewIndexBuilder()
	for _, p := range parts {
		merged.Merge(p)
	}
	require.Equal(t, len(lines), merged.Events())
	require.Equal(t, string(want), string(indexBytes(t, fields)), "fields")
	require.Equal(t, string(want), string(indexBytes(t, merged)), "merged parts")
}

// fieldCasesForIndex are lines whose values have escapes, empty strings and odd source IPs.
var fieldCasesForIndex = []string{
	`{"auditID":"","stage":"a\u0062","verb":"\u00e9","user":{"username":""},"sourceIPs":["","1.1.1.1","1.1.1.1"],"objectRef":{"name":"","namespace":"\"q\""}}`,
	`{"auditID":"x\\y","sourceIPs":["a\"b",5,null],"objectRef":{"name":"n\u0000"}}`,
}

func FuzzIndexBuilderWaysAgree(f *testing.F) {
	for _, l := range append(archive.OddLines, fieldCasesForIndex...) {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		byLine := archive.NewIndexBuilder()
		byLine.AddLine(line)
		byFields := archive.NewIndexBuilder()
		fields := archive.ParseEventFields(line)
		byFields.AddFields(&fields)
		if a, b := indexBytes(t, byLine), indexBytes(t, byFields); !bytes.Equal(a, b) {
			t.Fatalf("line %q: by line %s, by fields %s", line, a, b)
		}
	})
}
