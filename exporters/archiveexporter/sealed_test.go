package archiveexporter

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/storage/archive"
)

// sealedLogs are n audit records of cluster as the audit receiver makes them: sealed, but for
// every third, whose seal a later change to the body broke, and every fifth, never sealed.
func sealedLogs(cluster string, from, n int) plog.Logs {
	ld := logs(cluster, from, n)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		lr := lrs.At(i)
		k := from + i
		f := audit.Fields{AuditID: fmt.Sprintf("%s-%05d", cluster, k), Stage: "ResponseComplete", Verb: "get",
			User: fmt.Sprintf("u%d", k%4), Namespace: fmt.Sprintf("ns%d", k%3), Resource: "pods", Name: fmt.Sprintf("p%d", k),
			SourceIPs: []string{fmt.Sprintf("10.0.0.%d", k%7)}}
		body := fmt.Sprintf(`{"auditID":%q,"stage":"ResponseComplete","verb":"get","user":{"username":%q},"sourceIPs":[%q],`+
			`"objectRef":{"resource":"pods","namespace":%q,"name":%q}}`, f.AuditID, f.User, f.SourceIPs[0], f.Namespace, f.Name)
		lr.Body().SetStr(body)
		a := lr.Attributes()
		a.PutStr(audit.AttrVerb, f.Verb)
		a.PutStr(audit.AttrUsername, f.User)
		a.PutStr(audit.AttrNamespace, f.Namespace)
		a.PutStr(audit.AttrResource, f.Resource)
		a.PutStr(audit.AttrName, f.Name)
		a.PutEmptySlice(audit.AttrSourceIPs).AppendEmpty().SetStr(f.SourceIPs[0])
		switch {
		case k%5 == 0:
		case k%3 == 0:
			a.PutInt(audit.AttrAttestation, audit.Attestation(body, &f))
			lr.Body().SetStr(strings.Replace(body, `"verb":"get"`, `"verb":"delete"`, 1))
		default:
			a.PutInt(audit.AttrAttestation, audit.Attestation(body, &f))
		}
	}
	return ld
}

// stageSealed starts an exporter and stages four chunks of 100 events of cluster "a" (sealedLogs).
func stageSealed(t *testing.T) (env, *archiveExporter, extension.Extension) {
	t.Helper()
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	e, ws := v.start(t, 1<<30)
	for i := range 4 {
		require.NoError(t, e.ConsumeLogs(context.Background(), sealedLogs("a", i*100, 100)))
	}
	return v, e, ws
}

// The index of an object whose events came sealed is what indexing its lines gives, and the
// fields staged for it are dropped once it is written.
func TestIndexOfSealedEvents(t *testing.T) {
	v, e, ws := stageSealed(t)
	ctx := context.Background()
	e.mu.Lock()
	require.Len(t, e.indexed, 4, "the sealed events' fields, per chunk")
	sealed := 0
	for _, ci := range e.indexed {
		sealed += ci.fields.Len()
		require.Equal(t, 100, ci.lines)
		require.Equal(t, 100, ci.fields.Len()+len(ci.unattested))
	}
	e.mu.Unlock()
	require.Equal(t, 400-80-(400/3-400/15), sealed, "all but the unsealed and the broken seals")

	require.NoError(t, e.flush(ctx, true))
	e.mu.Lock()
	require.Empty(t, e.indexed, "dropped once the object is written")
	require.Zero(t, e.indexedBytes)
	e.mu.Unlock()
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))

	lines := requireIndexOfLines(t, v.archiveDir, "a")
	x, err := archive.DecodeIndex(indexOfLines(t, lines))
	require.NoError(t, err)
	require.Equal(t, []string{"delete", "get"}, x.Labels["verb"], "the lines as written, not the broken seals' attributes")
}

// Past maxIndexedBytes the fields are not kept, and the sealer reads those chunks' lines.
func TestIndexedFieldsBounded(t *testing.T) {
	defer func(n int) { maxIndexedBytes = n }(maxIndexedBytes)
	maxIndexedBytes = 10_000
	v, e, ws := stageSealed(t)
	ctx := context.Background()
	e.mu.Lock()
	require.NotEmpty(t, e.indexed)
	require.Less(t, len(e.indexed), 4, "not every chunk's fields fit")
	require.LessOrEqual(t, e.indexedBytes, maxIndexedBytes)
	e.mu.Unlock()
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))
	requireIndexOfLines(t, v.archiveDir, "a")
}

// requireIndexOfLines checks that cluster's one object has 400 events and the index that its
// lines give, and returns the lines.
func requireIndexOfLines(t *testing.T, dir, cluster string) [][]byte {
	t.Helper()
	ctx := context.Background()
	bkt, _, entries := manifest(t, dir, cluster)
	require.Len(t, entries, 1)
	read := func(name string) []byte {
		rc, err := bkt.Get(ctx, name)
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return b
	}
	lines, err := archive.Decode(read(entries[0].Object))
	require.NoError(t, err)
	require.Len(t, lines, 400)
	require.Equal(t, string(indexOfLines(t, lines)), string(read(entries[0].Index)))
	return lines
}

func indexOfLines(t *testing.T, lines [][]byte) []byte {
	t.Helper()
	b, err := archive.BuildIndex(lines).Encode()
	require.NoError(t, err)
	return b
}
