package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// logSink is an OTLP/gRPC logs server that keeps what it receives.
type logSink struct {
	plogotlp.UnimplementedGRPCServer
	mu      sync.Mutex
	byBody  map[string]string // body -> "k8s.cluster.name/k8s.node.name" of its last delivery
	times   map[string]int    // body -> how many times it was delivered
	records int
}

func (s *logSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		attrs := rls.At(i).Resource().Attributes().AsRaw()
		cluster, node := fmt.Sprint(attrs["k8s.cluster.name"]), fmt.Sprint(attrs["k8s.node.name"])
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				body := lrs.At(k).Body().AsString()
				s.byBody[body] = cluster + "/" + node
				s.times[body]++
				s.records++
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

func (s *logSink) get(body string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byBody[body]
	return v, ok
}

// deliveries returns how many times body was delivered.
func (s *logSink) deliveries(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[body]
}

func startLogSink(t *testing.T) (*logSink, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	sink := &logSink{byBody: map[string]string{}, times: map[string]int{}}
	plogotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sink, l.Addr().String()
}

// TestTwoClustersIdentityEnforced runs a gateway and three agents with client certificates:
// agents of cluster-a and cluster-b deliver their own data; an agent holding cluster-a's
// certificate but configured as cluster-b is refused, and the refusal is counted.
func TestTwoClustersIdentityEnforced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four vigil processes; skipped with -short")
	}
	ca := testutil.NewCA(t)
	certA := ca.Issue(t, "vigil-agent.cluster-a")
	certB := ca.Issue(t, "agent-b", "vigil-agent.cluster-b")
	sink, sinkAddr := startLogSink(t)
	gw := startGateway(t, ca, testutil.FreeAddr(t), sinkAddr)
	gateway, gwGRPC := gw.proc, gw.grpcAddr
	startAgent := func(name, cluster string, cert testutil.CertFiles) string {
		spec := newAgentSpec(t, name, cluster, cert, ca.CertFile, gwGRPC)
		spec.start(t)
		return spec.otlpHTTP
	}
	agentA := startAgent("agent-a", "cluster-a", certA)
	agentB := startAgent("agent-b", "cluster-b", certB)
	spoofer := startAgent("agent-spoof", "cluster-b", certA) // holds cluster-a's certificate

	sendSDKLogs(t, agentA, 20, "from-a")
	sendSDKLogs(t, agentB, 20, "from-b")
	sendSDKLogs(t, spoofer, 20, "from-spoofer")

	testutil.Eventually(t, 30*time.Second, func() error {
		for i := range 20 {
			for body, want := range map[string]string{
				fmt.Sprintf("from-a %d", i): "cluster-a/node-of-agent-a",
				fmt.Sprintf("from-b %d", i): "cluster-b/node-of-agent-b",
			} {
				got, ok := sink.get(body)
				if !ok {
					return fmt.Errorf("%q not delivered yet", body)
				}
				if got != want {
					return fmt.Errorf("%q arrived as %s, want %s", body, got, want)
				}
			}
		}
		return nil
	})
	gwMetricsURL := gw.metricsURL
	testutil.Eventually(t, 30*time.Second, func() error {
		v, err := testutil.ScrapeSum(gwMetricsURL, "vigil_clusteridentity_discarded_items_total", `reason="cluster_mismatch"`, `signal="logs"`)
		if err != nil {
			return err
		}
		if v < 20 {
			return fmt.Errorf("discarded %v, want >= 20", v)
		}
		return nil
	})
	for i := range 20 {
		_, ok := sink.get(fmt.Sprintf("from-spoofer %d", i))
		require.False(t, ok, "data claiming another cluster must never be delivered")
	}

	// A client holding cluster-a's certificate that writes as cluster-b directly gets PermissionDenied
	// naming both clusters; the same client writing as itself succeeds.
	client := grpcClient(t, gwGRPC, ca.CertFile, &certA)
	claim := func(cluster, body string) error {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
		return err
	}
	err := claim("cluster-b", "direct-spoof")
	require.Equal(t, codes.PermissionDenied, status.Code(err), "error: %v", err)
	require.Contains(t, err.Error(), `the credential of cluster "cluster-a" cannot write as k8s.cluster.name "cluster-b"`)
	require.NoError(t, claim("cluster-a", "direct-own"))

	// Without a client certificate the TLS handshake itself fails.
	anonymous := grpcClient(t, gwGRPC, ca.CertFile, nil)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("anonymous")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = anonymous.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	require.Error(t, err)

	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := sink.get("direct-own"); !ok {
			return fmt.Errorf("direct-own not delivered")
		}
		return nil
	})
	_, spoofed := sink.get("direct-spoof")
	require.False(t, spoofed)
	require.False(t, strings.Contains(gateway.Output(), "panic"))
}

func grpcClient(t *testing.T, addr, caFile string, cert *testutil.CertFiles) plogotlp.GRPCClient {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return plogotlp.NewGRPCClient(conn)
}
