package alertexporter

import (
	"encoding/hex"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/storage/series"
)

// Discard reasons of samples and metrics, the values of the reason label of
// vigil_alert_samples_discarded_total.
const (
	reasonNotNeeded       = "not_needed"        // no rule selects the series
	reasonSeriesLimit     = "series_limit"      // max_series reached
	reasonOutOfOrder      = "out_of_order"      // older than the series' newest sample
	reasonDuplicate       = "duplicate"         // same timestamp, another value
	reasonDelta           = "delta_temporality" // delta sums and histograms (as Prometheus without its delta feature)
	reasonUnsupportedType = "unsupported_type"  // exponential histograms
	reasonInvalidName     = "invalid_name"      // a name the translation cannot make valid
)

// converter turns pmetric data into Prometheus samples, named as Prometheus names OTLP metrics
// (otlptranslator, UnderscoreEscapingWithSuffixes: Prometheus's default OTLP translation).
type converter struct {
	metricNamer otlptranslator.MetricNamer
	labelNamer  otlptranslator.LabelNamer
	promote     []string
	identity    map[string]bool // the labels of the promoted resource attributes: the resource's alone
	now         func() time.Time
	// emit receives every sample; the labels are only valid during the call.
	emit func(l labels.Labels, t int64, f float64)
	// exemplar, if set, receives the exemplars with a trace ID of the data point of each sample,
	// after the sample; the labels are only valid during the call.
	exemplar func(l labels.Labels, e exemplar.Exemplar)
	// discard counts samples (or whole metrics) that are not emitted.
	discard func(reason string, n int)
	// wanted, if set, is asked first whether any rule can select a metric name: samples of
	// other names are discarded (not_needed) before their labels are built.
	wanted func(name string) bool
	// overridden counts the samples built without a data point attribute that named a label the
	// resource sets or an identity label (vigil_alert_identity_overrides_ignored_total).
	overridden int
}

func newConverter(promote []string) *converter {
	c := &converter{
		metricNamer: otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes),
		labelNamer:  otlptranslator.LabelNamer{},
		promote:     promote,
		identity:    map[string]bool{},
		now:         time.Now,
	}
	for _, k := range promote {
		if ln, err := c.labelNamer.Build(k); err == nil && ln != "" {
			c.identity[ln] = true
		}
	}
	return c
}

func (c *converter) convert(md pmetric.Metrics) {
	b := labels.NewScratchBuilder(16)
	for _, rm := range md.ResourceMetrics().All() {
		attrs := rm.Resource().Attributes()
		otlp := point{base: c.resourceLabels(attrs, false)}
		for _, sm := range rm.ScopeMetrics().All() {
			scraped := point{verbatim: true} // base built at the first scraped metric
			for _, m := range sm.Metrics().All() {
				if !isScraped(m) {
					c.metric(&b, &otlp, m)
					continue
				}
				if scraped.base == nil {
					scraped.base = withScopeLabels(c.resourceLabels(attrs, true), sm)
				}
				c.metric(&b, &scraped, m)
			}
		}
	}
}

// The contrib prometheus receiver marks every metric it scraped with its Prometheus type in the
// metric's metadata, and puts the metrics without otel_scope_* labels in its own scope.
const (
	promTypeKey       = "prometheus.type"
	promReceiverScope = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
)

// isScraped reports whether m came from a Prometheus scrape: its name and labels are already
// Prometheus's, and translating them again would change some (a counter without _total would
// get one, "a__b" would become "a_b"). They are kept as they are, as Prometheus stores them.
func isScraped(m pmetric.Metric) bool {
	_, ok := m.Metadata().Get(promTypeKey)
	return ok
}

// withScopeLabels adds to base the otel_scope_* labels that the prometheus receiver took from the
// scraped series to build their scope (Prometheus keeps them as ordinary labels), and returns it.
func withScopeLabels(base map[string]string, sm pmetric.ScopeMetrics) map[string]string {
	scope := sm.Scope()
	if scope.Name() == "" || scope.Name() == promReceiverScope {
		return base
	}
	base["otel_scope_name"] = scope.Name()
	base["otel_scope_version"] = scope.Version()
	base["otel_scope_schema_url"] = sm.SchemaUrl()
	for k, v := range scope.Attributes().All() {
		base["otel_scope_"+k] = v.AsString()
	}
	return base
}

