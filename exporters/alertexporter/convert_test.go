package alertexporter

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

type emitted struct {
	series string
	t      int64
	f      float64
}

func convertAll(t *testing.T, md pmetric.Metrics, wanted func(string) bool) ([]emitted, map[string]int) {
	t.Helper()
	c := newConverter([]string{"k8s.cluster.name"})
	c.now = func() time.Time { return time.UnixMilli(99_000) }
	c.wanted = wanted
	var out []emitted
	discarded := map[string]int{}
	c.emit = func(l labels.Labels, ts int64, f float64) { out = append(out, emitted{l.String(), ts, f}) }
	c.discard = func(r string, n int) { discarded[r] += n }
	c.convert(md)
	sort.Slice(out, func(i, j int) bool { return out[i].series < out[j].series })
	return out, discarded
}

func newMetric(md pmetric.Metrics, name, unit string) pmetric.Metric {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.namespace", "db")
	rm.Resource().Attributes().PutStr("service.name", "postgres")
	rm.Resource().Attributes().PutStr("service.instance.id", "pg-0:9187")
	rm.Resource().Attributes().PutStr("k8s.cluster.name", "eu")
	rm.Resource().Attributes().PutStr("host.name", "not promoted")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	return m
}

const base = `instance="pg-0:9187", job="db/postgres", k8s_cluster_name="eu"`

func TestConvertNamesAndTypes(t *testing.T) {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(time.UnixMilli(5_000))

	g := newMetric(md, "node.filesystem.avail", "By").SetEmptyGauge().DataPoints().AppendEmpty()
	g.SetIntValue(1024)
	g.SetTimestamp(ts)
	g.Attributes().PutStr("mount.point", "/data")

	c := newMetric(md, "http.requests", "1").SetEmptySum()
	c.SetIsMonotonic(true)
	c.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cdp := c.DataPoints().AppendEmpty()
	cdp.SetDoubleValue(7)
	// no timestamp: the time of arrival

	u := newMetric(md, "queue.depth", "").SetEmptySum()
	u.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	udp := u.DataPoints().AppendEmpty()
	udp.SetIntValue(3)
	udp.SetTimestamp(ts)
	udp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	d := newMetric(md, "deltas", "").SetEmptySum()
	d.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	d.DataPoints().AppendEmpty().SetIntValue(1)

	h := newMetric(md, "rpc.duration", "s").SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts)
	hdp.SetCount(10)
	hdp.SetSum(4.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{3, 5, 2})

	s := newMetric(md, "gc.pause", "s").SetEmptySummary().DataPoints().AppendEmpty()
	s.SetTimestamp(ts)
	s.SetCount(2)
	s.SetSum(0.5)
	q := s.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(0.4)

	newMetric(md, "exp", "").SetEmptyExponentialHistogram().DataPoints().AppendEmpty()

	out, discarded := convertAll(t, md, nil)
	require.Equal(t, map[string]int{reasonDelta: 1, reasonUnsupportedType: 1}, discarded)
	stale := math.Float64frombits(value.StaleNaN)
	want := []emitted{
		{`{__name__="gc_pause_seconds", ` + base + `, quantile="0.99"}`, 5000, 0.4},
		{`{__name__="gc_pause_seconds_count", ` + base + `}`, 5000, 2},
		{`{__name__="gc_pause_seconds_sum", ` + base + `}`, 5000, 0.5},
		{`{__name__="http_requests_total", ` + base + `}`, 99_000, 7},
		{`{__name__="node_filesystem_avail_bytes", ` + base + `, mount_point="/data"}`, 5000, 1024},
		{`{__name__="queue_depth", ` + base + `}`, 5000, stale},
		{`{__name__="rpc_duration_seconds_bucket", ` + base + `, le="+Inf"}`, 5000, 10},
		{`{__name__="rpc_duration_seconds_bucket", ` + base + `, le="0.1"}`, 5000, 3},
		{`{__name__="rpc_duration_seconds_bucket", ` + base + `, le="1"}`, 5000, 8},
		{`{__name__="rpc_duration_seconds_count", ` + base + `}`, 5000, 10},
		{`{__name__="rpc_duration_seconds_sum", ` + base + `}`, 5000, 4.5},
	}
	require.Len(t, out, len(want))
	for i := range want {
		require.Equal(t, want[i].series, out[i].series)
		require.Equal(t, want[i].t, out[i].t, want[i].series)
		require.Equal(t, math.Float64bits(want[i].f), math.Float64bits(out[i].f), want[i].series)
	}
}

