package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// tracesGateway is a vigil gateway (deploy/config/gateway.yaml) with clusters cluster-a and
// cluster-b whose traces go to a Jaeger; the same spec restarts it on the same data directory.
type tracesGateway struct {
	ca                    *testutil.CA
	cert                  testutil.CertFiles
	grpcAddr, jaegerOTLP  string
	dataDir, override     string
	health, metricsPort   string
	otherListeners        []string
	proc                  *testutil.Process
	metricsURL, traceNote string
	env                   []string // more environment, e.g. VIGIL_PROMRW_URL
}

func newTracesGateway(t *testing.T, ca *testutil.CA, jaegerOTLP string) *tracesGateway {
	t.Helper()
	g := &tracesGateway{ca: ca, cert: ca.Issue(t, "vigil-gateway"), grpcAddr: testutil.FreeAddr(t),
		jaegerOTLP: jaegerOTLP, dataDir: t.TempDir(), override: filepath.Join(t.TempDir(), "clusters.yaml"),
		health: testutil.FreeAddr(t), metricsPort: fmt.Sprint(testutil.FreePort(t))}
	for range 4 {
		g.otherListeners = append(g.otherListeners, testutil.FreeAddr(t))
	}
	g.metricsURL = "http://127.0.0.1:" + g.metricsPort + "/metrics"
	require.NoError(t, os.WriteFile(g.override, []byte(`
extensions:
  clusterauth:
    clusters:
      - name: cluster-a
        subjects: [vigil-agent.cluster-a]
      - name: cluster-b
        subjects: [vigil-agent.cluster-b]
`), 0o600))
	return g
}

// start runs the gateway as shipped, with only the environment set: VIGIL_TRACES_ENDPOINT names
// Jaeger's OTLP/gRPC receiver (plaintext on loopback).
func (g *tracesGateway) start(t *testing.T) {
	t.Helper()
	g.proc = testutil.Start(t, "gateway", append([]string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + g.grpcAddr, "VIGIL_OTLP_HTTP_ENDPOINT=" + g.otherListeners[0],
		"VIGIL_AUDIT_ENDPOINT=" + g.otherListeners[1], "VIGIL_AUDIT_OTLP_ENDPOINT=" + g.otherListeners[2],
		"VIGIL_HEALTH_ENDPOINT=" + g.health, "VIGIL_API_ENDPOINT=" + g.otherListeners[3],
		"VIGIL_METRICS_PORT=" + g.metricsPort,
		"VIGIL_TLS_CA_FILE=" + g.ca.CertFile, "VIGIL_TLS_CERT_FILE=" + g.cert.CertFile, "VIGIL_TLS_KEY_FILE=" + g.cert.KeyFile,
		"VIGIL_TRACES_ENDPOINT=" + g.jaegerOTLP, "VIGIL_TRACES_INSECURE=true",
	}, g.env...), testutil.VigilBinary(t), "--config", "../../deploy/config/gateway.yaml", "--config", g.override, "--data-dir", g.dataDir)
	testutil.WaitHTTP(t, "http://"+g.health+"/", 30*time.Second, g.proc)
}

// tracerProvider is an OTel SDK tracer provider of one service whose spans are exported,
// synchronously as each ends, over OTLP/gRPC to an agent: End returns once the agent answered.
func tracerProvider(t *testing.T, service, agentGRPC string) *sdktrace.TracerProvider {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(agentGRPC),
		otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	res := resource.NewWithAttributes("", attribute.String("service.name", service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(&failOnError{t: t, SpanExporter: exp}), sdktrace.WithResource(res))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// failOnError fails the test when an export is not acknowledged.
type failOnError struct {
	t *testing.T
	sdktrace.SpanExporter
}

func (f *failOnError) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := f.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		f.t.Errorf("agent did not acknowledge %d spans: %v", len(spans), err)
	}
	return err
}

// sentSpan is what a test expects Jaeger to return for one span.
type sentSpan struct {
	name, parent, service, cluster string
}