// point is what the samples of one metric share: the resource (and scope) labels, and whether
// names are kept as they are (scraped) or translated (OTLP).
type point struct {
	base     map[string]string
	verbatim bool
}

// resourceLabels are job, instance and the promoted resource attributes. The job of a scraped
// metric is its scrape job, service.name, as it is.
func (c *converter) resourceLabels(attrs pcommon.Map, scraped bool) map[string]string {
	out := map[string]string{}
	name, hasName := attrs.Get("service.name")
	if hasName {
		job := name.AsString()
		if ns, ok := attrs.Get("service.namespace"); ok && ns.AsString() != "" && !scraped {
			job = ns.AsString() + "/" + job
		}
		out[model.JobLabel] = job
	}
	if id, ok := attrs.Get("service.instance.id"); ok {
		out[model.InstanceLabel] = id.AsString()
	}
	for _, k := range c.promote {
		if v, ok := attrs.Get(k); ok {
			if ln, err := c.labelNamer.Build(k); err == nil {
				out[ln] = v.AsString()
			}
		}
	}
	return out
}

func (c *converter) metric(b *labels.ScratchBuilder, p *point, m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		c.numbers(b, p, m, otlptranslator.MetricTypeGauge, m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		s := m.Sum()
		if s.AggregationTemporality() == pmetric.AggregationTemporalityDelta {
			c.discard(reasonDelta, s.DataPoints().Len())
			return
		}
		typ := otlptranslator.MetricType(otlptranslator.MetricTypeNonMonotonicCounter)
		if s.IsMonotonic() {
			typ = otlptranslator.MetricTypeMonotonicCounter
		}
		c.numbers(b, p, m, typ, s.DataPoints())
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		if h.AggregationTemporality() == pmetric.AggregationTemporalityDelta {
			c.discard(reasonDelta, h.DataPoints().Len())
			return
		}
		c.histograms(b, p, m, h.DataPoints())
	case pmetric.MetricTypeSummary:
		c.summaries(b, p, m, m.Summary().DataPoints())
	default:
		c.discard(reasonUnsupportedType, 1)
	}
}

func (c *converter) name(p *point, m pmetric.Metric, typ otlptranslator.MetricType) (string, bool) {
	if p.verbatim {
		return m.Name(), model.UTF8Validation.IsValidMetricName(m.Name())
	}
	n, err := c.metricNamer.Build(otlptranslator.Metric{Name: m.Name(), Unit: m.Unit(), Type: typ})
	return n, err == nil && n != ""
}

func (c *converter) numbers(b *labels.ScratchBuilder, p *point, m pmetric.Metric, typ otlptranslator.MetricType, dps pmetric.NumberDataPointSlice) {
	name, ok := c.name(p, m, typ)
	if !ok {
		c.discard(reasonInvalidName, dps.Len())
		return
	}
	for _, dp := range dps.All() {
		f := dp.DoubleValue()
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			f = float64(dp.IntValue())
		}
		c.sample(b, p, dp.Attributes(), dp.Exemplars(), name, "", "", c.ts(dp.Timestamp()), c.value(dp.Flags(), f))
	}
}

func (c *converter) histograms(b *labels.ScratchBuilder, p *point, m pmetric.Metric, dps pmetric.HistogramDataPointSlice) {
	name, ok := c.name(p, m, otlptranslator.MetricTypeHistogram)
	if !ok {
		c.discard(reasonInvalidName, dps.Len())
		return
	}
	for _, dp := range dps.All() {
		t, flags := c.ts(dp.Timestamp()), dp.Flags()
		attrs := dp.Attributes()
		// The prometheus receiver drops the sum of a stale point: the _sum series it came from
		// needs its staleness marker too.
		if dp.HasSum() || (p.verbatim && flags.NoRecordedValue()) {
			c.sample(b, p, attrs, dp.Exemplars(), name+"_sum", "", "", t, c.value(flags, dp.Sum()))
		}
		c.sample(b, p, attrs, dp.Exemplars(), name+"_count", "", "", t, c.value(flags, float64(dp.Count())))
		var cum uint64
		bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
		for i := 0; i < bounds.Len() && i < counts.Len(); i++ {
			cum += counts.At(i)
			c.sample(b, p, attrs, dp.Exemplars(), name+"_bucket", model.BucketLabel, formatFloat(bounds.At(i)), t, c.value(flags, float64(cum)))
		}
		c.sample(b, p, attrs, dp.Exemplars(), name+"_bucket", model.BucketLabel, "+Inf", t, c.value(flags, float64(dp.Count())))
	}
}

