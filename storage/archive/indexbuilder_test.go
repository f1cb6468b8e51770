package archive_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/internal/audit/testlines"
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
// fields audit.ParseFields reads from them, or as a list of such fields.
func TestIndexBuilderWaysAgree(t *testing.T) {
	lines := audittest.RealisticEvents(500)
	for _, l := range append(testlines.OddLines, fieldCasesForIndex...) {
		lines = append(lines, []byte(l))
	}
	want, err := archive.BuildIndex(lines).Encode()
	require.NoError(t, err)

	fields := archive.NewIndexBuilder()
	mixed := archive.NewIndexBuilder()
	var list archive.FieldsList
	for i, l := range lines {
		f := audit.ParseFields(l)
		fields.AddFields(&f)
		if i%3 == 0 {
			mixed.AddLine(l)
		} else {
			list.Add(&f)
		}
	}
	mixed.AddList(&list)
	require.Equal(t, len(lines), mixed.Events())
	require.Equal(t, string(want), string(indexBytes(t, fields)), "fields")
	require.Equal(t, string(want), string(indexBytes(t, mixed)), "lines and a list of fields")
}

// fieldCasesForIndex are lines whose values have escapes, empty strings and odd source IPs.
var fieldCasesForIndex = []string{
	`{"auditID":"","stage":"a\u0062","verb":"\u00e9","user":{"username":""},"sourceIPs":["","1.1.1.1","1.1.1.1"],"objectRef":{"name":"","namespace":"\"q\""}}`,
	`{"auditID":"x\\y","sourceIPs":["a\"b",5,null],"objectRef":{"name":"n\u0000"}}`,
}

func FuzzIndexBuilderWaysAgree(f *testing.F) {
	for _, l := range append(testlines.OddLines, fieldCasesForIndex...) {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		byLine := archive.NewIndexBuilder()
		byLine.AddLine(line)
		byFields := archive.NewIndexBuilder()
		fields := audit.ParseFields(line)
		byFields.AddFields(&fields)
		byList := archive.NewIndexBuilder()
		var list archive.FieldsList
		list.Add(&fields)
		byList.AddList(&list)
		a := indexBytes(t, byLine)
		if b := indexBytes(t, byFields); !bytes.Equal(a, b) {
			t.Fatalf("line %q: by line %s, by fields %s", line, a, b)
		}
		if b := indexBytes(t, byList); !bytes.Equal(a, b) {
			t.Fatalf("line %q: by line %s, by list %s", line, a, b)
		}
	})
}
