package federateexporter

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// numbers is a batch of gauges and cumulative counters (what the label cache serves) of pods
// pods, as benchmarks/backends sends them: per pod 5 gauges and 5 counters × n points.
func numbers(pods, n int, at time.Time, value float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(at)
	for p := range pods {
		rm := md.ResourceMetrics().AppendEmpty()
		res := rm.Resource().Attributes()
		res.PutStr("k8s.cluster.name", "prod-eu-1")
		res.PutStr("k8s.namespace.name", "shop")
		res.PutStr("k8s.pod.name", fmt.Sprintf("app-%d", p))
		res.PutStr("service.name", "checkout")
		res.PutStr("service.instance.id", fmt.Sprintf("app-%d", p))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for k := range 5 {
			g := ms.AppendEmpty()
			g.SetName(fmt.Sprintf("bench.gauge.%d", k))
			g.SetUnit("By")
			dps := g.SetEmptyGauge().DataPoints()
			c := ms.AppendEmpty()
			c.SetName(fmt.Sprintf("bench.counter.%d", k))
			sum := c.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range n {
				dp := dps.AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(value + float64(i))
				dp.Attributes().PutStr("series", fmt.Sprintf("s%03d", i))
				dp.Attributes().PutStr("pod", "spoofed") // an identity label on a point: dropped
				cp := sum.DataPoints().AppendEmpty()
				cp.SetTimestamp(ts)
				cp.SetIntValue(int64(value) + int64(i))
				cp.Attributes().PutStr("code", fmt.Sprint(200+i%3))
			}
		}
	}
	return md
}

// stored lists the store's samples as "labels t v", sorted.
func stored(s *store) []string {
	var out []string
	for _, smp := range s.selectSamples(0) {
		out = append(out, fmt.Sprintf("%s %d %g", smp.labels, smp.t, smp.v))
	}
	sort.Strings(out)
	return out
}

// TestLabelCacheKeepsTheSameSeries: with the label cache, cold and warm, the exporter keeps the
// samples that Prometheus's translator alone gives (promrw's TestLabelCacheAsFromMetrics checks
// the cache's translation itself, byte for byte).
func TestLabelCacheKeepsTheSameSeries(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	e := newTestExporter(t, nil, &now)
	ref := newStore(e.cfg.MaxSeries)
	ctx := context.Background()
	for i, at := range []time.Time{now.Add(-2 * time.Second), now.Add(-time.Second), now} {
		md := numbers(3, 20, at, float64(i*100))
		in := pmetric.NewMetrics()
		md.CopyTo(in)
		require.NoError(t, e.tr.Translate(ctx, in, &appender{store: ref, now: now.UnixNano()}))
		require.NoError(t, e.consume(ctx, md))
		require.Equal(t, stored(ref), stored(e.store), "batch %d", i)
	}
	require.Equal(t, 3*(5*20+5*3), e.cache.Len())
	require.Len(t, stored(e.store), 3*(5*20+5*3)+3) // and target_info per pod
	for _, smp := range e.store.selectSamples(0) {
		require.NotEqual(t, "spoofed", smp.labels.Get("pod"))
		require.NotEmpty(t, smp.labels.Get(model.MetricNameLabel))
	}
}

// BenchmarkConsume is one batch of 500 samples as benchmarks/backends sends it (one pod, 5
// gauges and 5 counters × 50 points) into the store, translated with the label cache (warm) and
// by Prometheus's translator alone. Run with -cpu 1; samples/cpu-s is the per-core figure.
func BenchmarkConsume(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	md := numbers(1, 50, now, 1)
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			e, err := newExporter(exportertest.NewNopSettings(Type), createDefaultConfig().(*Config))
			if err != nil {
				b.Fatal(err)
			}
			in := pmetric.NewMetrics()
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				md.CopyTo(in)
				if cached {
					err = e.consume(ctx, in)
				} else {
					err = e.tr.Translate(ctx, in, &appender{store: e.store, now: now.UnixNano()})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*500/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(b.N)*500/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}

// cpuTime is the CPU time of the process so far (every thread: the garbage collector's too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
