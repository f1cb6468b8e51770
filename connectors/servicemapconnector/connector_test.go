package servicemapconnector

import (
	"context"
	"fmt"
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
	c    *servicemap
	tel  *componenttest.Telemetry
	sink *consumertest.MetricsSink
	now  time.Time
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Wait = 2 * time.Second
	if mod != nil {
		mod(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{tel: componenttest.NewTelemetry(), sink: &consumertest.MetricsSink{}, now: time.Unix(1_700_000_000, 0)}
	set := connectortest.NewNopSettings(Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	c, err := newConnector(set, cfg, h.sink)
	require.NoError(t, err)
	c.now = func() time.Time { return h.now }
	h.c = c
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	return h
}

// span is one span to send, in the resource of its service and cluster.
type span struct {
	service, cluster string
	kind             ptrace.SpanKind
	trace            byte // trace ID: 16 times this byte
	id, parent       byte // span IDs: 8 times this byte; 0 is the empty ID
	duration         time.Duration
	failed           bool
	attrs            map[string]any
}

func traceID(b byte) pcommon.TraceID {
	var id pcommon.TraceID
	for i := range id {
		id[i] = b
	}
	return id
}

func spanID(b byte) pcommon.SpanID {
	var id pcommon.SpanID
	if b == 0 {
		return id
	}
	for i := range id {
		id[i] = b
	}
	return id
}

// batch makes one batch: each span in its own resource.
func batch(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		if s.service != "" {
			rs.Resource().Attributes().PutStr("service.name", s.service)
		}
		if s.cluster != "" {
			rs.Resource().Attributes().PutStr("k8s.cluster.name", s.cluster)
		}
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetKind(s.kind)
		sp.SetTraceID(traceID(s.trace))
		sp.SetSpanID(spanID(s.id))
		sp.SetParentSpanID(spanID(s.parent))
		start := pcommon.Timestamp(1_700_000_000_000_000_000)
		sp.SetStartTimestamp(start)
		sp.SetEndTimestamp(start + pcommon.Timestamp(s.duration))
		if s.failed {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		_ = sp.Attributes().FromRaw(s.attrs)
	}
	return td
}

func (h *harness) send(t *testing.T, spans ...span) {
	t.Helper()
	require.NoError(t, h.c.ConsumeTraces(context.Background(), batch(spans...)))
}

// point is one edge as exported: its labels and figures.
type point struct {
	labels                       map[string]any
	requests, failed             int64
	serverCount, clientCount     uint64
	serverSeconds, clientSeconds float64
	exemplarTrace                string
}

// edges flushes and returns the exported edges by "client/clientCluster -> server/serverCluster (type)".
func (h *harness) edges(t *testing.T) map[string]point {
	t.Helper()
	before := len(h.sink.AllMetrics())
	require.NoError(t, h.c.flush(context.Background()))
	all := h.sink.AllMetrics()
	got := map[string]point{}
	if len(all) == before {
		return got
	}
	md := all[len(all)-1]
	require.Equal(t, 1, md.ResourceMetrics().Len())
	sm := md.ResourceMetrics().At(0).ScopeMetrics().At(0)
	require.Equal(t, scopeName, sm.Scope().Name())
	name := func(a pcommon.Map) string {
		s := func(k string) string {
			if v, ok := a.Get(k); ok {
				return v.AsString()
			}
			return ""
		}
		return fmt.Sprintf("%s/%s -> %s/%s (%s)", s(labelClient), s(labelClientCluster), s(labelServer), s(labelServerCluster), s(labelConnectionType))
	}
	for _, m := range sm.Metrics().All() {
		switch m.Name() {
		case metricRequests, metricFailed:
			require.True(t, m.Sum().IsMonotonic())
			require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality())
			for _, dp := range m.Sum().DataPoints().All() {
				p := got[name(dp.Attributes())]
				p.labels = dp.Attributes().AsRaw()
				if m.Name() == metricRequests {
					p.requests = dp.IntValue()
				} else {
					p.failed = dp.IntValue()
				}
				got[name(dp.Attributes())] = p
			}
		case metricServerSeconds, metricClientSeconds:
			require.Equal(t, "s", m.Unit())
			for _, dp := range m.Histogram().DataPoints().All() {
				p := got[name(dp.Attributes())]
				var sum uint64
				for _, n := range dp.BucketCounts().All() {
					sum += n
				}
				require.Equal(t, dp.Count(), sum, "bucket counts add up to the count")
				require.Equal(t, dp.ExplicitBounds().Len()+1, dp.BucketCounts().Len())
				if m.Name() == metricServerSeconds {
					p.serverCount, p.serverSeconds = dp.Count(), dp.Sum()
					if dp.Exemplars().Len() > 0 {
						p.exemplarTrace = dp.Exemplars().At(0).TraceID().String()
					}
				} else {
					p.clientCount, p.clientSeconds = dp.Count(), dp.Sum()
				}
				got[name(dp.Attributes())] = p
			}
		default:
			t.Fatalf("unexpected metric %s", m.Name())
		}
	}
	return got
}

// discarded is vigil_servicemap_discarded_spans_total by reason.
func (h *harness) discarded(t *testing.T) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	m, err := h.tel.GetMetric("vigil_servicemap_discarded_spans")
	if err != nil {
		return got
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		r, _ := dp.Attributes.Value("reason")
		got[r.AsString()] += dp.Value
	}
	return got
}

func (h *harness) gauge(t *testing.T, name string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(t, err)
	dps := m.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, dps, 1)
	return dps[0].Value
}

