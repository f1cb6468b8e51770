package redconnector

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/otlptranslator"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// harness is a connector with a clock the test moves, its telemetry and the metrics it sends on.
type harness struct {
	c    *red
	tel  *componenttest.Telemetry
	sink *consumertest.MetricsSink
	now  time.Time
}

func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig()
	if mod != nil {
		mod(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{tel: componenttest.NewTelemetry(), sink: &consumertest.MetricsSink{}, now: time.Unix(1_700_000_000, 0)}
	set := connectortest.NewNopSettings(Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	set.Resource.Attributes().PutStr("service.instance.id", "gateway-0")
	c, err := newConnector(set, cfg, h.sink)
	require.NoError(t, err)
	c.now = func() time.Time { return h.now }
	h.c = c
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	return h
}

// span is one span to send, in the resource of its service, cluster and pod.
type span struct {
	service, cluster, pod string
	name                  string
	kind                  ptrace.SpanKind
	status                ptrace.StatusCode
	trace, id             byte // IDs: 16 (8) times this byte; 0 is the empty ID
	duration              time.Duration
	traceState            string
}

func traceID(b byte) (id pcommon.TraceID) {
	if b != 0 {
		for i := range id {
			id[i] = b
		}
	}
	return id
}

func spanID(b byte) (id pcommon.SpanID) {
	if b != 0 {
		for i := range id {
			id[i] = b
		}
	}
	return id
}

// batch puts the spans in one resource per (service, cluster, pod), in order of appearance; a
// span with no service has a resource without service.name.
func batch(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	res := map[string]ptrace.SpanSlice{}
	for _, s := range spans {
		k := s.service + "/" + s.cluster + "/" + s.pod
		ss, ok := res[k]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			a := rs.Resource().Attributes()
			if s.service != "" {
				a.PutStr("service.name", s.service)
			}
			a.PutStr("k8s.cluster.name", s.cluster)
			a.PutStr("k8s.namespace.name", "shop")
			if s.pod != "" {
				a.PutStr("k8s.pod.name", s.pod)
			}
			ss = rs.ScopeSpans().AppendEmpty().Spans()
			res[k] = ss
		}
		sp := ss.AppendEmpty()
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.Status().SetCode(s.status)
		sp.SetTraceID(traceID(s.trace))
		sp.SetSpanID(spanID(s.id))
		sp.TraceState().FromRaw(s.traceState)
		sp.SetStartTimestamp(1_700_000_000_000_000_000)
		sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + s.duration.Nanoseconds()))
	}
	return td
}

func (h *harness) send(t testing.TB, spans ...span) {
	t.Helper()
	require.NoError(t, h.c.ConsumeTraces(context.Background(), batch(spans...)))
}

// point is one series of one flush: the calls data point and the duration data point.
type point struct {
	resource  map[string]any
	attrs     map[string]any
	calls     int64
	count     uint64
	sum       float64
	buckets   []uint64
	exemplars []string // trace IDs of the duration exemplars (the calls' are checked equal)
	start     pcommon.Timestamp
}

