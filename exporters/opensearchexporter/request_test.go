package opensearchexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// testLogs are benchLogs with receipt times.
func testLogs(n int) plog.Logs {
	ld := benchLogs(n)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range n {
		lrs.At(i).SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 15, 4, i, time.UTC)))
	}
	return ld
}

func TestQueuedDocumentsRoundTrip(t *testing.T) {
	e := &osExporter{cfg: createDefaultConfig()}
	ld := testLogs(5)
	req, err := e.toDocs(context.Background(), ld)
	require.NoError(t, err)
	enc := docsEncoding{e}
	b, err := enc.Marshal(context.Background(), req)
	require.NoError(t, err)
	_, back, err := enc.Unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, itemsOf(t, req), itemsOf(t, back))
	require.Equal(t, req.BytesSize(), back.BytesSize())
	require.Equal(t, 5, back.ItemsCount())

	// What an earlier vigil queued (the collector's protobuf log records) becomes the same documents.
	for _, old := range [][]byte{
		must(pdatareq.MarshalLogs(context.Background(), ld)),
		must((&plog.ProtoMarshaler{}).MarshalLogs(ld)),
	} {
		_, back, err := enc.Unmarshal(old)
		require.NoError(t, err)
		require.Equal(t, itemsOf(t, req), itemsOf(t, back))
	}

	// Damage is an error, never a panic or a partial request.
	for i := range len(b) {
		_, _, _ = enc.Unmarshal(b[:i])
	}
	_, _, err = enc.Unmarshal(b[:len(b)-3])
	require.ErrorIs(t, err, errDocsEncoding)
	_, _, err = enc.Unmarshal(append(b, 0))
	require.ErrorIs(t, err, errDocsEncoding)
	_, _, err = enc.Unmarshal(nil)
	require.ErrorIs(t, err, errDocsEncoding)
}

// FuzzDocsEncoding: whatever the queue hands back, Unmarshal returns an error or a request whose
// documents agree with its sizes and whose encoding is the bytes it was read from.
func FuzzDocsEncoding(f *testing.F) {
	e := &osExporter{cfg: createDefaultConfig()}
	enc := docsEncoding{e}
	req, err := e.toDocs(context.Background(), testLogs(3))
	require.NoError(f, err)
	f.Add(must(enc.Marshal(context.Background(), req)))
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 0})
	f.Add(must((&plog.ProtoMarshaler{}).MarshalLogs(testLogs(1))))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = b[:len(b):len(b)]
		_, r, err := enc.Unmarshal(b)
		if err != nil {
			return
		}
		items := itemsOf(t, r)
		require.Len(t, items, r.ItemsCount())
		size := 0
		for _, it := range items {
			size += itemBytes(it)
		}
		require.Equal(t, size, r.BytesSize())
		if b[0] == docsEncodingVersion {
			require.Equal(t, b, must(enc.Marshal(context.Background(), r)))
		}
	})
}

// itemsOf returns the documents of a *docsRequest.
func itemsOf(t *testing.T, r xexporterhelper.Request) []item {
	t.Helper()
	items, err := r.(*docsRequest).list()
	require.NoError(t, err)
	return items
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestMergeSplit(t *testing.T) {
	e := &osExporter{cfg: createDefaultConfig()}
	r1, _ := e.toDocs(context.Background(), testLogs(5))
	r2, _ := e.toDocs(context.Background(), testLogs(3))
	out, err := r1.(*docsRequest).MergeSplit(context.Background(), 3, exporterhelper.RequestSizerTypeItems, r2)
	require.NoError(t, err)
	var counts []int
	for _, r := range out {
		counts = append(counts, r.ItemsCount())
	}
	require.Equal(t, []int{3, 3, 2}, counts)
	require.Equal(t, itemsOf(t, r1)[4].id, itemsOf(t, out[1])[1].id, "order kept")

	biggest := 0
	for _, it := range itemsOf(t, r1) {
		biggest = max(biggest, itemBytes(it))
	}
	limit := 2*biggest + 1 // room for two documents, never three
	out, err = r1.(*docsRequest).MergeSplit(context.Background(), limit, exporterhelper.RequestSizerTypeBytes, nil)
	require.NoError(t, err)
	total := 0
	for _, r := range out {
		require.LessOrEqual(t, r.BytesSize(), limit)
		total += r.ItemsCount()
	}
	require.Equal(t, 5, total)
	require.GreaterOrEqual(t, len(out), 3, "five documents, at most two per request")
	out, err = r1.(*docsRequest).MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, r2)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, 8, out[0].ItemsCount())
}
