package archiveexporter

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
)

// An audit event is archived once per cluster and content: its key is the keyed hash (hasher) of
// its staged line, in the map of its cluster. The (auditID, stage) alone is not the identity of
// an event — the apiserver takes the auditID from the client's Audit-ID header, so distinct
// requests can share it — while a re-sent event (the apiserver's retry, a replay after a crash)
// has the same bytes. Records that are not audit events (without the receiver's auditID and stage
// attributes) are all archived.

// isAuditEvent reports whether lr is an audit event of the receiver (it has an auditID and a stage).
func isAuditEvent(lr plog.LogRecord) bool {
	_, ok1 := lr.Attributes().Get(audit.AttrAuditID)
	_, ok2 := lr.Attributes().Get(audit.AttrStage)
	return ok1 && ok2
}

// stagedLine is the NDJSON line that archives lr's body (without its newline); rewritten is true
// when the line is not the body as received, so that an index reads its fields from the line. A
// body that spans lines is one NDJSON line all the same: a pretty-printed JSON event (a webhook
// sender that indents) is archived compacted — the same JSON value, without the whitespace
// between its tokens, so that queries read its fields; any other body that is empty or spans
// lines is archived as a JSON string.
func stagedLine(lr plog.LogRecord) (line string, rewritten bool) {
	body := lr.Body().AsString()
	if body == "" || strings.IndexByte(body, '\n') >= 0 {
		var compact bytes.Buffer
		if t := strings.TrimLeft(body, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') &&
			json.Compact(&compact, []byte(body)) == nil {
			return compact.String(), true
		}
		b, _ := json.Marshal(body)
		return string(b), true
	}
	return body, false
}

// isAuditLine reports whether a staged line archives an audit event (an object with an auditID),
// also when it holds the event as a JSON string (stagedLine): the lines whose keys are rebuilt on
// start.
func isAuditLine(line []byte) bool {
	if len(line) > 0 && line[0] == '"' {
		var body string
		if json.Unmarshal(line, &body) != nil {
			return false
		}
		line = []byte(body)
	}
	var ev struct {
		AuditID string `json:"auditID"`
	}
	return json.Unmarshal(line, &ev) == nil && ev.AuditID != ""
}

// eventTime is the time of lr by which it is filed: its timestamp, else when it was observed,
// else now. A timestamp of 0, or one that wrapped around from a time before 1970 (a zero
// time.Time set by an older receiver reads as 1754), is no time.
func eventTime(lr plog.LogRecord, now time.Time) time.Time {
	for _, ts := range [...]uint64{uint64(lr.Timestamp()), uint64(lr.ObservedTimestamp())} {
		if ts != 0 && ts <= math.MaxInt64 {
			return time.Unix(0, int64(ts)).UTC()
		}
	}
	return now.UTC()
}

// receivedTime is when vigil received the event of lr: the record's observed time, which the
// audit receiver sets to the time of the request (and an OTLP sender to its own receipt), else now
// (staging follows receipt closely).
func receivedTime(lr plog.LogRecord, now time.Time) time.Time {
	if ts := uint64(lr.ObservedTimestamp()); ts != 0 && ts <= math.MaxInt64 {
		return time.Unix(0, int64(ts)).UTC()
	}
	return now.UTC()
}

// hourOf is the hour (UTC) that names an object whose events are of t.
func hourOf(t time.Time) int64 { return t.Unix() / 3600 }
