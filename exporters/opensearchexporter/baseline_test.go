package opensearchexporter

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"

	gojson "github.com/goccy/go-json"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
)

// The converter, queue encoding, MergeSplit and bulk body as they were at ae1e798, before the
// documents were built in the queue's encoding; copied unchanged but for the names (base...)
// and receivers. The tests in baseline_compare_test.go hold the code to their bytes.

func baseDocuments(prefix string, ld plog.Logs) []item {
	items := make([]item, 0, ld.LogRecordCount())
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		cluster := ""
		if v, ok := rl.Resource().Attributes().Get("k8s.cluster.name"); ok {
			cluster = v.AsString()
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				items = append(items, baseDocument(prefix, cluster, lrs.At(k)))
			}
		}
	}
	return items
}

func baseDocument(prefix, cluster string, lr plog.LogRecord) item {
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	t := ts.AsTime().UTC()
	body := lr.Body().AsString()
	stamp := t.Format(time.RFC3339Nano)
	doc := make([]byte, 0, len(body)+len(stamp)+len(cluster)+32)
	doc = append(doc, `{"@timestamp":`...)
	doc = baseAppendJSONString(doc, stamp)
	doc = append(doc, `,"cluster":`...)
	doc = baseAppendJSONString(doc, cluster)
	at := len(doc)
	doc = append(doc, body...)
	if src := doc[at:]; len(src) > 1 && src[0] == '{' && gojson.Valid(src) {
		if bytes.IndexByte(src, '\n') >= 0 {
			var c bytes.Buffer
			_ = json.Compact(&c, src)
			doc = append(doc[:at], c.Bytes()...)
			src = doc[at:]
		}
		if src[audit.SkipSpace(src, 1)] == '}' {
			doc = append(doc[:at], '}')
		} else {
			src[0] = ','
		}
	} else {
		m := map[string]any{"@timestamp": stamp, "cluster": cluster, "message": body}
		doc, _ = json.Marshal(m)
	}
	var id string
	auditID, okID := lr.Attributes().Get("k8s.audit.id")
	stage, okStage := lr.Attributes().Get("k8s.audit.stage")
	if okID && okStage {
		// Since events are identified by content too (one Audit-ID can be sent by many requests).
		sum := sha256.Sum256([]byte(body))
		id = cluster + ":" + auditID.AsString() + ":" + stage.AsString() + ":" + hex.EncodeToString(sum[:16])
		if len(id) > 512 {
			long := sha256.Sum256([]byte(id))
			id = hex.EncodeToString(long[:])
		}
	} else {
		h := sha256.New()
		h.Write([]byte(cluster))
		h.Write([]byte(stamp))
		h.Write([]byte(body))
		id = hex.EncodeToString(h.Sum(nil)[:16])
	}
	return item{index: prefix + "-" + t.Format("2006.01.02"), id: id, doc: doc, received: lr.ObservedTimestamp()}
}

func baseAppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func baseItemBytes(it item) int { return len(it.doc) + len(it.index) + len(it.id) + 40 }

func baseBytes(items []item) int {
	n := 0
	for _, it := range items {
		n += baseItemBytes(it)
	}
	return n
}

func baseMarshal(items []item) []byte {
	b := make([]byte, 0, baseBytes(items)+16)
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = binary.AppendUvarint(b, uint64(len(it.index)))
		b = append(b, it.index...)
		b = binary.AppendUvarint(b, uint64(len(it.id)))
		b = append(b, it.id...)
		b = binary.AppendVarint(b, int64(it.received))
		b = binary.AppendUvarint(b, uint64(len(it.doc)))
		b = append(b, it.doc...)
	}
	return b
}

func baseMergeSplit(r, r2 []item, maxSize int, szt exporterhelper.RequestSizerType) [][]item {
	all := r
	if r2 != nil {
		all = append(append(make([]item, 0, len(r)+len(r2)), r...), r2...)
	}
	size := func(it item) int {
		if szt == exporterhelper.RequestSizerTypeBytes {
			return baseItemBytes(it)
		}
		return 1
	}
	if maxSize <= 0 || szt == exporterhelper.RequestSizerTypeRequests {
		return [][]item{all}
	}
	var out [][]item
	start, n := 0, 0
	for i, it := range all {
		if s := size(it); n+s > maxSize && i > start {
			out = append(out, all[start:i:i])
			start, n = i, 0
		}
		n += size(all[i])
	}
	return append(out, all[start:])
}

func baseBulkBody(items []item) []byte {
	body := make([]byte, 0, baseBytes(items))
	for _, it := range items {
		body = baseAppendAction(body, it)
		body = append(body, it.doc...)
		body = append(body, '\n')
	}
	return body
}

func baseAppendAction(b []byte, it item) []byte {
	b = append(b, `{"index":{"_id":`...)
	b = baseAppendJSONString(b, it.id)
	b = append(b, `,"_index":`...)
	b = baseAppendJSONString(b, it.index)
	return append(b, "}}\n"...)
}