// sendCrossClusterTrace makes one trace whose spans come from two services: frontend (through
// agent A) calls backend (through agent B), which calls a database. It returns the trace ID and
// the spans by span ID.
func sendCrossClusterTrace(t *testing.T, frontend, backend *sdktrace.TracerProvider, clusterA, clusterB, tag string) (string, map[string]sentSpan) {
	t.Helper()
	want := map[string]sentSpan{}
	record := func(s trace.Span, name, service, cluster string, parent trace.SpanContext) {
		p := ""
		if parent.IsValid() {
			p = parent.SpanID().String()
		}
		want[s.SpanContext().SpanID().String()] = sentSpan{name: name, parent: p, service: service, cluster: cluster}
	}
	ctx, root := frontend.Tracer("test").Start(context.Background(), "GET /checkout "+tag)
	record(root, "GET /checkout "+tag, "frontend", clusterA, trace.SpanContext{})
	ctx, call := frontend.Tracer("test").Start(ctx, "call backend "+tag, trace.WithSpanKind(trace.SpanKindClient))
	record(call, "call backend "+tag, "frontend", clusterA, root.SpanContext())

	// The backend, in the other cluster, continues the trace from the propagated context.
	remote := trace.ContextWithRemoteSpanContext(context.Background(), call.SpanContext().WithRemote(true))
	bctx, serve := backend.Tracer("test").Start(remote, "POST /orders "+tag, trace.WithSpanKind(trace.SpanKindServer))
	record(serve, "POST /orders "+tag, "backend", clusterB, call.SpanContext())
	_, query := backend.Tracer("test").Start(bctx, "INSERT orders "+tag)
	record(query, "INSERT orders "+tag, "backend", clusterB, serve.SpanContext())
	query.End()
	serve.End()
	call.End()
	root.End()
	return root.SpanContext().TraceID().String(), want
}

// jaegerSpans fetches a trace from Jaeger and returns its spans by span ID, with the service and
// cluster of each span's resource; it fails (for Eventually) until every wanted span is there.
func jaegerSpans(j *testutil.Jaeger, traceID string, want map[string]sentSpan) (map[string]sentSpan, error) {
	td, found, err := j.Trace(traceID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("trace %s not in jaeger yet", traceID)
	}
	got := map[string]sentSpan{}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		attr := func(k string) string {
			v, ok := rs.Resource().Attributes().Get(k)
			if !ok {
				return ""
			}
			return v.AsString()
		}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				if s.TraceID().String() != traceID {
					return nil, fmt.Errorf("span %s of trace %s in the answer for trace %s", s.SpanID(), s.TraceID(), traceID)
				}
				got[s.SpanID().String()] = sentSpan{name: s.Name(), parent: parentID(s),
					service: attr("service.name"), cluster: attr("k8s.cluster.name")}
			}
		}
	}
	if len(got) < len(want) {
		return got, fmt.Errorf("trace %s: %d of %d spans in jaeger", traceID, len(got), len(want))
	}
	return got, nil
}

func parentID(s ptrace.Span) string {
	if s.ParentSpanID().IsEmpty() {
		return ""
	}
	return s.ParentSpanID().String()
}

// TestTracesFromTwoClustersReachJaegerWhole: one trace whose spans come from two clusters, through
// two agents and the gateway as shipped (VIGIL_TRACES_ENDPOINT set), is returned whole by a real
// Jaeger's query API: every span, the parent links across the clusters, and each span with the
// cluster (and service) of its own resource. The same spans reach a real Prometheus (VIGIL_PROMRW_URL
// set) as the service map's cross-cluster edge and as RED metrics per cluster and service
// (requireServiceMapInPrometheus).
func TestTracesFromTwoClustersReachJaegerWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil, jaeger and prometheus processes; skipped with -short")
	}
	jaeger := testutil.StartJaeger(t)
	prom := testutil.StartPrometheus(t, "nothing") // remote-write receiver
	ca := testutil.NewCA(t)
	gw := newTracesGateway(t, ca, jaeger.OTLPGRPC)
	gw.env = []string{"VIGIL_PROMRW_URL=" + prom.URL + "/api/v1/write"}
	gw.start(t)
	agentA := newAgentSpec(t, "agent-a", "cluster-a", ca.Issue(t, "agent-a", "vigil-agent.cluster-a"), ca.CertFile, gw.grpcAddr)
	agentB := newAgentSpec(t, "agent-b", "cluster-b", ca.Issue(t, "agent-b", "vigil-agent.cluster-b"), ca.CertFile, gw.grpcAddr)
	agentA.start(t)
	agentB.start(t)

	frontend := tracerProvider(t, "frontend", agentA.otlpGRPC)
	backend := tracerProvider(t, "backend", agentB.otlpGRPC)
	traceID, want := sendCrossClusterTrace(t, frontend, backend, "cluster-a", "cluster-b", "whole")
	// The backend runs in cluster-a too: a second trace stays inside cluster-a.
	localBackend := tracerProvider(t, "backend", agentA.otlpGRPC)
	sendCrossClusterTrace(t, frontend, localBackend, "cluster-a", "cluster-a", "local")

	var got map[string]sentSpan
	testutil.Eventually(t, 60*time.Second, func() error {
		var err error
		got, err = jaegerSpans(jaeger, traceID, want)
		return err
	})
	require.Equal(t, want, got, "trace %s as Jaeger returns it", traceID)
	requireServiceMapInPrometheus(t, prom)
	// The correlation dashboard's Prometheus panels and variables show these services and edges.
	checkCorrelationPrometheus(t, prom)
}

