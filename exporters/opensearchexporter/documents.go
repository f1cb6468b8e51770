package opensearchexporter

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"time"

	gojson "github.com/goccy/go-json"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
)

// encodeDocs turns log records into OpenSearch documents, written straight into the queue's
// encoding (docsEncoding): one buffer per request, which Marshal hands to the persistent queue as
// it is. The items are read from it when they are sent (docsRequest.list).
func (e *osExporter) encodeDocs(ld plog.Logs) *docsRequest {
	n := ld.LogRecordCount()
	// One buffer, sized for the usual case: string bodies, and per document the fields added to
	// it (vigil_received_time too), the index name and an _id of cluster, UUID, stage and content
	// hash. It grows if that was short.
	size := 1 + binary.MaxVarintLen64
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		perDoc := 2*len(clusterOf(rl)) + len(e.cfg.IndexPrefix) + 250
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				size += perDoc
				if body := lrs.At(k).Body(); body.Type() == pcommon.ValueTypeStr {
					size += len(body.Str())
				}
			}
		}
	}
	d := docsBuilder{e: e, b: make([]byte, 0, size), id: make([]byte, 0, 128)}
	d.b = append(d.b, docsEncodingVersion)
	d.b = binary.AppendUvarint(d.b, uint64(n))
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		cluster := clusterOf(rl)
		d.cluster = append(append(d.cluster[:0], `","cluster":`...), appendJSONString(nil, cluster)...)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				d.add(cluster, lrs.At(k))
			}
		}
	}
	e.countReplaced(d.replaced)
	return &docsRequest{enc: d.b, count: n, bytes: d.bytes}
}

func clusterOf(rl plog.ResourceLogs) string {
	if v, ok := rl.Resource().Attributes().Get("k8s.cluster.name"); ok {
		return v.AsString()
	}
	return ""
}

// docsBuilder appends documents to b in docsEncoding; one per encodeDocs call.
type docsBuilder struct {
	e       *osExporter
	b       []byte
	bytes   int    // the documents' itemBytes
	cluster []byte // `","cluster":` and the cluster as a JSON string, for the resource at hand
	stamps  stamps
	scratch []byte // a body's members without ownKeys
	id      []byte // the _id at hand
	// replaced counts, per ownKeys name, the events' members left out for vigil's own.
	replaced [len(ownKeys)]int
}

