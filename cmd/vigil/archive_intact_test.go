package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// TestArchiveQueryAndExportSayTheArchiveIsNotIntact: after each tampering, query and export write
// the events of the intact objects, name the damage on stderr (and in the export's manifest), and
// exit with exitNotIntact; a missing object does not fail them.
func TestArchiveQueryAndExportSayTheArchiveIsNotIntact(t *testing.T) {
	stream := archive.Stream{Tenant: "default", Cluster: "prod-us"}
	tests := []struct {
		name  string
		do    func(t *testing.T, dir string, e []archive.Entry)
		kind  string
		where func(e []archive.Entry) string // the object or manifest entry the problem names
		lost  []int                          // entries whose events are not returned
	}{
		{"delete a manifest entry", func(t *testing.T, dir string, _ []archive.Entry) {
			require.NoError(t, os.Remove(filepath.Join(dir, stream.ManifestName(2))))
		}, archive.ProblemEntryMissing, func([]archive.Entry) string { return stream.ManifestName(2) }, []int{1}},
		{"truncate a manifest entry", func(t *testing.T, dir string, _ []archive.Entry) {
			p := filepath.Join(dir, stream.ManifestName(3))
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, b[:len(b)/2], 0o600))
		}, archive.ProblemEntryUnreadable, func([]archive.Entry) string { return stream.ManifestName(3) }, []int{2}},
		{"flip a byte in an object", func(t *testing.T, dir string, e []archive.Entry) {
			p := filepath.Join(dir, e[2].Object)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[len(b)/3] ^= 0x20
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, archive.ProblemModified, func(e []archive.Entry) string { return e[2].Object }, []int{2}},
		{"swap two objects", func(t *testing.T, dir string, e []archive.Entry) {
			swapObjects(t, dir, e[3].Object, e[4].Object)
		}, archive.ProblemReordered, func(e []archive.Entry) string { return e[3].Object }, []int{3, 4}},
		{"delete an object", func(t *testing.T, dir string, e []archive.Entry) {
			require.NoError(t, os.Remove(filepath.Join(dir, e[1].Object)))
		}, archive.ProblemMissing, func(e []archive.Entry) string { return e[1].Object }, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, events := newDataDir(t) // 300 events per cluster, objects of 50
			dir := filepath.Join(dataDir, "archive")
			bkt, err := archive.NewFilesystemBucket(dir)
			require.NoError(t, err)
			entries, err := archive.Manifest(context.Background(), bkt, stream)
			require.NoError(t, err)
			tc.do(t, dir, entries)
			lost := map[string]bool{}
			for _, i := range tc.lost {
				for j := i * 50; j < (i+1)*50; j++ {
					lost[events[300+j].AuditID] = true
				}
			}
			require.Equal(t, "prod-us", events[300].Cluster)
			keep := func(e audittest.Event) bool { return e.Verb == "delete" && !lost[e.AuditID] }

			out, errOut, err := executeSplit(t, "archive", "query", `{verb="delete"}`, "--data-dir", dataDir, "-o", "jsonl", "--limit", "0")
			require.Error(t, err)
			require.Equal(t, exitNotIntact, exitCode(err))
			require.ErrorContains(t, err, "the archive is not intact")
			require.Equal(t, archivedLines(t, events, keep), lines(out), "the events of the intact objects, all of them")
			require.Contains(t, errOut, "is not intact where this query read")
			require.Contains(t, errOut, "  "+tc.kind+" ", "stderr names the problem")
			require.Contains(t, errOut, tc.where(entries))

			out, errOut, err = executeSplit(t, "archive", "query", `sum(count_over_time({verb="delete"}[30d]))`, "--data-dir", dataDir,
				"--to", audittest.T0.Add(24*time.Hour).Format(time.RFC3339), "-o", "csv")
			require.Equal(t, exitNotIntact, exitCode(err), "a metric query too: %v", err)
			require.Contains(t, errOut, "  "+tc.kind+" ")
			require.Equal(t, fmt.Sprintf("time,value\n%s,%d\n", audittest.T0.Add(24*time.Hour).Format(time.RFC3339), len(archivedLines(t, events, keep))), out,
				"the count of the events of the intact objects")

			file := filepath.Join(t.TempDir(), "evidence.ndjson")
			_, errOut, err = executeSplit(t, "archive", "export", `{verb="delete"}`, "--data-dir", dataDir, "--out", file)
			require.Equal(t, exitNotIntact, exitCode(err))
			require.Contains(t, errOut, "  "+tc.kind+" ")
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			want := archivedLines(t, events, keep)
			slicesReverse(want)
			require.Equal(t, strings.Join(want, "\n")+"\n", string(data))
			var m exportManifest
			mb, err := os.ReadFile(file + ".manifest.json")
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(mb, &m))
			require.False(t, m.ArchiveIntact)
			require.NotEmpty(t, m.ArchiveProblems)
			require.Equal(t, tc.kind, m.ArchiveProblems[0].Kind)
		})
	}

	// An intact archive: exit 0, and the export's manifest says so.
	dataDir, _ := newDataDir(t)
	file := filepath.Join(t.TempDir(), "evidence.ndjson")
	_, errOut, err := executeSplit(t, "archive", "export", `{verb="delete"}`, "--data-dir", dataDir, "--out", file)
	require.NoError(t, err, errOut)
	require.NotContains(t, errOut, "not intact")
	mb, err := os.ReadFile(file + ".manifest.json")
	require.NoError(t, err)
	require.Contains(t, string(mb), `"archive_intact": true`)
}
