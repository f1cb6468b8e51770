package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

// proc is a process the harness started, its output in <dir>/<name>.log.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logFile *os.File
	addr    string // the collector's OTLP/HTTP listener
	pprof   string // the collector's pprof extension, "" when off
}

// running are the processes started and not yet stopped: stopAll ends them when the harness is
// interrupted.
var (
	runningMu sync.Mutex
	running   = map[*proc]bool{}
)

// stopOnSignal stops every started process when the harness gets SIGINT or SIGTERM, then exits.
func stopOnSignal() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		runningMu.Lock()
		ps := make([]*proc, 0, len(running))
		for p := range running {
			ps = append(ps, p)
		}
		runningMu.Unlock()
		for _, p := range ps {
			p.stop()
		}
		os.Exit(1)
	}()
}

func startProc(name, dir string, env []string, bin string, args ...string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, logFile: logFile, cmd: exec.Command(bin, args...)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	runningMu.Lock()
	running[p] = true
	runningMu.Unlock()
	return p, nil
}

func (p *proc) stop() {
	runningMu.Lock()
	delete(running, p)
	runningMu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.logFile.Close()
}

// cpuSeconds is the process's user+system CPU time.
func (p *proc) cpuSeconds() float64 { return harness.CPUSeconds(p.cmd.Process.Pid) }

// waitListening waits until addr accepts connections.
func (p *proc) waitListening(addr string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return nil
		}
		if p.cmd.ProcessState != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s; see %s", p.name, addr, p.logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startVigil runs the gateway as shipped (deploy/config/gateway.yaml: OTLP/HTTP over mTLS, the
// cluster from a bearer token, memory_limiter, clusteridentity, tracecontext, the durable
// walstorage queue, fsync before answering) with Loki and Prometheus as its backends
// (VIGIL_LOKI_URL, VIGIL_PROMRW_URL), each pipeline ending only in its backend's exporter.
func startVigil(bin, dir string, pki *harness.PKI, loki, prom, tenant string, withPprof bool) (*proc, error) {
	var addrs [6]string
	for i := range addrs {
		a, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	_, metricsPort, _ := net.SplitHostPort(addrs[3])
	cfg := fmt.Sprintf(`extensions:
  clusterauth:
    clusters:
      - name: bench
        subjects: [%s]
        bearer_tokens: [%q]
`, harness.AgentCN, pki.Token)
	exts := "[bodylimit, health_check, walstorage, clusterauth, httpapi, evidence" // as deploy/config/gateway.yaml lists them
	pprofAddr := ""
	if withPprof {
		pprofAddr = addrs[5]
		cfg += fmt.Sprintf("  pprof: {endpoint: %q}\n", pprofAddr)
		exts += ", pprof"
	}
	cfg += "service:\n  extensions: " + exts + "]\n" + `  pipelines:
    logs: {exporters: [lokipush]}
    metrics: {exporters: [promrw]}
`
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	override := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(override, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc("vigil", dir, []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + addrs[0], "VIGIL_OTLP_HTTP_ENDPOINT=" + addrs[1],
		"VIGIL_HEALTH_ENDPOINT=" + addrs[2], "VIGIL_METRICS_PORT=" + metricsPort, "VIGIL_API_ENDPOINT=" + addrs[4],
		"VIGIL_TLS_CA_FILE=" + pki.CAFile, "VIGIL_TLS_CERT_FILE=" + pki.GatewayCert, "VIGIL_TLS_KEY_FILE=" + pki.GatewayKey,
		"VIGIL_LOKI_URL=" + loki, "VIGIL_PROMRW_URL=" + prom + "/api/v1/write", "VIGIL_TENANT=" + tenant,
	}, bin, "--config", "deploy/config/gateway.yaml", "--config", override, "--data-dir", filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	p.addr, p.pprof = addrs[1], pprofAddr
	if err := waitHTTP("http://"+addrs[2]+"/", 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("vigil: %w; see %s", err, p.logFile.Name())
	}
	return p, nil
}

// startPeer runs the OpenTelemetry Collector peer (benchmarks/peer/builder.yaml) doing the same:
// OTLP/HTTP over mTLS in, memory_limiter, logs to Loki's native OTLP endpoint (/otlp, core
// otlphttp exporter, tenant in X-Scope-OrgID) and metrics to Prometheus remote write (contrib
// prometheusremotewrite, resource attributes as labels). With durable, the logs' sending_queue
// is on contrib file_storage with fsync, as vigil's walstorage queue is durable; otherwise in
// memory. Remote write queues in memory either way: the exporter has no sending_queue, and its
// own WAL (wal: directory) delivered nothing within a minute here (every sample stayed in it).
func startPeer(bin, dir string, pki *harness.PKI, loki, prom, tenant string, durable bool, compression string) (*proc, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	logsQueue, exts := "{enabled: true, queue_size: 100000}", "[]"
	if durable {
		logsQueue = "{enabled: true, storage: file_storage, queue_size: 100000}"
		exts = "[file_storage]"
	}
	cfg := fmt.Sprintf(`extensions:
  file_storage: {directory: %q, create_directory: true, fsync: true}
receivers:
  otlp:
    protocols:
      http:
        endpoint: %q
        tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
processors:
  memory_limiter: {check_interval: 1s, limit_percentage: 80, spike_limit_percentage: 25}
exporters:
  otlphttp/loki:
    endpoint: %q
    headers: {X-Scope-OrgID: %q}
    compression: %s
    sending_queue: %s
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
  prometheusremotewrite:
    endpoint: %q
    resource_to_telemetry_conversion: {enabled: true}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
service:
  extensions: %s
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [otlp], processors: [memory_limiter], exporters: [otlphttp/loki]}
    metrics: {receivers: [otlp], processors: [memory_limiter], exporters: [prometheusremotewrite]}
`, filepath.Join(dir, "queue"), addr, pki.GatewayCert, pki.GatewayKey, pki.CAFile,
		loki+"/otlp", tenant, compression, logsQueue, prom+"/api/v1/write", exts)
	path := filepath.Join(dir, "peer.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc("peer", dir, nil, bin, "--config", path)
	if err != nil {
		return nil, err
	}
	p.addr = addr
	if err := p.waitListening(addr); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}