// flush flushes and returns the series sent, keyed "service/cluster/pod span.name kind status".
func (h *harness) flush(t testing.TB) map[string]point {
	t.Helper()
	h.sink.Reset()
	require.NoError(t, h.c.flush(context.Background()))
	got := map[string]point{}
	for _, md := range h.sink.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			res := rm.Resource().Attributes().AsRaw()
			require.Equal(t, 1, rm.ScopeMetrics().Len())
			sm := rm.ScopeMetrics().At(0)
			require.Equal(t, "spanmetricsconnector", sm.Scope().Name())
			require.Equal(t, 2, sm.Metrics().Len())
			calls, dur := sm.Metrics().At(0), sm.Metrics().At(1)
			require.Equal(t, "traces.span.metrics.calls", calls.Name())
			require.Equal(t, "", calls.Unit())
			require.True(t, calls.Sum().IsMonotonic())
			require.Equal(t, pmetric.AggregationTemporalityCumulative, calls.Sum().AggregationTemporality())
			require.Equal(t, "traces.span.metrics.duration", dur.Name())
			require.Equal(t, "ms", dur.Unit())
			require.Equal(t, pmetric.AggregationTemporalityCumulative, dur.Histogram().AggregationTemporality())
			require.Equal(t, calls.Sum().DataPoints().Len(), dur.Histogram().DataPoints().Len())
			for i, c := range calls.Sum().DataPoints().All() {
				d := dur.Histogram().DataPoints().At(i)
				require.Equal(t, c.Attributes().AsRaw(), d.Attributes().AsRaw())
				require.Equal(t, pcommon.NewTimestampFromTime(h.now), c.Timestamp())
				require.Equal(t, c.StartTimestamp(), d.StartTimestamp())
				require.Equal(t, []float64{2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000}[:d.ExplicitBounds().Len()], d.ExplicitBounds().AsRaw())
				p := point{resource: res, attrs: c.Attributes().AsRaw(), calls: c.IntValue(), count: d.Count(), sum: d.Sum(),
					buckets: d.BucketCounts().AsRaw(), start: c.StartTimestamp()}
				require.Equal(t, d.Exemplars().Len(), c.Exemplars().Len())
				for j, e := range d.Exemplars().All() {
					require.Equal(t, e.TraceID(), c.Exemplars().At(j).TraceID())
					require.Equal(t, pcommon.NewTimestampFromTime(h.now), e.Timestamp())
					p.exemplars = append(p.exemplars, e.TraceID().String())
				}
				k := fmt.Sprintf("%v/%v/%v %v %v %v", res["service.name"], res["k8s.cluster.name"], res["k8s.pod.name"],
					p.attrs["span.name"], p.attrs["span.kind"], p.attrs["status.code"])
				if p.attrs["otel.metric.overflow"] == true {
					k = fmt.Sprintf("%v/%v/%v overflow", res["service.name"], res["k8s.cluster.name"], res["k8s.pod.name"])
				}
				_, dup := got[k]
				require.False(t, dup, "series %s sent twice", k)
				got[k] = p
			}
		}
	}
	return got
}

func (h *harness) counter(t testing.TB, name string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return got
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		r, _ := dp.Attributes.Value("reason")
		got[r.AsString()] += dp.Value
	}
	return got
}

func (h *harness) gauge(t testing.TB, name string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(t, err)
	dps := m.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, dps, 1)
	return dps[0].Value
}

func buckets(at map[int]uint64) []uint64 {
	b := make([]uint64, 17)
	for i, n := range at {
		b[i] = n
	}
	return b
}

func hexID(b byte) string { return traceID(b).String() }