func TestConvertSkipsUnwantedNamesAndJoinsCollidingLabels(t *testing.T) {
	md := pmetric.NewMetrics()
	dp := newMetric(md, "temp", "").SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(1)
	dp.SetTimestamp(1_000_000)
	dp.Attributes().PutStr("a.b", "x")
	dp.Attributes().PutStr("a_b", "y")
	newMetric(md, "other", "").SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(2)
	out, discarded := convertAll(t, md, func(n string) bool { return n == "temp" })
	require.Equal(t, map[string]int{reasonNotNeeded: 1}, discarded)
	require.Len(t, out, 1)
	// Attribute order in a pcommon.Map is insertion order: x then y.
	require.Equal(t, `{__name__="temp", a_b="x;y", `+base+`}`, out[0].series)
}

// scrapedMetric is a metric as the contrib prometheus receiver makes it: resource from the
// target (service.name = job, service.instance.id = instance), prometheus.type metadata.
func scrapedMetric(md pmetric.Metrics, scope, name, promType string) pmetric.Metric {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "node")
	rm.Resource().Attributes().PutStr("service.namespace", "ignored for scraped metrics")
	rm.Resource().Attributes().PutStr("service.instance.id", "10.0.0.1:9100")
	rm.Resource().Attributes().PutStr("server.address", "10.0.0.1")
	rm.Resource().Attributes().PutStr("k8s.cluster.name", "eu")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scope)
	sm.Scope().SetVersion("0.162.0")
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.Metadata().PutStr(promTypeKey, promType)
	return m
}

func TestConvertScrapedKeepsPrometheusNames(t *testing.T) {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(time.UnixMilli(5_000))
	number := func(dps pmetric.NumberDataPointSlice, v float64, attrs ...string) pmetric.NumberDataPoint {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(v)
		dp.SetTimestamp(ts)
		for i := 0; i+1 < len(attrs); i += 2 {
			dp.Attributes().PutStr(attrs[i], attrs[i+1])
		}
		return dp
	}
	sum := func(m pmetric.Metric) pmetric.NumberDataPointSlice {
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s.DataPoints()
	}
	// A counter without _total, and one with: neither changes. A unit (from OpenMetrics' # UNIT)
	// adds no suffix.
	number(sum(scrapedMetric(md, promReceiverScope, "node_jobs", "counter")), 3)
	withUnit := scrapedMetric(md, promReceiverScope, "http_requests_total", "counter")
	withUnit.SetUnit("1")
	number(sum(withUnit), 7, "code", "200")
	// Colons, double underscores, a label starting with an underscore, a UTF-8 label.
	number(scrapedMetric(md, promReceiverScope, "job:rate5m", "gauge").SetEmptyGauge().DataPoints(), 0.5,
		"a__b", "x", "_hidden", "y", "dotted.name", "z")
	number(scrapedMetric(md, promReceiverScope, "up", "gauge").SetEmptyGauge().DataPoints(), 0)
	stale := number(scrapedMetric(md, promReceiverScope, "node_load1", "gauge").SetEmptyGauge().DataPoints(), 0)
	stale.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	// otel_scope_* labels of the scraped series became the scope: they come back.
	scoped := scrapedMetric(md, "my.lib", "lib_calls_total", "counter")
	scoped.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	scoped.Sum().SetIsMonotonic(true)
	number(scoped.Sum().DataPoints(), 2)
	md.ResourceMetrics().At(md.ResourceMetrics().Len()-1).ScopeMetrics().At(0).Scope().Attributes().PutStr("tier", "gold")
	// A name Prometheus could not have stored.
	number(scrapedMetric(md, promReceiverScope, "bad\xff", "gauge").SetEmptyGauge().DataPoints(), 1)

	out, discarded := convertAll(t, md, nil)
	require.Equal(t, map[string]int{reasonInvalidName: 1}, discarded)
	const target = `instance="10.0.0.1:9100", job="node", k8s_cluster_name="eu"`
	want := []emitted{
		{`{__name__="http_requests_total", code="200", ` + target + `}`, 5000, 7},
		{`{__name__="job:rate5m", _hidden="y", a__b="x", "dotted.name"="z", ` + target + `}`, 5000, 0.5},
		{`{__name__="lib_calls_total", ` + target + `, otel_scope_name="my.lib", otel_scope_tier="gold", otel_scope_version="0.162.0"}`, 5000, 2},
		{`{__name__="node_jobs", ` + target + `}`, 5000, 3},
		{`{__name__="node_load1", ` + target + `}`, 5000, math.Float64frombits(value.StaleNaN)},
		{`{__name__="up", ` + target + `}`, 5000, 0},
	}
	require.Len(t, out, len(want), "%v", out)
	for i := range want {
		require.Equal(t, want[i].series, out[i].series)
		require.Equal(t, math.Float64bits(want[i].f), math.Float64bits(out[i].f), want[i].series)
	}
}

