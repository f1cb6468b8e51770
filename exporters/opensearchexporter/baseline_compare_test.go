package opensearchexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// oddBodies are bodies on every path of the document encoding, and of lengths where the
// document's length takes one byte more or less than guessed.
func oddBodies() []string {
	pretty, _ := json.MarshalIndent(map[string]any{"auditID": "p-1", "stage": "ResponseComplete",
		"user": map[string]any{"username": "alice", "groups": []string{"a", "b"}}, "requestURI": "/api?x=<&>"}, "", "    ")
	bodies := []string{
		string(pretty), string(pretty) + "\n", "{\n}", "{}", "{ }", "{} ", " {}", `{"a":1}`, `{"msg":"<b>&amp;</b>","n":null}`,
		"not json", "", "{", `{"a":1} trailing`, `["array"]`, `"a string"`, `42`, `null`, "{\"a\":\"b\nc\"}",
		`{"unicode":"héllo \u00e9"}`, "\xff\xfe", "{\"bad\":\"\xff\"}", "line one\nline two", "\x01\x02\x03" + strings.Repeat("\x1f", 40),
		"{" + strings.Repeat(" ", 300) + `"a"` + strings.Repeat("\n", 300) + ":1}", // compacts to a shorter length varint
	}
	for _, n := range []int{60, 100, 120, 127, 128, 129, 140, 16300, 16383, 16384, 16400} {
		bodies = append(bodies, `{"k":"`+strings.Repeat("x", n)+`"}`, strings.Repeat("y", n), strings.Repeat("\x07", n/6))
	}
	return bodies
}

// baselineLogs has realistic events, odd bodies, several resources (one without a cluster, one
// with a cluster that needs escaping) and scopes, records without audit attributes or time.
func baselineLogs(t *testing.T) plog.Logs {
	t.Helper()
	real, _ := realisticLogs(t, 60)
	ld := plog.NewLogs()
	real.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	rnd := rand.New(rand.NewPCG(1, 2))
	bodies := oddBodies()
	for ci, cluster := range []string{"prod-eu-1", "", `we"ird<&>`, "é", "-"} {
		rl := ld.ResourceLogs().AppendEmpty()
		if cluster != "-" {
			rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
		}
		for s := range 2 {
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for i, body := range bodies {
				lr := lrs.AppendEmpty()
				lr.Body().SetStr(body)
				if (i+s+ci)%3 != 0 {
					lr.Attributes().PutStr("k8s.audit.id", fmt.Sprintf("id-%d-%d<&>", ci, i))
					lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
				} else if i%2 == 0 {
					lr.Attributes().PutStr("k8s.audit.id", "only-the-id")
				}
				at := time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC).Add(time.Duration(rnd.Int64N(int64(3 * time.Second))))
				switch i % 4 {
				case 0:
					at = at.Truncate(time.Second)
				case 1:
					at = at.Truncate(time.Millisecond)
				}
				if i%5 == 4 {
					lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at)) // no event time
				} else {
					lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
					lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Microsecond)))
				}
			}
		}
	}
	// Bodies that are not strings.
	lrs := ld.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords()
	m := lrs.AppendEmpty()
	m.Body().SetEmptyMap().PutStr("k", "v")
	m.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2027, 1, 1, 0, 0, 0, 1, time.UTC)))
	lrs.AppendEmpty().Body().SetInt(7) // no time at all: 1970
	lrs.AppendEmpty().Body().SetEmptyBytes().FromRaw([]byte("raw\n"))
	return ld
}

// TestSameBytesAsBaseCommit: the documents, their bulk lines, the queue encoding, the sizes and
// MergeSplit's requests are those the code at ae1e798 made of the same logs (baseline_test.go).
func TestSameBytesAsBaseCommit(t *testing.T) {
	ctx := context.Background()
	e := &osExporter{cfg: createDefaultConfig()}
	enc := docsEncoding{e}
	ld := baselineLogs(t)
	want := baseDocuments(e.cfg.IndexPrefix, ld)
	require.Greater(t, len(want), 400)

	req, err := e.toDocs(ctx, ld)
	require.NoError(t, err)
	got := itemsOf(t, req)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].index, got[i].index, "document %d", i)
		require.Equal(t, want[i].id, got[i].id, "document %d", i)
		require.Equal(t, string(want[i].doc), string(got[i].doc), "document %d", i)
		require.Equal(t, want[i].received, got[i].received, "document %d", i)
	}
	require.Equal(t, len(want), req.ItemsCount())
	require.Equal(t, baseBytes(want), req.BytesSize())
	stored, err := enc.Marshal(ctx, req)
	require.NoError(t, err)
	require.Equal(t, baseMarshal(want), stored, "queue encoding")
	require.Equal(t, string(baseBulkBody(want)), string(appendBulk(nil, got)), "bulk body")

	// What this and an earlier vigil stored reads back as the same documents and sizes.
	for name, b := range map[string][]byte{
		"documents":          baseMarshal(want),
		"request log record": must(pdatareq.MarshalLogs(ctx, ld)),
		"protobuf logs":      must((&plog.ProtoMarshaler{}).MarshalLogs(ld)),
	} {
		_, back, err := enc.Unmarshal(b)
		require.NoError(t, err, name)
		require.Equal(t, want, itemsOf(t, back), name)
		require.Equal(t, len(want), back.ItemsCount(), name)
		require.Equal(t, baseBytes(want), back.BytesSize(), name)
		again, err := enc.Marshal(ctx, back)
		require.NoError(t, err, name)
		require.Equal(t, baseMarshal(want), again, name)
	}
}