// TestREDSeriesPerResource: spans of two services in two clusters (one of them in two pods),
// several operations, kinds and statuses: one series each, per resource, with the resource's
// attributes, the spanmetrics connector's attributes, the calls counter at 0 the first time and
// cumulative after, the histogram's buckets, and exemplars naming the traces of the first spans
// (at most max_per_data_point per flush, none when nothing new came).
func TestREDSeriesPerResource(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Exemplars.MaxPerDataPoint = 2 })
	ms := time.Millisecond
	h.send(t,
		span{service: "frontend", cluster: "a", pod: "fe-1", name: "GET /", kind: ptrace.SpanKindServer, trace: 1, id: 1, duration: 3 * ms}, // 2 < 3 <= 4: bucket 1
		span{service: "frontend", cluster: "a", pod: "fe-1", name: "GET /", kind: ptrace.SpanKindServer, trace: 2, id: 2, duration: 4 * ms}, // = 4: bucket 1 (le)
		span{service: "frontend", cluster: "a", pod: "fe-1", name: "GET /", kind: ptrace.SpanKindServer, trace: 3, id: 3, duration: 15 * time.Second},
		span{service: "frontend", cluster: "a", pod: "fe-1", name: "GET /", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeError, trace: 4, id: 4, duration: 70 * ms},
		span{service: "frontend", cluster: "a", pod: "fe-2", name: "GET /", kind: ptrace.SpanKindServer, trace: 5, id: 5, duration: 20 * time.Second},
		span{service: "backend", cluster: "b", pod: "be-1", name: "SELECT", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeOk, trace: 1, id: 6, duration: 0},
		span{service: "backend", cluster: "b", pod: "be-1", name: "SELECT", kind: ptrace.SpanKindInternal, trace: 0, id: 7, duration: ms},
	)
	h.now = h.now.Add(15 * time.Second)
	got := h.flush(t)
	start := pcommon.Timestamp(1_700_000_000_000_000_000)
	attrs := func(svc, name, kind, status string) map[string]any {
		return map[string]any{"service.name": svc, "span.name": name, "span.kind": kind, "status.code": status, "collector.instance.id": "gateway-0"}
	}
	res := func(svc, cluster, pod string) map[string]any {
		return map[string]any{"service.name": svc, "k8s.cluster.name": cluster, "k8s.namespace.name": "shop", "k8s.pod.name": pod}
	}
	want := map[string]point{
		"frontend/a/fe-1 GET / SPAN_KIND_SERVER STATUS_CODE_UNSET": {resource: res("frontend", "a", "fe-1"),
			attrs: attrs("frontend", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"), calls: 0, count: 3, sum: 3 + 4 + 15000,
			buckets: buckets(map[int]uint64{1: 2, 15: 1}), exemplars: []string{hexID(1), hexID(2)}, start: start},
		"frontend/a/fe-1 GET / SPAN_KIND_SERVER STATUS_CODE_ERROR": {resource: res("frontend", "a", "fe-1"),
			attrs: attrs("frontend", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"), calls: 0, count: 1, sum: 70,
			buckets: buckets(map[int]uint64{6: 1}), exemplars: []string{hexID(4)}, start: start},
		"frontend/a/fe-2 GET / SPAN_KIND_SERVER STATUS_CODE_UNSET": {resource: res("frontend", "a", "fe-2"),
			attrs: attrs("frontend", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"), calls: 0, count: 1, sum: 20000,
			buckets: buckets(map[int]uint64{16: 1}), exemplars: []string{hexID(5)}, start: start},
		"backend/b/be-1 SELECT SPAN_KIND_CLIENT STATUS_CODE_OK": {resource: res("backend", "b", "be-1"),
			attrs: attrs("backend", "SELECT", "SPAN_KIND_CLIENT", "STATUS_CODE_OK"), calls: 0, count: 1, sum: 0,
			buckets: buckets(map[int]uint64{0: 1}), exemplars: []string{hexID(1)}, start: start},
		"backend/b/be-1 SELECT SPAN_KIND_INTERNAL STATUS_CODE_UNSET": {resource: res("backend", "b", "be-1"),
			attrs: attrs("backend", "SELECT", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET"), calls: 0, count: 1, sum: 1,
			buckets: buckets(map[int]uint64{0: 1}), start: start}, // no exemplar: empty trace ID
	}
	for k, p := range got { // start timestamps are the batch's arrival
		require.Equal(t, pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0)), p.start, k)
	}
	require.Equal(t, want, got)
	require.Equal(t, int64(5), h.gauge(t, "vigil_red_series"))
	require.Equal(t, int64(3), h.gauge(t, "vigil_red_resources"))
	require.Equal(t, map[string]int64{"": 7}, h.counter(t, "vigil_red_received_spans"))

	// Second flush, one more span: the calls are the whole count now, exemplars only the new span's.
	h.send(t, span{service: "frontend", cluster: "a", pod: "fe-1", name: "GET /", kind: ptrace.SpanKindServer, trace: 9, id: 9, duration: 2 * ms})
	h.now = h.now.Add(15 * time.Second)
	got = h.flush(t)
	fe := got["frontend/a/fe-1 GET / SPAN_KIND_SERVER STATUS_CODE_UNSET"]
	require.Equal(t, int64(4), fe.calls)
	require.Equal(t, uint64(4), fe.count)
	require.Equal(t, buckets(map[int]uint64{0: 1, 1: 2, 15: 1}), fe.buckets)
	require.Equal(t, []string{hexID(9)}, fe.exemplars)
	be := got["backend/b/be-1 SELECT SPAN_KIND_CLIENT STATUS_CODE_OK"]
	require.Equal(t, int64(1), be.calls)
	require.Empty(t, be.exemplars)
	require.Len(t, got, 5)
}

// TestBoundaries: a duration equal to a bound is counted in that bound's bucket (le), as by
// sort.SearchFloat64s in the spanmetrics connector; a span that ends before it starts lasts 0.
func TestBoundaries(t *testing.T) {
	h := newHarness(t, nil)
	s := span{service: "a", cluster: "x", name: "op"}
	for _, d := range []time.Duration{2 * time.Millisecond, 2*time.Millisecond + 1, 15 * time.Second, 15*time.Second + 1, -time.Second} {
		s.duration = d
		h.send(t, s)
	}
	p := h.flush(t)["a/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET"]
	require.Equal(t, buckets(map[int]uint64{0: 2, 1: 1, 15: 1, 16: 1}), p.buckets)
}

// TestSampledSpansCountAsManySpans: a span sampled at 50% (tracestate ot=th:8) counts 2.
func TestSampledSpansCountAsManySpans(t *testing.T) {
	h := newHarness(t, nil)
	s := span{service: "a", cluster: "x", name: "op", duration: time.Millisecond, traceState: "ot=th:8"}
	h.send(t, s, s, span{service: "a", cluster: "x", name: "op", duration: time.Millisecond, traceState: "vendor=1"})
	h.flush(t)
	p := h.flush(t)["a/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET"]
	require.Equal(t, int64(5), p.calls)
	require.Equal(t, uint64(5), p.count)
	require.Equal(t, 5.0, p.sum)
}

// TestSeriesAreBounded: beyond max_series, spans of new series are counted in their resource's
// overflow series (otel.metric.overflow=true, no exemplars) and as discarded, reason max_series;
// spans of series already held still count in them.
func TestSeriesAreBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeries = 2 })
	h.send(t,
		span{service: "a", cluster: "x", name: "one", trace: 1, id: 1},
		span{service: "a", cluster: "x", name: "two", trace: 2, id: 2},
		span{service: "a", cluster: "x", name: "three", trace: 3, id: 3},
		span{service: "a", cluster: "x", name: "three", kind: ptrace.SpanKindServer, trace: 4, id: 4},
		span{service: "a", cluster: "x", name: "one", trace: 5, id: 5},
	)
	got := h.flush(t)
	require.Len(t, got, 3)
	over := got["a/x/<nil> overflow"]
	require.Equal(t, map[string]any{"otel.metric.overflow": true}, over.attrs)
	require.Equal(t, uint64(2), over.count)
	require.Empty(t, over.exemplars)
	require.Equal(t, uint64(2), got["a/x/<nil> one SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET"].count)
	require.Equal(t, map[string]int64{"max_series": 2}, h.counter(t, "vigil_red_discarded_spans"))
	require.Equal(t, int64(2), h.gauge(t, "vigil_red_series"))
}

