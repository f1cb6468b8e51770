package fluentk8s

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/logseverity"
)

// Resource and record attributes, as the containerlogs receiver and k8spod name them.
const (
	AttrNamespace = "k8s.namespace.name"
	AttrPodName   = "k8s.pod.name"
	AttrPodUID    = "k8s.pod.uid"
	AttrPodIP     = "k8s.pod.ip"
	AttrContainer = "k8s.container.name"
	AttrNode      = "k8s.node.name"
	AttrLabel     = "k8s.pod.label."
	AttrImage     = "container.image.name"
	AttrID        = "container.id"
	AttrStream    = "log.iostream"
)

// DefaultLabels are the pod label keys copied to k8s.pod.label.<key>: the k8senrich processor's
// default (pod_metadata.labels).
var DefaultLabels = []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app"}

// kubernetes map keys and the resource attributes they become, in the order written.
var identityKeys = []struct{ key, attr string }{
	{"namespace_name", AttrNamespace},
	{"pod_name", AttrPodName},
	{"pod_id", AttrPodUID},
	{"container_name", AttrContainer},
	{"host", AttrNode},
	{"pod_ip", AttrPodIP},
	{"container_image", AttrImage},
	{"docker_id", AttrID},
	{"container_id", AttrID},
}

// bodyKeys are the fields holding the line: Fluent Bit (and Docker) write `log`, fluentd
// `message`. The first present is the body.
var bodyKeys = []string{"log", "message"}

// levelKeys are the fields read for the severity, as JSON and logfmt loggers name them.
var levelKeys = []string{"level", "severity", "lvl", "loglevel", "log_level"}

// dropped are fields of the tail and CRI parsers that say nothing once the line is whole: the
// CRI partial flag (`logtag` of Fluent Bit's cri parser, `_p` of fluentd's).
var dropped = map[string]bool{"logtag": true, "_p": true}

// Attr is one resource attribute.
type Attr struct{ Key, Value string }

// Record is one mapped record. Values in Body and Attributes are normalized: string, int64,
// float64, bool, nil, []any or map[string]any.
type Record struct {
	Resource     []Attr // identity; empty when the record has no kubernetes metadata
	Body         any    // the line (one trailing newline removed), or nil
	Time         time.Time
	Stream       string // stdout, stderr or ""
	Severity     plog.SeverityNumber
	SeverityText string
	Attributes   map[string]any // the other fields
}

// Mapper maps records; it is safe for concurrent use once built.
type Mapper struct {
	labels []string
}

// New returns a Mapper copying the pod labels of the keys labels (nil: DefaultLabels).
func New(labels []string) *Mapper {
	if labels == nil {
		labels = DefaultLabels
	}
	return &Mapper{labels: slices.Clone(labels)}
}

// Map maps rec, a record as decoded from msgpack (map[any]any with []byte strings, as
// fluent-bit-go gives it) or from pdata (map[string]any). ok is false when rec is not a map.
func (m *Mapper) Map(rec any) (r Record, ok bool) {
	fields, ok := Normalize(rec).(map[string]any)
	if !ok {
		return Record{}, false
	}
	r.Attributes = fields
	if k, ok := fields["kubernetes"].(map[string]any); ok {
		r.Resource = m.identity(k)
		delete(fields, "kubernetes")
	}
	if d, ok := fields["docker"].(map[string]any); ok { // fluentd: docker.container_id
		if id, ok := d["container_id"].(string); ok && id != "" && !hasAttr(r.Resource, AttrID) {
			r.Resource = append(r.Resource, Attr{AttrID, id})
		}
		delete(fields, "docker")
	}
	for _, k := range bodyKeys {
		if v, ok := fields[k]; ok {
			r.Body = v
			delete(fields, k)
			break
		}
	}
	if s, ok := r.Body.(string); ok {
		s = strings.TrimSuffix(s, "\n")
		r.Body = strings.TrimSuffix(s, "\r")
	}
	if s, ok := fields["stream"].(string); ok {
		r.Stream = s
		delete(fields, "stream")
	}
	if s, ok := fields["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			r.Time = t
			delete(fields, "time")
		}
	}
	for k := range dropped {
		delete(fields, k)
	}
	r.Severity, r.SeverityText = severity(fields, r.Stream, r.Body)
	return r, true
}

