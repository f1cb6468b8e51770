package servicemapconnector

import (
	"context"
	"encoding/binary"
	"runtime"
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

// benchTraces is one batch of a realistic load: per trace, a frontend in cluster-a calls a backend
// in cluster-b (a CLIENT span and its SERVER child) and each side has an internal span — 4 spans
// per trace, in two resources (as a gateway receives them from the agents of two clusters).
// Each call renumbers the trace IDs, so that every iteration brings new requests.
type benchTraces struct {
	td     ptrace.Traces
	traces int
	next   uint64
}

func newBenchTraces(traces int) *benchTraces {
	td := ptrace.NewTraces()
	for _, side := range []struct{ service, cluster string }{{"frontend", "cluster-a"}, {"backend", "cluster-b"}} {
		rs := td.ResourceSpans().AppendEmpty()
		a := rs.Resource().Attributes()
		a.PutStr("service.name", side.service)
		a.PutStr("k8s.cluster.name", side.cluster)
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.pod.name", side.service+"-7d9f8c6b5-x2x4z")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for range traces {
			for j := range 2 {
				sp := spans.AppendEmpty()
				sp.SetName("GET /api/orders")
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

func (b *benchTraces) spans() int { return b.td.SpanCount() }

// renumber gives every trace of the batch a new ID; the client span is X1, the server span X2
// (child of X1), each internal span a child of its side's.
func (b *benchTraces) renumber() {
	for r, rs := range b.td.ResourceSpans().All() {
		spans := rs.ScopeSpans().At(0).Spans()
		for i := range b.traces {
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[8:], b.next+uint64(i)+1)
			client := pcommon.SpanID{1, 1, 1, 1, 1, 1, 1, 1}
			binary.BigEndian.PutUint64(client[:], b.next+uint64(i)+1)
			side, internal := client, client
			side[0], internal[0] = byte(1+r), byte(3+r)
			main, in := spans.At(2*i), spans.At(2*i+1)
			main.SetTraceID(tid)
			in.SetTraceID(tid)
			if r == 0 {
				main.SetSpanID(client)
			} else {
				main.SetSpanID(side)
				main.SetParentSpanID(client)
			}
			in.SetSpanID(internal)
			in.SetParentSpanID(main.SpanID())
		}
	}
	b.next += uint64(b.traces)
}

// BenchmarkConnector: spans through each connector, one batch of 400 spans (100 cross-cluster
// requests) per op. servicemap/same-batch pairs within the batch; servicemap/next-batch sends the
// server spans one batch after their clients (the pairs wait in the store). spanmetrics is the
// contrib spanmetrics connector (v0.162.0, exemplars on, as shipped) on the same batches: the peer.
// Reported: spans/s and ns/span (= CPU-seconds per million spans ×1000, one core).
func BenchmarkConnector(b *testing.B) {
	const traces = 100
	run := func(b *testing.B, c connector.Traces, split bool) {
		b.Helper()
		require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
		defer func() { require.NoError(b, c.Shutdown(context.Background())) }()
		bt := newBenchTraces(traces)
		var clients, servers ptrace.Traces
		if split {
			clients, servers = ptrace.NewTraces(), ptrace.NewTraces()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			bt.renumber()
			if split {
				// this batch's clients, and the previous batch's servers
				clients.ResourceSpans().RemoveIf(func(ptrace.ResourceSpans) bool { return true })
				bt.td.ResourceSpans().At(0).CopyTo(clients.ResourceSpans().AppendEmpty())
			}
			b.StartTimer()
			if !split {
				require.NoError(b, c.ConsumeTraces(context.Background(), bt.td))
				continue
			}
			require.NoError(b, c.ConsumeTraces(context.Background(), clients))
			if servers.ResourceSpans().Len() > 0 {
				require.NoError(b, c.ConsumeTraces(context.Background(), servers))
			}
			b.StopTimer()
			servers.ResourceSpans().RemoveIf(func(ptrace.ResourceSpans) bool { return true })
			bt.td.ResourceSpans().At(1).CopyTo(servers.ResourceSpans().AppendEmpty())
			b.StartTimer()
		}
		spans := float64(b.N) * float64(bt.spans())
		b.ReportMetric(spans/b.Elapsed().Seconds(), "spans/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans, "ns/span")
	}
	b.Run("servicemap/same-batch", func(b *testing.B) {
		run(b, newBenchServicemap(b), false)
	})
	b.Run("servicemap/next-batch", func(b *testing.B) {
		run(b, newBenchServicemap(b), true)
	})
	b.Run("spanmetrics", func(b *testing.B) {
		f := spanmetricsconnector.NewFactory()
		cfg := f.CreateDefaultConfig().(*spanmetricsconnector.Config)
		cfg.Exemplars.Enabled = true
		cfg.MetricsFlushInterval = 15 * time.Second
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
		require.NoError(b, err)
		run(b, c, false)
	})
}

func newBenchServicemap(b *testing.B) connector.Traces {
	b.Helper()
	cfg := createDefaultConfig()
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	return c
}

// BenchmarkPendingMemory: heap bytes per request waiting for its other side (client spans whose
// server spans never come), with 100,000 waiting — the default max_pending_edges.
func BenchmarkPendingMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		c, err := newConnector(connectortest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
		require.NoError(b, err)
		bt := newBenchTraces(1000)
		clients := ptrace.NewTraces()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n / 1000 {
			bt.renumber()
			clients.ResourceSpans().RemoveIf(func(ptrace.ResourceSpans) bool { return true })
			bt.td.ResourceSpans().At(0).CopyTo(clients.ResourceSpans().AppendEmpty())
			require.NoError(b, c.ConsumeTraces(context.Background(), clients))
		}
		clients, bt = ptrace.NewTraces(), nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		require.Equal(b, n, c.store.len())
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/pending")
		runtime.KeepAlive(c)
		runtime.KeepAlive(clients)
	}
}

// BenchmarkFlush: one flush of max_edges (10,000) edges: all of it, and the part under the lock
// (the copy of the edges; the metrics are built after).
func BenchmarkFlush(b *testing.B) {
	c, err := newConnector(connectortest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(b, err)
	for i := range c.cfg.MaxEdges {
		r := request{key: edgeKey{client: "frontend", clientCluster: "cluster-a", server: "backend-" + string(rune('a'+i%26)) + string(rune(i)), serverCluster: "cluster-b"}}
		require.True(b, c.edges.add(&r, 1))
	}
	b.Run("flush", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			require.NoError(b, c.flush(context.Background()))
		}
	})
	b.Run("under-lock", func(b *testing.B) { // the copy made while ConsumeTraces waits
		b.ReportAllocs()
		for b.Loop() {
			c.snaps, c.flat = c.edges.snapshot(c.snaps[:0], c.flat[:0])
		}
	})
}
