package archivequery

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// TestQueryReportsTampering: an attacker's changes to the archive are named in Stats.Problems
// (kind, object, manifest entry), as vigil archive verify names them, while the query still
// returns every event of the intact objects and never fails because of them.
func TestQueryReportsTampering(t *testing.T) {
	const n, per = 200, 20 // 10 objects per cluster, 10 minutes each
	stream := archive.Stream{Tenant: "default", Cluster: "prod-us"}
	read := func(t *testing.T, p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name string
		do   func(t *testing.T, dir string, e []archive.Entry)
		kind string
		seq  uint64
		lost []int // indexes of the entries whose events are not returned
	}{
		{"delete a manifest entry", func(t *testing.T, dir string, _ []archive.Entry) {
			require.NoError(t, os.Remove(filepath.Join(dir, stream.ManifestName(4))))
		}, archive.ProblemEntryMissing, 4, []int{3}},
		{"truncate a manifest entry", func(t *testing.T, dir string, _ []archive.Entry) {
			p := filepath.Join(dir, stream.ManifestName(5))
			require.NoError(t, os.WriteFile(p, read(t, p)[:40], 0o600))
		}, archive.ProblemEntryUnreadable, 5, []int{4}},
		{"rewrite a manifest entry to hide its object", func(t *testing.T, dir string, e []archive.Entry) {
			p := filepath.Join(dir, stream.ManifestName(6))
			forged := strings.Replace(string(read(t, p)), `"events":20`, `"events":19`, 1)
			require.NoError(t, os.WriteFile(p, []byte(forged), 0o600))
		}, archive.ProblemEntryModified, 6, nil},
		{"flip a byte in an object", func(t *testing.T, dir string, e []archive.Entry) {
			p := filepath.Join(dir, e[2].Object)
			b := read(t, p)
			b[len(b)/2] ^= 0x01
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, archive.ProblemModified, 3, []int{2}},
		{"swap two objects", func(t *testing.T, dir string, e []archive.Entry) {
			a, b := filepath.Join(dir, e[6].Object), filepath.Join(dir, e[7].Object)
			ab, bb := read(t, a), read(t, b)
			require.NoError(t, os.WriteFile(a, bb, 0o600))
			require.NoError(t, os.WriteFile(b, ab, 0o600))
		}, archive.ProblemReordered, 7, []int{6, 7}},
		{"delete an object", func(t *testing.T, dir string, e []archive.Entry) {
			require.NoError(t, os.Remove(filepath.Join(dir, e[8].Object)))
		}, archive.ProblemMissing, 9, []int{8}},
		{"delete the last entries under a seal", func(t *testing.T, dir string, e []archive.Entry) {
			bkt, err := archive.NewFilesystemBucket(dir)
			require.NoError(t, err)
			_, err = archive.WriteSeal(context.Background(), bkt, stream, e[9], time.Now(), nil)
			require.NoError(t, err)
			require.NoError(t, os.Remove(filepath.Join(dir, stream.ManifestName(10))))
		}, archive.ProblemTruncated, 10, []int{9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bkt, events, dir := newArchive(t, []string{"prod-eu", "prod-us"}, n, per)
			ctx := context.Background()
			entries, err := archive.Manifest(ctx, bkt, stream)
			require.NoError(t, err)
			require.Len(t, entries, n/per)
			tc.do(t, dir, entries)

			rs, st, err := (&Engine{Bucket: bkt, Manifests: &archive.ManifestCache{}}).Run(ctx, Query{Expr: `{cluster=~"prod-.*"}`})
			require.NoError(t, err, "damage never fails the query")
			require.False(t, st.Intact())
			require.Equal(t, tc.kind, st.Problems[0].Kind, "%+v", st.Problems)
			require.Equal(t, tc.seq, st.Problems[0].Seq)
			require.Equal(t, stream.ManifestName(tc.seq), st.Problems[0].Manifest)
			for _, p := range st.Problems {
				require.Contains(t, p.Manifest, "/prod-us/", "only the tampered stream has problems")
			}
			lost := map[string]bool{}
			for _, i := range tc.lost {
				for _, e := range events[n+i*per : n+(i+1)*per] {
					lost[e.AuditID] = true
				}
			}
			require.Equal(t, want(events, func(e audittest.Event) bool { return !lost[e.AuditID] }), ids(t, rs),
				"every event of the intact objects, and none of the damaged ones")

			// The same query over the CLI's time range and the API's limit reports it too.
			_, st, err = (&Engine{Bucket: bkt}).Run(ctx, Query{Expr: `{cluster="prod-us"}`, Limit: 1000,
				From: audittest.T0, To: audittest.T0.Add(2 * time.Hour)})
			require.NoError(t, err)
			require.Equal(t, tc.kind, st.Problems[0].Kind)
		})
	}
}

// TestQueryChecksOnlyTheChainCoveringItsRange: damage far outside the queried time range is
// not the query's (vigil archive verify finds it); damage where an object of the range could
// have been — even when every entry of the range was deleted — is.
func TestQueryChecksOnlyTheChainCoveringItsRange(t *testing.T) {
	bkt, _, dir := newArchive(t, []string{"a"}, 200, 20) // 10 objects of 10 minutes from T0
	stream := archive.Stream{Tenant: "default", Cluster: "a"}
	for _, seq := range []uint64{2, 6, 7} {
		require.NoError(t, os.Remove(filepath.Join(dir, stream.ManifestName(seq))))
	}
	eng := &Engine{Bucket: bkt}
	ctx := context.Background()
	at := func(m int) time.Time { return audittest.T0.Add(time.Duration(m) * time.Minute) }

	rs, st, err := eng.Run(ctx, Query{Expr: `{cluster="a"}`, From: at(80), To: at(100)})
	require.NoError(t, err)
	require.Len(t, rs, 40)
	require.True(t, st.Intact(), "gaps at entries 2, 6 and 7 are far from 80-100 min: %+v", st.Problems)

	rs, st, err = eng.Run(ctx, Query{Expr: `{cluster="a"}`, From: at(61), To: at(69)})
	require.NoError(t, err)
	require.Empty(t, rs, "the entry of 60-70 min was deleted")
	require.Len(t, st.Problems, 2, "%+v", st.Problems)
	require.Equal(t, []uint64{6, 7}, []uint64{st.Problems[0].Seq, st.Problems[1].Seq})
	require.Equal(t, archive.ProblemEntryMissing, st.Problems[0].Kind)

	_, st, err = eng.Run(ctx, Query{Expr: `{cluster="a"}`, To: at(25)})
	require.NoError(t, err)
	require.Len(t, st.Problems, 1)
	require.Equal(t, uint64(2), st.Problems[0].Seq)
}
