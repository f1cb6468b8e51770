package opensearchexporter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
)

// referenceDocument is document and the bulk action line as they were written with
// encoding/json before the encoding was hand-written; the documents must stay the same bytes.
func referenceDocument(prefix, cluster string, lr plog.LogRecord) (item, []byte) {
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	t := ts.AsTime().UTC()
	body := []byte(lr.Body().AsString())
	stamp, _ := json.Marshal(map[string]string{"@timestamp": t.Format(time.RFC3339Nano), "cluster": cluster})
	var doc []byte
	if len(body) > 1 && body[0] == '{' && json.Valid(body) {
		doc = make([]byte, 0, len(body)+len(stamp))
		doc = append(doc, stamp[:len(stamp)-1]...)
		if len(body) > 2 {
			doc = append(doc, ',')
		}
		doc = append(doc, body[1:]...)
	} else {
		m := map[string]any{"@timestamp": t.Format(time.RFC3339Nano), "cluster": cluster, "message": string(body)}
		doc, _ = json.Marshal(m)
	}
	var id string
	auditID, okID := lr.Attributes().Get("k8s.audit.id")
	stage, okStage := lr.Attributes().Get("k8s.audit.stage")
	if okID && okStage {
		// Since events are identified by content too (one Audit-ID can be sent by many requests).
		sum := sha256.Sum256(body)
		id = cluster + ":" + auditID.AsString() + ":" + stage.AsString() + ":" + hex.EncodeToString(sum[:16])
		if len(id) > 512 {
			long := sha256.Sum256([]byte(id))
			id = hex.EncodeToString(long[:])
		}
	} else {
		h := sha256.New()
		h.Write([]byte(cluster))
		h.Write([]byte(t.Format(time.RFC3339Nano)))
		h.Write(body)
		id = hex.EncodeToString(h.Sum(nil)[:16])
	}
	it := item{index: prefix + "-" + t.Format("2006.01.02"), id: id, doc: doc}
	action, _ := json.Marshal(map[string]any{"index": map[string]string{"_index": it.index, "_id": it.id}})
	return it, action
}

func TestDocumentsAreTheSameBytesAsBefore(t *testing.T) {
	e := &osExporter{cfg: createDefaultConfig()}
	bodies := []string{
		strings.Replace(eventTmpl, `"ID"`, `"a-1"`, 1), `{}`, `{"a":1}`, `{"msg":"<b>&amp;</b>","n":null}`,
		`not json`, `["array"]`, `"a string"`, ``, `{`, `{"a":1} trailing`, `{"unicode":"héllo \u00e9"}`, "\xff\xfe",
	}
	for _, cluster := range []string{"prod-eu-1", "", `we"ird<&>`, "é"} {
		for i, body := range bodies {
			for _, identified := range []bool{true, false} {
				lr := plog.NewLogRecord()
				lr.Body().SetStr(body)
				if identified {
					lr.Attributes().PutStr("k8s.audit.id", fmt.Sprintf("id-%d<&>", i))
					lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
				}
				if i%2 == 0 {
					lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 15, 3, 123000, time.UTC)))
				} else {
					lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 3600))))
				}
				want, wantAction := referenceDocument(e.cfg.IndexPrefix, cluster, lr)
				got := docOf(t, e, cluster, lr)
				require.Equal(t, want.index, got.index)
				require.Equal(t, want.id, got.id)
				require.Equal(t, string(want.doc), string(got.doc), "body %q, cluster %q", body, cluster)
				require.Equal(t, string(wantAction)+"\n", string(appendAction(nil, got)))
			}
		}
	}
}

// Bodies the old encoding turned into broken bulk lines: a pretty-printed event (its newlines
// split the document over several lines) and empty objects with spaces ("{ }" gave `..., }`).
func TestDocumentsAreOneValidLine(t *testing.T) {
	e := &osExporter{cfg: createDefaultConfig()}
	for _, body := range []string{"{\n  \"auditID\": \"a\",\n  \"stage\": \"x\"\n}\n", "{ }", "{} ", "{\n}"} {
		lr := plog.NewLogRecord()
		lr.Body().SetStr(body)
		doc := docOf(t, e, "c", lr).doc
		require.True(t, json.Valid(doc), "%q gave %q", body, doc)
		require.NotContains(t, string(doc), "\n")
		var m map[string]any
		require.NoError(t, json.Unmarshal(doc, &m))
		require.Equal(t, "c", m["cluster"])
		if strings.Contains(body, "auditID") {
			require.Equal(t, "a", m["auditID"])
		}
	}
}

