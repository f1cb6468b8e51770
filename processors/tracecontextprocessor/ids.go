package tracecontextprocessor

import (
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// parseTraceparent reads a W3C traceparent: version-traceid-parentid-flags in lower-case hex.
// Version ff is invalid; a version-00 header has exactly these four fields, a later version may
// add more after a dash. All-zero IDs are invalid.
func parseTraceparent(s string) (pcommon.TraceID, pcommon.SpanID, bool) {
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	s = strings.TrimSpace(s)
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || !lowerHex(s[:2]) || !lowerHex(s[3:35]) ||
		!lowerHex(s[36:52]) || !lowerHex(s[53:55]) || s[:2] == "ff" || (s[:2] == "00" && len(s) != 55) ||
		(len(s) > 55 && s[55] != '-') {
		return tid, sid, false
	}
	_, _ = hex.Decode(tid[:], []byte(s[3:35]))
	_, _ = hex.Decode(sid[:], []byte(s[36:52]))
	return tid, sid, !tid.IsEmpty() && !sid.IsEmpty()
}

// parseTraceID reads a trace ID: 32 hex digits, or 16 for a 64-bit ID (Jaeger's and Zipkin's
// older IDs), which fills the low half as OpenTelemetry's propagators do. Either case.
func parseTraceID(s string) (pcommon.TraceID, bool) {
	var tid pcommon.TraceID
	s = strings.TrimSpace(s)
	switch len(s) {
	case 32:
		if _, err := hex.Decode(tid[:], []byte(s)); err != nil {
			return tid, false
		}
	case 16:
		if _, err := hex.Decode(tid[8:], []byte(s)); err != nil {
			return tid, false
		}
	default:
		return tid, false
	}
	return tid, !tid.IsEmpty()
}

// parseSpanID reads a span ID: 16 hex digits, either case.
func parseSpanID(s string) (pcommon.SpanID, bool) {
	var sid pcommon.SpanID
	s = strings.TrimSpace(s)
	if len(s) != 16 {
		return sid, false
	}
	if _, err := hex.Decode(sid[:], []byte(s)); err != nil {
		return sid, false
	}
	return sid, !sid.IsEmpty()
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