func (m *Mapper) identity(k map[string]any) []Attr {
	var out []Attr
	for _, ik := range identityKeys {
		if v := str(k[ik.key]); v != "" && !hasAttr(out, ik.attr) {
			out = append(out, Attr{ik.attr, v})
		}
	}
	if labels, ok := k["labels"].(map[string]any); ok {
		for _, l := range m.labels {
			if v, ok := labels[l]; ok {
				out = append(out, Attr{AttrLabel + l, str(v)})
			}
		}
	}
	return out
}

func hasAttr(attrs []Attr, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}

// severity: a level field, else the line's own level word or klog header, else the stream.
func severity(fields map[string]any, stream string, body any) (plog.SeverityNumber, string) {
	for _, k := range levelKeys {
		if s, ok := fields[k].(string); ok {
			if n, text := logseverity.Level(s); n != plog.SeverityNumberUnspecified {
				return n, text
			}
		}
	}
	s, _ := body.(string)
	return logseverity.Of(stream, []byte(s))
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Key is a string naming the record's resource: records with equal keys share a resource.
func (r *Record) Key() string {
	var b strings.Builder
	for _, a := range r.Resource {
		b.WriteString(a.Key)
		b.WriteByte(0)
		b.WriteString(a.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// PutResource writes the record's identity into a resource's attributes (overwriting).
func (r *Record) PutResource(attrs pcommon.Map) {
	for _, a := range r.Resource {
		attrs.PutStr(a.Key, a.Value)
	}
}

// Fill writes body, severity, stream and the other fields into lr, and the record's time when lr
// has none. The attributes lr already holds stay unless a field of the same name replaces them.
func (r *Record) Fill(lr plog.LogRecord) {
	if r.Body != nil {
		Put(r.Body, lr.Body())
	}
	lr.SetSeverityNumber(r.Severity)
	lr.SetSeverityText(r.SeverityText)
	if lr.Timestamp() == 0 && !r.Time.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
	}
	attrs := lr.Attributes()
	if r.Stream != "" {
		attrs.PutStr(AttrStream, r.Stream)
	}
	keys := make([]string, 0, len(r.Attributes))
	for k := range r.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if r.Attributes[k] != nil {
			Put(r.Attributes[k], attrs.PutEmpty(k))
		}
	}
}

// Normalize turns a decoded msgpack or pdata value into string, int64, float64, bool, nil,
// []any or map[string]any: []byte becomes a string (msgpack's raw strings), map keys strings,
// an unsigned integer beyond int64 its decimal text, a time its RFC 3339 text.
func Normalize(v any) any {
	switch v := v.(type) {
	case nil, string, int64, float64, bool:
		return v
	case []byte:
		return string(v)
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint:
		return normUint(uint64(v))
	case uint64:
		return normUint(v)
	case float32:
		return float64(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = Normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[str(Normalize(k))] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = Normalize(e)
		}
		return out
	default:
		return fmt.Sprint(v)
	}
}

func normUint(v uint64) any {
	if v > math.MaxInt64 {
		return fmt.Sprint(v)
	}
	return int64(v)
}

// Put writes a normalized value into dst.
func Put(v any, dst pcommon.Value) {
	switch v := v.(type) {
	case string:
		dst.SetStr(v)
	case int64:
		dst.SetInt(v)
	case float64:
		dst.SetDouble(v)
	case bool:
		dst.SetBool(v)
	case map[string]any:
		m := dst.SetEmptyMap()
		m.EnsureCapacity(len(v))
		for k, e := range v {
			Put(e, m.PutEmpty(k))
		}
	case []any:
		s := dst.SetEmptySlice()
		s.EnsureCapacity(len(v))
		for _, e := range v {
			Put(e, s.AppendEmpty())
		}
	case nil:
	default:
		Put(Normalize(v), dst)
	}
}
