package opensearchexporter

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buger/jsonparser"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audittest"
)

// realisticLogs are n audit events of a busy cluster as the k8saudit receiver hands them on: the
// event JSON as the body, the stage timestamp as the time, auditID and stage as attributes.
func realisticLogs(tb testing.TB, n int) (plog.Logs, int) {
	tb.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu-1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	size := 0
	for i, ev := range audittest.RealisticEvents(n) {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(string(ev))
		size += len(ev)
		id, err := jsonparser.GetString(ev, "auditID")
		require.NoError(tb, err)
		stage, err := jsonparser.GetString(ev, "stage")
		require.NoError(tb, err)
		stamp, err := jsonparser.GetString(ev, "stageTimestamp")
		require.NoError(tb, err)
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		require.NoError(tb, err)
		lr.Attributes().PutStr("k8s.audit.id", id)
		lr.Attributes().PutStr("k8s.audit.stage", stage)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Duration(20+i%7) * time.Millisecond)))
	}
	return ld, size
}

// BenchmarkToDocs is the exporter's share of a request on its way into the persistent queue: 400
// realistic audit events converted into documents (toDocs) and encoded for the queue (Marshal).
func BenchmarkToDocs(b *testing.B) {
	ld, size := realisticLogs(b, 400)
	e := &osExporter{cfg: createDefaultConfig()}
	enc := docsEncoding{e}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		req, err := e.toDocs(ctx, ld)
		if err != nil {
			b.Fatal(err)
		}
		stored, err := enc.Marshal(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = len(stored)
	}
}

// BenchmarkQueueToBulk is the other half: the queue item of 400 realistic events read back
// (Unmarshal) and sent as one bulk request (pushDocs) to a server that reads the body and answers
// that every item succeeded. The server's work is part of the figures.
func BenchmarkQueueToBulk(b *testing.B) {
	ld, size := realisticLogs(b, 400)
	srv := httptest.NewServer(http.HandlerFunc(allCreated))
	defer srv.Close()
	cfg := createDefaultConfig()
	cfg.Endpoints = []string{srv.URL}
	cfg.DeadLetterDir = b.TempDir()
	e, err := newExporter(exportertest.NewNopSettings(Type), cfg)
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, e.start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(b, e.shutdown(ctx)) }()
	enc := docsEncoding{e}
	req, err := e.toDocs(ctx, ld)
	require.NoError(b, err)
	stored, err := enc.Marshal(ctx, req)
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		_, req, err := enc.Unmarshal(stored)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.pushDocs(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

var createdAnswers sync.Map // number of items -> the answer

// allCreated answers every request with 200; a bulk request with an answer that says each of its
// items was created.
func allCreated(w http.ResponseWriter, r *http.Request) {
	lines := 0
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		_, _ = w.Write([]byte(`{"acknowledged":true}`))
		return
	}
	answer, ok := createdAnswers.Load(lines / 2)
	if !ok {
		var a strings.Builder
		a.WriteString(`{"took":3,"errors":false,"items":[`)
		for i := range lines / 2 {
			if i > 0 {
				a.WriteByte(',')
			}
			a.WriteString(`{"index":{"_index":"x","_id":"y","_version":1,"result":"created","status":201}}`)
		}
		a.WriteString("]}")
		answer, _ = createdAnswers.LoadOrStore(lines/2, []byte(a.String()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(answer.([]byte)))) // as OpenSearch answers
	_, _ = w.Write(answer.([]byte))
}
