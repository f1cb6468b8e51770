// Command auditpath measures the audit path: kube-apiserver-style webhook batches (400 events of
// 1–2.5 KB) → k8saudit receiver → redact → durable queue (walstorage, fsync) → OpenSearch (an
// in-process stand-in that answers as the REST API documents) and the filesystem archive (staged
// in walstorage in both variants). It reports MB/s of audit JSON per
// CPU-second of vigil, and the acknowledgement latency at half the sustained load; and the same
// with an in-memory queue, in the same run, for the cost of durability.
//
// With -gateways (scaleout.go) it measures the path through agents instead: one agent per cluster
// following the cluster's audit log file, to 1 or to N gateways (writers of one archive), events/s
// and MB per CPU-second of every vigil process, each count in turn, checking that every event
// landed once in OpenSearch and once in the archive.
//
//	go run ./benchmarks/auditpath -duration 20s
//	go run ./benchmarks/auditpath -gateways 1,3 -rounds 3 -clusters 6 -events 40000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"

	"github.com/vigil-obs/vigil/internal/opensearchtest"
)

func main() {
	vigil := flag.String("vigil", "", "path of a vigil binary (default: build ./cmd/vigil)")
	duration := flag.Duration("duration", 20*time.Second, "length of each load phase")
	workers := flag.Int("workers", 8, "concurrent webhook clients")
	cpuProfile := flag.String("cpuprofile", "", "write vigil's CPU profile of each throughput phase to PREFIX-<queue>.pprof (through the pprof extension); with -gateways, each process's profile of the first -duration of each run's load to PREFIX-g<N>-r<round>-<process>.pprof")
	gateways := flag.String("gateways", "", "scale-out mode: agents (one per cluster, reading audit log files) to this many gateways, each count in turn (e.g. 1,3), every -rounds")
	rounds := flag.Int("rounds", 3, "scale-out mode: runs of each gateway count, alternated (ABBA)")
	clusters := flag.Int("clusters", 6, "scale-out mode: clusters, each with its agent and its audit log file")
	events := flag.Int("events", 20000, "scale-out mode: events written to each cluster's audit log")
	idle := flag.Duration("idle", 0, "scale-out mode: first measure every process's CPU this long before the load (the fixed cost of the processes)")
	flag.Parse()
	if *gateways != "" {
		var counts []int
		for _, f := range strings.Split(*gateways, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "auditpath: -gateways %q: want counts of gateways such as 1,3\n", *gateways)
				os.Exit(2)
			}
			counts = append(counts, n)
		}
		if err := runScaleOut(scaleOutOpts{vigil: *vigil, gateways: counts, rounds: *rounds, clusters: *clusters,
			events: *events, profileFor: *duration, cpuProfile: *cpuProfile, idle: *idle}); err != nil {
			fmt.Fprintln(os.Stderr, "auditpath:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*vigil, *duration, *workers, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "auditpath:", err)
		os.Exit(1)
	}
}

type result struct {
	queue            string
	requests, events int64
	bytes            int64
	wall, cpu        time.Duration
	harnessCPU       time.Duration // the generator and the OpenSearch stand-in, phase 1
	halfRate         float64
	p50, p99, maxLat time.Duration
	indexed          int
}