func (c *converter) summaries(b *labels.ScratchBuilder, p *point, m pmetric.Metric, dps pmetric.SummaryDataPointSlice) {
	name, ok := c.name(p, m, otlptranslator.MetricTypeSummary)
	if !ok {
		c.discard(reasonInvalidName, dps.Len())
		return
	}
	for _, dp := range dps.All() {
		t, flags, attrs := c.ts(dp.Timestamp()), dp.Flags(), dp.Attributes()
		c.sample(b, p, attrs, noExemplars, name+"_sum", "", "", t, c.value(flags, dp.Sum()))
		c.sample(b, p, attrs, noExemplars, name+"_count", "", "", t, c.value(flags, float64(dp.Count())))
		for _, q := range dp.QuantileValues().All() {
			c.sample(b, p, attrs, noExemplars, name, model.QuantileLabel, formatFloat(q.Quantile()), t, c.value(flags, q.Value()))
		}
	}
}

// value turns the "no recorded value" flag into a Prometheus staleness marker.
func (*converter) value(flags pmetric.DataPointFlags, f float64) float64 {
	if flags.NoRecordedValue() {
		return math.Float64frombits(value.StaleNaN)
	}
	return f
}

func (c *converter) ts(t pcommon.Timestamp) int64 {
	if t == 0 {
		return c.now().UnixMilli()
	}
	return t.AsTime().UnixMilli()
}

// sample builds the labels: resource labels, then data point attributes (translated; values of
// attributes that translate to the same name are joined with ';', as Prometheus does), then the
// extra label (le, quantile) and the name.
//
// The labels of the resource win: a data point attribute never replaces job, instance or
// otel_scope_* (Prometheus's translation, too, sets job and instance after the attributes), nor
// any label of promote_resource_attributes, whether the resource has that attribute or not
// (here vigil differs from Prometheus, whose promoted attributes yield to data point
// attributes). The identity that clusteridentity enforced on the resource (k8s_cluster_name) and
// the rest of the Kubernetes identity are the resource's: a data point claiming another cluster,
// namespace or pod writes neither into that cluster's series nor into its alerts.
func (c *converter) sample(b *labels.ScratchBuilder, p *point, attrs pcommon.Map, ex pmetric.ExemplarSlice, name, extraName, extraValue string, t int64, f float64) {
	if c.wanted != nil && !c.wanted(name) {
		c.discard(reasonNotNeeded, 1)
		return
	}
	set := make(map[string]string, len(p.base)+attrs.Len()+2)
	for k, v := range p.base {
		set[k] = v
	}
	overridden := false
	for k, v := range attrs.All() {
		ln, ok := c.labelName(p, k)
		if !ok {
			continue
		}
		if _, fromBase := p.base[ln]; fromBase || c.identity[ln] {
			overridden = true
			continue
		}
		if prev, ok := set[ln]; ok && prev != "" {
			set[ln] = prev + ";" + v.AsString()
			continue
		}
		set[ln] = v.AsString()
	}
	if overridden {
		c.overridden++
	}
	if extraName != "" {
		set[extraName] = extraValue
	}
	set[model.MetricNameLabel] = name
	b.Reset()
	for k, v := range set {
		if v != "" {
			b.Add(k, v)
		}
	}
	b.Sort()
	l := b.Labels()
	c.emit(l, t, f)
	if c.exemplar == nil {
		return
	}
	for _, e := range ex.All() {
		if id := e.TraceID(); !id.IsEmpty() {
			v := e.DoubleValue()
			if e.ValueType() == pmetric.ExemplarValueTypeInt {
				v = float64(e.IntValue())
			}
			c.exemplar(l, exemplar.Exemplar{
				Labels: labels.FromStrings(series.TraceIDLabel, hex.EncodeToString(id[:])),
				Value:  v, Ts: c.ts(e.Timestamp()), HasTs: true,
			})
		}
	}
}

// noExemplars is the exemplars of a summary's samples (summaries have none).
var noExemplars = pmetric.NewExemplarSlice()

// labelName is the label of a data point attribute: as it is if scraped and valid, else translated.
func (c *converter) labelName(p *point, k string) (string, bool) {
	if p.verbatim && model.UTF8Validation.IsValidLabelName(k) {
		return k, true
	}
	ln, err := c.labelNamer.Build(k)
	return ln, err == nil && ln != ""
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
