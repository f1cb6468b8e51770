// Package fluentforwardtest runs a real fluentd-protocol client against real vigil processes. It
// is apart from cmd/vigil because fluent-logger-golang and the fluent_forward receiver each
// register msgpack extension type 0 with tinylib/msgp, which panics in one binary.
package fluentforwardtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/stretchr/testify/require"
	"github.com/tinylib/msgp/msgp"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the gateway exports gzip-compressed

	"github.com/vigil-obs/vigil/internal/testutil"
)

var (
	roleDir      = filepath.Join("..", "..", "..", "deploy", "config")
	agentOverlay = filepath.Join("..", "..", "..", "deploy", "examples", "fluentforward-in.yaml")
)

// identitySink is an OTLP/gRPC logs server that keeps each record's resource and severity by body.
type identitySink struct {
	plogotlp.UnimplementedGRPCServer
	mu      sync.Mutex
	records map[string]sunkRecord
}

type sunkRecord struct {
	resource map[string]any
	severity string
	attrs    map[string]any
}

func (s *identitySink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource().Attributes().AsRaw()
		for j := 0; j < rls.At(i).ScopeLogs().Len(); j++ {
			lrs := rls.At(i).ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				s.records[lr.Body().AsString()] = sunkRecord{res, lr.SeverityText(), lr.Attributes().AsRaw()}
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

func (s *identitySink) get(body string) (sunkRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[body]
	return r, ok
}

func startIdentitySink(t *testing.T) (*identitySink, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	sink := &identitySink{records: map[string]sunkRecord{}}
	plogotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sink, l.Addr().String()
}

// fluentRecord is a record as fluentd's kubernetes_metadata filter leaves it.
func fluentRecord(line, stream, pod string) map[string]any {
	return map[string]any{
		"log": line + "\n", "stream": stream,
		"docker": map[string]any{"container_id": "c0ffee" + pod},
		"kubernetes": map[string]any{
			"namespace_name": "shop", "pod_name": pod, "pod_id": "uid-" + pod, "container_name": "api",
			"host": "node-of-agent-fluent", "container_image": "registry.example/shop/api:1.4.2",
			"labels": map[string]any{"app": "api", "pod-template-hash": "7d9f8b6c5"},
		},
	}
}

// sendAcked writes one forward-protocol event to conn and waits for the ack of its chunk.
func sendAcked(t *testing.T, conn net.Conn, event []byte, chunk string) {
	t.Helper()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err := conn.Write(event)
	require.NoError(t, err)
	var ack fluent.AckResp
	require.NoError(t, ack.DecodeMsg(msgp.NewReader(conn)))
	require.Equal(t, chunk, ack.Ack)
}

// TestFluentForwardThroughAgentToGateway: a fluentd-protocol client sends to a real agent with
// deploy/examples/fluentforward-in.yaml in Message mode (fluent-logger-golang, RequestAck),
// Forward and PackedForward mode (the library's protocol types, chunk option, ack read back);
// every record reaches a sink behind a real gateway with the pod identity of its kubernetes map
// and the agent's cluster.
func TestFluentForwardThroughAgentToGateway(t *testing.T) {
	ca := testutil.NewCA(t)
	sink, sinkAddr := startIdentitySink(t)
	gateway := startGateway(t, ca, sinkAddr)
	fwd := startAgent(t, ca, gateway)

	host, portText, err := net.SplitHostPort(fwd)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	now := time.Now()

	// Message mode, as fluent-logger-golang sends: Post returns once the chunk is acknowledged.
	logger, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: port, RequestAck: true,
		SubSecondPrecision: true, Timeout: 10 * time.Second, MaxRetry: 3})
	require.NoError(t, err)
	require.NoError(t, logger.PostWithTime("kube.var.log.containers.message", now, fluentRecord("message mode line", "stdout", "api-0")))
	require.NoError(t, logger.Close())

	conn, err := net.Dial("tcp", fwd)
	require.NoError(t, err)
	defer conn.Close()

	// Forward mode: [tag, [[time, record], ...], {chunk}].
	fw := fluent.Forward{Tag: "kube.var.log.containers.forward", Option: map[string]string{"chunk": "Zm9yd2FyZA=="}, Entries: []fluent.Entry{
		{Time: now.Unix(), Record: fluentRecord("forward mode line 1", "stdout", "api-1")},
		{Time: now.Unix(), Record: fluentRecord("E1207 05:01:04.000000 1 sync.go:42] forward mode line 2", "stderr", "api-2")},
	}}
	event, err := fw.MarshalMsg(nil)
	require.NoError(t, err)
	sendAcked(t, conn, event, "Zm9yd2FyZA==")

	// PackedForward mode: [tag, bin(entries as one msgpack stream), {chunk, size}].
	var entries []byte
	for i, line := range []string{"packed mode line 1", "packed mode line 2"} {
		entries, err = fluent.Entry{Time: now.Unix(), Record: fluentRecord(line, "stdout", fmt.Sprintf("api-%d", 3+i))}.MarshalMsg(entries)
		require.NoError(t, err)
	}
	event = msgp.AppendArrayHeader(nil, 3)
	event = msgp.AppendString(event, "kube.var.log.containers.packed")
	event = msgp.AppendBytes(event, entries)
	event = msgp.AppendMapHeader(event, 2)
	event = msgp.AppendString(msgp.AppendString(event, "chunk"), "cGFja2Vk")
	event = msgp.AppendString(msgp.AppendString(event, "size"), "2")
	sendAcked(t, conn, event, "cGFja2Vk")

	for body, want := range map[string]struct{ pod, severity, stream string }{
		"message mode line":   {"api-0", "INFO", "stdout"},
		"forward mode line 1": {"api-1", "INFO", "stdout"},
		"E1207 05:01:04.000000 1 sync.go:42] forward mode line 2": {"api-2", "ERROR", "stderr"},
		"packed mode line 1": {"api-3", "INFO", "stdout"},
		"packed mode line 2": {"api-4", "INFO", "stdout"},
	} {
		var got sunkRecord
		testutil.Eventually(t, 30*time.Second, func() error {
			var ok bool
			if got, ok = sink.get(body); !ok {
				return fmt.Errorf("%q not at the sink", body)
			}
			return nil
		})
		require.Equal(t, map[string]any{
			"k8s.cluster.name": "cluster-a", "k8s.node.name": "node-of-agent-fluent",
			"k8s.namespace.name": "shop", "k8s.pod.name": want.pod, "k8s.pod.uid": "uid-" + want.pod,
			"k8s.container.name": "api", "container.image.name": "registry.example/shop/api:1.4.2",
			"container.id": "c0ffee" + want.pod, "k8s.pod.label.app": "api",
		}, got.resource, body)
		require.Equal(t, want.severity, got.severity, body)
		require.Equal(t, want.stream, got.attrs["log.iostream"], body)
		require.Contains(t, got.attrs["fluent.tag"], "kube.var.log.containers.", body)
	}
}