var (
	frontendCall = span{service: "frontend", cluster: "cluster-a", kind: ptrace.SpanKindClient, trace: 1, id: 0x11, parent: 0x10, duration: 30 * time.Millisecond}
	backendServe = span{service: "backend", cluster: "cluster-b", kind: ptrace.SpanKindServer, trace: 1, id: 0x12, parent: 0x11, duration: 20 * time.Millisecond}
)

const crossEdge = "frontend/cluster-a -> backend/cluster-b ()"

// TestPairsWhateverTheOrderAndBatches: a client span and its server child, from two clusters,
// make one request on the edge frontend/cluster-a → backend/cluster-b — in one batch or two,
// client first or server first — with the server's duration on the server histogram and the
// client's on the client histogram, and an exemplar naming the trace.
func TestPairsWhateverTheOrderAndBatches(t *testing.T) {
	for _, tt := range []struct {
		name    string
		batches [][]span
	}{
		{"one batch, client first", [][]span{{frontendCall, backendServe}}},
		{"one batch, server first", [][]span{{backendServe, frontendCall}}},
		{"two batches, client first", [][]span{{frontendCall}, {backendServe}}},
		{"two batches, server first", [][]span{{backendServe}, {frontendCall}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			for i, b := range tt.batches {
				h.send(t, b...)
				if i == 0 && len(tt.batches) > 1 {
					require.Empty(t, h.edges(t), "nothing is counted before the pair is whole")
					require.EqualValues(t, 1, h.gauge(t, "vigil_servicemap_pending_edges"))
				}
				h.now = h.now.Add(time.Second) // within wait
				h.c.expire(h.now)
			}
			got := h.edges(t)
			require.Equal(t, map[string]point{crossEdge: {
				labels:   map[string]any{"client": "frontend", "client_k8s_cluster_name": "cluster-a", "server": "backend", "server_k8s_cluster_name": "cluster-b"},
				requests: 1, serverCount: 1, clientCount: 1, serverSeconds: 0.02, clientSeconds: 0.03,
				exemplarTrace: traceID(1).String(),
			}}, got)
			require.EqualValues(t, 0, h.gauge(t, "vigil_servicemap_pending_edges"))
			require.EqualValues(t, 1, h.gauge(t, "vigil_servicemap_edges"))
			require.Empty(t, h.discarded(t))
		})
	}
}

// TestCountsAreCumulative: each flush sends the totals since the edge was first seen; a request
// fails when either side has an error status; the exemplar is sent once.
func TestCountsAreCumulative(t *testing.T) {
	h := newHarness(t, nil)
	h.send(t, frontendCall, backendServe)
	require.Equal(t, int64(1), h.edges(t)[crossEdge].requests)
	clientFails, serverFails := frontendCall, backendServe
	clientFails.trace, serverFails.trace, clientFails.failed = 2, 2, true
	bothOK := []span{frontendCall, backendServe}
	bothOK[0].trace, bothOK[1].trace = 3, 3
	serverFails2 := []span{frontendCall, backendServe}
	serverFails2[0].trace, serverFails2[1].trace, serverFails2[1].failed = 4, 4, true
	h.send(t, clientFails, serverFails)
	h.send(t, bothOK...)
	h.send(t, serverFails2...)
	p := h.edges(t)[crossEdge]
	require.Equal(t, int64(4), p.requests)
	require.Equal(t, int64(2), p.failed)
	require.Equal(t, uint64(4), p.serverCount)
	require.InDelta(t, 0.08, p.serverSeconds, 1e-9)
	require.Equal(t, traceID(4).String(), p.exemplarTrace, "the exemplar is the last request's")
	require.Empty(t, h.edges(t)[crossEdge].exemplarTrace, "an exemplar is sent once")
	require.Equal(t, int64(4), h.edges(t)[crossEdge].requests)
}

