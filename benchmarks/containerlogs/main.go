// Command containerlogs measures container-log tailing on a node: the agent reads CRI log files
// (as the kubelet writes them under /var/log/pods, partial lines included), queues the records on
// disk (fsync'd) and sends them over OTLP/gRPC (zstd) to a sink standing for the gateway. It
// prints, for vigil's containerlogs receiver and for an OpenTelemetry Collector v0.162 with the
// contrib filelog receiver (`container` operator, file_storage) doing the same files in the same
// run: MB of log text per CPU-second of the tailing process while it reads a backlog, and its
// resident memory (peak) while containers write at a steady rate.
//
//	go run ./benchmarks/containerlogs -peer /tmp/otelcol-peer-filelog/otelcol-peer-filelog
//
// (the peer: benchmarks/peer/builder-filelog.yaml). vigil runs twice: the all-roles binary
// (cmd/vigil) and the agent alone (cmd/vigil-agent), with the same configuration: the records
// go to the otlprelay receiver's queue (-via relay, as deploy/config/agent.yaml) or through the
// pipeline to the otlp_grpc exporter (-via exporter). Every line written must reach the sink; a
// round that loses one fails.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

func main() {
	var (
		vigil      = flag.String("vigil", "", "path of a vigil binary (default: build ./cmd/vigil; off: do not run it)")
		agent      = flag.String("agent", "", "path of a vigil-agent binary, the agent alone (default: build ./cmd/vigil-agent; off: do not run it); several, comma-separated, each BIN or BIN@via, run one after the other in each round")
		via        = flag.String("via", "relay", "the way of the records to the sink: relay (deploy/config/agent.yaml: the containerlogs receiver's relay setting) or exporter (the pipeline's otlp_grpc exporter, persistent queue)")
		peer       = flag.String("peer", "", "path of the OpenTelemetry Collector peer (benchmarks/peer/builder-filelog.yaml); without it only vigil runs")
		backlogMB  = flag.Int("backlog-mb", 200, "MB of log text written before the tailer starts (throughput phase)")
		containers = flag.Int("containers", 8, "containers (log files) on the node")
		rateMB     = flag.Float64("rate-mb", 10, "MB/s of log text written during the memory phase")
		rateFor    = flag.Duration("rate-duration", 20*time.Second, "length of the memory phase")
		rounds     = flag.Int("rounds", 2, "rounds; each runs vigil, vigil-agent, then the peer")
		batchBytes = flag.Int("batch-bytes", 1<<20, "the containerlogs receiver's max_batch_bytes (deploy/config/agent.yaml's)")
		pprof      = flag.String("pprof", "", "host:port for vigil's pprof extension (profiles while it runs)")
	)
	flag.Parse()
	if *via != "relay" && *via != "exporter" {
		fmt.Fprintln(os.Stderr, "containerlogs: -via: use relay or exporter")
		os.Exit(2)
	}
	if err := run(*vigil, *agent, *peer, *via, *pprof, *batchBytes, *backlogMB, *containers, *rateMB, *rateFor, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "containerlogs:", err)
		os.Exit(1)
	}
}

// result is one tailer's round.
type result struct {
	name                string
	backlogBytes        int64
	backlogLines        int64
	backlogCPU          float64 // CPU-seconds of the tailing process until the sink had the backlog
	backlogWall         time.Duration
	rateBytes           int64
	rateCPU             float64 // CPU-seconds of the rate phase's process (started after the backlog)
	peakRSS, steadyRSS  int64   // bytes: the rate phase process's peak (VmHWM) and the largest VmRSS sampled
	anonRSS, fileRSS    int64   // bytes: anonymous memory and mapped files (the binary) at that largest sample
	idleRSS, idleFile   int64   // bytes: VmRSS and its mapped files 2 s after the rate phase's start, before any line is written
	delivered, expected int64
}