// TestResourcesAreBounded: beyond max_resources the resource seen least recently is sent once
// more, then forgotten; its series no longer count against max_series.
func TestResourcesAreBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxResources = 2 })
	h.send(t, span{service: "a", cluster: "x", name: "op"})
	h.send(t, span{service: "b", cluster: "x", name: "op"})
	h.send(t, span{service: "a", cluster: "x", name: "op"}) // b is now the least recent
	h.send(t, span{service: "c", cluster: "x", name: "op"})
	require.Equal(t, int64(1), h.counter(t, "vigil_red_evicted_resources")[""])
	require.Equal(t, int64(2), h.gauge(t, "vigil_red_resources"))
	require.Equal(t, int64(2), h.gauge(t, "vigil_red_series"))
	got := h.flush(t)
	require.Len(t, got, 3, "b sent a last time")
	require.Equal(t, uint64(2), got["a/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET"].count)
	require.Contains(t, got, "b/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET")
	got = h.flush(t)
	require.Len(t, got, 2)
	require.NotContains(t, got, "b/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET")

	// evicted and back before the flush: it carries on (one data point per series and flush)
	h.send(t, span{service: "d", cluster: "x", name: "op"}) // evicts a
	h.send(t, span{service: "a", cluster: "x", name: "op"}) // a is back, evicts c
	got = h.flush(t)
	require.Len(t, got, 3)
	require.Equal(t, uint64(3), got["a/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET"].count)
	require.Equal(t, int64(3), h.counter(t, "vigil_red_evicted_resources")[""])
	require.Len(t, h.flush(t), 2)
}