// TestExpiry: a side whose pair does not come within wait is given up and counted (expired); a
// client span that names its peer becomes a request to a virtual node instead; a side is kept
// until wait has passed.
func TestExpiry(t *testing.T) {
	h := newHarness(t, nil)
	lonelyServer := backendServe
	lonelyServer.trace = 5
	lonelyClient := frontendCall
	lonelyClient.trace = 6
	payments := frontendCall
	payments.trace, payments.attrs = 7, map[string]any{"peer.service": "payments-api", "http.method": "POST"}
	h.send(t, lonelyServer, lonelyClient, payments)
	require.EqualValues(t, 3, h.gauge(t, "vigil_servicemap_pending_edges"))

	h.now = h.now.Add(2*time.Second - time.Nanosecond)
	h.c.expire(h.now)
	require.EqualValues(t, 3, h.gauge(t, "vigil_servicemap_pending_edges"), "kept until wait has passed")
	require.Empty(t, h.edges(t))

	h.now = h.now.Add(time.Nanosecond)
	h.c.expire(h.now)
	require.EqualValues(t, 0, h.gauge(t, "vigil_servicemap_pending_edges"))
	require.Equal(t, map[string]int64{"expired": 2}, h.discarded(t))
	got := h.edges(t)
	require.Equal(t, map[string]point{"frontend/cluster-a -> payments-api/ (virtual_node)": {
		labels:   map[string]any{"client": "frontend", "client_k8s_cluster_name": "cluster-a", "server": "payments-api", "connection_type": "virtual_node"},
		requests: 1, serverCount: 1, clientCount: 1, serverSeconds: 0.03, clientSeconds: 0.03, exemplarTrace: traceID(7).String(),
	}}, got)

	// The server span that comes after its client span expired waits, and expires, on its own.
	late := backendServe
	late.trace = 6
	h.send(t, late)
	h.now = h.now.Add(2 * time.Second)
	h.c.expire(h.now)
	require.Equal(t, map[string]int64{"expired": 3}, h.discarded(t))
	require.Len(t, h.edges(t), 1)
}

// TestPendingIsBounded: at max_pending_edges the oldest waiting span gives up its place
// (evicted), and the pairs of the others are still made.
func TestPendingIsBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxPendingEdges = 3 })
	var clients, servers []span
	for i := byte(1); i <= 5; i++ {
		c, s := frontendCall, backendServe
		c.trace, s.trace = i, i
		clients, servers = append(clients, c), append(servers, s)
	}
	h.send(t, clients...)
	require.EqualValues(t, 3, h.gauge(t, "vigil_servicemap_pending_edges"))
	require.Equal(t, map[string]int64{"evicted": 2}, h.discarded(t))
	h.send(t, servers[2:]...)
	require.Equal(t, int64(3), h.edges(t)[crossEdge].requests)
	h.send(t, servers[:2]...) // their clients were evicted: they wait, then expire
	require.EqualValues(t, 2, h.gauge(t, "vigil_servicemap_pending_edges"))
	h.now = h.now.Add(time.Minute)
	h.c.expire(h.now)
	require.Equal(t, map[string]int64{"evicted": 2, "expired": 2}, h.discarded(t))
	require.Equal(t, int64(3), h.edges(t)[crossEdge].requests)
}

// TestEdgesAreBounded: a request on a new edge beyond max_edges is not counted (max_edges, both
// of its spans); the edges already held keep counting.
func TestEdgesAreBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxEdges = 1 })
	h.send(t, frontendCall, backendServe)
	other := []span{frontendCall, backendServe}
	other[0].trace, other[1].trace, other[1].service = 2, 2, "inventory"
	h.send(t, other...)
	again := []span{frontendCall, backendServe}
	again[0].trace, again[1].trace = 3, 3
	h.send(t, again...)
	got := h.edges(t)
	require.Len(t, got, 1)
	require.Equal(t, int64(2), got[crossEdge].requests)
	require.Equal(t, map[string]int64{"max_edges": 2}, h.discarded(t))
	require.EqualValues(t, 1, h.gauge(t, "vigil_servicemap_edges"))
}

