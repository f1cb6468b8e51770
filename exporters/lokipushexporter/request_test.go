package lokipushexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
	"github.com/vigil-obs/vigil/internal/snappyblock"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func testExporter(t *testing.T) *lokiExporter {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Tenants = map[string]string{"a": "team-a", "b": "team-b"}
	cfg.DeadLetterDir = t.TempDir()
	e, err := newExporter(exportertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	return e
}

// manyLogs is n records per cluster, with times and bodies of their own.
func manyLogs(n int, clusters ...string) plog.Logs {
	ld := plog.NewLogs()
	for _, c := range clusters {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.cluster.name", c)
		rl.Resource().Attributes().PutStr("k8s.pod.name", "pod-"+c)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range n {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("%s line %04d", c, i))
			lr.SetSeverityNumber(plog.SeverityNumber(1 + 4*(i%6)))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(int64(1000+i), 0)))
		}
	}
	return ld
}

// linesOf decodes every part of a queued request: tenant -> lines, in order.
func linesOf(t *testing.T, req xexporterhelper.Request) map[string][]string {
	t.Helper()
	r, ok := req.(*lokiRequest)
	require.True(t, ok, "%T", req)
	out := map[string][]string{}
	entries, size := 0, 0
	for i := range r.parts {
		b, err := r.parts[i].batch()
		require.NoError(t, err)
		n := 0
		for _, s := range b.Request.Streams {
			for _, en := range s.Entries {
				out[b.Tenant] = append(out[b.Tenant], en.Line)
				n++
			}
		}
		require.Equal(t, r.parts[i].entries, n, "the count stored is the entries sent")
		entries += n
		size += r.parts[i].size
	}
	require.Equal(t, entries, r.ItemsCount())
	require.Equal(t, size, r.BytesSize())
	return out
}

// TestQueuedRequestRoundTrip: the queue holds one snappy push request per tenant, the same
// requests Convert makes; they read back the same.
func TestQueuedRequestRoundTrip(t *testing.T) {
	e := testExporter(t)
	ld := manyLogs(50, "a", "b", "c")
	req, err := e.toRequest(context.Background(), ld)
	require.NoError(t, err)
	r := req.(*lokiRequest)
	want := Convert(ld, e.cfg.tenant, time.Now())
	require.Len(t, r.parts, len(want))
	for i, b := range want {
		require.Equal(t, b.Tenant, r.parts[i].tenant)
		raw, err := s2.Decode(nil, r.parts[i].body)
		require.NoError(t, err)
		wantRaw, err := b.Request.Marshal()
		require.NoError(t, err)
		require.Equal(t, wantRaw, raw, "tenant %q", b.Tenant)
	}
	require.Equal(t, 150, req.ItemsCount())

	enc := lokiEncoding{e}
	b, err := enc.Marshal(context.Background(), req)
	require.NoError(t, err)
	_, back, err := enc.Unmarshal(slices.Clone(b))
	require.NoError(t, err)
	require.Equal(t, linesOf(t, req), linesOf(t, back))
	require.Equal(t, req.BytesSize(), back.BytesSize())
}

// TestPreviousQueueFormatIsRead: logs queued by an earlier vigil — the collector's protobuf logs,
// with or without the request context wrapper — are translated when read, and sent.
func TestPreviousQueueFormatIsRead(t *testing.T) {
	e := testExporter(t)
	ld := manyLogs(10, "a", "c")
	plain, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	wrapped, err := pdatareq.MarshalLogs(context.Background(), ld)
	require.NoError(t, err)
	want := linesOf(t, must(e.toRequest(context.Background(), ld)))
	for name, b := range map[string][]byte{"protobuf logs": plain, "logs request": wrapped} {
		t.Run(name, func(t *testing.T) {
			_, req, err := lokiEncoding{e}.Unmarshal(b)
			require.NoError(t, err)
			require.Equal(t, want, linesOf(t, req))
		})
	}
}

func must(r xexporterhelper.Request, err error) xexporterhelper.Request {
	if err != nil {
		panic(err)
	}
	return r
}

