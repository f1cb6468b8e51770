package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "go.opentelemetry.io/collector/config/configgrpc" // registers zstd, which both exporters send
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

// tailer is a program under test: start runs it over the files matching include, sending to sink,
// with its state in dir.
type tailer struct {
	name  string
	start func(dir, include, sink string) (*proc, error)
}

// vigilTailer is vigil's containerlogs receiver as the agent runs it, by the binary bin (vigil or
// vigil-agent): positions and the queue in walstorage (fsync'd), OTLP/gRPC with zstd. via is the
// way to the sink: "relay" (deploy/config/agent.yaml: the receiver's relay setting, the records
// encoded on the wire into the otlprelay receiver's queue and forwarded as queued) or "exporter"
// (the pipeline: pdata logs, the otlp_grpc exporter's persistent queue).
func vigilTailer(name, bin, via, pprof string, batchBytes int) tailer {
	ext, exts := "", "walstorage"
	if pprof != "" {
		ext, exts = fmt.Sprintf("\n  pprof: {endpoint: %q}", pprof), "walstorage, pprof"
	}
	return tailer{name: name, start: func(dir, include, sink string) (*proc, error) {
		if via == "relay" {
			return startProc(bin, dir, fmt.Sprintf(`extensions:
  walstorage: {directory: %q}%s
receivers:
  containerlogs:
    include: [%q]
    storage: walstorage
    max_batch_bytes: %d
    relay: otlprelay
  otlprelay:
    protocols: {grpc: {endpoint: 127.0.0.1:0}}
    storage: walstorage
    forward: {endpoint: %q, tls: {insecure: true}}
exporters:
  nop: {}
service:
  extensions: [%s]
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [containerlogs, otlprelay], exporters: [nop]}
`, filepath.Join(dir, "queue"), ext, include, batchBytes, sink, exts), "--data-dir", filepath.Join(dir, "data"))
		}
		return startProc(bin, dir, fmt.Sprintf(`extensions:
  walstorage: {directory: %q}%s
receivers:
  containerlogs:
    include: [%q]
    storage: walstorage
    max_batch_bytes: %d
processors:
  memory_limiter: {check_interval: 1s, limit_percentage: 80, spike_limit_percentage: 20}
exporters:
  otlp_grpc:
    endpoint: %q
    compression: zstd
    tls: {insecure: true}
    sending_queue: {enabled: true, storage: walstorage, queue_size: 100000, num_consumers: 2}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
service:
  extensions: [%s]
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [containerlogs], processors: [memory_limiter], exporters: [otlp_grpc]}
`, filepath.Join(dir, "queue"), ext, include, batchBytes, sink, exts), "--data-dir", filepath.Join(dir, "data"))
	}}
}

// peerTailer is the OpenTelemetry Collector with the contrib filelog receiver doing the same:
// the container operator (CRI, partial lines joined, metadata from the path), offsets and the
// exporter's queue on file_storage with fsync, OTLP/gRPC with zstd.
func peerTailer(bin string) tailer {
	return tailer{name: "peer", start: func(dir, include, sink string) (*proc, error) {
		return startProc(bin, dir, fmt.Sprintf(`extensions:
  file_storage: {directory: %q, create_directory: true, fsync: true}
receivers:
  filelog:
    include: [%q]
    start_at: beginning
    include_file_path: true
    storage: file_storage
    operators:
      - type: container
processors:
  memory_limiter: {check_interval: 1s, limit_percentage: 80, spike_limit_percentage: 20}
exporters:
  otlp_grpc:
    endpoint: %q
    compression: zstd
    tls: {insecure: true}
    sending_queue: {enabled: true, storage: file_storage, queue_size: 100000}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
service:
  extensions: [file_storage]
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [filelog], processors: [memory_limiter], exporters: [otlp_grpc]}
`, filepath.Join(dir, "storage"), include, sink))
	}}
}

// runRound writes the backlog, runs the tailer until the sink has it, then writes at rateMB
// for rateFor while sampling the tailer's memory, and waits for those lines too.
func runRound(tl tailer, dir string, backlogMB, containers int, rateMB float64, rateFor time.Duration) (result, error) {
	res := result{name: tl.name}
	pods := filepath.Join(dir, "pods")
	w, err := newWriter(pods, containers)
	if err != nil {
		return res, err
	}
	defer w.close()
	res.backlogBytes, res.backlogLines, err = w.write(int64(backlogMB) * 1e6)
	if err != nil {
		return res, err
	}
	s, err := startSink()
	if err != nil {
		return res, err
	}
	defer s.stop()
	start := time.Now()
	p, err := tl.start(dir, filepath.Join(pods, "*", "*", "*.log"), s.addr)
	if err != nil {
		return res, err
	}
	if err := s.wait(w.lines, 10*time.Minute, p); err != nil {
		p.stop()
		return res, err
	}
	res.backlogWall, res.backlogCPU = time.Since(start), p.cpuSeconds()
	// The sink counts a request when it arrives, before its answer reaches the tailer: stopping
	// at once can leave the last request in flight, and a persistent queue sends it again after
	// the restart (at-least-once) — a duplicate that says nothing about tailing.
	time.Sleep(time.Second)
	p.stop()

	// Memory at a steady rate, in a new process over the same state (it resumes after the
	// backlog): rateMB per second in 10 slices a second.
	if p, err = tl.start(dir, filepath.Join(pods, "*", "*", "*.log"), s.addr); err != nil {
		return res, err
	}
	defer p.stop()
	time.Sleep(2 * time.Second) // started, idle
	res.idleRSS, res.idleFile = p.memory("VmRSS"), p.memory("RssFile")
	slice := int64(rateMB * 1e6 / 10)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(rateFor)
	for time.Now().Before(end) {
		<-tick.C
		n, _, err := w.write(slice)
		if err != nil {
			return res, err
		}
		res.rateBytes += n
		if rss := p.memory("VmRSS"); rss > res.steadyRSS {
			res.steadyRSS, res.anonRSS, res.fileRSS = rss, p.memory("RssAnon"), p.memory("RssFile")
		}
	}
	if err := s.wait(w.lines, 5*time.Minute, p); err != nil {
		return res, err
	}
	res.rateCPU = p.cpuSeconds()
	res.peakRSS = p.memory("VmHWM")
	res.delivered, res.expected = s.records.Load(), w.lines
	return res, nil
}