// TestKinds: a root server span is called by "user" (virtual node); a client span to a database
// is a request to the database at once; a producer and its consumer make a messaging_system edge;
// internal spans and spans without IDs count nowhere (the latter counted as invalid_id); a
// resource without service.name is unknown_service.
func TestKinds(t *testing.T) {
	h := newHarness(t, nil)
	h.send(t,
		span{service: "frontend", cluster: "cluster-a", kind: ptrace.SpanKindServer, trace: 1, id: 1, duration: time.Second},
		span{service: "backend", cluster: "cluster-b", kind: ptrace.SpanKindClient, trace: 2, id: 2, duration: time.Millisecond,
			attrs: map[string]any{"db.system": "postgresql", "server.address": "orders-db.cluster-b", "db.namespace": "orders"}},
		span{service: "backend", cluster: "cluster-b", kind: ptrace.SpanKindClient, trace: 2, id: 3, duration: time.Millisecond,
			attrs: map[string]any{"db.system": "redis"}},
		span{service: "backend", cluster: "cluster-b", kind: ptrace.SpanKindProducer, trace: 3, id: 4, duration: time.Millisecond,
			attrs: map[string]any{"db.system": "ignored on a producer"}},
		span{cluster: "cluster-a", kind: ptrace.SpanKindConsumer, trace: 3, id: 5, parent: 4, duration: 2 * time.Millisecond},
		span{service: "backend", kind: ptrace.SpanKindInternal, trace: 4, id: 6, parent: 1},
		span{service: "backend", kind: ptrace.SpanKindUnspecified, trace: 4, id: 7, parent: 1},
		span{service: "backend", kind: ptrace.SpanKindClient, trace: 0, id: 8},
		span{service: "backend", kind: ptrace.SpanKindServer, trace: 4, id: 0, parent: 1},
	)
	got := h.edges(t)
	require.Len(t, got, 4)
	require.Equal(t, int64(1), got["user/ -> frontend/cluster-a (virtual_node)"].requests)
	require.Equal(t, 1.0, got["user/ -> frontend/cluster-a (virtual_node)"].clientSeconds, "the server's duration stands for the client's")
	require.Equal(t, int64(1), got["backend/cluster-b -> orders-db.cluster-b/ (database)"].requests)
	require.Equal(t, int64(1), got["backend/cluster-b -> redis/ (database)"].requests)
	require.Equal(t, int64(1), got["backend/cluster-b -> unknown_service/cluster-a (messaging_system)"].requests)
	require.Equal(t, map[string]int64{"invalid_id": 2}, h.discarded(t))
	require.EqualValues(t, 0, h.gauge(t, "vigil_servicemap_pending_edges"))
}

// TestConcurrentBatches: clients and servers sent from several goroutines at once (-race) pair
// into exactly one request each.
func TestConcurrentBatches(t *testing.T) {
	h := newHarness(t, nil)
	const n = 200
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range n {
				s := frontendCall
				if g%2 == 1 {
					s = backendServe
				}
				id := traceID(byte(g/2 + 1))
				td := batch(s)
				sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
				id[15], id[14] = byte(i), byte(i>>8)
				sp.SetTraceID(id)
				require.NoError(t, h.c.ConsumeTraces(context.Background(), td))
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(2*n), h.edges(t)[crossEdge].requests)
	require.EqualValues(t, 0, h.gauge(t, "vigil_servicemap_pending_edges"))
}

// TestNamesArePrometheusNames: Prometheus's OTLP translation (as the promrw exporter and the
// alert core use it) gives the metrics exactly Tempo's names, which Grafana's service graph queries.
func TestNamesArePrometheusNames(t *testing.T) {
	namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	for _, tt := range []struct {
		name, unit string
		typ        otlptranslator.MetricType
	}{
		{metricRequests, "{request}", otlptranslator.MetricTypeMonotonicCounter},
		{metricFailed, "{request}", otlptranslator.MetricTypeMonotonicCounter},
		{metricServerSeconds, "s", otlptranslator.MetricTypeHistogram},
		{metricClientSeconds, "s", otlptranslator.MetricTypeHistogram},
	} {
		got, err := namer.Build(otlptranslator.Metric{Name: tt.name, Unit: tt.unit, Type: tt.typ})
		require.NoError(t, err)
		require.Equal(t, tt.name, got)
	}
}

