package promrwreceiver

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/internal/promlabels"
)

// promTypeKey marks each metric with its Prometheus type, as the contrib prometheus receiver
// does: the alert core then keeps names and labels as Prometheus wrote them.
const promTypeKey = "prometheus.type"

// scopeName is the instrumentation scope of the metrics the receiver builds.
const scopeName = "github.com/vigil-obs/vigil/receivers/promrwreceiver"

// toMetrics turns series into OTLP metrics. The identity labels (job, instance and the labels of
// promlabels.Identity) become resource attributes, one resource per distinct identity; the other
// labels become data point attributes. Counters (by metadata, or by a _total suffix without
// metadata) become cumulative monotonic sums; the _bucket, _sum and _count series of classic
// histograms and summaries, cumulative sums; native histograms, exponential histograms; the rest
// gauges. It returns how many native histogram samples it could not convert.
func toMetrics(ss []series) (pmetric.Metrics, int) {
	c := newConverter(len(ss))
	for i := range ss {
		c.addSeries(&ss[i])
	}
	return c.md, c.unsupported
}

// converter builds the OTLP metrics of one request, series after series: one resource per
// distinct identity, one metric per (resource, name, kind), its data points in series order.
// Both the decoded series (addSeries) and the RW 1.0 wire series (convertV1) go through it, so
// a request mixing both comes out as if all had been decoded.
type converter struct {
	md          pmetric.Metrics
	resources   map[string]resource
	metrics     map[metricKey]pmetric.Metric
	names       map[string]string // the metric names, copied once for all resources
	unsupported int               // native histogram samples not converted
	// Buffers reused from series to series: a batch of thousands of series shares a few
	// resources, so a key is only turned into a string when it is new (map lookups by
	// string(bytes) do not allocate).
	key      []byte
	dpLabels []labels.Label
	idLabels []labels.Label
	// The resource of the series before, and its key: consecutive series are often of one
	// target.
	last    resource
	lastKey []byte
}

// resource is one resource of the request: its metrics, and its number, which metric keys
// name it by.
type resource struct {
	ms pmetric.MetricSlice
	n  int
}

// metricKey names a metric in the request: its resource, its name (the copy the metric holds)
// and its kind.
type metricKey struct {
	resource int
	name     string
	kind     pmetric.MetricType
}

func newConverter(series int) *converter {
	return &converter{
		md:        pmetric.NewMetrics(),
		resources: map[string]resource{},
		metrics:   make(map[metricKey]pmetric.Metric, series), // at most one per series: no rehashing
		names:     map[string]string{},
		dpLabels:  make([]labels.Label, 0, 16),
		idLabels:  make([]labels.Label, 0, 16),
		last:      resource{n: -1},
	}
}

// resource returns the resource whose identity labels are c.idLabels (keyed by c.key), adding
// it the first time.
func (c *converter) resource() resource {
	if r, ok := c.lookupResource(); ok {
		return r
	}
	return c.addResource()
}

// lookupResource returns the resource of key c.key if the request has it.
func (c *converter) lookupResource() (resource, bool) {
	if c.last.n >= 0 && bytes.Equal(c.key, c.lastKey) {
		return c.last, true
	}
	r, ok := c.resources[string(c.key)]
	if ok {
		c.last, c.lastKey = r, append(c.lastKey[:0], c.key...)
	}
	return r, ok
}