// docOf is the document of lr in a resource of cluster.
func docOf(t *testing.T, e *osExporter, cluster string, lr plog.LogRecord) item {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
	lr.CopyTo(rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	items, err := e.encodeDocs(ld).list()
	require.NoError(t, err)
	require.Len(t, items, 1)
	return items[0]
}

func benchLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu-1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lr := lrs.AppendEmpty()
		ev := strings.Replace(eventTmpl, `"ID"`, fmt.Sprintf(`"%016x-4f0e-9a41-5d0c9e2b7a10"`, i), 1)
		lr.Body().SetStr(strings.Replace(ev, `"verb":"get"`, `"verb":"get","userAgent":"`+strings.Repeat("x", (i*37)%1500)+`"`, 1))
		lr.Attributes().PutStr("k8s.audit.id", fmt.Sprintf("%016x-4f0e-9a41-5d0c9e2b7a10", i))
		lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 15, 3, 0, time.UTC)))
	}
	return ld
}

// BenchmarkBulkBody encodes 400 audit events into a bulk body: as now, and as before
// (encoding/json for the validity check, the stamp and the action lines).
func BenchmarkBulkBody(b *testing.B) {
	ld := benchLogs(400)
	e := &osExporter{cfg: createDefaultConfig()}
	size := 0
	items, _ := e.encodeDocs(ld).list()
	for _, it := range items {
		size += len(it.doc)
	}
	b.Run("now", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			var body []byte
			items, _ := e.encodeDocs(ld).list()
			for _, it := range items {
				body = appendAction(body, it)
				body = append(append(body, it.doc...), '\n')
			}
			benchSink = len(body)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for b.Loop() {
			var body []byte
			for i := 0; i < lrs.Len(); i++ {
				it, action := referenceDocument(e.cfg.IndexPrefix, "prod-eu-1", lrs.At(i))
				body = append(append(body, action...), '\n')
				body = append(append(body, it.doc...), '\n')
			}
			benchSink = len(body)
		}
	})
}

var benchSink int

// A record the audit receiver sealed is not validated again, and gives the document an unsealed
// one gives; a record whose seal a later change broke is validated as any other.
func TestSealedRecords(t *testing.T) {
	e := &osExporter{cfg: createDefaultConfig()}
	const body = `{"auditID":"a","stage":"x","verb":"get"}`
	seal := func(lr plog.LogRecord, body string) {
		lr.Body().SetStr(body)
		lr.Attributes().PutStr(audit.AttrAuditID, "a")
		lr.Attributes().PutStr(audit.AttrStage, "x")
		lr.Attributes().PutStr(audit.AttrVerb, "get")
		lr.Attributes().PutInt(audit.AttrAttestation, audit.Attestation(body, &audit.Fields{AuditID: "a", Stage: "x", Verb: "get"}))
	}
	sealed := plog.NewLogRecord()
	seal(sealed, body)
	require.True(t, audit.IsAttested(sealed))
	plain := plog.NewLogRecord()
	sealed.CopyTo(plain)
	plain.Attributes().Remove(audit.AttrAttestation)
	require.Equal(t, docOf(t, e, "c", plain), docOf(t, e, "c", sealed))

	// The seal is trusted: a body sealed as it is (which the receiver never does with one that
	// is not valid JSON) is not checked.
	trusted := plog.NewLogRecord()
	seal(trusted, `{"auditID":"a" ,}`)
	require.Contains(t, string(docOf(t, e, "c", trusted).doc), `"auditID":"a" ,}`)

	// Not valid JSON, and its seal broken by a change after it was made: sent as a message.
	broken := plog.NewLogRecord()
	seal(broken, body)
	broken.Body().SetStr(`{"auditID":"a",`)
	var m map[string]any
	require.NoError(t, json.Unmarshal(docOf(t, e, "c", broken).doc, &m))
	require.Equal(t, `{"auditID":"a",`, m["message"])
}