// TestLifecycle: Shutdown before Start is fine; after Start it stops the background work
// (goleak) and sends the metrics one last time; a second Shutdown does nothing.
func TestLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.c.Shutdown(context.Background()))

	h = newHarness(t, func(c *Config) { c.MetricsFlushInterval = time.Hour })
	require.NoError(t, h.c.Start(context.Background(), componenttest.NewNopHost()))
	h.send(t, frontendCall, backendServe)
	require.Empty(t, h.sink.AllMetrics())
	require.NoError(t, h.c.Shutdown(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1, "the last flush at shutdown")
	require.NoError(t, h.c.Shutdown(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1)
}

// TestFlushAndExpiryRunByThemselves: once started, the connector expires and flushes on its own.
func TestFlushAndExpiryRunByThemselves(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := createDefaultConfig()
	cfg.Wait, cfg.MetricsFlushInterval = 50*time.Millisecond, 50*time.Millisecond
	cfg.Instance = "gateway-1"
	sink := &consumertest.MetricsSink{}
	set := connectortest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	payments := frontendCall
	payments.attrs = map[string]any{"peer.service": "payments-api"}
	require.NoError(t, c.ConsumeTraces(context.Background(), batch(payments)))
	require.Eventually(t, func() bool {
		for _, md := range sink.AllMetrics() {
			rm := md.ResourceMetrics().At(0)
			if v, _ := rm.Resource().Attributes().Get("service.instance.id"); v.Str() != "gateway-1" {
				return false
			}
			if rm.ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().Len() == 1 {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the expired client span became a virtual-node request, flushed")
}

// FuzzConnector: any sequence of client, server, producer, consumer and internal spans (IDs from
// a small space, so that pairs, duplicates and orphans are frequent), with the clock moving and
// small bounds, never panics, keeps the bounds, and accounts for every client and server span
// exactly once: in a request (two per paired request, one per request to or from a virtual node
// or database), discarded by reason, or still waiting.
func FuzzConnector(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 1, 1, 3, 2})
	f.Add([]byte{1, 1, 3, 2, 0, 1, 2, 0, 5, 30, 0, 0})
	f.Add([]byte{0, 1, 2, 0, 0, 1, 2, 0, 0, 2, 2, 0, 0, 3, 2, 0, 0, 1, 3, 0, 1, 2, 4, 3})
	f.Add([]byte{64, 1, 2, 0, 128, 1, 3, 0, 5, 25, 0, 0, 1, 0, 4, 0, 2, 1, 5, 0, 3, 1, 6, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t, func(c *Config) { c.MaxPendingEdges, c.MaxEdges = 3, 4 })
		kinds := []ptrace.SpanKind{ptrace.SpanKindClient, ptrace.SpanKindServer, ptrace.SpanKindProducer,
			ptrace.SpanKindConsumer, ptrace.SpanKindInternal}
		sides := int64(0)
		for len(ops) >= 4 {
			op, a, b, c := ops[0], ops[1], ops[2], ops[3]
			ops = ops[4:]
			if op%6 == 5 {
				h.now = h.now.Add(time.Duration(a) * 100 * time.Millisecond)
				h.c.expire(h.now)
				continue
			}
			s := span{service: []string{"a", "b", "c"}[a%3], cluster: []string{"x", "y"}[b%2], kind: kinds[op%6],
				trace: a % 3, id: b % 5, parent: c % 6, duration: time.Duration(c) * time.Millisecond, failed: c%7 == 0}
			switch {
			case op&64 != 0:
				s.attrs = map[string]any{"peer.service": fmt.Sprint("peer-", a%2)}
			case op&128 != 0:
				s.attrs = map[string]any{"db.system": "postgresql"}
			}
			if s.kind != ptrace.SpanKindInternal {
				sides++
			}
			h.send(t, s)
			require.LessOrEqual(t, h.gauge(t, "vigil_servicemap_pending_edges"), int64(3))
			require.LessOrEqual(t, h.gauge(t, "vigil_servicemap_edges"), int64(4))
		}
		accounted := h.gauge(t, "vigil_servicemap_pending_edges")
		for _, n := range h.discarded(t) {
			accounted += n
		}
		for _, p := range h.edges(t) {
			switch p.labels[labelConnectionType] {
			case nil, "messaging_system":
				accounted += 2 * p.requests
			default:
				accounted += p.requests
			}
			require.LessOrEqual(t, p.failed, p.requests)
		}
		require.Equal(t, sides, accounted, "every client and server span accounted for once")
	})
}
