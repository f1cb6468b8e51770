package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

// vigilProc is a running vigil process of the benchmark.
type vigilProc struct {
	name                        string
	cmd                         *exec.Cmd
	grpcAddr, httpAddr, metrics string
	logFile                     *os.File
}

func startVigil(bin, name, dir string, env []string, args ...string) (*vigilProc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var addrs [5]string
	for i := range addrs {
		a, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	_, metricsPort, _ := net.SplitHostPort(addrs[3])
	p := &vigilProc{name: name, grpcAddr: addrs[0], httpAddr: addrs[1], metrics: "http://" + addrs[3] + "/metrics"}
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p.logFile = logFile
	p.cmd = exec.Command(bin, append(args, "--data-dir", filepath.Join(dir, "data"))...)
	p.cmd.Env = append(os.Environ(), append(env,
		"VIGIL_OTLP_GRPC_ENDPOINT="+addrs[0], "VIGIL_OTLP_HTTP_ENDPOINT="+addrs[1],
		"VIGIL_HEALTH_ENDPOINT="+addrs[2], "VIGIL_METRICS_PORT="+metricsPort, "VIGIL_API_ENDPOINT="+addrs[4])...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addrs[2] + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not become healthy; see its log in %s", name, logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *vigilProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.logFile.Close()
}

// cpuSeconds is the process's user+system CPU time.
func (p *vigilProc) cpuSeconds() float64 { return harness.CPUSeconds(p.cmd.Process.Pid) }

// counter sums a counter family on the process's own /metrics, over samples containing label.
func (p *vigilProc) counter(name, label string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.metrics, http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// startGateway runs deploy/config/gateway.yaml; with pprofAddr it also serves the pprof
// extension there.
func startGateway(bin, name, dir string, pki *harness.PKI, pprofAddr string) (*vigilProc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	override := filepath.Join(dir, "bench.yaml")
	cfg := fmt.Sprintf(`extensions:
  clusterauth:
    clusters:
      - name: bench
        subjects: [%s]
        bearer_tokens: [%q]
exporters:
  nop: {}
service:
  pipelines:
    logs:
      exporters: [nop]
    traces: # the RED metrics and the service map as shipped, the spans themselves to nop
      exporters: [nop, red, servicemap]
`, harness.AgentCN, pki.Token)
	if pprofAddr != "" {
		cfg = strings.Replace(cfg, "extensions:\n", fmt.Sprintf("extensions:\n  pprof: {endpoint: %q}\n", pprofAddr), 1)
		cfg += "  extensions: [bodylimit, health_check, walstorage, clusterauth, httpapi, evidence, pprof]\n"
	}
	if err := os.WriteFile(override, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	var audit [2]string // listeners of its own, so that several gateways run side by side
	for i := range audit {
		a, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		audit[i] = a
	}
	return startVigil(bin, name, dir, []string{
		"VIGIL_AUDIT_ENDPOINT=" + audit[0], "VIGIL_AUDIT_OTLP_ENDPOINT=" + audit[1],
		"VIGIL_TLS_CA_FILE=" + pki.CAFile, "VIGIL_TLS_CERT_FILE=" + pki.GatewayCert, "VIGIL_TLS_KEY_FILE=" + pki.GatewayKey,
	}, "--config", "deploy/config/gateway.yaml", "--config", override)
}

// startAgent runs deploy/config/agent.yaml. In mode "relay" the logs take its otlprelay
// receiver (as shipped); in "pipeline" they take the decoding pipeline (otlp receiver,
// k8senrich, otlp_grpc exporter on the walstorage queue: the path of agent-pod-metadata.yaml,
// without pod metadata); in "filestorage" the same pipeline with its queue on the collector
// contrib file_storage (bbolt, fsync: true). With pprofAddr the agent also serves the pprof
// extension there.
func startAgent(bin, dir string, pki *harness.PKI, gateways []string, mode, pprofAddr string) (*vigilProc, error) {
	args := []string{"--config", "deploy/config/agent.yaml"}
	extensions := "[bodylimit, health_check, walstorage"
	gateway := gateways[0]
	var cfg string
	if len(gateways) > 1 { // the relay's forward::endpoints (its default routing: traces by trace ID)
		cfg += "receivers:\n  otlprelay:\n    forward:\n      endpoint: \"\"\n      endpoints: [" + strings.Join(gateways, ", ") + "]\n"
	}
	if mode == "filestorage" {
		cfg += fmt.Sprintf(`extensions:
  file_storage/peer: {directory: %q, create_directory: true, fsync: true}
`, filepath.Join(dir, "file_storage"))
		extensions += ", file_storage/peer"
	}
	if pprofAddr != "" {
		if mode != "filestorage" {
			cfg += "extensions:\n"
		}
		cfg += fmt.Sprintf("  pprof: {endpoint: %q}\n", pprofAddr)
		extensions += ", pprof"
	}
	if mode == "filestorage" {
		cfg += "exporters:\n  otlp_grpc/gateway:\n    sending_queue: {storage: file_storage/peer}\n"
	}
	cfg += "service:\n  extensions: " + extensions + "]\n"
	if mode != "relay" {
		cfg += "  pipelines:\n"
		for _, signal := range []string{"logs", "metrics", "traces"} { // one listener: all three decode
			cfg += "    " + signal + ": {receivers: [otlp], processors: [memory_limiter, k8senrich], exporters: [otlp_grpc/gateway]}\n"
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	override := filepath.Join(dir, "override.yaml")
	if err := os.WriteFile(override, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	args = append(args, "--config", override)
	return startVigil(bin, "agent", dir, []string{
		"VIGIL_CLUSTER_NAME=bench", "K8S_NODE_NAME=bench-node", "VIGIL_GATEWAY_ENDPOINT=" + gateway,
		"VIGIL_TLS_CA_FILE=" + pki.CAFile, "VIGIL_TLS_CERT_FILE=" + pki.AgentCert, "VIGIL_TLS_KEY_FILE=" + pki.AgentKey,
	}, args...)
}

// startPeer runs the OpenTelemetry Collector peer (benchmarks/peer/builder.yaml) as an agent:
// OTLP/HTTP in, persistent sending_queue on contrib file_storage with fsync, OTLP/gRPC + mTLS out
// to the gateway with zstd — the same durable forwarding as vigil's agent, without vigil's components.
func startPeer(bin, dir string, pki *harness.PKI, gateway string) (*vigilProc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`extensions:
  file_storage: {directory: %q, create_directory: true, fsync: true}
receivers:
  otlp: {protocols: {http: {endpoint: %q}}}
exporters:
  otlp_grpc:
    endpoint: %q
    tls: {ca_file: %q, cert_file: %q, key_file: %q}
    compression: zstd # as vigil's agent sends
    sending_queue: {enabled: true, storage: file_storage, queue_size: 100000}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
service:
  extensions: [file_storage]
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [otlp], exporters: [otlp_grpc]}
`, filepath.Join(dir, "queue"), httpAddr, gateway, pki.CAFile, pki.AgentCert, pki.AgentKey)
	cfgPath := filepath.Join(dir, "peer.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "peer.log"))
	if err != nil {
		return nil, err
	}
	p := &vigilProc{name: "agent", httpAddr: httpAddr, logFile: logFile}
	p.cmd = exec.Command(bin, "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", httpAddr); err == nil {
			_ = c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the peer collector did not listen on %s; see %s", httpAddr, logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