// TestScrapedMarkSurvivesOTLP: the agent forwards scraped metrics to the gateway over OTLP; the
// prometheus.type metadata that marks them travels in the OTLP Metric.metadata field.
func TestScrapedMarkSurvivesOTLP(t *testing.T) {
	md := pmetric.NewMetrics()
	scrapedMetric(md, promReceiverScope, "node_jobs", "counter").SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	got, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
	require.NoError(t, err)
	require.True(t, isScraped(got.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)))
}

// Exemplars with a trace ID follow the samples of their data point: a gauge's series, and every
// series of a histogram's point (the rule may select _bucket, _count or _sum); summaries have none.
func TestConvertHandsOnExemplars(t *testing.T) {
	md := pmetric.NewMetrics()
	g := newMetric(md, "queue.depth", "")
	gdp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gdp.SetDoubleValue(3)
	e := gdp.Exemplars().AppendEmpty()
	e.SetTraceID(pcommon.TraceID{0x4b, 0xf9, 1})
	e.SetIntValue(3)
	gdp.Exemplars().AppendEmpty().SetDoubleValue(1) // no trace ID: not handed on
	h := newMetric(md, "rpc.duration", "s")
	h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.Histogram().DataPoints().AppendEmpty()
	hdp.ExplicitBounds().FromRaw([]float64{0.1})
	hdp.BucketCounts().FromRaw([]uint64{1, 1})
	hdp.SetCount(2)
	hdp.SetSum(0.3)
	hdp.Exemplars().AppendEmpty().SetTraceID(pcommon.TraceID{0x0a, 2})

	c := newConverter(nil)
	c.emit = func(labels.Labels, int64, float64) {}
	c.discard = func(string, int) {}
	got := map[string]string{}
	c.exemplar = func(l labels.Labels, ex exemplar.Exemplar) {
		got[l.Get("__name__")+l.Get("le")] = ex.Labels.Get("trace_id")
	}
	c.convert(md)
	require.Equal(t, map[string]string{
		"queue_depth":                     "4bf90100000000000000000000000000",
		"rpc_duration_seconds_sum":        "0a020000000000000000000000000000",
		"rpc_duration_seconds_count":      "0a020000000000000000000000000000",
		"rpc_duration_seconds_bucket0.1":  "0a020000000000000000000000000000",
		"rpc_duration_seconds_bucket+Inf": "0a020000000000000000000000000000",
	}, got)
}
