package archiveexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/wal"
)

// both is the events of a and b in one request, as the audit webhook hands them over.
func both(a, b plog.Logs) plog.Logs {
	ld := plog.NewLogs()
	a.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	b.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	return ld
}

// TestStagingOnAFullDiskRecovers stages on a file system that fills up (a real tmpfs): the
// staging writes made while it is full fail — through the receiver's wal.Deferred and through
// the exporter's own wait — one of them adding a cluster. Once space is back, the events the
// apiserver re-sends are staged again (not taken for duplicates of the refused ones), the chunks
// the refused writes would have added are skipped, the new cluster is in the list of clusters
// after a crash, and every event is archived once.
func TestStagingOnAFullDiskRecovers(t *testing.T) {
	dir := testutil.MountTmpfs(t, 4<<20)
	v := env{queueDir: filepath.Join(dir, "queue"), archiveDir: filepath.Join(dir, "archive")}
	ctx := context.Background()
	e, ws := v.start(t, 1<<20)
	crashed := false
	t.Cleanup(func() { // before the tmpfs is unmounted, also when the test fails half way
		if !crashed {
			_ = e.Shutdown(ctx)
		}
		_ = ws.Shutdown(ctx)
	})
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 0, 20)))

	filler := testutil.FillDisk(t, dir)
	dctx, deferred := wal.WithDeferred(ctx)
	require.NoError(t, e.ConsumeLogs(dctx, both(logs("a", 20, 200), logs("b", 0, 200))), "the wait is the receiver's")
	err := deferred.Wait(dctx)
	require.ErrorIs(t, err, unix.ENOSPC, "the webhook answers 503")
	err = e.ConsumeLogs(ctx, logs("a", 220, 200))
	require.ErrorIs(t, err, unix.ENOSPC)
	require.ErrorContains(t, err, "cannot stage audit events for the archive")

	require.NoError(t, os.Remove(filler))
	require.NoError(t, e.ConsumeLogs(dctx, both(logs("a", 20, 200), logs("b", 0, 200))), "the apiserver re-sends the batch")
	require.NoError(t, deferred.Wait(dctx))
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 220, 200)))
	// A crash: the exporter never shuts down; everything acknowledged is fsync'd.
	close(e.stop)
	<-e.done
	crashed = true
	require.NoError(t, ws.Shutdown(ctx))

	e2, ws2 := v.start(t, 1<<20)
	t.Cleanup(func() { _ = e2.Shutdown(ctx); _ = ws2.Shutdown(ctx) })
	require.Contains(t, e2.streams, "b", "the cluster added by a refused write is listed by the write that stored it")
	require.NoError(t, e2.Shutdown(ctx))
	require.NoError(t, ws2.Shutdown(ctx))
	for cluster, n := range map[string]int{"a": 420, "b": 200} {
		got := contents(t, v.archiveDir, cluster)
		require.Len(t, got, n, cluster)
		seen := map[string]bool{}
		for _, ev := range got {
			require.False(t, seen[ev], "event %s archived twice", ev)
			seen[ev] = true
		}
	}
}
