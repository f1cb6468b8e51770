package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
)

// executeSplit runs vigil with args, keeping stdout and stderr apart.
func executeSplit(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCommand(args)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// newDataDir archives events of three clusters in <data-dir>/archive, as the all-in-one does.
func newDataDir(t *testing.T) (string, []audittest.Event) {
	t.Helper()
	dataDir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(filepath.Join(dataDir, "archive"))
	require.NoError(t, err)
	events := audittest.Events([]string{"prod-eu", "prod-us", "staging"}, 300)
	audittest.WriteArchive(t, bkt, events, 50)
	return dataDir, events
}

// archivedLines returns the events kept by keep, as archived, newest first.
func archivedLines(t *testing.T, events []audittest.Event, keep func(audittest.Event) bool) []string {
	t.Helper()
	var sel []audittest.Event
	for _, e := range events {
		if keep(e) {
			sel = append(sel, e)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].StageTime.After(sel[j].StageTime) })
	out := make([]string, len(sel))
	for i, e := range sel {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestArchiveQuery(t *testing.T) {
	dataDir, events := newDataDir(t)
	alice := func(e audittest.Event) bool { return e.Cluster == "prod-eu" && e.User.Username == "alice" }

	out, _, err := executeSplit(t, "archive", "query", `{cluster="prod-eu", user="alice"}`, "--data-dir", dataDir, "-o", "jsonl", "--limit", "0")
	require.NoError(t, err)
	require.Equal(t, archivedLines(t, events, alice), lines(out), "jsonl: every matching event exactly as archived, newest first")

	t.Setenv("VIGIL_DATA_DIR", dataDir)
	from, to := audittest.T0.Add(30*time.Minute), audittest.T0.Add(90*time.Minute)
	out, _, err = executeSplit(t, "archive", "query", `{resource="configmaps"} | json | responseStatus_code >= 400`, "-o", "csv", "--limit", "0",
		"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
	require.NoError(t, err)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	want := archivedLines(t, events, func(e audittest.Event) bool {
		return e.ObjectRef.Resource == "configmaps" && e.Status.Code >= 400 && !e.StageTime.Before(from) && e.StageTime.Before(to)
	})
	require.NotEmpty(t, want)
	require.Len(t, rows, len(want)+1)
	require.Equal(t, []string{"time", "cluster", "namespace", "user", "verb", "resource", "stage", "tenant", "line"}, rows[0])
	require.Equal(t, want[0], rows[1][8])

	out, errOut, err := executeSplit(t, "archive", "query", `{cluster="staging"} | json | line_format "{{.user_username}} {{.verb}} {{.objectRef_name}}"`, "--limit", "2")
	require.NoError(t, err)
	require.Contains(t, out, "TIME")
	require.Contains(t, out, "carol delete obj-299", "table shows the formatted line of the newest event")
	require.Contains(t, errOut, "showing the first 2 results (--limit)")
	require.Len(t, lines(out), 3)
}

func TestArchiveQueryBadInput(t *testing.T) {
	dataDir, _ := newDataDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{`{cluster="a" |= "x"`}, "cannot parse the LogQL query: parse error at line"},
		{[]string{`{cluster="a"}`, "-o", "xml"}, `--output: "xml" is not one of [table jsonl csv]`},
		{[]string{`{cluster="a"}`, "--from", "yesterday"}, `--from: "yesterday" is not an RFC 3339 time`},
		{[]string{`{cluster="a"}`, "--from", "1h", "--to", "2h"}, "must be before --to"},
		{[]string{`{cluster="a"}`, "--bucket-dir", "/nonexistent/archive"}, `cannot open the archive directory "/nonexistent/archive"`},
		{[]string{`{cluster="a"}`, "--s3-bucket", "b"}, "--s3-endpoint: must be set"},
		{[]string{`{cluster="a"} |~ "a{2000}"`}, "invalid repeat count"},
		{[]string{`{cluster="a"} | line_format "{{ nosuch .verb }}"`}, `function "nosuch" not defined`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			out, _, err := executeSplit(t, append([]string{"archive", "query", "--data-dir", dataDir}, tc.args...)...)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, 1, exitCode(err))
			require.Empty(t, out, "nothing is answered")
		})
		if len(tc.args) > 1 {
			continue // flags of query only
		}
		t.Run("export "+tc.want, func(t *testing.T) {
			_, _, err := executeSplit(t, append([]string{"archive", "export", "--data-dir", dataDir, "--out", filepath.Join(t.TempDir(), "x")}, tc.args...)...)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// tamper changes one archive (rooted at dir) the way an attacker or an accident would.
type tamper struct {
	name     string
	do       func(t *testing.T, dir string, entries []archive.Entry)
	kind     string
	object   func(entries []archive.Entry) string
	manifest bool
}

func TestArchiveVerifyNamesEachTampering(t *testing.T) {
	obj := func(i int) func([]archive.Entry) string { return func(e []archive.Entry) string { return e[i].Object } }
	tests := []tamper{
		{name: "flip one byte", kind: archive.ProblemModified, object: obj(2), do: func(t *testing.T, dir string, e []archive.Entry) {
			p := filepath.Join(dir, e[2].Object)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[len(b)/3] ^= 0x20
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}},
		{name: "delete an object", kind: archive.ProblemMissing, object: obj(1), do: func(t *testing.T, dir string, e []archive.Entry) {
			require.NoError(t, os.Remove(filepath.Join(dir, e[1].Object)))
		}},
		{name: "swap two objects", kind: archive.ProblemReordered, object: obj(3), do: func(t *testing.T, dir string, e []archive.Entry) {
			swapObjects(t, dir, e[3].Object, e[4].Object)
		}},
		{name: "insert a forged object", kind: archive.ProblemInserted,
			object: func(e []archive.Entry) string { return strings.Replace(e[0].Object, "000000000001", "000000000099", 1) },
			do: func(t *testing.T, dir string, e []archive.Entry) {
				forged, _ := archive.Encode([][]byte{[]byte(`{"kind":"Event","auditID":"forged","user":{"username":"nobody"}}`)})
				require.NoError(t, os.WriteFile(filepath.Join(dir, strings.Replace(e[0].Object, "000000000001", "000000000099", 1)), forged, 0o600))
			}},
		{name: "truncate a manifest entry", kind: archive.ProblemEntryUnreadable, manifest: true, do: func(t *testing.T, dir string, _ []archive.Entry) {
			p := filepath.Join(dir, archive.Stream{Tenant: "default", Cluster: "prod-us"}.ManifestName(2))
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, b[:len(b)/2], 0o600))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, _ := newDataDir(t)
			dir := filepath.Join(dataDir, "archive")
			out, _, err := executeSplit(t, "archive", "verify", "--data-dir", dataDir)
			require.NoError(t, err, out)
			require.Contains(t, out, "verified, no problems")

			bkt, err := archive.NewFilesystemBucket(dir)
			require.NoError(t, err)
			entries, err := archive.Manifest(context.Background(), bkt, archive.Stream{Tenant: "default", Cluster: "prod-us"})
			require.NoError(t, err)
			tc.do(t, dir, entries)

			out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "-o", "json")
			require.ErrorContains(t, err, "the archive failed verification")
			var rep verifyReport
			require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
			require.False(t, rep.OK)
			var found []archive.Problem
			for _, s := range rep.Streams {
				if s.Cluster != "prod-us" {
					require.Empty(t, s.Problems, "only the tampered stream has problems")
				}
				found = append(found, s.Problems...)
			}
			require.NotEmpty(t, found)
			require.Equal(t, tc.kind, found[0].Kind, "the first problem is the cause: %+v", found)
			if tc.manifest {
				require.Equal(t, "audit/default/prod-us/manifest/000000000002.json", found[0].Manifest)
			} else {
				require.Equal(t, tc.object(entries), found[0].Object)
			}
			text, _, err := executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--cluster", "prod-us")
			require.Error(t, err)
			require.Contains(t, text, "  "+tc.kind+"\n", "text output names the problem")
		})
	}
}