// TestMetricsExpiration: a resource without spans for metrics_expiration is sent once more, then
// forgotten; one that comes back starts again from 0.
func TestMetricsExpiration(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsExpiration = time.Minute })
	h.send(t, span{service: "a", cluster: "x", name: "op"}, span{service: "b", cluster: "x", name: "op"})
	h.now = h.now.Add(45 * time.Second)
	h.send(t, span{service: "b", cluster: "x", name: "op"})
	h.now = h.now.Add(30 * time.Second)
	require.Len(t, h.flush(t), 2)
	got := h.flush(t)
	require.Len(t, got, 1)
	require.Contains(t, got, "b/x/<nil> op SPAN_KIND_UNSPECIFIED STATUS_CODE_UNSET")
	require.Equal(t, int64(1), h.gauge(t, "vigil_red_series"))
}

// TestSpansWithoutService: spans of a resource without service.name are not counted (as by the
// spanmetrics connector), and counted as discarded, reason no_service_name.
func TestSpansWithoutService(t *testing.T) {
	h := newHarness(t, nil)
	h.send(t, span{cluster: "x", name: "op"}, span{cluster: "x", name: "op"}, span{service: "a", cluster: "x", name: "op"})
	require.Len(t, h.flush(t), 1)
	require.Equal(t, map[string]int64{"no_service_name": 2}, h.counter(t, "vigil_red_discarded_spans"))
	require.Equal(t, int64(3), h.counter(t, "vigil_red_received_spans")[""])
}

// TestExemplarsOff: with exemplars disabled no data point carries any.
func TestExemplarsOff(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Exemplars.Enabled = false })
	h.send(t, span{service: "a", cluster: "x", name: "op", trace: 1, id: 1})
	for _, p := range h.flush(t) {
		require.Empty(t, p.exemplars)
	}
}

// TestNamesArePrometheusNames: the names Prometheus gives the metrics are those the dashboards
// and the alert rules query.
func TestNamesArePrometheusNames(t *testing.T) {
	namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	for _, tt := range []struct {
		name, unit, want string
		typ              otlptranslator.MetricType
	}{
		{"traces.span.metrics.calls", "", "traces_span_metrics_calls_total", otlptranslator.MetricTypeMonotonicCounter},
		{"traces.span.metrics.duration", "ms", "traces_span_metrics_duration_milliseconds", otlptranslator.MetricTypeHistogram},
	} {
		got, err := namer.Build(otlptranslator.Metric{Name: tt.name, Unit: tt.unit, Type: tt.typ})
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}

// TestConcurrentBatches: batches from several goroutines, flushes among them: every span counted.
func TestConcurrentBatches(t *testing.T) {
	h := newHarness(t, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				h.send(t, span{service: "a", cluster: fmt.Sprint(g), name: fmt.Sprint("op", i%3), trace: 1, id: 1})
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			require.NoError(t, h.c.flush(context.Background()))
		}
	})
	wg.Wait()
	total := uint64(0)
	for _, p := range h.flush(t) {
		total += p.count
	}
	require.Equal(t, uint64(200), total)
}