func run(vigil, agent, peer, via, pprof string, batchBytes, backlogMB, containers int, rateMB float64, rateFor time.Duration, rounds int) error {
	dir, err := os.MkdirTemp("", "vigil-tail-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var tailers []tailer
	type binary struct{ name, cmd, bin, via string }
	bins := []binary{{"vigil", "vigil", vigil, via}}
	agents := strings.Split(agent, ",")
	for i, a := range agents {
		b := binary{"vigil-agent", "vigil-agent", a, via}
		if at := strings.LastIndexByte(a, '@'); at >= 0 {
			b.bin, b.via = a[:at], a[at+1:]
			if b.via != "relay" && b.via != "exporter" {
				return fmt.Errorf("-agent %q: the way after @ is relay or exporter", a)
			}
			b.name += "@" + b.via
		}
		if len(agents) > 1 {
			b.name += fmt.Sprintf("#%d", i+1)
		}
		bins = append(bins, b)
	}
	for _, b := range bins {
		bin := b.bin
		switch bin {
		case "off":
			continue
		case "":
			bin = filepath.Join(dir, b.cmd)
			build := exec.Command("go", "build", "-o", bin, "./cmd/"+b.cmd)
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				return fmt.Errorf("cannot build %s: %w", b.name, err)
			}
		}
		tailers = append(tailers, vigilTailer(b.name, bin, b.via, pprof, batchBytes))
	}
	if peer != "" {
		tailers = append(tailers, peerTailer(peer))
	}
	var results []result
	for r := range rounds {
		for _, tl := range tailers {
			res, err := runRound(tl, filepath.Join(dir, fmt.Sprintf("%s-%d", tl.name, r)), backlogMB, containers, rateMB, rateFor)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", tl.name, r+1, err)
			}
			printResult(res)
			results = append(results, res)
		}
	}
	printReport(results, backlogMB, containers, rateMB, rateFor)
	return nil
}

func printResult(r result) {
	fmt.Printf("%-11s backlog %5.0f MB, %8d lines in %6.1fs: %6.2f CPU-s → %6.1f MB per CPU-s | idle RSS %5.1f MiB (files %5.1f) | rate phase %5.0f MB: %5.2f CPU-s (%5.1f MB per CPU-s), RSS peak %5.1f MiB, max sampled %5.1f MiB (anonymous %5.1f, files %5.1f) | delivered %d of %d\n",
		r.name, float64(r.backlogBytes)/1e6, r.backlogLines, r.backlogWall.Seconds(), r.backlogCPU,
		float64(r.backlogBytes)/1e6/r.backlogCPU, mib(r.idleRSS), mib(r.idleFile), float64(r.rateBytes)/1e6, r.rateCPU,
		float64(r.rateBytes)/1e6/r.rateCPU, mib(r.peakRSS), mib(r.steadyRSS), mib(r.anonRSS), mib(r.fileRSS), r.delivered, r.expected)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func printReport(results []result, backlogMB, containers int, rateMB float64, rateFor time.Duration) {
	fmt.Printf("\n%s, %d CPUs, %s/%s; load average at the end: %s\n", harness.CPUModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, harness.LoadAvg())
	fmt.Printf("command: go run ./benchmarks/containerlogs %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("%d containers, backlog %d MB, then %.0f MB/s for %s\n\n", containers, backlogMB, rateMB, rateFor)
	sum := map[string]*[5]float64{} // MB per CPU-s (sum), peak RSS MiB (max), rounds, anonymous and file MiB at the largest sample (max)
	var order []string
	for _, r := range results {
		s := sum[r.name]
		if s == nil {
			s = new([5]float64)
			sum[r.name] = s
			order = append(order, r.name)
		}
		s[0] += float64(r.backlogBytes) / 1e6 / r.backlogCPU
		s[1] = max(s[1], mib(r.peakRSS))
		s[2]++
		s[3], s[4] = max(s[3], mib(r.anonRSS)), max(s[4], mib(r.fileRSS))
	}
	fmt.Println("| tailer | MB of log text per CPU-second (mean of rounds) | RSS peak at the rate phase (max of rounds) | of it anonymous / mapped files (the binary) |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, n := range order {
		s := sum[n]
		fmt.Printf("| %s | %.1f | %.1f MiB | %.1f / %.1f MiB |\n", n, s[0]/s[2], s[1], s[3], s[4])
	}
	if p := sum["peer"]; p != nil {
		for _, n := range order {
			if v := sum[n]; v != nil && n != "peer" {
				fmt.Printf("\n%s / peer: MB per CPU-second %.2f×, RSS peak %.2f×", n, (v[0]/v[2])/(p[0]/p[2]), v[1]/p[1])
			}
		}
		fmt.Println()
	}
}
