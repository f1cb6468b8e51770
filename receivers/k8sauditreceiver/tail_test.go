package k8sauditreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	for i := from; i < to; i++ {
		_, err := fmt.Fprintf(f, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%05d","stage":"ResponseComplete","verb":"get"}`+"\n", i)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

// fileReceiver starts a receiver following path, with positions in a walstorage under queueDir.
func fileReceiver(t *testing.T, path, queueDir string, sink *consumertest.LogsSink) func() {
	t.Helper()
	wcfg := walstorageextension.NewFactory().CreateDefaultConfig().(*walstorageextension.Config)
	wcfg.Directory = queueDir
	var ws extension.Extension
	ws, err := walstorageextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(walstorageextension.Type), wcfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(context.Background(), testutil.Host(nil)))
	cfg := createDefaultConfig()
	id := component.NewID(walstorageextension.Type)
	cfg.NetAddr.Endpoint, cfg.Cluster, cfg.Files, cfg.FileStorage, cfg.PollInterval = "", "cp-1", []string{path}, &id, 20*time.Millisecond
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(Type)
	set.ID = component.NewID(Type)
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})))
	return func() {
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, ws.Shutdown(context.Background()))
	}
}

func auditIDs(sink *consumertest.LogsSink) map[string]int {
	out := map[string]int{}
	for _, lr := range recordsOf(sink) {
		v, _ := lr.Attributes().Get(AttrAuditID)
		out[v.AsString()]++
	}
	return out
}

func waitFor(t *testing.T, sink *consumertest.LogsSink, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(auditIDs(sink)) >= n }, 10*time.Second, 10*time.Millisecond,
		"want %d events, have %d", n, len(auditIDs(sink)))
}

func TestFollowsFilesAcrossRotationAndRestarts(t *testing.T) {
	dir, queue := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.log")
	appendLines(t, path, 0, 100)
	sink := &consumertest.LogsSink{}
	stop := fileReceiver(t, path, queue, sink)
	waitFor(t, sink, 100)

	// Rename rotation with lines written to the old file just before it moved.
	appendLines(t, path, 100, 120)
	require.NoError(t, os.Rename(path, path+".1"))
	appendLines(t, path, 120, 150)
	waitFor(t, sink, 150)
	stop()

	// While vigil is down: more lines, another rotation, more lines.
	appendLines(t, path, 150, 170)
	require.NoError(t, os.Rename(path, path+".2"))
	appendLines(t, path, 170, 200)
	stop = fileReceiver(t, path, queue, sink)
	waitFor(t, sink, 200)

	// copytruncate: the file is copied away and truncated in place.
	require.NoError(t, os.Truncate(path, 0))
	appendLines(t, path, 200, 210)
	waitFor(t, sink, 210)
	stop()

	for id, n := range auditIDs(sink) {
		require.Equal(t, 1, n, "event %s delivered %d times", id, n)
	}
	require.Len(t, auditIDs(sink), 210)
}

// TestTailerSkipsLinesOverTheLimit: a line longer than max_event_bytes is rejected alone without
// being gathered in memory (a file of one endless line held it all before), and so is a line
// that is not an audit event; the lines around them are kept.
func TestTailerSkipsLinesOverTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	huge := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"huge","stage":"ResponseComplete","requestObject":"` +
		strings.Repeat("x", 8<<20) + `"}`
	pod := `{"kind":"Pod","apiVersion":"v1","auditID":"pod","stage":"ResponseComplete","metadata":{"name":"web"}}`
	good := func(id string) string {
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","verb":"get"}`
	}
	lines := good("a") + "\n" + huge + "\n" + pod + "\n" + good("b") + "\n" + strings.Repeat("y", 200<<10)
	require.NoError(t, os.WriteFile(path, []byte(lines), 0o600))

	var got []string
	var rejected []Rejected
	tl := &tailer{path: path, client: storage.NewNopClient(), key: "k", limits: Limits{MaxEventBytes: 4096}, batch: 400,
		logger: zap.NewNop(),
		emit: func(_ context.Context, events []Event) error {
			for _, e := range events {
				got = append(got, e.AuditID)
			}
			return nil
		},
		reject: func(_ context.Context, r Rejected) { rejected = append(rejected, r) }}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	require.NoError(t, tl.poll(context.Background()))
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a file with a line of %d bytes: allocated %d bytes", len(huge), alloc)

	require.Equal(t, []string{"a", "b"}, got)
	require.Len(t, rejected, 2)
	require.Equal(t, ReasonTooLarge, rejected[0].Reason)
	require.Contains(t, rejected[0].Message, fmt.Sprintf("line of %d bytes", len(huge)))
	require.Contains(t, rejected[0].Message, "over the limit of 4096 bytes (max_event_bytes)")
	require.Equal(t, ReasonNotAuditEvent, rejected[1].Reason)
	require.Contains(t, rejected[1].Message, `kind "Pod"`)
	require.Equal(t, int64(len(lines)-200<<10), tl.pos.Offset, "the partial last line (over the limit too) is left for later")
	require.Less(t, alloc, uint64(1<<20), "the long lines are not gathered")
}