// TestPreviousQueueOnDiskIsSent: batches queued on walstorage by the exporter as it was (pdata in
// the queue, Loki unreachable) are sent by this one after a restart on the same directory.
func TestPreviousQueueOnDiskIsSent(t *testing.T) {
	queueDir, deadDir := t.TempDir(), t.TempDir()
	ws := walstoragetest.Start(t, queueDir)
	defer func() { require.NoError(t, ws.Shutdown(context.Background())) }()
	// The exporter of the previous kind: exporterhelper.NewLogs, whose queue holds the logs as
	// protobuf.
	cfg := createDefaultConfig()
	cfg.ClientConfig.Endpoint = "http://127.0.0.1:1"
	cfg.DeadLetterDir = deadDir
	id := component.NewID(walstorageextension.Type)
	cfg.QueueConfig.GetOrInsertDefault().StorageID = &id
	set := exportertest.NewNopSettings(Type)
	set.ID = component.NewID(Type)
	old, err := exporterhelper.NewLogs(context.Background(), set, cfg,
		func(context.Context, plog.Logs) error { return errors.New("loki is down") },
		exporterhelper.WithQueue(cfg.QueueConfig), exporterhelper.WithRetry(cfg.RetryConfig))
	require.NoError(t, err)
	require.NoError(t, old.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})))
	require.NoError(t, old.ConsumeLogs(context.Background(), manyLogs(5, "a")))
	require.NoError(t, old.ConsumeLogs(context.Background(), manyLogs(7, "b")))
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, old.Shutdown(context.Background()))

	f := &fakeLoki{accepted: map[string][]push.PushRequest{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg.ClientConfig.Endpoint = srv.URL
	cfg.Tenants = map[string]string{"a": "team-a", "b": "team-b"}
	cfg.RetryConfig.InitialInterval, cfg.RetryConfig.MaxInterval = 10*time.Millisecond, 20*time.Millisecond
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg) // the same ID: the same queue
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	testutil.Eventually(t, 10*time.Second, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		got := map[string]int{}
		for tenant, reqs := range f.accepted {
			for _, r := range reqs {
				for _, s := range r.Streams {
					got[tenant] += len(s.Entries)
				}
			}
		}
		if got["team-a"] != 5 || got["team-b"] != 7 || len(got) != 2 {
			return fmt.Errorf("loki got %v", got)
		}
		return nil
	})
}

// TestPartialFailureKeepsFailedTenants: OnError keeps only the tenants a push failed for.
func TestPartialFailureKeepsFailedTenants(t *testing.T) {
	e := testExporter(t)
	req := must(e.toRequest(context.Background(), manyLogs(3, "a", "b", "c")))
	left := req.(*lokiRequest).OnError(&tenantsError{err: errors.New("503"), failed: map[string]bool{"team-b": true}})
	got := linesOf(t, left)
	slices.Sort(got["team-b"]) // streams are grouped by level
	require.Equal(t, map[string][]string{"team-b": {"b line 0000", "b line 0001", "b line 0002"}}, got)
	require.Same(t, req, req.(*lokiRequest).OnError(errors.New("all failed")))
	require.False(t, consumererror.IsPermanent(&tenantsError{err: errors.New("503")}))
}