// add appends the document of lr: index name, _id, receipt time, and the event as sent with
// @timestamp, cluster and (from the receiver's attribute) vigil_received_time added in front (the
// keys in the order encoding/json would write them); the event's own members of those names are
// left out (withoutOwnKeys).
func (d *docsBuilder) add(cluster string, lr plog.LogRecord) {
	t := recordTime(lr)
	stamp := d.stamps.format(t)
	body := lr.Body().AsString()
	index := d.e.indexName(t)
	b := binary.AppendUvarint(d.b, uint64(len(index)))
	b = append(b, index...)

	auditID, okID := lr.Attributes().Get(audit.AttrAuditID)
	stage, okStage := lr.Attributes().Get(audit.AttrStage)
	if okID && okStage {
		// The room after b, which the document takes next, holds the body while it is hashed.
		n := len(b)
		b = append(b, body...)
		d.id = appendEventID(d.id[:0], cluster, auditID.AsString(), stage.AsString(), b[n:])
		b = b[:n]
	} else {
		h := sha256.New()
		h.Write([]byte(cluster))
		h.Write(stamp)
		h.Write([]byte(body))
		var sum [sha256.Size]byte
		d.id = hex.AppendEncode(d.id[:0], h.Sum(sum[:0])[:16])
	}
	idLen := len(d.id)
	b = binary.AppendUvarint(b, uint64(idLen))
	b = append(b, d.id...)
	b = binary.AppendVarint(b, int64(lr.ObservedTimestamp()))

	// The document's length goes in front of it: room for the varint of the likely length, moved
	// if the document came out longer or shorter than that.
	lenAt := len(b)
	received := ""
	if v, ok := lr.Attributes().Get(attrReceivedTime); ok && v.Type() == pcommon.ValueTypeStr {
		received = v.Str()
	}
	room := uvarintLen(len(body) + len(stamp) + len(d.cluster) + len(received) + 40)
	b = append(b, make([]byte, room)...)
	docAt := len(b)
	b = append(b, `{"@timestamp":"`...)
	b = append(b, stamp...)
	b = append(b, d.cluster...)
	if received != "" {
		b = append(b, `,"vigil_received_time":`...)
		b = appendJSONString(b, received)
	}
	at := len(b)
	b = append(b, body...)
	// A body the audit receiver sealed is the valid JSON object it checked: not checked again.
	sealed := audit.IsAttested(lr)
	if src := b[at:]; len(src) > 1 && src[0] == '{' && (sealed || gojson.Valid(src)) {
		if bytes.IndexByte(src, '\n') >= 0 {
			// A pretty-printed event: one bulk line must hold one document.
			var c bytes.Buffer
			_ = json.Compact(&c, src) // valid: cannot fail
			b = append(b[:at], c.Bytes()...)
			src = b[at:]
		}
		if !sealed && mayHaveOwnKeys(src) {
			d.scratch = withoutOwnKeys(d.scratch[:0], src, &d.replaced)
			b = append(b[:at], d.scratch...)
			src = b[at:]
		}
		if src[audit.SkipSpace(src, 1)] == '}' { // {}
			b = append(b[:at], '}')
		} else {
			src[0] = ','
		}
	} else {
		m := map[string]any{"@timestamp": string(stamp), "cluster": cluster, "message": body}
		if received != "" {
			m["vigil_received_time"] = received
		}
		doc, _ := json.Marshal(m)
		b = append(b[:docAt], doc...)
	}
	docLen := len(b) - docAt
	if n := uvarintLen(docLen); n != room {
		if n > room {
			b = append(b, make([]byte, n-room)...)
		}
		copy(b[lenAt+n:], b[docAt:docAt+docLen])
		b = b[:lenAt+n+docLen]
	}
	binary.PutUvarint(b[lenAt:], uint64(docLen))
	d.b = b
	d.bytes += docLen + len(index) + idLen + itemOverhead
}

// recordTime is the time of lr by which its document is dated and indexed: its timestamp, else
// when it was observed; 1970-01-01 without either. A timestamp that wrapped around from a time
// before 1970 (a zero time.Time set by an older receiver reads as 1754) is no time.
func recordTime(lr plog.LogRecord) time.Time {
	for _, ts := range [...]pcommon.Timestamp{lr.Timestamp(), lr.ObservedTimestamp()} {
		if ts != 0 && uint64(ts) <= math.MaxInt64 {
			return ts.AsTime().UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// stamps formats times in UTC as t.Format(time.RFC3339Nano) does, formatting the date and time
// of day only when the second changes: the events of a request are mostly of the same seconds.
type stamps struct {
	sec    int64
	buf    []byte // the stamp last formatted, its first n bytes those of second sec
	n      int
	filled bool
}

// format returns the stamp of t, which must be in UTC; valid until the next call.
func (s *stamps) format(t time.Time) []byte {
	if sec := t.Unix(); !s.filled || sec != s.sec {
		s.buf = t.AppendFormat(s.buf[:0], "2006-01-02T15:04:05")
		s.n, s.sec, s.filled = len(s.buf), sec, true
	}
	b := s.buf[:s.n]
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		end := 10
		for frac[end-1] == '0' {
			end--
		}
		b = append(b, frac[:end]...)
	}
	s.buf = append(b, 'Z')
	return s.buf
}

// indexName is the daily index of t, remembered for the last day asked.
func (e *osExporter) indexName(t time.Time) string {
	y, m, d := t.Date()
	day := y*10000 + int(m)*100 + d
	if c := e.lastIndex.Load(); c != nil && c.day == day {
		return c.name
	}
	name := e.cfg.IndexPrefix + "-" + t.Format("2006.01.02")
	e.lastIndex.Store(&dayIndex{day: day, name: name})
	return name
}

type dayIndex struct {
	day  int
	name string
}

// appendJSONString appends s as encoding/json writes a string (HTML characters escaped).
func appendJSONString(b []byte, s string) []byte {
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
