package lokipushexporter

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Stream labels (a bounded set, see README.md) and the attributes they come from.
const (
	LabelCluster     = "cluster"
	LabelNamespace   = "namespace"
	LabelWorkload    = "workload"
	LabelContainer   = "container"
	LabelServiceName = "service_name"
	LabelLevel       = "level"
)

// LabelAttributes maps each stream label, but workload and level, to the resource attribute it
// comes from.
var LabelAttributes = map[string]string{
	LabelCluster:     "k8s.cluster.name",
	LabelNamespace:   "k8s.namespace.name",
	LabelContainer:   "k8s.container.name",
	LabelServiceName: "service.name",
}

// WorkloadAttributes are the resource attributes of the workload label, the first one set wins.
// k8s.workload.name is what the lokipush receiver sets from a workload label.
var WorkloadAttributes = []string{
	"k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name",
	"k8s.cronjob.name", "k8s.job.name", "k8s.workload.name",
}

// Structured metadata with names of their own (the rest keep their attribute name, with every
// character Loki does not allow in a name replaced by '_').
const (
	MetadataTraceID = "trace_id"
	MetadataSpanID  = "span_id"
	MetadataPod     = "pod"
	MetadataNode    = "node"
)

// MetadataAttributes maps resource attributes to the structured metadata named for them.
var MetadataAttributes = map[string]string{
	"k8s.pod.name":  MetadataPod,
	"k8s.node.name": MetadataNode,
}

// Levels are the values of the level label: from the severity number, else the severity text
// when it names one of them; "unknown" otherwise.
var Levels = []string{"trace", "debug", "info", "warn", "error", "fatal", "unknown"}

// Batch is the push request of one tenant.
type Batch struct {
	Tenant  string
	Request push.PushRequest
	Entries int
}

// Convert groups the records of ld into one push request per tenant, with streams sorted by
// their labels and entries by time (stable). tenant returns the tenant of a cluster.
func Convert(ld plog.Logs, tenant func(cluster string) string, now time.Time) []Batch {
	type stream struct {
		labels  string
		entries []push.Entry
	}
	byTenant := map[string]map[string]*stream{}
	names := nameCache{}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		base, resMeta := resourceLabels(res, names)
		t := tenant(base[LabelCluster])
		streams := byTenant[t]
		if streams == nil {
			streams = map[string]*stream{}
			byTenant[t] = streams
		}
		// The resource's streams, one per level: labels built once per resource and level.
		var byLevel [levelUnknown + 1]*stream
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				lvl := levelIndex(lr)
				s := byLevel[lvl]
				if s == nil {
					lbls := make(map[string]string, len(base)+1)
					for n, v := range base {
						lbls[n] = v
					}
					lbls[LabelLevel] = Levels[lvl]
					key := labelString(lbls)
					if s = streams[key]; s == nil {
						s = &stream{labels: key}
						streams[key] = s
					}
					byLevel[lvl] = s
				}
				s.entries = append(s.entries, entry(lr, resMeta, now, names))
			}
		}
	}
	tenants := make([]string, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	out := make([]Batch, 0, len(tenants))
	for _, t := range tenants {
		b := Batch{Tenant: t}
		keys := make([]string, 0, len(byTenant[t]))
		for k := range byTenant[t] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s := byTenant[t][k]
			byTime := func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) }
			if !slices.IsSortedFunc(s.entries, byTime) {
				slices.SortStableFunc(s.entries, byTime)
			}
			b.Request.Streams = append(b.Request.Streams, push.Stream{Labels: s.labels, Entries: s.entries})
			b.Entries += len(s.entries)
		}
		out = append(out, b)
	}
	return out
}

// resourceLabels returns the stream labels of a resource and its other attributes as
// structured metadata.
func resourceLabels(res pcommon.Map, names nameCache) (map[string]string, push.LabelsAdapter) {
	lbls := map[string]string{}
	var meta push.LabelsAdapter
	used := map[string]bool{}
	for l, a := range LabelAttributes {
		if v, ok := res.Get(a); ok && v.AsString() != "" {
			lbls[l] = v.AsString()
		}
		used[a] = true
	}
	for _, a := range WorkloadAttributes {
		if v, ok := res.Get(a); ok && v.AsString() != "" {
			if _, set := lbls[LabelWorkload]; !set {
				lbls[LabelWorkload] = v.AsString()
				used[a] = true
			}
		}
	}
	res.Range(func(k string, v pcommon.Value) bool {
		if used[k] {
			return true
		}
		meta = append(meta, push.LabelAdapter{Name: names.of(k), Value: v.AsString()})
		return true
	})
	if _, ok := lbls[LabelServiceName]; !ok {
		lbls[LabelServiceName] = "unknown_service" // as Loki's own OTLP ingestion names it
	}
	return lbls, meta
}