func run(vigil string, duration time.Duration, workers int, cpuProfile string) error {
	dir, err := os.MkdirTemp("", "vigil-auditbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if vigil == "" {
		vigil = filepath.Join(dir, "vigil")
		build := exec.Command("go", "build", "-o", vigil, "./cmd/vigil")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("cannot build vigil: %w", err)
		}
	}
	var results []result
	for _, queue := range []string{"walstorage", "memory"} {
		profile := ""
		if cpuProfile != "" {
			profile = cpuProfile + "-" + queue + ".pprof"
		}
		r, err := runQueue(vigil, filepath.Join(dir, queue), queue, duration, workers, profile)
		if err != nil {
			return fmt.Errorf("%s queue: %w", queue, err)
		}
		results = append(results, r)
	}
	fmt.Printf("machine: %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("load: %d webhook clients, EventLists of 400 events (1-2.5 KB each), %s per phase\n\n", workers, duration)
	fmt.Printf("%-11s %9s %11s %10s %9s %13s %14s %12s %9s %9s %9s\n", "queue", "requests", "events", "JSON MB", "MB/s", "vigil CPU-s", "MB/s per core", "harness CPU-s", "half p50", "half p99", "half max")
	for _, r := range results {
		mb := float64(r.bytes) / 1e6
		fmt.Printf("%-11s %9d %11d %10.1f %9.1f %13.1f %14.1f %12.1f %9s %9s %9s\n", r.queue, r.requests, r.events, mb,
			mb/r.wall.Seconds(), r.cpu.Seconds(), mb/r.cpu.Seconds(), r.harnessCPU.Seconds(), r.p50.Round(100*time.Microsecond),
			r.p99.Round(100*time.Microsecond), r.maxLat.Round(100*time.Microsecond))
		if int64(r.indexed) < r.events {
			fmt.Printf("  note: %d events acknowledged, %d indexed\n", r.events, r.indexed)
		}
	}
	if len(results) == 2 && results[1].wall > 0 {
		fmt.Printf("\ndurable/in-memory throughput: %.2f\n", (float64(results[0].bytes)/results[0].wall.Seconds())/(float64(results[1].bytes)/results[1].wall.Seconds()))
	}
	fmt.Printf("command: go run ./benchmarks/auditpath %s\n", strings.Join(os.Args[1:], " "))
	return nil
}

const configTmpl = `
extensions:
  health_check: {endpoint: %[1]s}
  walstorage: {directory: %[2]s/queue}
  pprof: {endpoint: %[6]s}
receivers:
  k8saudit: {endpoint: %[3]s, cluster: bench}
processors:
  redact: {}
exporters:
  archive: {directory: %[2]s/archive, storage: walstorage}
  opensearch:
    endpoints: [%[4]s]
    dead_letter_dir: %[2]s/deadletter
    sending_queue: {enabled: true, %[5]s num_consumers: 4, queue_size: 100000}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
service:
  extensions: [health_check, walstorage, pprof]
  telemetry:
    metrics: {level: none}
  pipelines:
    logs/audit: {receivers: [k8saudit], processors: [redact], exporters: [opensearch, archive]}
`

func runQueue(vigil, dir, queue string, duration time.Duration, workers int, profile string) (result, error) {
	res := result{queue: queue}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	search, stop := opensearchtest.Serve()
	defer stop()
	search.Discard = true
	storage := "storage: walstorage,"
	if queue == "memory" {
		storage = ""
	}
	var (
		addrs [3]string
		err   error
	)
	for i := range addrs {
		if addrs[i], err = harness.FreeAddr(); err != nil {
			return res, err
		}
	}
	health, audit, pprofAddr := addrs[0], addrs[1], addrs[2]
	cfgPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(configTmpl, health, dir, audit, search.URL, storage, pprofAddr)), 0o600); err != nil {
		return res, err
	}
	logFile, err := os.Create(filepath.Join(dir, "vigil.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.Command(vigil, "--config", cfgPath, "--data-dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	if err := waitHealthy("http://"+health+"/", 30*time.Second); err != nil {
		return res, err
	}
	url := "http://" + audit + "/audit"
	gen := newGenerator()

	// Phase 1: as fast as the clients can go; wall time runs until OpenSearch has everything.
	profDone := make(chan error, 1)
	if profile != "" {
		go func() { profDone <- harness.FetchProfile("http://"+pprofAddr, duration, profile) }()
	} else {
		profDone <- nil
	}
	cpu0, self0 := cpuOf(cmd.Process.Pid), selfCPU()
	start := time.Now()
	stats := load(url, gen, duration, workers, 0)
	if stats.err != nil {
		return res, stats.err
	}
	deadline := time.Now().Add(120 * time.Second)
	for indexed(search) < int(stats.events) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	res.wall, res.cpu, res.harnessCPU = time.Since(start), cpuOf(cmd.Process.Pid)-cpu0, selfCPU()-self0
	if err := <-profDone; err != nil {
		return res, err
	}
	res.requests, res.events, res.bytes, res.indexed = stats.requests, stats.events, stats.bytes, indexed(search)

	// Phase 2: half the sustained request rate, evenly paced; acknowledgement latency.
	res.halfRate = float64(res.requests) / res.wall.Seconds() / 2
	half := load(url, gen, duration, workers, res.halfRate)
	if half.err != nil {
		return res, half.err
	}
	res.p50, res.p99, res.maxLat = half.percentile(0.50), half.percentile(0.99), half.percentile(1)
	return res, nil
}

// selfCPU is the CPU time of this process (the generator and the OpenSearch stand-in).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func indexed(s *opensearchtest.Server) int {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.Indexed
}