func TestMergeSplitSameAsBaseCommit(t *testing.T) {
	ctx := context.Background()
	e := &osExporter{cfg: createDefaultConfig()}
	enc := docsEncoding{e}
	ld1, ld2 := baselineLogs(t), testLogs(37)
	want1, want2 := baseDocuments(e.cfg.IndexPrefix, ld1), baseDocuments(e.cfg.IndexPrefix, ld2)
	r1, err := e.toDocs(ctx, ld1)
	require.NoError(t, err)
	r2, err := e.toDocs(ctx, ld2)
	require.NoError(t, err)
	// A request read from the queue merges as one just built.
	_, r2read, err := enc.Unmarshal(baseMarshal(want2))
	require.NoError(t, err)

	biggest := 0
	for _, it := range want1 {
		biggest = max(biggest, baseItemBytes(it))
	}
	for _, c := range []struct {
		max    int
		szt    exporterhelper.RequestSizerType
		second bool
	}{
		{20_000, exporterhelper.RequestSizerTypeBytes, true}, {biggest, exporterhelper.RequestSizerTypeBytes, true},
		{3 * biggest / 2, exporterhelper.RequestSizerTypeBytes, false}, {100, exporterhelper.RequestSizerTypeBytes, true},
		{50, exporterhelper.RequestSizerTypeItems, true}, {7, exporterhelper.RequestSizerTypeItems, false},
		{0, exporterhelper.RequestSizerTypeItems, true}, {1000, exporterhelper.RequestSizerTypeRequests, true},
	} {
		for _, other := range []*docsRequest{r2.(*docsRequest), r2read.(*docsRequest)} {
			var (
				out  []xexporterhelper.Request
				base [][]item
			)
			if c.second {
				out, err = r1.(*docsRequest).MergeSplit(ctx, c.max, c.szt, other)
				base = baseMergeSplit(want1, want2, c.max, c.szt)
			} else {
				out, err = r1.(*docsRequest).MergeSplit(ctx, c.max, c.szt, nil)
				base = baseMergeSplit(want1, nil, c.max, c.szt)
			}
			require.NoError(t, err)
			require.Len(t, out, len(base), "%+v", c)
			for i, r := range out {
				require.Equal(t, base[i], itemsOf(t, r), "%+v request %d", c, i)
				require.Equal(t, len(base[i]), r.ItemsCount())
				require.Equal(t, baseBytes(base[i]), r.BytesSize())
				if c.szt == exporterhelper.RequestSizerTypeBytes && len(base[i]) > 1 {
					require.LessOrEqual(t, r.BytesSize(), c.max)
				}
				stored, err := enc.Marshal(ctx, r)
				require.NoError(t, err)
				require.Equal(t, baseMarshal(base[i]), stored, "%+v request %d", c, i)
				_, back, err := enc.Unmarshal(stored)
				require.NoError(t, err)
				require.Equal(t, base[i], itemsOf(t, back))
			}
		}
	}
	// The requests merged from stay as they were.
	require.Equal(t, want1, itemsOf(t, r1))
	require.Equal(t, baseMarshal(want1), must(enc.Marshal(ctx, r1)))
}

// TestStamps: the stamp of the documents is time.RFC3339Nano's, with the second remembered.
func TestStamps(t *testing.T) {
	var s stamps
	rnd := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 11, 22, 10, 15, 3, 0, time.UTC)
	for i := range 20000 {
		var at time.Time
		switch i % 5 {
		case 0:
			at = base.Add(time.Duration(rnd.Int64N(int64(5 * time.Second))))
		case 1:
			at = base.Add(time.Duration(rnd.Int64N(5000)) * time.Millisecond)
		case 2:
			at = base.Add(time.Duration(rnd.Int64N(5e6)) * time.Microsecond)
		case 3:
			at = base.Add(time.Duration(rnd.Int64N(5)) * time.Second)
		default:
			at = time.Unix(rnd.Int64N(1<<34), rnd.Int64N(1e9)).UTC()
		}
		require.Equal(t, at.Format(time.RFC3339Nano), string(s.format(at)))
	}
	for _, at := range []time.Time{{}, time.Unix(0, 0), time.Unix(-1, 5), time.Date(12345, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(-3, 1, 2, 3, 4, 5, 100000000, time.UTC), time.Unix(0, 1<<62)} {
		at = at.UTC()
		require.Equal(t, at.Format(time.RFC3339Nano), string(s.format(at)))
	}
}

func FuzzStamps(f *testing.F) {
	f.Add(int64(1795342503), int64(123456000), int64(0))
	f.Add(int64(-62135596800), int64(1), int64(1))
	f.Fuzz(func(t *testing.T, sec, nsec, next int64) {
		var s stamps
		for _, at := range []time.Time{time.Unix(sec, nsec).UTC(), time.Unix(sec, next).UTC(), time.Unix(sec+next%3, nsec).UTC()} {
			if got, want := string(s.format(at)), at.Format(time.RFC3339Nano); got != want {
				t.Fatalf("stamp of %v: %q, RFC3339Nano %q", at, got, want)
			}
		}
	})
}
