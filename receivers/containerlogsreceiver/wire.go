package containerlogsreceiver

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the OTLP messages the wire encoding writes (opentelemetry-proto, logs v1 and
// common v1).
const (
	fRequestResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fResourceLogsRes     = 1 // ResourceLogs.resource
	fResourceLogsScope   = 2 // ResourceLogs.scope_logs
	fResourceAttrs       = 1 // Resource.attributes
	fScopeLogsScope      = 1 // ScopeLogs.scope
	fScopeLogsRecords    = 2 // ScopeLogs.log_records
	fScopeName           = 1 // InstrumentationScope.name
	fRecordTime          = 1 // LogRecord.time_unix_nano (fixed64)
	fRecordSevNumber     = 2 // LogRecord.severity_number
	fRecordSevText       = 3 // LogRecord.severity_text
	fRecordBody          = 5 // LogRecord.body
	fRecordAttrs         = 6 // LogRecord.attributes
	fRecordObserved      = 11
	fKVKey               = 1 // KeyValue.key
	fKVValue             = 2 // KeyValue.value
	fAnyString           = 1 // AnyValue.string_value
	fAnyInt              = 3 // AnyValue.int_value
)

// wireAttr is a resource attribute: a string, or an int when isInt.
type wireAttr struct {
	key, str string
	num      int64
	isInt    bool
}

// wireRecord is what the encoding computes once per record.
type wireRecord struct {
	time     uint64
	sevNum   plog.SeverityNumber
	sevText  string
	size     int // of the LogRecord message
	streamKV int // of the log.iostream KeyValue
}

// wireEncoder writes the logs emit builds with pdata straight as an OTLP ExportLogsServiceRequest
// (protobuf): no pdata objects, one buffer reused from batch to batch. It is used by one
// goroutine (the tailer's).
type wireEncoder struct {
	buf   []byte
	attrs []wireAttr
	recs  []wireRecord
}

// encode returns the request of records (records[i] read from files[i]), resource attributes
// from r.resourceAttrs. The result is valid until the next call.
func (e *wireEncoder) encode(r *containerLogs, files []*tracked, records [][]Record, now time.Time) []byte {
	observed := uint64(pcommon.NewTimestampFromTime(now))
	buf := e.buf[:0]
	for i, f := range files {
		e.attrs = r.resourceAttrs(e.attrs[:0], f)
		resSize := 0
		for _, a := range e.attrs {
			resSize += nested(fResourceAttrs, kvSize(a))
		}
		pathKV := strKVSize(attrFilePath, f.path)
		e.recs = e.recs[:0]
		scopeLogs := nested(fScopeLogsScope, nested(fScopeName, len(scopeName)))
		for _, rec := range records[i] {
			num, text := severity(rec.Stream, rec.Body)
			w := wireRecord{time: uint64(pcommon.NewTimestampFromTime(rec.Time)), sevNum: num, sevText: text,
				streamKV: strKVSize(attrStream, rec.Stream)}
			w.size = nested(fRecordBody, nested(fAnyString, len(rec.Body))) +
				nested(fRecordAttrs, w.streamKV) + nested(fRecordAttrs, pathKV)
			if w.time != 0 {
				w.size += protowire.SizeTag(fRecordTime) + 8
			}
			if observed != 0 {
				w.size += protowire.SizeTag(fRecordObserved) + 8
			}
			if num != 0 {
				w.size += protowire.SizeTag(fRecordSevNumber) + protowire.SizeVarint(uint64(num))
			}
			if text != "" {
				w.size += nested(fRecordSevText, len(text))
			}
			e.recs = append(e.recs, w)
			scopeLogs += nested(fScopeLogsRecords, w.size)
		}
		rlSize := nested(fResourceLogsRes, resSize) + nested(fResourceLogsScope, scopeLogs)

		buf = appendLen(buf, fRequestResourceLogs, rlSize)
		buf = appendLen(buf, fResourceLogsRes, resSize)
		for _, a := range e.attrs {
			buf = appendKV(buf, fResourceAttrs, a)
		}
		buf = appendLen(buf, fResourceLogsScope, scopeLogs)
		buf = appendLen(buf, fScopeLogsScope, nested(fScopeName, len(scopeName)))
		buf = appendLen(buf, fScopeName, len(scopeName))
		buf = append(buf, scopeName...)
		for j, rec := range records[i] {
			w := e.recs[j]
			buf = appendLen(buf, fScopeLogsRecords, w.size)
			if w.time != 0 {
				buf = protowire.AppendTag(buf, fRecordTime, protowire.Fixed64Type)
				buf = protowire.AppendFixed64(buf, w.time)
			}
			if w.sevNum != 0 {
				buf = protowire.AppendTag(buf, fRecordSevNumber, protowire.VarintType)
				buf = protowire.AppendVarint(buf, uint64(w.sevNum))
			}
			if w.sevText != "" {
				buf = appendLen(buf, fRecordSevText, len(w.sevText))
				buf = append(buf, w.sevText...)
			}
			buf = appendLen(buf, fRecordBody, nested(fAnyString, len(rec.Body)))
			buf = appendLen(buf, fAnyString, len(rec.Body)) // always: a oneof set to "" is written
			buf = append(buf, rec.Body...)
			buf = appendStrKV(buf, fRecordAttrs, w.streamKV, attrStream, rec.Stream)
			buf = appendStrKV(buf, fRecordAttrs, pathKV, attrFilePath, f.path)
			if observed != 0 {
				buf = protowire.AppendTag(buf, fRecordObserved, protowire.Fixed64Type)
				buf = protowire.AppendFixed64(buf, observed)
			}
		}
	}
	e.buf = buf
	return buf
}

// nested is the size of field num holding n bytes (a message or a string).
func nested(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// strKVSize is the size of the KeyValue message of a string attribute.
func strKVSize(k, v string) int {
	return nested(fKVKey, len(k)) + nested(fKVValue, nested(fAnyString, len(v)))
}

func kvSize(a wireAttr) int {
	if !a.isInt {
		return strKVSize(a.key, a.str)
	}
	return nested(fKVKey, len(a.key)) +
		nested(fKVValue, protowire.SizeTag(fAnyInt)+protowire.SizeVarint(uint64(a.num)))
}

// appendStrKV appends field num holding the KeyValue k=v of size size (strKVSize).
func appendStrKV(b []byte, num protowire.Number, size int, k, v string) []byte {
	b = appendLen(b, num, size)
	b = appendLen(b, fKVKey, len(k))
	b = append(b, k...)
	b = appendLen(b, fKVValue, nested(fAnyString, len(v)))
	b = appendLen(b, fAnyString, len(v))
	return append(b, v...)
}

func appendKV(b []byte, num protowire.Number, a wireAttr) []byte {
	if !a.isInt {
		return appendStrKV(b, num, kvSize(a), a.key, a.str)
	}
	b = appendLen(b, num, kvSize(a))
	b = appendLen(b, fKVKey, len(a.key))
	b = append(b, a.key...)
	b = appendLen(b, fKVValue, protowire.SizeTag(fAnyInt)+protowire.SizeVarint(uint64(a.num)))
	b = protowire.AppendTag(b, fAnyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(a.num))
}