// addResource adds the resource of key c.key and identity labels c.idLabels.
func (c *converter) addResource() resource {
	rm := c.md.ResourceMetrics().AppendEmpty()
	attrs := rm.Resource().Attributes()
	attrs.EnsureCapacity(len(c.idLabels))
	for _, l := range c.idLabels {
		attrs.PutStr(attributeOf(l.Name), strings.Clone(l.Value))
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	r := resource{ms: sm.Metrics(), n: len(c.resources)}
	c.resources[string(c.key)] = r
	c.last, c.lastKey = r, append(c.lastKey[:0], c.key...)
	return r
}

// addSeries converts one decoded (checked, stamped) series.
func (c *converter) addSeries(s *series) {
	c.key, c.dpLabels, c.idLabels = c.key[:0], c.dpLabels[:0], c.idLabels[:0]
	name := "" // the first __name__, as labels.Get finds it on the checked series
	s.labels.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			if name == "" {
				name = l.Value
			}
			return
		}
		if isIdentity(l.Name) {
			c.idLabels = append(c.idLabels, l)
			c.key = appendKey(c.key, l.Name, l.Value)
		} else {
			c.dpLabels = append(c.dpLabels, l)
		}
	})
	ms := c.resource()
	kind := kindOf(name, s.typ)
	if len(s.samples) > 0 {
		m := c.metricFor(ms, name, kind, s.typ, s.help)
		var dps pmetric.NumberDataPointSlice
		if kind == pmetric.MetricTypeSum {
			dps = m.Sum().DataPoints()
		} else {
			dps = m.Gauge().DataPoints()
		}
		var last pmetric.NumberDataPoint
		for _, smp := range s.samples {
			dp := dps.AppendEmpty()
			putAttributes(dp.Attributes(), c.dpLabels)
			setSample(dp, smp)
			last = dp
		}
		putExemplars(last.Exemplars(), s.exemplars)
	}
	if len(s.hists) > 0 {
		m := c.metricFor(ms, name, pmetric.MetricTypeExponentialHistogram, s.typ, s.help)
		dps := m.ExponentialHistogram().DataPoints()
		for _, h := range s.hists {
			if !convertible(h.fh) {
				c.unsupported++
				continue
			}
			dp := dps.AppendEmpty()
			putAttributes(dp.Attributes(), c.dpLabels)
			dp.SetTimestamp(pcommon.Timestamp(h.t * 1e6))
			exponential(dp, h.fh)
			if len(s.samples) == 0 {
				putExemplars(dp.Exemplars(), s.exemplars)
			}
		}
	}
}

func setSample(dp pmetric.NumberDataPoint, smp sample) {
	dp.SetTimestamp(pcommon.Timestamp(smp.t * 1e6))
	dp.SetDoubleValue(smp.v)
	if value.IsStaleNaN(smp.v) {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
}

// appendKey appends one identity label to a resource key.
func appendKey(key []byte, name, value string) []byte {
	key = append(key, name...)
	key = append(key, 0)
	key = append(key, value...)
	return append(key, 0)
}

func isIdentity(name string) bool {
	if name == model.JobLabel || name == model.InstanceLabel {
		return true
	}
	_, ok := promlabels.AttributeOf(name)
	return ok
}

func attributeOf(label string) string {
	switch label {
	case model.JobLabel:
		return "service.name"
	case model.InstanceLabel:
		return "service.instance.id"
	}
	a, _ := promlabels.AttributeOf(label)
	return a
}

func kindOf(name string, typ model.MetricType) pmetric.MetricType {
	switch typ {
	case model.MetricTypeCounter:
		return pmetric.MetricTypeSum
	case model.MetricTypeHistogram, model.MetricTypeSummary, model.MetricTypeGaugeHistogram:
		if strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count") {
			return pmetric.MetricTypeSum
		}
		return pmetric.MetricTypeGauge
	case "":
		if strings.HasSuffix(name, "_total") {
			return pmetric.MetricTypeSum
		}
	}
	return pmetric.MetricTypeGauge
}

// metricFor returns the metric of that name and kind in the resource, adding it the first time.
// name may point into the request: the metric holds a copy.
func (c *converter) metricFor(r resource, name string, kind pmetric.MetricType, mtyp model.MetricType, help string) pmetric.Metric {
	if m, ok := c.metrics[metricKey{resource: r.n, name: name, kind: kind}]; ok {
		return m
	}
	if owned, ok := c.names[name]; ok { // the same name in another resource
		name = owned
	} else {
		name = strings.Clone(name)
		c.names[name] = name
	}
	m := r.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(help)
	typ := string(mtyp)
	if typ == "" {
		typ = string(model.MetricTypeUnknown)
		if kind == pmetric.MetricTypeSum && strings.HasSuffix(name, "_total") {
			typ = string(model.MetricTypeCounter)
		}
	}
	m.Metadata().PutStr(promTypeKey, typ)
	switch kind {
	case pmetric.MetricTypeSum:
		m.SetEmptySum().SetIsMonotonic(true)
		m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case pmetric.MetricTypeExponentialHistogram:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	default:
		m.SetEmptyGauge()
	}
	c.metrics[metricKey{resource: r.n, name: name, kind: kind}] = m
	return m
}