// entry is the Loki entry of a record: its body as the line (maps and slices as JSON), its
// time (else its observed time, else now), and as structured metadata the resource's other
// attributes, the record's attributes, trace_id and span_id.
func entry(lr plog.LogRecord, resMeta push.LabelsAdapter, now time.Time, names nameCache) push.Entry {
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	t := now
	if ts != 0 {
		t = ts.AsTime()
	}
	meta := make(push.LabelsAdapter, 0, len(resMeta)+lr.Attributes().Len()+2)
	meta = append(meta, resMeta...)
	lr.Attributes().Range(func(k string, v pcommon.Value) bool {
		meta = append(meta, push.LabelAdapter{Name: names.of(k), Value: v.AsString()})
		return true
	})
	if id := lr.TraceID(); !id.IsEmpty() {
		meta = append(meta, push.LabelAdapter{Name: MetadataTraceID, Value: id.String()})
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		meta = append(meta, push.LabelAdapter{Name: MetadataSpanID, Value: id.String()})
	}
	slices.SortStableFunc(meta, func(a, b push.LabelAdapter) int { return strings.Compare(a.Name, b.Name) })
	// A name given twice (a record attribute named as a resource one): the record's value wins.
	out := meta[:0]
	for i, m := range meta {
		if i+1 < len(meta) && meta[i+1].Name == m.Name {
			continue
		}
		out = append(out, m)
	}
	meta = out
	return push.Entry{Timestamp: t, Line: line(lr.Body()), StructuredMetadata: meta}
}

func line(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		b, err := json.Marshal(v.AsRaw())
		if err == nil {
			return string(b)
		}
	}
	return v.AsString()
}

// Level is the value of the level label of a record: trace, debug, info, warn, error, fatal or
// unknown (see the README's label mapping). The evidence processor keeps the records Loki will
// label warn, error or fatal, so that its Grafana links select the same lines.
func Level(lr plog.LogRecord) string { return Levels[levelIndex(lr)] }

// Indexes in Levels.
const (
	levelTrace = iota
	levelDebug
	levelInfo
	levelWarn
	levelError
	levelFatal
	levelUnknown
)

// levelIndex is the index in Levels of the level of a record.
func levelIndex(lr plog.LogRecord) int {
	switch n := lr.SeverityNumber(); {
	case n >= plog.SeverityNumberFatal:
		return levelFatal
	case n >= plog.SeverityNumberError:
		return levelError
	case n >= plog.SeverityNumberWarn:
		return levelWarn
	case n >= plog.SeverityNumberInfo:
		return levelInfo
	case n >= plog.SeverityNumberDebug:
		return levelDebug
	case n >= plog.SeverityNumberTrace:
		return levelTrace
	}
	switch t := strings.ToLower(strings.TrimSpace(lr.SeverityText())); t {
	case "trace":
		return levelTrace
	case "debug":
		return levelDebug
	case "info", "information", "notice":
		return levelInfo
	case "warn", "warning":
		return levelWarn
	case "error", "err":
		return levelError
	case "fatal", "critical", "crit", "panic", "emergency", "alert":
		return levelFatal
	}
	return levelUnknown
}

// nameCache holds the structured metadata names of the attribute names seen in one Convert, so
// that each is sanitized once per batch, not once per record.
type nameCache map[string]string

func (c nameCache) of(attr string) string {
	if n, ok := c[attr]; ok {
		return n
	}
	n := metadataName(attr)
	c[attr] = n
	return n
}

// metadataName is the structured metadata name of an attribute.
func metadataName(attr string) string {
	if n, ok := MetadataAttributes[attr]; ok {
		return n
	}
	return SanitizeName(attr)
}

// SanitizeName turns an attribute name into a Loki label or structured metadata name: every
// character but letters, digits and '_' becomes '_', and a leading digit gets a '_' before it.
func SanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// labelString is the Prometheus form of a label set, names sorted: {a="1", b="2"}.
func labelString(lbls map[string]string) string {
	names := make([]string, 0, len(lbls))
	for n := range lbls {
		names = append(names, n)
	}
	slices.Sort(names)
	var sb strings.Builder
	sb.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(n)
		sb.WriteByte('=')
		sb.WriteString(strconv.Quote(lbls[n]))
	}
	sb.WriteByte('}')
	return sb.String()
}
