package promrwreceiver

import (
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
	md := pmetric.NewMetrics()
	resources := map[string]pmetric.MetricSlice{}
	metrics := make(map[string]pmetric.Metric, len(ss)) // at most one per series: no rehashing
	unsupported := 0
	// Buffers reused from series to series: a batch of thousands of series shares a few
	// resources, so a key is only turned into a string when it is new (map lookups by
	// string(bytes) do not allocate).
	var key, mkey []byte
	dpLabels := make([]labels.Label, 0, 16)
	idLabels := make([]labels.Label, 0, 16)
	for i := range ss {
		s := &ss[i]
		key, dpLabels, idLabels = key[:0], dpLabels[:0], idLabels[:0]
		name := "" // the first __name__, as labels.Get finds it on the checked series
		s.labels.Range(func(l labels.Label) {
			if l.Name == model.MetricNameLabel {
				if name == "" {
					name = l.Value
				}
				return
			}
			if isIdentity(l.Name) {
				idLabels = append(idLabels, l)
				key = append(key, l.Name...)
				key = append(key, 0)
				key = append(key, l.Value...)
				key = append(key, 0)
			} else {
				dpLabels = append(dpLabels, l)
			}
		})
		ms, ok := resources[string(key)]
		rkey := key
		if !ok {
			rm := md.ResourceMetrics().AppendEmpty()
			attrs := rm.Resource().Attributes()
			for _, l := range idLabels {
				attrs.PutStr(attributeOf(l.Name), l.Value)
			}
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(scopeName)
			ms = sm.Metrics()
			resources[string(key)] = ms
		}
		kind := kindOf(name, s.typ)
		if len(s.samples) > 0 {
			var m pmetric.Metric
			m, mkey = metricFor(metrics, mkey, ms, rkey, name, kind, s)
			var dps pmetric.NumberDataPointSlice
			if kind == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			var last pmetric.NumberDataPoint
			for _, smp := range s.samples {
				dp := dps.AppendEmpty()
				putAttributes(dp.Attributes(), dpLabels)
				dp.SetTimestamp(pcommon.Timestamp(smp.t * 1e6))
				dp.SetDoubleValue(smp.v)
				if value.IsStaleNaN(smp.v) {
					dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				}
				last = dp
			}
			putExemplars(last.Exemplars(), s.exemplars)
		}
		if len(s.hists) > 0 {
			var m pmetric.Metric
			m, mkey = metricFor(metrics, mkey, ms, rkey, name, pmetric.MetricTypeExponentialHistogram, s)
			dps := m.ExponentialHistogram().DataPoints()
			for _, h := range s.hists {
				if !convertible(h.fh) {
					unsupported++
					continue
				}
				dp := dps.AppendEmpty()
				putAttributes(dp.Attributes(), dpLabels)
				dp.SetTimestamp(pcommon.Timestamp(h.t * 1e6))
				exponential(dp, h.fh)
				if len(s.samples) == 0 {
					putExemplars(dp.Exemplars(), s.exemplars)
				}
			}
		}
	}
	return md, unsupported
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
// buf is a key buffer reused across calls; it is returned for the next call.
func metricFor(metrics map[string]pmetric.Metric, buf []byte, ms pmetric.MetricSlice, rkey []byte, name string, kind pmetric.MetricType, s *series) (pmetric.Metric, []byte) {
	buf = append(append(append(append(buf[:0], rkey...), 0xff), name...), 0xff, byte(kind))
	if m, ok := metrics[string(buf)]; ok {
		return m, buf
	}
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(s.help)
	typ := string(s.typ)
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
	metrics[string(buf)] = m
	return m, buf
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
