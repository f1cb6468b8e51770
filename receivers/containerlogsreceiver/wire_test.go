package containerlogsreceiver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// The request the wire encoding writes is, decoded, the logs emit builds with pdata: identity
// from the path (with and without a restart count, or none), pod attributes that replace one of
// the path's, empty and large bodies, both streams, severities, a zero time.
func TestWireEncodingIsTheLogsOfEmit(t *testing.T) {
	sink := new(consumertest.LogsSink)
	r, err := newReceiver(receivertest.NewNopSettings(Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	files := []*tracked{
		{path: "/var/log/pods/shop_web-1_uid-1/nginx/3.log", known: true,
			ident: identity{Namespace: "shop", Pod: "web-1", UID: "uid-1", Container: "nginx", Restart: 3},
			pod:   []attr{{"k8s.deployment.name", "web"}, {attrPod, "web-1-renamed"}}},
		{path: "/var/log/pods/ns_p_u/c/x.log", known: true,
			ident: identity{Namespace: "ns", Pod: "p", UID: "u", Container: "c", Restart: -1}},
		{path: "/elsewhere/app.log"},
		{path: "/var/log/pods/ns_p_u/c/0.log", known: true,
			ident: identity{Namespace: "ns", Pod: "p", UID: "u", Container: "c", Restart: 0}},
	}
	ts := time.Date(2023, 10, 6, 0, 17, 10, 113242941, time.UTC)
	records := [][]Record{
		{{Time: ts, Stream: "stdout", Body: []byte("GET /index.html 200")},
			{Time: ts, Stream: "stderr", Body: []byte(`{"level":"warn","msg":"slow"}`)},
			{Time: ts, Stream: "stderr", Body: []byte("E0102 15:04:05.000000 1 main.go:1] boom")}},
		{{Time: ts.Add(time.Second), Stream: "stdout", Body: nil},
			{Stream: "stdout", Body: []byte("no time")}},
		{{Time: ts, Stream: "stdout", Body: []byte(strings.Repeat("x", 300<<10))}},
		{{Time: ts, Stream: "stdout", Body: []byte("restart 0")}},
	}
	require.NoError(t, r.emit(context.Background(), files, records))
	want := sink.AllLogs()[0]

	now := time.Now()
	var e wireEncoder
	for range 2 { // the buffer reused
		req := e.encode(r, files, records, now)
		n, err := otlpwire.Check(otlpwire.Logs, req)
		require.NoError(t, err)
		require.Equal(t, 7, n)
		er := plogotlp.NewExportRequest()
		require.NoError(t, er.UnmarshalProto(req))
		got := er.Logs()
		observed := pcommon.NewTimestampFromTime(now)
		forEachRecord(got, func(lr plog.LogRecord) { require.Equal(t, observed, lr.ObservedTimestamp()) })
		forEachRecord(want, func(lr plog.LogRecord) { lr.SetObservedTimestamp(observed) })
		wantJSON, err := (&plog.JSONMarshaler{}).MarshalLogs(want)
		require.NoError(t, err)
		gotJSON, err := (&plog.JSONMarshaler{}).MarshalLogs(got)
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), string(gotJSON))
		require.Equal(t, "web-1-renamed", got.ResourceLogs().At(0).Resource().Attributes().AsRaw()[attrPod])
		require.Equal(t, 6, got.ResourceLogs().At(0).Resource().Attributes().Len(), "the pod's value replaced the path's")
	}
}

func forEachRecord(ld plog.Logs, fn func(plog.LogRecord)) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				fn(lrs.At(k))
			}
		}
	}
}

// BenchmarkEncode compares one batch as emit builds it with pdata and as the wire encoding writes it.
func BenchmarkEncode(b *testing.B) {
	r, err := newReceiver(receivertest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(b, err)
	files := []*tracked{{path: "/var/log/pods/shop_web-1_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/nginx/0.log", known: true,
		ident: identity{Namespace: "shop", Pod: "web-1", UID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Container: "nginx"}}}
	var recs []Record
	size := 0
	for size < 1<<20 {
		body := []byte(`10.0.0.1 - - [06/Oct/2023:00:17:10 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.0"`)
		recs = append(recs, Record{Time: time.Now(), Stream: "stdout", Body: body})
		size += len(body)
	}
	records := [][]Record{recs}
	b.Run("pdata", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		m := &plogotlp.ExportRequest{}
		_ = m
		for b.Loop() {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			r.resource(rl.Resource().Attributes(), files[0])
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for _, rec := range recs {
				lr := lrs.AppendEmpty()
				lr.SetTimestamp(pcommon.NewTimestampFromTime(rec.Time))
				lr.Body().SetStr(string(rec.Body))
				lr.Attributes().PutStr(attrStream, rec.Stream)
				lr.Attributes().PutStr(attrFilePath, files[0].path)
			}
			if _, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		var e wireEncoder
		for b.Loop() {
			e.encode(r, files, records, time.Now())
		}
	})
}