// TestTracesQueuedWhileJaegerIsDownAllArrive: with Jaeger down, spans are sent and acknowledged,
// and the gateway has accepted them all; it is killed with SIGKILL and restarted on the same data
// directory while Jaeger is still down. Once Jaeger is back on the same port, the durable queue
// drains: every span arrives, with its parent and its cluster.
func TestTracesQueuedWhileJaegerIsDownAllArrive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil and jaeger processes; skipped with -short")
	}
	jaeger := testutil.StartJaeger(t)
	ca := testutil.NewCA(t)
	gw := newTracesGateway(t, ca, jaeger.OTLPGRPC)
	gw.start(t)
	agentA := newAgentSpec(t, "agent-a", "cluster-a", ca.Issue(t, "agent-a", "vigil-agent.cluster-a"), ca.CertFile, gw.grpcAddr)
	agentB := newAgentSpec(t, "agent-b", "cluster-b", ca.Issue(t, "agent-b", "vigil-agent.cluster-b"), ca.CertFile, gw.grpcAddr)
	agentA.start(t)
	agentB.start(t)
	frontend := tracerProvider(t, "frontend", agentA.otlpGRPC)
	backend := tracerProvider(t, "backend", agentB.otlpGRPC)

	// The path works before the outage.
	firstID, firstWant := sendCrossClusterTrace(t, frontend, backend, "cluster-a", "cluster-b", "before")
	testutil.Eventually(t, 60*time.Second, func() error { _, err := jaegerSpans(jaeger, firstID, firstWant); return err })

	jaeger.Stop(t)
	const traces = 25
	wants := map[string]map[string]sentSpan{}
	spans := 0
	for i := range traces {
		id, want := sendCrossClusterTrace(t, frontend, backend, "cluster-a", "cluster-b", fmt.Sprint("outage-", i))
		wants[id] = want
		spans += len(want)
	}
	require.False(t, t.Failed(), "every export was acknowledged by the agents")
	// The gateway has acknowledged every span to the agents (the 4 spans of the first trace too).
	testutil.Eventually(t, 60*time.Second, func() error {
		got, err := testutil.ScrapeSum(gw.metricsURL, "otelcol_receiver_accepted_spans_total", `receiver="otlp"`)
		if err != nil {
			return err
		}
		if got < float64(spans+len(firstWant)) {
			return fmt.Errorf("gateway accepted %v of %d spans", got, spans+len(firstWant))
		}
		return nil
	})

	if err := gw.proc.Cmd.Process.Kill(); err != nil { // SIGKILL: no flush, no shutdown
		t.Fatal(err)
	}
	_, _ = gw.proc.Stop(5 * time.Second)
	gw.start(t) // same data directory, Jaeger still down
	time.Sleep(2 * time.Second)
	jaeger.Restart(t)

	ids := make([]string, 0, len(wants))
	for id := range wants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	testutil.Eventually(t, 120*time.Second, func() error {
		for _, id := range ids {
			got, err := jaegerSpans(jaeger, id, wants[id])
			if err != nil {
				return err
			}
			if len(got) != len(wants[id]) {
				return fmt.Errorf("trace %s: %d spans, want %d", id, len(got), len(wants[id]))
			}
		}
		return nil
	})
	for _, id := range ids {
		got, err := jaegerSpans(jaeger, id, wants[id])
		require.NoError(t, err)
		require.Equal(t, wants[id], got, "trace %s as Jaeger returns it after the outage", id)
	}
}
