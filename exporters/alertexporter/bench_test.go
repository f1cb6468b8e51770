package alertexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// batch is one OTLP batch of 100 node-exporter-like resources, each with 10 gauges of 10 data
// points (10,000 data points), of which one gauge (1,000 data points) is selected by a rule.
func batch(at time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 100 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "node-exporter")
		rm.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("node-%d:9100", r))
		rm.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu")
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for m := range 10 {
			metric := ms.AppendEmpty()
			metric.SetName(fmt.Sprintf("node.filesystem.metric%d", m))
			if m == 0 {
				metric.SetName("node.filesystem.avail")
			}
			metric.SetUnit("By")
			dps := metric.SetEmptyGauge().DataPoints()
			for d := range 10 {
				dp := dps.AppendEmpty()
				dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
				dp.SetDoubleValue(float64(d))
				dp.Attributes().PutStr("mountpoint", fmt.Sprintf("/data%d", d))
				dp.Attributes().PutStr("fstype", "ext4")
			}
		}
	}
	return md
}

// BenchmarkConsumeMetrics is the cost per data point of conversion and ingest (not evaluation:
// the group's min_eval_interval is long), 10% of the data points being needed.
func BenchmarkConsumeMetrics(b *testing.B) {
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRulesB(b, `groups:
  - name: capacity
    rules:
      - alert: FilesystemWillFillIn4h
        expr: predict_linear(node_filesystem_avail_bytes[6h], 4 * 3600) < 0
`)}
	cfg.MinEvalInterval = time.Minute
	cfg.EvaluationInterval = time.Hour
	exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(Type), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	start := time.Now().Add(-time.Hour)
	batches := make([]pmetric.Metrics, 64)
	for i := range batches {
		batches[i] = batch(start.Add(time.Duration(i) * 15 * time.Second))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		md := batches[i%len(batches)]
		if i >= len(batches) { // later timestamps, same series
			b.StopTimer()
			md = batch(start.Add(time.Duration(i) * 15 * time.Second))
			b.StartTimer()
		}
		if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10_000), "ns/datapoint")
}
