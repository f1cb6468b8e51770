package promrwexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// requestOf is the remote-write request translate makes of md, with the label cache (cached:
// translateNumbers where it applies) or with Prometheus's translator alone.
func requestOf(t *testing.T, e *promrwExporter, md pmetric.Metrics, cached bool) []byte {
	t.Helper()
	in := pmetric.NewMetrics()
	md.CopyTo(in)
	var c *collector
	var err error
	if cached {
		c, err = e.translate(context.Background(), in)
	} else {
		c, err = e.translateWithout(context.Background(), in)
	}
	require.NoError(t, err)
	raw, err := c.marshal()
	require.NoError(t, err)
	return raw
}

// shapes are batches of gauges and sums as the gateway gets them, and some that the cache must
// leave to Prometheus's translator.
func shapes() map[string]pmetric.Metrics {
	ts := pcommon.NewTimestampFromTime(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	resource := func(md pmetric.Metrics, pod string, extra ...string) pmetric.MetricSlice {
		rm := md.ResourceMetrics().AppendEmpty()
		a := rm.Resource().Attributes()
		a.PutStr("k8s.cluster.name", "prod-eu-1")
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.pod.name", pod)
		a.PutStr("service.name", "checkout")
		a.PutStr("service.instance.id", pod)
		for i := 0; i+1 < len(extra); i += 2 {
			a.PutStr(extra[i], extra[i+1])
		}
		return rm.ScopeMetrics().AppendEmpty().Metrics()
	}
	gauge := func(ms pmetric.MetricSlice, name, unit string, n int, at pcommon.Timestamp, attrs ...string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		dps := m.SetEmptyGauge().DataPoints()
		for i := range n {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(at + pcommon.Timestamp(i)*1e6)
			dp.SetDoubleValue(float64(i) + 0.5)
			dp.Attributes().PutStr("series", fmt.Sprintf("s%03d", i))
			for j := 0; j+1 < len(attrs); j += 2 {
				dp.Attributes().PutStr(attrs[j], attrs[j+1])
			}
		}
		return dps
	}
	sum := func(ms pmetric.MetricSlice, name, unit string, monotonic bool, temp pmetric.AggregationTemporality, n int) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		s := m.SetEmptySum()
		s.SetIsMonotonic(monotonic)
		s.SetAggregationTemporality(temp)
		for i := range n {
			dp := s.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts + pcommon.Timestamp(i)*1e9)
			dp.SetIntValue(int64(i * 10))
			dp.Attributes().PutStr("code", fmt.Sprint(200+i%3))
		}
		return s.DataPoints()
	}
	out := map[string]pmetric.Metrics{}

	md := pmetric.NewMetrics() // as benchmarks/backends sends
	ms := resource(md, "app-0")
	for k := range 5 {
		gauge(ms, fmt.Sprintf("bench_gauge_%d", k), "", 50, ts)
		sum(ms, fmt.Sprintf("bench_counter_%d", k), "", true, pmetric.AggregationTemporalityCumulative, 50)
	}
	out["bench"] = md

	md = pmetric.NewMetrics() // units, suffixes, sanitizing, collisions, a stale point, ints
	ms = resource(md, "app-1", "host.name", "h1", "k8s.deployment.name", "checkout")
	gauge(ms, "memory.usage", "By", 3, ts, "a.b", "1", "a_b", "2", "9lead", "x")
	gauge(ms, "cpu.utilization", "1", 2, ts+5e9)
	sum(ms, "http.server.requests", "{requests}", true, pmetric.AggregationTemporalityCumulative, 4)
	sum(ms, "queue.size", "", false, pmetric.AggregationTemporalityCumulative, 2)
	stale := gauge(ms, "up", "", 1, ts)
	stale.At(0).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	out["names"] = md

	md = pmetric.NewMetrics() // several resources, two of them alike, one without service.*
	gauge(resource(md, "a"), "g", "", 2, ts)
	gauge(resource(md, "b"), "g", "", 2, ts+3600e9) // target_info samples over an hour
	gauge(resource(md, "a"), "g", "", 2, ts+1e9)
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu-1")
	gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g", "", 1, ts)
	md.ResourceMetrics().AppendEmpty() // a resource without metrics
	out["resources"] = md

	md = pmetric.NewMetrics() // left to Prometheus's translator
	ms = resource(md, "c")
	sum(ms, "delta", "", true, pmetric.AggregationTemporalityDelta, 2)
	out["delta"] = md
	md = pmetric.NewMetrics()
	ms = resource(md, "c")
	gauge(ms, "g", "", 1, ts)
	h := ms.AppendEmpty()
	h.SetName("latency")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	h.Histogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp.SetTimestamp(ts)
	hdp.SetCount(1)
	out["histogram"] = md
	md = pmetric.NewMetrics()
	ex := sum(resource(md, "c"), "with_exemplar", "", true, pmetric.AggregationTemporalityCumulative, 1).At(0).Exemplars().AppendEmpty()
	ex.SetTimestamp(ts)
	ex.SetDoubleValue(1)
	out["exemplar"] = md
	return out
}

// TestLabelCacheAsFromMetrics: with the label cache, cold and warm, translate makes the request
// that Prometheus's translator alone makes, byte for byte, on every shape; and a series' labels
// come from the cache the second time.
func TestLabelCacheAsFromMetrics(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.ExternalLabels = map[string]string{"replica": "r1", "cluster": "ignored-if-set"}
	for name, md := range shapes() {
		t.Run(name, func(t *testing.T) {
			e := newExporter(exportertest.NewNopSettings(Type), cfg)
			want := requestOf(t, e, md, false)
			require.Equal(t, want, requestOf(t, e, md, true), "cold cache")
			require.Equal(t, want, requestOf(t, e, md, true), "warm cache")
		})
	}
	e := newExporter(exportertest.NewNopSettings(Type), cfg)
	requestOf(t, e, shapes()["bench"], true)
	// One entry per series: 5 gauges × 50 "series" values, 5 counters × 3 "code" values.
	require.Equal(t, 5*50+5*3, e.cache.Len())
}

// BenchmarkTranslate is translate and the request's encoding of one batch as
// benchmarks/backends sends it (one pod, 5 gauges and 5 counters × 50 points), with the label
// cache warm and with Prometheus's translator alone. Run with -cpu 1.
func BenchmarkTranslate(b *testing.B) {
	md := shapes()["bench"]
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			e := newExporter(exportertest.NewNopSettings(Type), createDefaultConfig())
			in := pmetric.NewMetrics()
			b.ReportAllocs()
			for b.Loop() {
				md.CopyTo(in)
				c, err := e.translateAs(context.Background(), in, cached)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.marshal(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*500/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
