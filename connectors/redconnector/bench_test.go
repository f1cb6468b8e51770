package redconnector

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchTraces is one batch as a gateway receives it from the agents of two clusters (the batches
// of connectors/servicemapconnector's BenchmarkConnector): per trace, a frontend in cluster-a
// calls a backend in cluster-b (a CLIENT span and a SERVER span) and each side has an INTERNAL
// span — 4 spans per trace, in two resources (service, cluster, namespace, pod), 20 ms each,
// HTTP attributes on each span. Each call renumbers the trace and span IDs. With names > 1, the
// spans are spread over that many span names and one trace in 7 fails (more series per resource).
type benchTraces struct {
	td     ptrace.Traces
	traces int
	next   uint64
}

func newBenchTraces(traces int, names int) *benchTraces {
	td := ptrace.NewTraces()
	for _, side := range []struct{ service, cluster string }{{"frontend", "cluster-a"}, {"backend", "cluster-b"}} {
		rs := td.ResourceSpans().AppendEmpty()
		a := rs.Resource().Attributes()
		a.PutStr("service.name", side.service)
		a.PutStr("k8s.cluster.name", side.cluster)
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.pod.name", side.service+"-7d9f8c6b5-x2x4z")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range traces {
			for j := range 2 {
				sp := spans.AppendEmpty()
				sp.SetName("GET /api/orders")
				if names > 1 {
					sp.SetName(fmt.Sprint("GET /api/orders/", i%names))
					if i%7 == 0 {
						sp.Status().SetCode(ptrace.StatusCodeError)
					}
				}
				sp.SetStartTimestamp(1_700_000_000_000_000_000)
				sp.SetEndTimestamp(1_700_000_000_020_000_000)
				sp.Attributes().PutStr("http.request.method", "GET")
				sp.Attributes().PutInt("http.response.status_code", 200)
				switch {
				case j == 1:
					sp.SetKind(ptrace.SpanKindInternal)
				case side.service == "frontend":
					sp.SetKind(ptrace.SpanKindClient)
				default:
					sp.SetKind(ptrace.SpanKindServer)
				}
			}
		}
	}
	b := &benchTraces{td: td, traces: traces}
	b.renumber()
	return b
}

func (b *benchTraces) renumber() {
	for r, rs := range b.td.ResourceSpans().All() {
		spans := rs.ScopeSpans().At(0).Spans()
		for i := range spans.Len() {
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[8:], b.next+uint64(i/2)+1)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], b.next+uint64(i)+1)
			sid[0] = byte(1 + r)
			spans.At(i).SetTraceID(tid)
			spans.At(i).SetSpanID(sid)
		}
	}
	b.next += uint64(b.traces)
}

// runBench sends one batch of 400 spans per op through a new connector, for each batch shape
// (few_series: 2 series per resource; many_series: 50 span names, up to 200 series per
// resource), renumbering outside the timer, and reports ns/span (= CPU-seconds per million spans ×1000 on one core) and spans/s. The flush is
// not in the loop: it runs once per metrics_flush_interval, not per batch (BenchmarkREDFlush).
func runBench(b *testing.B, newConnector func() connector.Traces) {
	b.Run("few_series", func(b *testing.B) { runBatches(b, newConnector(), newBenchTraces(100, 1)) })
	b.Run("many_series", func(b *testing.B) { runBatches(b, newConnector(), newBenchTraces(100, 50)) })
}

func runBatches(b *testing.B, c connector.Traces, bt *benchTraces) {
	b.Helper()
	require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, c.Shutdown(context.Background())) }()
	spans := bt.td.SpanCount()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		bt.renumber()
		b.StartTimer()
		require.NoError(b, c.ConsumeTraces(context.Background(), bt.td))
	}
	n := float64(b.N) * float64(spans)
	b.ReportMetric(n/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/span")
}

// BenchmarkSpanmetrics is the peer: the contrib spanmetrics connector v0.162.0 as vigil shipped it
// (exemplars on, metrics_flush_interval 15s).
func BenchmarkSpanmetrics(b *testing.B) {
	runBench(b, func() connector.Traces {
		f := spanmetricsconnector.NewFactory()
		cfg := f.CreateDefaultConfig().(*spanmetricsconnector.Config)
		cfg.Exemplars.Enabled = true
		cfg.MetricsFlushInterval = 15 * time.Second
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
		require.NoError(b, err)
		return c
	})
}

// BenchmarkRED is the red connector with its defaults (exemplars on, 15s) on the same batches.
func BenchmarkRED(b *testing.B) {
	runBench(b, func() connector.Traces {
		f := NewFactory()
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
		require.NoError(b, err)
		return c
	})
}

// BenchmarkREDFlush: one flush of 1000 series (10 resources × 100 span names): all of it, and the
// part under the lock (the copy of the series; the metrics are built after).
func BenchmarkREDFlush(b *testing.B) {
	h := newHarness(b, nil)
	for r := range 10 {
		var spans []span
		for n := range 100 {
			spans = append(spans, span{service: fmt.Sprint("svc-", r), cluster: "a", name: fmt.Sprint("op-", n), trace: 1, id: 1, duration: time.Millisecond})
		}
		h.send(b, spans...)
	}
	b.Run("flush", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			require.NoError(b, h.c.flush(context.Background()))
			h.sink.Reset()
		}
	})
	b.Run("under-lock", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.c.take(&h.c.snap, 1)
		}
	})
}
