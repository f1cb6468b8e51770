package lokipushreceiver

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/grafana/loki/v3/pkg/logproto"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/grafana/loki/v3/pkg/util/unmarshal"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/exporters/lokipushexporter"
)

// Reasons a stream or an entry is refused (label "reason" of vigil_lokipush_discarded_entries).
const (
	ReasonMalformedLabels = "malformed_labels"
	ReasonTooManyLabels   = "too_many_labels"
	ReasonClusterMismatch = "cluster_mismatch"
	ReasonLineTooLong     = "line_too_long"
)

// ErrUnsupportedMediaType is returned for a Content-Type other than protobuf or JSON.
var ErrUnsupportedMediaType = errors.New(`unsupported Content-Type: send "application/x-protobuf" (snappy-compressed) or "application/json"`)

// TooLargeError is a snappy body that decompresses to more than the limit.
type TooLargeError struct{ Size, Limit int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("snappy body decompresses to %d bytes, more than the limit of %d bytes (max_decoded_bytes)", e.Size, e.Limit)
}

// Decode parses a push request body as Loki does: JSON for application/json, else
// snappy-compressed protobuf.
func Decode(body []byte, contentType string, maxDecoded int) (*push.PushRequest, error) {
	mt := "application/x-protobuf"
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return nil, fmt.Errorf("%w (got %q)", ErrUnsupportedMediaType, contentType)
		}
	}
	var req logproto.PushRequest
	switch mt {
	case "application/json":
		if err := unmarshal.DecodePushRequest(bytes.NewReader(body), &req); err != nil {
			return nil, fmt.Errorf("cannot decode JSON push request: %w", err)
		}
	case "application/x-protobuf", "application/octet-stream":
		n, err := snappy.DecodedLen(body)
		if err != nil {
			return nil, fmt.Errorf("cannot decode snappy body: %w", err)
		}
		if n > maxDecoded {
			return nil, &TooLargeError{Size: n, Limit: maxDecoded}
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("cannot decode snappy body: %w", err)
		}
		if err := req.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("cannot decode protobuf PushRequest: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w (got %q)", ErrUnsupportedMediaType, contentType)
	}
	return &req, nil
}

// Limits bound what one stream may hold.
type Limits struct {
	MaxLabels, MaxLineBytes int
}

// Rejection is a stream, or one entry of it, refused.
type Rejection struct {
	Stream  string // the stream's labels, as sent
	Entries int
	Reason  string
	Message string
}

// Convert turns the streams of req into logs of cluster, one resource per stream, and lists
// what it refused: streams with malformed labels, too many labels or another cluster's label,
// entries with too long a line. It never fails as a whole.
func Convert(req *push.PushRequest, cluster string, lim Limits, now time.Time) (plog.Logs, []Rejection) {
	ld := plog.NewLogs()
	var rejected []Rejection
	observed := pcommon.NewTimestampFromTime(now)
	for _, s := range req.Streams {
		if len(s.Entries) == 0 {
			continue
		}
		lbls, err := syntax.ParseLabels(s.Labels)
		if err != nil {
			rejected = append(rejected, Rejection{s.Labels, len(s.Entries), ReasonMalformedLabels, "cannot parse stream labels: " + err.Error()})
			continue
		}
		if n := lbls.Len(); n > lim.MaxLabels {
			rejected = append(rejected, Rejection{s.Labels, len(s.Entries), ReasonTooManyLabels,
				fmt.Sprintf("stream has %d labels, more than the limit of %d (max_labels_per_stream)", n, lim.MaxLabels)})
			continue
		}
		if c := lbls.Get(lokipushexporter.LabelCluster); c != "" && c != cluster {
			rejected = append(rejected, Rejection{s.Labels, len(s.Entries), ReasonClusterMismatch,
				fmt.Sprintf("stream claims cluster %q but the credentials are those of cluster %q", c, cluster)})
			continue
		}
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		level := ""
		lbls.Range(func(l labels.Label) {
			switch {
			case l.Name == lokipushexporter.LabelLevel:
				level = l.Value
			case l.Name == lokipushexporter.LabelWorkload:
				res.PutStr("k8s.workload.name", l.Value)
			case lokipushexporter.LabelAttributes[l.Name] != "":
				res.PutStr(lokipushexporter.LabelAttributes[l.Name], l.Value)
			default:
				res.PutStr(l.Name, l.Value)
			}
		})
		res.PutStr(lokipushexporter.LabelAttributes[lokipushexporter.LabelCluster], cluster)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		lrs.EnsureCapacity(len(s.Entries))
		tooLong := 0
		for _, e := range s.Entries {
			if len(e.Line) > lim.MaxLineBytes {
				tooLong++
				continue
			}
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(e.Line)
			lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Timestamp))
			lr.SetObservedTimestamp(observed)
			if level != "" {
				lr.SetSeverityText(level)
				lr.SetSeverityNumber(severity(level))
			}
			setMetadata(lr, e.StructuredMetadata)
		}
		if tooLong > 0 {
			rejected = append(rejected, Rejection{s.Labels, tooLong, ReasonLineTooLong,
				fmt.Sprintf("%d entries have lines longer than the limit of %d bytes (max_line_bytes)", tooLong, lim.MaxLineBytes)})
		}
		if lrs.Len() == 0 {
			ld.ResourceLogs().RemoveIf(func(r plog.ResourceLogs) bool { return r.ScopeLogs().At(0).LogRecords().Len() == 0 })
		}
	}
	return ld, rejected
}

// setMetadata turns an entry's structured metadata into the record's trace and span IDs and
// attributes (pod and node under their Kubernetes names).
func setMetadata(lr plog.LogRecord, md push.LabelsAdapter) {
	attrs := lr.Attributes()
	for _, m := range md {
		switch m.Name {
		case lokipushexporter.MetadataTraceID:
			var id pcommon.TraceID
			if b, err := hex.DecodeString(m.Value); err == nil && len(b) == len(id) {
				copy(id[:], b)
				lr.SetTraceID(id)
				continue
			}
		case lokipushexporter.MetadataSpanID:
			var id pcommon.SpanID
			if b, err := hex.DecodeString(m.Value); err == nil && len(b) == len(id) {
				copy(id[:], b)
				lr.SetSpanID(id)
				continue
			}
		}
		name := m.Name
		for attr, n := range lokipushexporter.MetadataAttributes {
			if n == m.Name {
				name = attr
			}
		}
		attrs.PutStr(name, m.Value)
	}
}

// severity is the severity number of a level label's value.
func severity(level string) plog.SeverityNumber {
	switch strings.ToLower(level) {
	case "trace":
		return plog.SeverityNumberTrace
	case "debug", "dbug":
		return plog.SeverityNumberDebug
	case "info", "information", "notice":
		return plog.SeverityNumberInfo
	case "warn", "warning":
		return plog.SeverityNumberWarn
	case "error", "err", "eror":
		return plog.SeverityNumberError
	case "fatal", "critical", "crit", "panic", "emergency", "alert":
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}
