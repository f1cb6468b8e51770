package archive

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audit"
)

func indexEvent(i int, user string) []byte {
	return fmt.Appendf(nil, `{"kind":"Event","auditID":"id-%d","stage":"ResponseComplete","verb":"get","user":{"username":%q,"groups":["g"]},`+
		`"sourceIPs":["10.1.0.%d","fd00::%d"],"objectRef":{"resource":"secrets","namespace":"ns-%d","name":"obj-%d"},`+
		`"stageTimestamp":"2026-11-22T10:00:%02d.5Z","requestReceivedTimestamp":"2026-11-22T10:00:00Z"}`, i, user, i, i, i%3, i, i%60)
}

func TestParseFields(t *testing.T) {
	f := audit.ParseFields(indexEvent(7, `o'neil "x"`))
	require.Equal(t, "ns-1", f.Namespace)
	require.Equal(t, "secrets", f.Resource)
	require.Equal(t, "ResponseComplete", f.Stage)
	require.Equal(t, `o'neil "x"`, f.User, "escaped JSON strings are decoded")
	require.Equal(t, "get", f.Verb)
	require.Equal(t, "obj-7", f.Name)
	require.Equal(t, "id-7", f.AuditID)
	require.Equal(t, []string{"10.1.0.7", "fd00::7"}, f.SourceIPs)
	require.Equal(t, "2026-11-22T10:00:07.5Z", f.Time.Format("2006-01-02T15:04:05.9Z07:00"))

	require.Equal(t, audit.Fields{}, audit.ParseFields([]byte(`not json`)), "malformed lines give empty fields, no panic")
	f = audit.ParseFields([]byte(`{"requestReceivedTimestamp":"2026-11-22T09:00:00Z","user":{"username":5}}`))
	require.Equal(t, "", f.User)
	require.Equal(t, 9, f.Time.Hour(), "without stageTimestamp, the request time")
}

func TestIndexPrunesAndNeverHidesAMatch(t *testing.T) {
	var events [][]byte
	for i := range 500 {
		events = append(events, indexEvent(i, fmt.Sprintf("user-%d", i%100)))
	}
	events = append(events, []byte(`{"kind":"Event","auditID":"no-namespace","verb":"list","user":{"username":"user-1"}}`))
	idx := BuildIndex(events)
	b1, err := idx.Encode()
	require.NoError(t, err)
	b2, _ := BuildIndex(events).Encode()
	require.True(t, bytes.Equal(b1, b2), "the index is deterministic")
	reversed := slices.Clone(events)
	slices.Reverse(reversed)
	b3, _ := BuildIndex(reversed).Encode()
	require.True(t, bytes.Equal(b1, b3), "the index does not depend on the order of the events")
	back, err := DecodeIndex(b1)
	require.NoError(t, err)

	eq := func(v string) func(string) bool { return func(s string) bool { return s == v } }
	require.Equal(t, []string{"", "ns-0", "ns-1", "ns-2"}, back.Labels["namespace"], "few values are listed, with \"\" for events without")
	require.NotContains(t, back.Labels, "user", "100 users are over MaxIndexValues: bloom only")
	for i := range 100 {
		u := fmt.Sprintf("user-%d", i)
		require.True(t, back.MayContain("user", eq(u), []string{u}), "no false negative for %s", u)
	}
	false0 := 0
	for i := range 1000 {
		u := fmt.Sprintf("someone-else-%d", i)
		if back.MayContain("user", eq(u), []string{u}) {
			false0++
		}
	}
	require.Less(t, false0, 40, "bloom false positives near 1%%")
	require.False(t, back.MayContain("namespace", eq("payments"), []string{"payments"}))
	require.True(t, back.MayContain("namespace", func(s string) bool { return s == "" }, nil), "an event without namespace matches namespace=\"\"")
	require.True(t, back.MayContainToken(TokenSourceIP, []string{"fd00::42"}))
	require.True(t, back.MayContainToken(TokenName, []string{"obj-499"}))
	require.True(t, back.MayContainToken(TokenAuditID, []string{"no-namespace"}))
	require.True(t, back.MayContain("user", func(string) bool { return true }, nil), "a regexp without literals cannot be pruned")
}

// referenceIndex is BuildIndex written plainly: one sorted set of every "name=value" token.
func referenceIndex(events [][]byte) *Index {
	values := make([]map[string]struct{}, len(IndexedLabels))
	for i := range values {
		values[i] = map[string]struct{}{}
	}
	tokens := map[string]struct{}{}
	for _, line := range events {
		f := audit.ParseFields(line)
		for i, v := range f.Labels() {
			values[i][v] = struct{}{}
			if v != "" {
				tokens[IndexedLabels[i]+"="+v] = struct{}{}
			}
		}
		if f.Name != "" {
			tokens[TokenName+"="+f.Name] = struct{}{}
		}
		if f.AuditID != "" {
			tokens[TokenAuditID+"="+f.AuditID] = struct{}{}
		}
		for _, ip := range f.SourceIPs {
			tokens[TokenSourceIP+"="+ip] = struct{}{}
		}
	}
	idx := &Index{Version: 1, Events: len(events), Labels: map[string][]string{},
		Bloom: bloom.NewWithEstimates(uint(max(len(tokens), 1)), 0.01)}
	for i, name := range IndexedLabels {
		if len(values[i]) <= MaxIndexValues {
			idx.Labels[name] = sortedKeys(values[i])
		}
	}
	for _, t := range sortedKeys(tokens) {
		idx.Bloom.AddString(t)
	}
	return idx
}

// TestIndexAsReference: BuildIndex writes the bytes of the plain algorithm (that of the indexes
// already written), for events with repeated and empty values, and lines that are not events.
func TestIndexAsReference(t *testing.T) {
	for _, n := range []int{0, 1, 10, 1000, 20000} {
		var events [][]byte
		for i := range n {
			events = append(events, fmt.Appendf(nil, `{"auditID":"id-%d","stage":"s%d","verb":"v%d","user":{"username":"u%d"},`+
				`"sourceIPs":["10.0.0.%d","::%d"],"objectRef":{"resource":"r%d","namespace":"n%d","name":"o%d"}}`,
				i/3, i%3, i%7, i%100, i%250, i%5, i%11, i%70, i%500))
		}
		events = append(events, []byte(`{"user":{"username":""},"objectRef":{"name":"dup","namespace":"x"},"sourceIPs":["1.1.1.1","1.1.1.1"],"auditID":"z"}`),
			[]byte(`not json`), []byte(`{"stage":"a\u0062"}`))
		got, err := BuildIndex(events).Encode()
		require.NoError(t, err)
		want, err := referenceIndex(events).Encode()
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%d events", n)
	}
}

func TestLineCount(t *testing.T) {
	for _, raw := range []string{"", "\n", "a", "a\n", "a\nb", "a\nb\n", "\n\n", "a\n\nb\n", "a\n\n"} {
		require.Equal(t, len(SplitLines([]byte(raw))), LineCount([]byte(raw)), "%q", raw)
	}
}
