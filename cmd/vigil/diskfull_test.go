package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
)

// TestDiskFullRecoversWithoutRestart runs the all-in-one role with its data directory on a
// small file system (a real tmpfs) and fills it: the audit webhook answers 503 with Retry-After
// and health_check answers 500. Once space is freed — without a restart — health_check answers
// 200, the webhook takes the re-sent batch, and the archive holds every accepted event once.
func TestDiskFullRecoversWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the vigil binary; skipped with -short")
	}
	bin := testutil.VigilBinary(t)
	mnt := testutil.MountTmpfs(t, 24<<20)
	dataDir := filepath.Join(mnt, "data")
	health, audit := testutil.FreeAddr(t), testutil.FreeAddr(t)
	env := []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + health, fmt.Sprintf("VIGIL_METRICS_PORT=%d", testutil.FreePort(t)),
		"VIGIL_DATA_DIR=", "VIGIL_AUDIT_ENDPOINT=" + audit, "VIGIL_API_ENDPOINT=" + testutil.FreeAddr(t),
	}
	p := testutil.Start(t, "vigil all-in-one", env, bin, "--data-dir", dataDir,
		"--set=extensions::walstorage::segment_bytes=1048576", "--set=exporters::archive::max_object_age=1s")
	// Start stops it when the test ends, before the tmpfs (mounted earlier) is unmounted.
	testutil.WaitHTTP(t, "http://"+health+"/", 30*time.Second, p)

	batch := func(from int) []string {
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprintf("df-%05d", from+i)
		}
		return ids
	}
	post := func(ids []string) *http.Response {
		t.Helper()
		resp, err := http.Post("http://"+audit+"/audit", "application/json", bytes.NewReader(eventList(ids)))
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	status := func() int {
		resp, err := http.Get("http://" + health + "/")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	accepted := map[string]bool{}
	require.Equal(t, http.StatusOK, post(batch(0)).StatusCode)
	for _, id := range batch(0) {
		accepted[id] = true
	}

	filler := testutil.FillDisk(t, mnt)
	var refused []string
	for i := 1; i < 50 && refused == nil; i++ {
		ids := batch(i * 1000)
		resp := post(ids)
		switch resp.StatusCode {
		case http.StatusOK:
			for _, id := range ids {
				accepted[id] = true
			}
		case http.StatusServiceUnavailable:
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
			refused = ids
		default:
			t.Fatalf("the webhook answered %d on a full disk", resp.StatusCode)
		}
	}
	require.NotNil(t, refused, "a full disk refuses audit batches")
	testutil.Eventually(t, 10*time.Second, func() error {
		if c := status(); c != http.StatusInternalServerError {
			return fmt.Errorf("health_check answered %d on a full disk, want 500", c)
		}
		return nil
	})
	require.Equal(t, http.StatusServiceUnavailable, post(refused).StatusCode, "still full")

	require.NoError(t, os.Remove(filler))
	testutil.Eventually(t, 10*time.Second, func() error {
		if c := status(); c != http.StatusOK {
			return fmt.Errorf("health_check answered %d once space is back, want 200", c)
		}
		return nil
	})
	require.Equal(t, http.StatusOK, post(refused).StatusCode, "the re-sent batch is taken, without a restart")
	for _, id := range refused {
		accepted[id] = true
	}
	require.Equal(t, http.StatusOK, post(batch(100_000)).StatusCode)
	for _, id := range batch(100_000) {
		accepted[id] = true
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		got := archivedEventsNow(filepath.Join(dataDir, "archive"), "local")
		for id := range accepted {
			if got[id] != 1 {
				return fmt.Errorf("event %s archived %d times (%d events archived, %d accepted)", id, got[id], len(got), len(accepted))
			}
		}
		return nil
	})
	require.False(t, p.Exited(), "no restart")
}

// archivedEventsNow counts the events of cluster's archive stream in dir by auditID, without
// failing the test: empty while the stream does not verify or is not there yet.
func archivedEventsNow(dir, cluster string) map[string]int {
	counts := map[string]int{}
	bkt, err := archive.NewFilesystemBucket(dir)
	if err != nil {
		return counts
	}
	stream := archive.Stream{Tenant: "default", Cluster: cluster}
	rep, err := archive.Verify(context.Background(), bkt, stream)
	if err != nil || len(rep.Problems) > 0 {
		return counts
	}
	for seq := uint64(1); seq <= uint64(rep.Entries); seq++ {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(stream.ManifestName(seq))))
		if err != nil {
			return map[string]int{}
		}
		var e archive.Entry
		if json.Unmarshal(raw, &e) != nil {
			return map[string]int{}
		}
		obj, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Object)))
		if err != nil {
			return map[string]int{}
		}
		events, err := archive.Decode(obj)
		if err != nil {
			return map[string]int{}
		}
		for _, ev := range events {
			var v struct{ AuditID string }
			if json.Unmarshal(ev, &v) == nil {
				counts[v.AuditID]++
			}
		}
	}
	return counts
}
