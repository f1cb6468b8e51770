package promrwreceiver

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkPdataFloor builds only the OTLP metrics that BenchmarkDecodeConvertV1's request
// becomes (20 resources of 7 attributes, 1,000 sums with their type metadata, 2,000 points of 2
// attributes), with every string ready: what pdata alone costs per sample, the floor of any
// conversion into the pipeline.
func BenchmarkPdataFloor(b *testing.B) {
	const series = 2000
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("http_requests_%d_total", i)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		md := pmetric.NewMetrics()
		for t := range series / 100 {
			rm := md.ResourceMetrics().AppendEmpty()
			attrs := rm.Resource().Attributes()
			attrs.EnsureCapacity(7)
			for _, k := range []string{"k8s.cluster.name", "k8s.container.name", "service.instance.id", "service.name", "k8s.namespace.name", "k8s.node.name", "k8s.pod.name"} {
				attrs.PutStr(k, "v")
			}
			ms := rm.ScopeMetrics().AppendEmpty().Metrics()
			for n := range 50 {
				m := ms.AppendEmpty()
				m.SetName(names[n])
				m.Metadata().PutStr(promTypeKey, "counter")
				m.SetEmptySum().SetIsMonotonic(true)
				m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dps := m.Sum().DataPoints()
				for _, method := range []string{"GET", "POST"} {
					dp := dps.AppendEmpty()
					a := dp.Attributes()
					a.EnsureCapacity(2)
					a.PutStr("code", "200")
					a.PutStr("method", method)
					dp.SetTimestamp(pcommon.Timestamp(t))
					dp.SetDoubleValue(float64(n))
				}
			}
		}
		if md.DataPointCount() != series {
			b.Fatal(md.DataPointCount())
		}
	}
	b.ReportMetric(float64(b.N)*series/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
}
