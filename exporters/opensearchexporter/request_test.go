package opensearchexporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

func testLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu-1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(strings.Replace(eventTmpl, `"ID"`, fmt.Sprintf(`"a-%d"`, i), 1))
		lr.Attributes().PutStr("k8s.audit.id", fmt.Sprintf("a-%d", i))
		lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 15, 3, 0, time.UTC)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 15, 4, i, time.UTC)))
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
	require.Equal(t, req.(*docsRequest).items, back.(*docsRequest).items)
	require.Equal(t, req.BytesSize(), back.BytesSize())
	require.Equal(t, 5, back.ItemsCount())

	// What an earlier vigil queued (the collector's protobuf log records) becomes the same documents.
	for _, old := range [][]byte{
		must(pdatareq.MarshalLogs(context.Background(), ld)),
		must((&plog.ProtoMarshaler{}).MarshalLogs(ld)),
	} {
		_, back, err := enc.Unmarshal(old)
		require.NoError(t, err)
		require.Equal(t, req.(*docsRequest).items, back.(*docsRequest).items)
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
	require.Equal(t, "prod-eu-1:a-4:ResponseComplete", out[1].(*docsRequest).items[1].id, "order kept")

	one := r1.(*docsRequest).items[0]
	out, err = r1.(*docsRequest).MergeSplit(context.Background(), 2*itemBytes(one)+1, exporterhelper.RequestSizerTypeBytes, nil)
	require.NoError(t, err)
	require.Len(t, out, 3)
	for _, r := range out {
		require.LessOrEqual(t, r.BytesSize(), 2*itemBytes(one)+1)
	}
	out, err = r1.(*docsRequest).MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, r2)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, 8, out[0].ItemsCount())
}