// writer appends CRI lines to one 0.log per container, as the kubelet lays them out; every
// 50th output line comes as a partial (P) and a final (F) line, as runtimes split long lines.
type writer struct {
	files []*bufio.Writer
	fds   []*os.File
	lines int64 // records the lines written make (a partial pair is one)
	rng   *rand.Rand
	next  int
}

func newWriter(root string, containers int) (*writer, error) {
	w := &writer{rng: rand.New(rand.NewPCG(1, 2))}
	for c := range containers {
		dir := filepath.Join(root, fmt.Sprintf("bench_app-%d-7d9f8-x%d_%08d-0000-4000-8000-000000000000", c, c, c), "app")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, "0.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		w.fds = append(w.fds, f)
		w.files = append(w.files, bufio.NewWriterSize(f, 256<<10))
	}
	return w, nil
}

var paths = []string{"/api/v1/orders", "/api/v1/cart", "/healthz", "/api/v1/users/me", "/static/app.js"}

// write appends about n bytes of lines round-robin over the containers and flushes them.
func (w *writer) write(n int64) (written, lines int64, err error) {
	ts := time.Now().UTC()
	for written < n {
		c := w.next % len(w.files)
		w.next++
		ts = ts.Add(time.Microsecond)
		stamp := ts.Format(time.RFC3339Nano)
		body := fmt.Sprintf(`{"level":"info","ts":%d,"caller":"http/server.go:%d","msg":"request","method":"GET","path":"%s/%d","status":200,"latency_ms":%d,"trace_id":"%016x%016x"}`,
			ts.UnixMilli(), 100+w.rng.IntN(900), paths[w.rng.IntN(len(paths))], w.rng.IntN(100000), w.rng.IntN(250), w.rng.Uint64(), w.rng.Uint64())
		var line string
		if w.next%50 == 0 {
			half := len(body) / 2
			line = stamp + " stdout P " + body[:half] + "\n" + stamp + " stdout F " + body[half:] + "\n"
		} else {
			line = stamp + " stdout F " + body + "\n"
		}
		m, err := w.files[c].WriteString(line)
		written += int64(m)
		if err != nil {
			return written, lines, err
		}
		lines++
	}
	for _, f := range w.files {
		if err := f.Flush(); err != nil {
			return written, lines, err
		}
	}
	w.lines += lines
	return written, lines, nil
}

func (w *writer) close() {
	for _, f := range w.fds {
		_ = f.Close()
	}
}

// sink is the gateway's stand-in: an OTLP/gRPC logs server that counts records.
type sink struct {
	plogotlp.UnimplementedGRPCServer
	addr    string
	srv     *grpc.Server
	records atomic.Int64
}

func startSink() (*sink, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &sink{addr: addr, srv: grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))}
	plogotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.records.Add(int64(req.Logs().LogRecordCount()))
	return plogotlp.NewExportResponse(), nil
}

// wait returns once the sink has want records; it fails when p exits or after timeout.
func (s *sink) wait(want int64, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	for s.records.Load() < want {
		if p.exited() {
			return fmt.Errorf("%s exited; see %s", p.name, p.logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sink has %d of %d records after %s; see %s", s.records.Load(), want, timeout, p.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.records.Load(); got != want {
		return fmt.Errorf("the sink has %d records, %d written (duplicates)", got, want)
	}
	return nil
}

func (s *sink) stop() { s.srv.Stop() }

// proc is a running tailer.
type proc struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
}

func startProc(bin, dir, config string, args ...string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	p := &proc{name: filepath.Base(bin), logPath: filepath.Join(dir, "out.log"), done: make(chan struct{})}
	out, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, append([]string{"--config", cfgPath}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		_ = out.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); _ = out.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpuSeconds is the process's user+system CPU time.
func (p *proc) cpuSeconds() float64 { return harness.CPUSeconds(p.cmd.Process.Pid) }

// memory reads a kB field of /proc/<pid>/status (VmRSS, VmHWM) in bytes.
func (p *proc) memory(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
