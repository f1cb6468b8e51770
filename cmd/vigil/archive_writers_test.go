package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// writersDataDir archives cluster prod-eu as two gateway replicas do: events alternate between
// writers vigil-gateway-0 and -1, in objects of 20, and events 100-109 reached both (a retry on
// the other replica). Cluster staging is archived without writer, as before writers. It returns
// the data directory, the events and the head of vigil-gateway-1's chain.
func writersDataDir(t *testing.T) (string, []audittest.Event, archive.Entry) {
	t.Helper()
	dataDir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(filepath.Join(dataDir, "archive"))
	require.NoError(t, err)
	events := audittest.Events([]string{"prod-eu", "staging"}, 200)
	var eu, staging []audittest.Event
	for _, e := range events {
		if e.Cluster == "prod-eu" {
			eu = append(eu, e)
		} else {
			staging = append(staging, e)
		}
	}
	audittest.WriteArchive(t, bkt, staging, 50)
	var head archive.Entry
	for w := range 2 {
		s := archive.Stream{Tenant: "default", Cluster: "prod-eu", Writer: fmt.Sprintf("vigil-gateway-%d", w)}
		var mine []audittest.Event
		for i, e := range eu {
			if i%2 == w || (i >= 100 && i < 110) {
				mine = append(mine, e)
			}
		}
		var prev *archive.Entry
		for start := 0; start < len(mine); start += 20 {
			chunk := mine[start:min(start+20, len(mine))]
			lines := make([][]byte, len(chunk))
			for i, e := range chunk {
				lines[i], _ = json.Marshal(e)
			}
			en, err := archive.Append(context.Background(), bkt, s, prev, chunk[0].StageTime, chunk[len(chunk)-1].StageTime, lines)
			require.NoError(t, err)
			prev = &en
		}
		head = *prev
	}
	return dataDir, events, head
}

// Query, export and verify read the writers' streams of a cluster as one: every event once, in
// time order; verify checks and names each writer's chain.
func TestArchiveWithManyWriters(t *testing.T) {
	dataDir, events, head := writersDataDir(t)
	inEU := func(e audittest.Event) bool { return e.Cluster == "prod-eu" }

	out, _, err := executeSplit(t, "archive", "query", `{cluster="prod-eu"}`, "--data-dir", dataDir, "-o", "jsonl", "--limit", "0")
	require.NoError(t, err)
	want := archivedLines(t, events, inEU)
	require.Len(t, want, 200)
	require.Equal(t, want, lines(out), "every event once, newest first, across both writers")

	file := filepath.Join(t.TempDir(), "evidence.ndjson")
	_, errOut, err := executeSplit(t, "archive", "export", `{cluster="prod-eu"}`, "--data-dir", dataDir, "--out", file)
	require.NoError(t, err, errOut)
	slicesReverse(want)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, strings.Join(want, "\n")+"\n", string(data), "exported once each, oldest first")

	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir)
	require.NoError(t, err, out)
	require.Contains(t, out, "default/prod-eu/vigil-gateway-0: ")
	require.Contains(t, out, "default/prod-eu/vigil-gateway-1: ")
	require.Contains(t, out, "default/staging: 4 manifest entries")

	// An anchor names the writer's chain it is of; the old form names the chain without writer.
	anchor := fmt.Sprintf("default/prod-eu/vigil-gateway-1:%d:%s", head.Seq, head.Hash)
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchor", anchor, "--anchor", "default/staging:4")
	require.NoError(t, err, out)
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "-o", "json",
		"--anchor", fmt.Sprintf("default/prod-eu/vigil-gateway-1:%d", head.Seq+1))
	require.ErrorContains(t, err, "failed verification")
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	for _, s := range rep.Streams {
		if s.Writer == "vigil-gateway-1" {
			require.Len(t, s.Problems, 1)
			require.Equal(t, archive.ProblemTruncated, s.Problems[0].Kind)
		} else {
			require.Empty(t, s.Problems, "%s/%s", s.Cluster, s.Writer)
		}
	}
	for _, bad := range []string{"default/prod-eu/:3", "default/prod-eu/../x:3", "default/prod-eu/a b:3"} {
		_, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir, "--anchor", bad)
		require.ErrorContains(t, err, "is not TENANT/CLUSTER:SEQ:HASH", bad)
	}

	// Changing an object of one writer's chain is reported in that writer's stream.
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "archive", filepath.FromSlash(head.Object)), []byte("forged"), 0o600))
	out, _, err = executeSplit(t, "archive", "verify", "--data-dir", dataDir)
	require.ErrorContains(t, err, "failed verification")
	require.Contains(t, out, "default/prod-eu/vigil-gateway-1: ")
	require.Contains(t, out, "1 PROBLEMS\n  modified\n    object:   audit/default/prod-eu/writers/vigil-gateway-1/")
}