// startGateway runs deploy/config/gateway.yaml knowing cluster-a (CN vigil-agent.cluster-a), its
// logs exported to sinkAddr; it returns the gateway's OTLP/gRPC address.
func startGateway(t *testing.T, ca *testutil.CA, sinkAddr string) string {
	t.Helper()
	cert := ca.Issue(t, "vigil-gateway")
	grpcAddr, health := testutil.FreeAddr(t), testutil.FreeAddr(t)
	override := filepath.Join(t.TempDir(), "clusters.yaml")
	require.NoError(t, os.WriteFile(override, []byte(fmt.Sprintf(`
extensions:
  clusterauth:
    clusters: [{name: cluster-a, subjects: [vigil-agent.cluster-a]}]
exporters:
  otlp_grpc/sink: {endpoint: %s, tls: {insecure: true}}
service:
  pipelines:
    logs: {exporters: [otlp_grpc/sink]}
`, sinkAddr)), 0o600))
	p := testutil.Start(t, "gateway", []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + grpcAddr, "VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_AUDIT_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_AUDIT_OTLP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + health, "VIGIL_API_ENDPOINT=" + testutil.FreeAddr(t),
		fmt.Sprintf("VIGIL_METRICS_PORT=%d", testutil.FreePort(t)),
		"VIGIL_TLS_CA_FILE=" + ca.CertFile, "VIGIL_TLS_CERT_FILE=" + cert.CertFile, "VIGIL_TLS_KEY_FILE=" + cert.KeyFile,
	}, testutil.VigilBinary(t), "--config", filepath.Join(roleDir, "gateway.yaml"), "--config", override, "--data-dir", t.TempDir())
	testutil.WaitHTTP(t, "http://"+health+"/", 30*time.Second, p)
	return grpcAddr
}

// startAgent runs deploy/config/agent.yaml of cluster-a on node node-of-agent-fluent with the
// forward overlay, forwarding to gateway; it returns the forward listener's address.
func startAgent(t *testing.T, ca *testutil.CA, gateway string) string {
	t.Helper()
	cert := ca.Issue(t, "vigil-agent.cluster-a")
	fwd, health := testutil.FreeAddr(t), testutil.FreeAddr(t)
	p := testutil.Start(t, "agent", []string{
		"VIGIL_CLUSTER_NAME=cluster-a", "K8S_NODE_NAME=node-of-agent-fluent", "VIGIL_GATEWAY_ENDPOINT=" + gateway,
		"VIGIL_TLS_CA_FILE=" + ca.CertFile, "VIGIL_TLS_CERT_FILE=" + cert.CertFile, "VIGIL_TLS_KEY_FILE=" + cert.KeyFile,
		"VIGIL_OTLP_GRPC_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + health, fmt.Sprintf("VIGIL_METRICS_PORT=%d", testutil.FreePort(t)),
		"VIGIL_AUDIT_LOG_PATH=" + filepath.Join(t.TempDir(), "audit.log"), "VIGIL_GATEWAY_AUDIT_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_POD_LOGS_DIR=" + t.TempDir(), "VIGIL_FLUENT_FORWARD_ENDPOINT=" + fwd,
	}, testutil.VigilBinary(t), "--config", filepath.Join(roleDir, "agent.yaml"), "--config", agentOverlay, "--data-dir", t.TempDir())
	testutil.WaitHTTP(t, "http://"+health+"/", 30*time.Second, p)
	return fwd
}