func waitHealthy(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("vigil did not become healthy at %s", url)
}

func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

type loadStats struct {
	requests, events, bytes int64
	latencies               []time.Duration
	err                     error
}

func (s *loadStats) percentile(p float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	sort.Slice(s.latencies, func(i, j int) bool { return s.latencies[i] < s.latencies[j] })
	i := int(p * float64(len(s.latencies)-1))
	return s.latencies[i]
}

// load posts batches from workers for duration; with rate > 0 requests are paced to rate/s in
// total. Every batch is re-sent until it is answered 200, as the apiserver does.
func load(url string, gen *generator, duration time.Duration, workers int, rate float64) *loadStats {
	stats := &loadStats{}
	var mu sync.Mutex
	var failed atomic.Value
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Evenly paced: worker w starts w/rate after the first, and each sends every
			// workers/rate, so requests arrive one every 1/rate (the offsets used to fall within
			// the first 1/rate, which sent the workers' requests in bursts).
			next := time.Now().Add(time.Duration(float64(time.Second) * float64(w) / max(rate, 1)))
			for ctx.Err() == nil {
				if rate > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(time.Duration(float64(time.Second) * float64(workers) / rate))
				}
				body, events := gen.batch()
				t0 := time.Now()
				for {
					resp, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						failed.Store(err)
						return
					}
					// Read to the end, as the apiserver's client does, so the connection is
					// reused (an unread body closes it: a new connection per request).
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				lat := time.Since(t0)
				mu.Lock()
				stats.requests++
				stats.events += int64(events)
				stats.bytes += int64(len(body))
				stats.latencies = append(stats.latencies, lat)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		stats.err = err
	}
	return stats
}

// generator makes EventLists of 400 realistic events of 1–2.5 KB, each with a unique auditID.
type generator struct {
	mu     sync.Mutex
	n      uint64
	events [][]byte // templates with a 16-hex-digit placeholder at idOff
	idOff  []int
}

const placeholder = "0000000000000000"

func newGenerator() *generator {
	g := &generator{}
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	resources := []string{"pods", "deployments", "configmaps", "services", "secrets", "leases", "events"}
	for i := range 400 {
		pad := strings.Repeat("x", rand.IntN(1500))
		ev := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
			"auditID": placeholder + fmt.Sprintf("-%04d-4f0e-9a41-5d0c9e2b7a10", i), "stage": "ResponseComplete",
			"requestURI": "/api/v1/namespaces/shop/" + resources[i%7] + "/web-" + strconv.Itoa(i), "verb": verbs[i%7],
			"user":      map[string]any{"username": fmt.Sprintf("system:serviceaccount:team-%d:deployer", i%40), "groups": []string{"system:serviceaccounts", "system:authenticated"}},
			"sourceIPs": []string{fmt.Sprintf("10.0.%d.%d", i%250, (i*7)%250)}, "userAgent": "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/" + pad,
			"objectRef":                map[string]any{"resource": resources[i%7], "namespace": "shop", "name": "web-" + strconv.Itoa(i), "apiVersion": "v1"},
			"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 200},
			"requestReceivedTimestamp": "2026-11-22T10:15:03.120456Z", "stageTimestamp": "2026-11-22T10:15:03.131822Z",
			"annotations": map[string]any{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"system:controller\""},
		}
		b, _ := json.Marshal(ev)
		g.events = append(g.events, b)
		g.idOff = append(g.idOff, bytes.Index(b, []byte(placeholder)))
	}
	return g
}

func (g *generator) batch() ([]byte, int) {
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	id := fmt.Sprintf("%016x", n)
	var buf bytes.Buffer
	buf.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i, ev := range g.events {
		if i > 0 {
			buf.WriteByte(',')
		}
		start := buf.Len()
		buf.Write(ev)
		copy(buf.Bytes()[start+g.idOff[i]:], id)
	}
	buf.WriteString("]}")
	return buf.Bytes(), len(g.events)
}
