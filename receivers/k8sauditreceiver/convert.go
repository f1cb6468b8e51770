package k8sauditreceiver

import (
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
)

// Log record attribute names of an audit event. They are part of vigil's data model: the
// OpenSearch mappings and the archive's labels use them.
const (
	AttrAuditID         = audit.AttrAuditID
	AttrStage           = audit.AttrStage
	AttrLevel           = "k8s.audit.level"
	AttrVerb            = audit.AttrVerb
	AttrRequestURI      = "k8s.audit.request_uri"
	AttrUsername        = audit.AttrUsername
	AttrGroups          = "k8s.audit.user.groups"
	AttrSourceIPs       = audit.AttrSourceIPs
	AttrUserAgent       = "k8s.audit.user_agent"
	AttrResource        = audit.AttrResource
	AttrNamespace       = audit.AttrNamespace
	AttrName            = audit.AttrName
	AttrAPIGroup        = "k8s.audit.object.api_group"
	AttrAPIVersion      = "k8s.audit.object.api_version"
	AttrSubresource     = "k8s.audit.object.subresource"
	AttrResponseCode    = "k8s.audit.response.code"
	AttrRequestReceived = "k8s.audit.request_received_timestamp"
	AttrStageTimestamp  = "k8s.audit.stage_timestamp"
	// AttrReceivedTime is when vigil received the event (RFC 3339, UTC), beside the event's own
	// time, which its sender chose: an event dated far from its receipt shows.
	AttrReceivedTime = "vigil.received_time"
)

// scopeName names the instrumentation scope of every audit log record.
const scopeName = "github.com/vigil-obs/vigil/receivers/k8sauditreceiver"

// toLogs turns events into one resource (the cluster) of log records, in order.
func toLogs(cluster string, events []Event, observed time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if cluster != "" {
		rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	records := sl.LogRecords()
	records.EnsureCapacity(len(events))
	received := observed.UTC().Format(time.RFC3339Nano)
	for i := range events {
		appendRecord(records.AppendEmpty(), &events[i], observed, received)
	}
	return ld
}

// appendRecord fills lr with e, received at observed (received: observed as AttrReceivedTime).
func appendRecord(lr plog.LogRecord, e *Event, observed time.Time, received string) {
	if e.text == "" {
		e.text = string(e.Raw)
	}
	lr.Body().SetStr(e.text)
	lr.SetTimestamp(recordTime(e.Time(observed), observed))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetEventName("k8s.audit")
	a := lr.Attributes()
	a.EnsureCapacity(19)
	a.PutStr(AttrReceivedTime, received)
	a.PutStr(AttrAuditID, e.AuditID)
	a.PutStr(AttrStage, e.Stage)
	putNonEmpty(a, AttrLevel, e.Level)
	putNonEmpty(a, AttrVerb, e.Verb)
	putNonEmpty(a, AttrRequestURI, e.RequestURI)
	putNonEmpty(a, AttrUsername, e.Username)
	putSlice(a, AttrGroups, e.Groups)
	putSlice(a, AttrSourceIPs, e.SourceIPs)
	putNonEmpty(a, AttrUserAgent, e.UserAgent)
	putNonEmpty(a, AttrResource, e.Resource)
	putNonEmpty(a, AttrNamespace, e.Namespace)
	putNonEmpty(a, AttrName, e.Name)
	putNonEmpty(a, AttrAPIGroup, e.APIGroup)
	putNonEmpty(a, AttrAPIVersion, e.APIVersion)
	putNonEmpty(a, AttrSubresource, e.Subresource)
	if e.ResponseCode != 0 {
		a.PutInt(AttrResponseCode, int64(e.ResponseCode))
	}
	if !e.RequestReceivedTimestamp.IsZero() {
		a.PutStr(AttrRequestReceived, timestampText(e.RequestReceivedTimestamp, e.receivedText))
	}
	if !e.StageTimestamp.IsZero() {
		a.PutStr(AttrStageTimestamp, timestampText(e.StageTimestamp, e.stageText))
	}
	if e.attestable {
		a.PutInt(audit.AttrAttestation, audit.AttestationOf(e.contentSum(), &audit.Fields{
			AuditID: e.AuditID, Stage: e.Stage, Verb: e.Verb, User: e.Username, Namespace: e.Namespace,
			Resource: e.Resource, Name: e.Name, SourceIPs: e.SourceIPs,
		}))
	}
}

// recordTime is t as a record's timestamp, or observed when a record cannot hold t: pdata
// counts nanoseconds since 1970 in an unsigned 64-bit integer (1970 to 2262); an event dated
// before 1970 (the zero time.Time, or "0001-01-01T00:00:00Z" as sent) would wrap around to a
// date such as 1754.
func recordTime(t, observed time.Time) pcommon.Timestamp {
	if t.Before(time.Unix(0, 1)) || t.After(time.Unix(0, math.MaxInt64)) {
		t = observed
	}
	return pcommon.NewTimestampFromTime(t)
}

// timestampText is t in UTC as time.RFC3339Nano formats it: written (t's text in the event)
// when it is that already, as the apiserver writes most of them, else formatted.
func timestampText(t time.Time, written string) string {
	if isRFC3339NanoUTC(written) {
		return written
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// isRFC3339NanoUTC reports whether s, the text of a time that time.Time.UnmarshalJSON read
// (so its date and clock are well formed), is exactly what time.RFC3339Nano formats for it in
// UTC: "2006-01-02T15:04:05", then at most nine digits of fraction after a '.' without a
// trailing zero, then "Z".
func isRFC3339NanoUTC(s string) bool {
	const clock = len("2006-01-02T15:04:05")
	if len(s) < clock+1 || s[10] != 'T' || s[len(s)-1] != 'Z' {
		return false
	}
	frac := s[clock : len(s)-1]
	if frac == "" {
		return true
	}
	if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 || frac[len(frac)-1] == '0' {
		return false
	}
	for i := 1; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return false
		}
	}
	return true
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

func putSlice(m pcommon.Map, k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	s := m.PutEmptySlice(k)
	s.EnsureCapacity(len(vs))
	for _, v := range vs {
		s.AppendEmpty().SetStr(v)
	}
}