func TestArchiveExport(t *testing.T) {
	dataDir, events := newDataDir(t)
	out := filepath.Join(t.TempDir(), "evidence.ndjson")
	args := []string{"archive", "export", `{user="carol", verb="delete"}`, "--data-dir", dataDir, "--out", out}
	_, errOut, err := executeSplit(t, args...)
	require.NoError(t, err)
	require.Contains(t, errOut, "exported")

	want := archivedLines(t, events, func(e audittest.Event) bool { return e.User.Username == "carol" && e.Verb == "delete" })
	slicesReverse(want) // exports are oldest first
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, strings.Join(want, "\n")+"\n", string(data))

	var m exportManifest
	mb, err := os.ReadFile(out + ".manifest.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(mb, &m))
	sum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(sum[:]), m.SHA256, "sha256sum of the export equals the manifest")
	require.Equal(t, len(want), m.Events)
	bkt, err := archive.NewFilesystemBucket(filepath.Join(dataDir, "archive"))
	require.NoError(t, err)
	total := 0
	for _, s := range m.Sources {
		total += s.Events
		stream := archive.Stream{Tenant: "default", Cluster: strings.Split(s.Object, "/")[2]}
		entries, err := archive.Manifest(context.Background(), bkt, stream)
		require.NoError(t, err)
		require.Equal(t, entries[s.Seq-1].Hash, s.EntryHash, "the source traces to its manifest chain entry")
		require.Equal(t, entries[s.Seq-1].SHA256, s.SHA256)
	}
	require.Equal(t, len(want), total)

	_, _, err = executeSplit(t, args...)
	require.ErrorContains(t, err, "it exists (use --force to overwrite)")
}