func putAttributes(attrs pcommon.Map, ls []labels.Label) {
	attrs.EnsureCapacity(len(ls))
	for _, l := range ls {
		attrs.PutStr(l.Name, l.Value)
	}
}

// putExemplars keeps trace_id and span_id (hex) as the exemplar's trace and span, the other
// labels as its filtered attributes.
func putExemplars(dst pmetric.ExemplarSlice, exs []exemplar) {
	for _, ex := range exs {
		e := dst.AppendEmpty()
		e.SetTimestamp(pcommon.Timestamp(ex.t * 1e6))
		e.SetDoubleValue(ex.v)
		ex.labels.Range(func(l labels.Label) {
			switch l.Name {
			case "trace_id":
				var id pcommon.TraceID
				if b, err := hex.DecodeString(l.Value); err == nil && len(b) == len(id) {
					copy(id[:], b)
					e.SetTraceID(id)
					return
				}
			case "span_id":
				var id pcommon.SpanID
				if b, err := hex.DecodeString(l.Value); err == nil && len(b) == len(id) {
					copy(id[:], b)
					e.SetSpanID(id)
					return
				}
			}
			e.FilteredAttributes().PutStr(l.Name, l.Value)
		})
	}
}

// maxBucketRange bounds the OTLP buckets (zeros included) that one native histogram may expand
// to: the index range its spans cover. Real ones cover a few thousand at most (schema 8 from 1 ms
// to 1000 s is 5,120); a hostile one could ask for billions.
const maxBucketRange = 1 << 16

// convertible: OTLP exponential histograms have the standard exponential schemas only; the
// spans must agree with the buckets (histogram.FloatHistogram.Validate) and cover at most
// maxBucketRange indexes.
func convertible(fh *histogram.FloatHistogram) bool {
	if fh.Schema < histogram.ExponentialSchemaMin || fh.Schema > histogram.ExponentialSchemaMax || fh.Validate() != nil {
		return false
	}
	return spanRange(fh.PositiveSpans) <= maxBucketRange && spanRange(fh.NegativeSpans) <= maxBucketRange
}

// spanRange is the number of bucket indexes from the first bucket of spans to the last.
func spanRange(spans []histogram.Span) int64 {
	var n int64
	for i, sp := range spans {
		if i > 0 {
			if sp.Offset < 0 {
				return math.MaxInt64
			}
			n += int64(sp.Offset)
		}
		n += int64(sp.Length)
	}
	return n
}

// exponential fills dp from a native histogram. Prometheus's bucket i covers
// (base^(i-1), base^i], OTLP's bucket i covers (base^i, base^(i+1)]: indexes shift by one.
func exponential(dp pmetric.ExponentialHistogramDataPoint, fh *histogram.FloatHistogram) {
	dp.SetScale(fh.Schema)
	dp.SetCount(uint64(fh.Count))
	dp.SetSum(fh.Sum)
	dp.SetZeroCount(uint64(fh.ZeroCount))
	dp.SetZeroThreshold(fh.ZeroThreshold)
	if value.IsStaleNaN(fh.Sum) {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
	buckets(dp.Positive(), fh.PositiveSpans, fh.PositiveBuckets)
	buckets(dp.Negative(), fh.NegativeSpans, fh.NegativeBuckets)
}

func buckets(dst pmetric.ExponentialHistogramDataPointBuckets, spans []histogram.Span, counts []float64) {
	if len(spans) == 0 || len(counts) == 0 {
		return
	}
	first := spans[0].Offset
	dst.SetOffset(first - 1)
	out := dst.BucketCounts()
	idx, c := first, 0
	for si, sp := range spans {
		if si > 0 {
			idx += sp.Offset
		}
		for j := uint32(0); j < sp.Length && c < len(counts); j++ {
			for int32(out.Len()) < idx-first {
				out.Append(0)
			}
			out.Append(uint64(counts[c]))
			c++
			idx++
		}
	}
}