// TestMergeSplit: merged requests keep every entry, per tenant and in order; split ones hold
// at most maxSize entries or bytes.
func TestMergeSplit(t *testing.T) {
	e := testExporter(t)
	r1 := must(e.toRequest(context.Background(), manyLogs(40, "a", "b")))
	r2 := must(e.toRequest(context.Background(), manyLogs(30, "b", "c")))
	want := map[string][]string{}
	for _, r := range []xexporterhelper.Request{r1, r2} {
		for tn, lines := range linesOf(t, r) {
			want[tn] = append(want[tn], lines...)
		}
	}
	merged, err := r1.(*lokiRequest).MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, r2)
	require.NoError(t, err)
	require.Len(t, merged, 1)
	require.Len(t, merged[0].(*lokiRequest).parts, 3, "one push request per tenant")
	sorted := func(m map[string][]string) map[string][]string {
		for _, v := range m {
			slices.Sort(v)
		}
		return m
	}
	require.Equal(t, sorted(want), sorted(linesOf(t, merged[0])))

	for _, tc := range []struct {
		szt exporterhelper.RequestSizerType
		max int
	}{{exporterhelper.RequestSizerTypeItems, 17}, {exporterhelper.RequestSizerTypeBytes, 900}} {
		out, err := r1.(*lokiRequest).MergeSplit(context.Background(), tc.max, tc.szt, r2)
		require.NoError(t, err)
		require.Greater(t, len(out), 1)
		got := map[string][]string{}
		for _, r := range out {
			if tc.szt == exporterhelper.RequestSizerTypeItems {
				require.LessOrEqual(t, r.ItemsCount(), tc.max)
			} else {
				require.LessOrEqual(t, r.BytesSize(), tc.max)
			}
			for tn, lines := range linesOf(t, r) {
				got[tn] = append(got[tn], lines...)
			}
		}
		require.Equal(t, sorted(want), sorted(got), "sizer %v", tc.szt)
	}
}

// TestDamagedQueueItems: truncated, altered or forged items are errors (or, when the damage
// leaves a well-formed item, a request no bigger than the item allows), never a panic.
func TestDamagedQueueItems(t *testing.T) {
	e := testExporter(t)
	good, err := lokiEncoding{e}.Marshal(context.Background(), must(e.toRequest(context.Background(), manyLogs(20, "a", "b"))))
	require.NoError(t, err)
	for i := range good {
		checkItem(t, e, good[:i])
		bad := slices.Clone(good)
		bad[i] ^= 0xff
		checkItem(t, e, bad)
	}
	huge := binary.AppendUvarint([]byte{lokiEncodingVersion}, 1<<60) // parts claimed
	_, _, err = lokiEncoding{e}.Unmarshal(huge)
	require.ErrorIs(t, err, errLokiEncoding)
	// One part whose snappy header claims 1 GiB.
	forged := binary.AppendUvarint([]byte{lokiEncodingVersion}, 1)
	forged = append(binary.AppendUvarint(forged, 0), binary.AppendUvarint(nil, 1)...)
	body := binary.AppendUvarint(nil, 1<<30)
	forged = append(binary.AppendUvarint(forged, uint64(len(body)+1)), append(body, 0)...)
	_, _, err = lokiEncoding{e}.Unmarshal(forged)
	require.ErrorIs(t, err, errLokiEncoding)
	_, _, err = lokiEncoding{e}.Unmarshal(nil)
	require.ErrorIs(t, err, errLokiEncoding)
}

// checkItem reads b as a queue item: an error, or a request that sends no more than b allows.
func checkItem(t testing.TB, e *lokiExporter, b []byte) {
	_, req, err := lokiEncoding{e}.Unmarshal(b)
	if err != nil {
		return
	}
	r, ok := req.(*lokiRequest)
	require.True(t, ok)
	if len(b) > 0 && b[0] == lokiEncodingVersion {
		require.LessOrEqual(t, r.BytesSize(), snappyblock.MaxRatio*len(b))
		require.LessOrEqual(t, r.ItemsCount(), r.BytesSize())
	}
	for i := range r.parts {
		_, _ = r.parts[i].batch() // decoding damaged bodies (the dead-letter path) errs, never panics
	}
	_, _ = r.MergeSplit(context.Background(), 10, exporterhelper.RequestSizerTypeItems, nil)
}

func FuzzQueueItem(f *testing.F) {
	cfg := createDefaultConfig()
	cfg.DeadLetterDir = f.TempDir()
	e, err := newExporter(exportertest.NewNopSettings(Type), cfg)
	if err != nil {
		f.Fatal(err)
	}
	good, err := lokiEncoding{e}.Marshal(context.Background(), must(e.toRequest(context.Background(), manyLogs(3, "a", "b"))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{lokiEncodingVersion})
	old, _ := (&plog.ProtoMarshaler{}).MarshalLogs(manyLogs(2, "a"))
	f.Add(old)
	f.Fuzz(func(t *testing.T, b []byte) { checkItem(t, e, b) })
}