// TestLifecycle: Shutdown before Start is fine; after Start it stops the flush loop (goleak) and
// sends the metrics one last time; a second Shutdown does nothing; the loop flushes by itself.
func TestLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.c.Shutdown(context.Background()))

	h = newHarness(t, func(c *Config) { c.MetricsFlushInterval = time.Hour })
	require.NoError(t, h.c.Start(context.Background(), componenttest.NewNopHost()))
	h.send(t, span{service: "a", cluster: "x", name: "op"})
	require.Empty(t, h.sink.AllMetrics())
	require.NoError(t, h.c.Shutdown(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1, "the last flush at shutdown")
	require.NoError(t, h.c.Shutdown(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1)

	cfg := createDefaultConfig()
	cfg.MetricsFlushInterval = 20 * time.Millisecond
	sink := &consumertest.MetricsSink{}
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	require.NoError(t, c.ConsumeTraces(context.Background(), batch(span{service: "a", cluster: "x", name: "op"})))
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= 2 }, 10*time.Second, 5*time.Millisecond)
	id, ok := sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).Attributes().Get("collector.instance.id")
	require.True(t, ok)
	require.Len(t, id.Str(), 36, "a random UUID when the collector's resource has no instance ID")
}

// sortedKeys is used by the differential test's messages.
func sortedKeys[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, "\n")
}

// FuzzBounds: any spans (several resources, names, kinds, statuses, durations), flushed at times,
// with small bounds, never panic, never hold more than max_resources resources and max_series
// series, and every span is accounted for once: counted in a series of its resource (its own or
// the overflow series; an evicted or expired resource's last flush included) or discarded for
// want of a service.name.
func FuzzBounds(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add([]byte{255, 7, 7, 7, 1, 2, 3, 4, 255, 9, 8, 7, 6, 5, 4, 3, 2, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t, func(c *Config) { c.MaxResources, c.MaxSeries, c.MetricsExpiration = 3, 5, time.Minute })
		var sent, counted uint64
		last := map[string]uint64{} // the count of each series at its last flush
		flush := func() {
			for k, p := range h.flush(t) {
				k += fmt.Sprint(" ", p.start) // a series forgotten and made again starts anew
				require.GreaterOrEqual(t, p.count, last[k])
				counted += p.count - last[k]
				last[k] = p.count
				require.LessOrEqual(t, len(p.exemplars), 5)
			}
			require.LessOrEqual(t, h.gauge(t, "vigil_red_resources"), int64(3))
			require.LessOrEqual(t, h.gauge(t, "vigil_red_series"), int64(5))
		}
		for len(ops) >= 3 {
			a, b, c := ops[0], ops[1], ops[2]
			ops = ops[3:]
			if a == 255 {
				h.now = h.now.Add((time.Duration(b) + 1) * time.Second)
				flush()
				continue
			}
			s := span{service: []string{"", "a", "b", "c", "d"}[a%5], cluster: fmt.Sprint(a / 5 % 2), name: fmt.Sprint(b % 4),
				kind: ptrace.SpanKind(b / 4 % 8), status: ptrace.StatusCode(c % 4), trace: c, id: b,
				duration: time.Duration(c) * time.Duration(c) * time.Millisecond}
			h.send(t, s)
			sent++
		}
		flush()
		require.Equal(t, sent, counted+uint64(h.counter(t, "vigil_red_discarded_spans")["no_service_name"]))
	})
}