func slicesReverse(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// TestArchiveQueryOverMinIO reads an S3 archive through --config (the gateway's archive exporter
// settings) and through the --s3-* flags.
func TestArchiveQueryOverMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO; skipped with -short")
	}
	m := testutil.StartMinIO(t)
	m.MakeBucket(t, "audit", true)
	cfg := &archive.BucketConfig{S3: &archive.S3Config{Bucket: "audit", Endpoint: m.Endpoint, AccessKey: m.AccessKey,
		SecretKey: configopaque.String(m.SecretKey), Insecure: true}}
	bkt, err := cfg.OpenBucket()
	require.NoError(t, err)
	events := audittest.Events([]string{"eu", "us"}, 120)
	audittest.WriteArchive(t, bkt, events, 40)

	conf := filepath.Join(t.TempDir(), "gateway.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(`exporters:
  archive:
    s3:
      bucket: audit
      endpoint: `+m.Endpoint+`
      access_key: `+m.AccessKey+`
      secret_key: ${env:TEST_S3_SECRET}
      insecure: true
`), 0o600))
	t.Setenv("TEST_S3_SECRET", m.SecretKey)
	bob := func(e audittest.Event) bool { return e.Cluster == "us" && e.User.Username == "bob" }

	out, _, err := executeSplit(t, "archive", "query", `{cluster="us", user="bob"}`, "--config", conf, "-o", "jsonl", "--limit", "0")
	require.NoError(t, err)
	require.Equal(t, archivedLines(t, events, bob), lines(out))

	t.Setenv(envS3AccessKey, m.AccessKey)
	t.Setenv(envS3SecretKey, m.SecretKey)
	out, _, err = executeSplit(t, "archive", "query", `{cluster="us", user="bob"}`, "--s3-bucket", "audit", "--s3-endpoint", m.Endpoint, "--s3-insecure", "-o", "jsonl", "--limit", "0")
	require.NoError(t, err)
	require.Equal(t, archivedLines(t, events, bob), lines(out))

	out, _, err = executeSplit(t, "archive", "verify", "--config", conf)
	require.NoError(t, err, out)
	require.Contains(t, out, "default/eu: 3 manifest entries, 3 objects checked")
}

func TestArchiveVerifyAnchorsAndSealKey(t *testing.T) {
	dataDir, dir, s, head := stagingHead(t)
	anchor := fmt.Sprintf("default/staging:%d:%s", head.Seq, head.Hash)
	out, _, err := executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchor", anchor)
	require.NoError(t, err, out)

	// Cut the newest object off the chain: the chain alone still verifies, the anchor does not.
	cutNewestEntry(t, dir, s, head)
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir)
	require.NoError(t, err, out)
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchor", anchor)
	require.ErrorContains(t, err, "failed verification")
	require.Contains(t, out, "  truncated\n")

	_, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchor", "staging:12:abc")
	require.ErrorContains(t, err, `--anchor: "staging:12:abc" is not TENANT/CLUSTER:SEQ:HASH`)
	_, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--seal-public-key", "/nonexistent.pem")
	require.ErrorContains(t, err, "--seal-public-key: cannot read key /nonexistent.pem")
}

// TestArchiveVerifyAnchorsFromPrometheus keeps the anchors where a user keeps them by default: a
// real Prometheus scrapes vigil_archive_sealed_entry, and verify reads the highest value of each
// chain from it, so cutting the newest entries off (with their seals) no longer passes.
func TestArchiveVerifyAnchorsFromPrometheus(t *testing.T) {
	dataDir, dir, s, head := stagingHead(t)

	// The gateway's /metrics as Prometheus scrapes it: the gauge per chain.
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE vigil_archive_sealed_entry gauge\n"+
			"vigil_archive_sealed_entry{cluster=\"staging\",tenant=\"default\"} %d\n", head.Seq)
	}))
	defer gateway.Close()
	prom := testutil.StartPrometheus(t, "vigil", strings.TrimPrefix(gateway.URL, "http://"))
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := prom.Query("vigil_archive_sealed_entry")
		return err
	})

	out, _, err := executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchors-from", prom.URL)
	require.NoError(t, err, out)

	// Cut the newest entry off, object, index and manifest entry: the chain alone still verifies,
	// the anchor from Prometheus does not.
	cutNewestEntry(t, dir, s, head)
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir)
	require.NoError(t, err, out)
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchors-from", prom.URL)
	require.Error(t, err)
	require.Contains(t, out, "truncated")

	// A Prometheus that never scraped vigil is an error, not a silent pass.
	_, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchors-from", prom.URL, "--anchors-lookback", "1ms")
	require.ErrorContains(t, err, "has no vigil_archive_sealed_entry series")
}

// cutNewestEntry removes the newest entry of stream s from the bucket in dir as an attacker
// would: its object, its index and its manifest entry.
func cutNewestEntry(t *testing.T, dir string, s archive.Stream, head archive.Entry) {
	t.Helper()
	require.NoError(t, os.Remove(filepath.Join(dir, head.Object)))
	require.NoError(t, os.Remove(filepath.Join(dir, head.Index)))
	require.NoError(t, os.Remove(filepath.Join(dir, s.ManifestName(head.Seq))))
}

// stagingHead archives newDataDir's events and returns the data directory, its bucket directory,
// the stream of cluster staging and that stream's newest manifest entry.
func stagingHead(t *testing.T) (dataDir, dir string, s archive.Stream, head archive.Entry) {
	t.Helper()
	dataDir, _ = newDataDir(t)
	dir = filepath.Join(dataDir, "archive")
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	s = archive.Stream{Tenant: "default", Cluster: "staging"}
	entries, err := archive.Manifest(context.Background(), bkt, s)
	require.NoError(t, err)
	return dataDir, dir, s, entries[len(entries)-1]
}

// swapObjects exchanges the contents of two archived objects, as an attacker reordering them would.
func swapObjects(t *testing.T, dir, a, b string) {
	t.Helper()
	a, b = filepath.Join(dir, a), filepath.Join(dir, b)
	ab, err := os.ReadFile(a)
	require.NoError(t, err)
	bb, err := os.ReadFile(b)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(a, bb, 0o600))
	require.NoError(t, os.WriteFile(b, ab, 0o600))
}
