package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// gatewayProc is a vigil gateway (deploy/config/gateway.yaml) whose logs go to an OTLP sink.
type gatewayProc struct {
	proc       *testutil.Process
	grpcAddr   string
	metricsURL string
}

// startGateway runs the gateway on grpcAddr with clusters cluster-a (CN vigil-agent.cluster-a)
// and cluster-b (SAN vigil-agent.cluster-b), exporting logs to sinkAddr.
func startGateway(t *testing.T, ca *testutil.CA, grpcAddr, sinkAddr string) *gatewayProc {
	t.Helper()
	return startGatewayOn(t, ca, grpcAddr, sinkAddr, t.TempDir(), testutil.FreeAddr(t), testutil.FreePort(t))
}

// startGatewayOn is startGateway on a data directory, with its health endpoint and metrics port:
// the same arguments restart the same gateway. Its sink exporter queues on walstorage, so that
// what it acknowledged reaches the sink after a SIGKILL and restart.
func startGatewayOn(t *testing.T, ca *testutil.CA, grpcAddr, sinkAddr, dataDir, health string, metricsPort int) *gatewayProc {
	t.Helper()
	return runGateway(t, ca, grpcAddr, nil, fmt.Sprintf(`
exporters:
  otlp_grpc/sink:
    endpoint: %s
    tls: {insecure: true}
    # durable, as the shipped exporters are: what the gateway acknowledged survives a SIGKILL
    sending_queue: {enabled: true, storage: walstorage}
service:
  pipelines:
    logs:
      exporters: [otlp_grpc/sink]
`, sinkAddr), dataDir, health, metricsPort)
}

// startGatewayWith runs the gateway on grpcAddr with clusters cluster-a and cluster-b, the extra
// environment env and the configuration override (YAML merged over deploy/config/gateway.yaml).
func startGatewayWith(t *testing.T, ca *testutil.CA, grpcAddr string, env []string, override string) *gatewayProc {
	t.Helper()
	return runGateway(t, ca, grpcAddr, env, override, t.TempDir(), testutil.FreeAddr(t), testutil.FreePort(t))
}

// clusterAToken is cluster-a's bearer token on the gateways of runGateway.
const clusterAToken = "token-of-cluster-a-0123456789"

// runGateway runs deploy/config/gateway.yaml on grpcAddr with clusters cluster-a and cluster-b,
// the extra environment env and the override (YAML), on dataDir, health and metricsPort.
func runGateway(t *testing.T, ca *testutil.CA, grpcAddr string, env []string, override, dataDir, health string, metricsPort int) *gatewayProc {
	t.Helper()
	gwCert := ca.Issue(t, "vigil-gateway")
	clusters := filepath.Join(t.TempDir(), "clusters.yaml")
	require.NoError(t, os.WriteFile(clusters, []byte(`
extensions:
  clusterauth:
    clusters:
      - name: cluster-a
        subjects: [vigil-agent.cluster-a]
        bearer_tokens: [`+clusterAToken+`]
      - name: cluster-b
        subjects: [vigil-agent.cluster-b]
`+override), 0o600))
	p := testutil.Start(t, "gateway", append([]string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + grpcAddr, "VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_AUDIT_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_AUDIT_OTLP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + health, "VIGIL_API_ENDPOINT=" + testutil.FreeAddr(t),
		fmt.Sprintf("VIGIL_METRICS_PORT=%d", metricsPort),
		"VIGIL_TLS_CA_FILE=" + ca.CertFile, "VIGIL_TLS_CERT_FILE=" + gwCert.CertFile, "VIGIL_TLS_KEY_FILE=" + gwCert.KeyFile,
	}, env...), testutil.VigilBinary(t), "--config", "../../deploy/config/gateway.yaml", "--config", clusters, "--data-dir", dataDir)
	testutil.WaitHTTP(t, "http://"+health+"/", 30*time.Second, p)
	return &gatewayProc{proc: p, grpcAddr: grpcAddr, metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)}
}

// agentSpec is what an agent process needs; the same spec restarts the same agent.
type agentSpec struct {
	auditLog, auditGateway string
	name, cluster          string
	cert                   testutil.CertFiles
	caFile, gateway        string
	dataDir, otlpHTTP      string
	podLogs                string // the node's /var/log/pods
	otlpGRPC               string
	health, metricsPort    string
	extraConfig            string // a second --config, when set
	bin                    string // the binary: vigil unless set (vigil-agent)
}

func newAgentSpec(t *testing.T, name, cluster string, cert testutil.CertFiles, caFile, gateway string) agentSpec {
	t.Helper()
	return agentSpec{auditLog: filepath.Join(t.TempDir(), "audit.log"), auditGateway: testutil.FreeAddr(t),
		name: name, cluster: cluster, cert: cert, caFile: caFile, gateway: gateway,
		dataDir: t.TempDir(), podLogs: t.TempDir(), otlpHTTP: testutil.FreeAddr(t), otlpGRPC: testutil.FreeAddr(t), health: testutil.FreeAddr(t),
		metricsPort: fmt.Sprint(testutil.FreePort(t))}
}

// start runs the agent (deploy/config/agent.yaml) and waits until it is healthy.
func (s agentSpec) start(t *testing.T) *testutil.Process {
	t.Helper()
	p := testutil.Start(t, s.name, []string{
		"VIGIL_CLUSTER_NAME=" + s.cluster, "K8S_NODE_NAME=node-of-" + s.name,
		"VIGIL_GATEWAY_ENDPOINT=" + s.gateway,
		"VIGIL_TLS_CA_FILE=" + s.caFile, "VIGIL_TLS_CERT_FILE=" + s.cert.CertFile, "VIGIL_TLS_KEY_FILE=" + s.cert.KeyFile,
		"VIGIL_OTLP_GRPC_ENDPOINT=" + s.otlpGRPC, "VIGIL_OTLP_HTTP_ENDPOINT=" + s.otlpHTTP,
		"VIGIL_HEALTH_ENDPOINT=" + s.health, "VIGIL_METRICS_PORT=" + s.metricsPort,
		"VIGIL_AUDIT_LOG_PATH=" + s.auditLog, "VIGIL_GATEWAY_AUDIT_ENDPOINT=" + s.auditGateway,
		"VIGIL_POD_LOGS_DIR=" + s.podLogs,
	}, s.binary(t), s.args()...)
	testutil.WaitHTTP(t, "http://"+s.health+"/", 30*time.Second, p)
	return p
}

func (s agentSpec) binary(t *testing.T) string {
	t.Helper()
	if s.bin != "" {
		return s.bin
	}
	return testutil.VigilBinary(t)
}

func (s agentSpec) args() []string {
	args := []string{"--config", "../../deploy/config/agent.yaml", "--data-dir", s.dataDir}
	if s.extraConfig != "" {
		args = append(args, "--config", s.extraConfig)
	}
	return args
}
