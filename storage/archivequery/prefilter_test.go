package archivequery

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/storage/archive"
)

// TestPrefilterNeverDropsAMatch: events whose fields are written with JSON escapes still match
// label filters after | json (the raw-line shortcut steps aside for them).
func TestPrefilterNeverDropsAMatch(t *testing.T) {
	bkt, err := archive.NewFilesystemBucket(t.TempDir())
	require.NoError(t, err)
	lines := [][]byte{
		[]byte(`{"auditID":"1","verb":"delete","user":{"username":"alice"},"objectRef":{"name":"web-1"},"stageTimestamp":"2026-11-22T10:00:01Z"}`),
		[]byte(`{"auditID":"2","verb":"delete","user":{"username":"ali\u0063e"},"objectRef":{"name":"web-2"},"stageTimestamp":"2026-11-22T10:00:02Z"}`),
		[]byte(`{"auditID":"3","verb":"get","user":{"username":"bob"},"objectRef":{"name":"web\/3"},"annotations":{"r":"say \"hi\""},"stageTimestamp":"2026-11-22T10:00:03Z"}`),
		[]byte(`{"auditID":"4","verb":"delete","user":{"username":"carol"},"responseStatus":{"code":403},"stageTimestamp":"2026-11-22T10:00:04Z"}`),
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	_, err = archive.Append(context.Background(), bkt, archive.Stream{Tenant: "default", Cluster: "a"}, nil, t0, t0.Add(time.Minute), lines)
	require.NoError(t, err)
	eng := &Engine{Bucket: bkt}
	tests := []struct {
		query string
		want  []string
	}{
		{`{cluster="a"} | json | user_username="alice"`, []string{"1", "2"}},
		{`{cluster="a"} | json | objectRef_name="web/3"`, []string{"3"}},
		{`{cluster="a"} | json | verb="delete" and responseStatus_code="403"`, []string{"4"}},
		{`{cluster="a"} | json | cluster="a" and verb="get"`, []string{"3"}},
		{`{cluster="a"} | json | verb="delete" or verb="get"`, []string{"1", "2", "3", "4"}},
		{`{cluster="a"} |= "delete" | json | user_username="carol"`, []string{"4"}},
	}
	for _, tc := range tests {
		rs, _, err := eng.Run(context.Background(), Query{Expr: tc.query, Forward: true})
		require.NoError(t, err, tc.query)
		var got []string
		for _, r := range rs {
			got = append(got, r.Parsed.Get("auditID"))
		}
		require.Equal(t, tc.want, got, tc.query)
	}
}
