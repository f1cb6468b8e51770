package archive

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func indexEvent(i int, user string) []byte {
	return fmt.Appendf(nil, `{"kind":"Event","auditID":"id-%d","stage":"ResponseComplete","verb":"get","user":{"username":%q,"groups":["g"]},`+
		`"sourceIPs":["10.1.0.%d","fd00::%d"],"objectRef":{"resource":"secrets","namespace":"ns-%d","name":"obj-%d"},`+
		`"stageTimestamp":"2026-11-22T10:00:%02d.5Z","requestReceivedTimestamp":"2026-11-22T10:00:00Z"}`, i, user, i, i, i%3, i, i%60)
}

func TestParseEventFields(t *testing.T) {
	f := ParseEventFields(indexEvent(7, `o'neil "x"`))
	require.Equal(t, "ns-1", f.Namespace)
	require.Equal(t, "secrets", f.Resource)
	require.Equal(t, "ResponseComplete", f.Stage)
	require.Equal(t, `o'neil "x"`, f.User, "escaped JSON strings are decoded")
	require.Equal(t, "get", f.Verb)
	require.Equal(t, "obj-7", f.Name)
	require.Equal(t, "id-7", f.AuditID)
	require.Equal(t, []string{"10.1.0.7", "fd00::7"}, f.SourceIPs)
	require.Equal(t, "2026-11-22T10:00:07.5Z", f.Time.Format("2006-01-02T15:04:05.9Z07:00"))

	require.Equal(t, EventFields{}, ParseEventFields([]byte(`not json`)), "malformed lines give empty fields, no panic")
	f = ParseEventFields([]byte(`{"requestReceivedTimestamp":"2026-11-22T09:00:00Z","user":{"username":5}}`))
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
