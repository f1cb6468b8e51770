// Command backends measures the gateway's CPU per million log records OTLP in → Loki push out
// and per million samples OTLP in → Prometheus remote write out, for vigil and for the
// OpenTelemetry Collector peer (benchmarks/peer/builder.yaml) doing the same, each fed the same
// bounded load by the same generator, against a real Loki and a real Prometheus started here;
// every record and sample is counted back from Loki and Prometheus.
//
//	go run ./benchmarks/backends -peer /tmp/otelcol-peer/otelcol-peer -reps 3
package main

import (
	"context"
	"flag"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

type options struct {
	vigil, vigilBase, peer       string
	loki, prometheus             string
	signals                      []string
	reps, workers, batch, series int
	records, samples             int64
	peerDurable                  bool
	peerCompression              string
	cpuProfile                   string
	profileSeconds               int
	keep                         bool
}

func main() {
	var o options
	var signals string
	flag.StringVar(&o.vigil, "vigil", "", "path of a vigil binary (default: build ./cmd/vigil)")
	flag.StringVar(&o.vigilBase, "vigil-base", "", "a second vigil binary (e.g. an earlier commit's), run as \"vigil-base\" beside the others")
	flag.StringVar(&o.peer, "peer", "/tmp/otelcol-peer/otelcol-peer", "the OpenTelemetry Collector peer built from benchmarks/peer/builder.yaml; '' for vigil alone")
	flag.StringVar(&o.loki, "loki", filepath.Join(build.Default.GOPATH, "bin", "loki"), "the loki binary")
	flag.StringVar(&o.prometheus, "prometheus", "/usr/bin/prometheus", "the prometheus binary")
	flag.StringVar(&signals, "signals", "logs,metrics", "logs, metrics or both")
	flag.IntVar(&o.reps, "reps", 3, "repetitions; each runs vigil and the peer in turn, alternating which goes first")
	flag.IntVar(&o.workers, "workers", 4, "concurrent OTLP/HTTP senders")
	flag.IntVar(&o.batch, "batch", 500, "log records or samples per request")
	flag.Int64Var(&o.records, "records", 1_000_000, "log records per run")
	flag.Int64Var(&o.samples, "samples", 2_000_000, "samples per run")
	flag.IntVar(&o.series, "series", 20_000, "series of the metrics load")
	flag.BoolVar(&o.peerDurable, "peer-durable", true, "the peer's logs queue on disk (file_storage with fsync), as vigil's walstorage queue; false: in memory (remote write queues in memory either way)")
	flag.StringVar(&o.peerCompression, "peer-compression", "gzip", "the peer's otlphttp compression to Loki (gzip is the exporter's default; snappy, zstd, none)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write vigil's CPU profile of the first repetition's load of each signal to PREFIX-<signal>.pprof")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 10, "length of the -cpuprofile profile")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (configs, logs, data) and print its path")
	flag.Parse()
	o.signals = strings.Split(signals, ",")
	stopOnSignal()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "backends:", err)
		os.Exit(1)
	}
}

type result struct {
	impl, signal    string
	rep             int
	sent, delivered int64
	wall            time.Duration
	cpu             float64 // the collector's CPU-seconds, load start → everything delivered
	generatorCPU    float64
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "vigil-backends-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "working directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.vigil == "" {
		o.vigil = filepath.Join(dir, "vigil")
		b := exec.Command("go", "build", "-o", o.vigil, "./cmd/vigil")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("cannot build vigil: %w", err)
		}
	}
	pki, err := harness.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	loki, err := startLoki(o.loki, filepath.Join(dir, "loki"))
	if err != nil {
		return err
	}
	defer loki.proc.stop()
	prom, err := startPrometheus(o.prometheus, filepath.Join(dir, "prometheus"))
	if err != nil {
		return err
	}
	defer prom.proc.stop()
	impls := []string{"vigil"}
	if o.vigilBase != "" {
		impls = append(impls, "vigil-base")
	}
	if o.peer != "" {
		impls = append(impls, "peer")
	}
	var results []result
	n := 0
	for rep := 1; rep <= o.reps; rep++ {
		order := slices.Clone(impls)
		if rep%2 == 0 {
			slices.Reverse(order)
		}
		for _, signal := range o.signals {
			for _, impl := range order {
				n++
				r, err := runOne(o, pki, loki, prom, filepath.Join(dir, fmt.Sprintf("run%d", n)), impl, signal, rep, n)
				if err != nil {
					return fmt.Errorf("%s %s rep %d: %w", impl, signal, rep, err)
				}
				fmt.Fprintf(os.Stderr, "%s %s rep %d: %d sent, %d delivered, %.2f CPU-s, %s\n",
					impl, signal, rep, r.sent, r.delivered, r.cpu, r.wall.Round(time.Millisecond))
				results = append(results, r)
			}
		}
	}
	printReport(o, results)
	return nil
}

func runOne(o options, pki *harness.PKI, loki, prom *backend, dir, impl, signal string, rep, n int) (result, error) {
	res := result{impl: impl, signal: signal, rep: rep}
	tenant := fmt.Sprintf("%s-run%d", impl, n)
	profile := o.cpuProfile != "" && rep == 1 && impl == "vigil"
	var p *proc
	var err error
	switch impl {
	case "vigil":
		p, err = startVigil(o.vigil, dir, pki, loki.url, prom.url, tenant, profile)
	case "vigil-base":
		p, err = startVigil(o.vigilBase, dir, pki, loki.url, prom.url, tenant, false)
	default:
		p, err = startPeer(o.peer, dir, pki, loki.url, prom.url, tenant, o.peerDurable, o.peerCompression)
	}
	if err != nil {
		return res, err
	}
	defer p.stop()
	l := load{endpoint: "https://" + p.addr, tls: pki.ClientTLS(), token: pki.Token, workers: o.workers,
		batch: o.batch, series: o.series, prefix: fmt.Sprintf("bench_run%d", n)}
	var query, path string
	switch signal {
	case "logs":
		l.total = o.records
		path, query = "/loki/api/v1/query", `sum(count_over_time({service_name=~".+"}[3h]))`
	case "metrics":
		l.total = o.samples
		path, query = "/api/v1/query", fmt.Sprintf(`sum(count_over_time({__name__=~"%s_.+"}[3h]))`, l.prefix)
	default:
		return res, fmt.Errorf("unknown signal %q: use logs or metrics", signal)
	}
	time.Sleep(time.Second) // let start-up settle
	cpu0, gen0 := p.cpuSeconds(), harness.SelfCPU()
	start := time.Now()
	profDone := make(chan error, 1)
	if profile {
		go func() {
			profDone <- harness.FetchProfile("http://"+p.pprof, time.Duration(o.profileSeconds)*time.Second,
				fmt.Sprintf("%s-%s.pprof", o.cpuProfile, signal))
		}()
	} else {
		profDone <- nil
	}
	if res.sent, err = l.run(context.Background(), signal); err != nil {
		return res, err
	}
	res.generatorCPU = harness.SelfCPU() - gen0
	// Wait until the backend holds everything that was acknowledged (or nothing more arrives for
	// a minute). For logs, Loki's distributor counter says when; the LogQL count that checks
	// every record is in Loki runs after the CPU is read.
	var last int64 = -1
	var lastErr error
	lastChange := time.Now()
	for {
		var c int64
		var err error
		if signal == "logs" {
			c, _, err = loki.linesReceived(tenant)
		} else {
			c, err = prom.count(path, query, "", time.Minute)
		}
		if err != nil {
			lastErr = err
		} else if c != last {
			last, lastChange = c, time.Now()
		}
		if last >= res.sent || time.Since(lastChange) > time.Minute {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	res.wall = time.Since(start)
	res.cpu = p.cpuSeconds() - cpu0
	res.delivered = max(last, 0)
	if last < res.sent && lastErr != nil {
		fmt.Fprintf(os.Stderr, "%s %s: last error counting: %v\n", impl, signal, lastErr)
	}
	if signal == "logs" {
		// Every record in Loki: count them (the distributor may have taken lines it discarded).
		_, discarded, _ := loki.linesReceived(tenant)
		// The distributor counts a push's lines before its ingesters hold them: count again while
		// the count grows, until it reaches what was sent or stays put for 5 seconds.
		stored, err := loki.count(path, query, tenant, 10*time.Minute)
		for t0 := time.Now(); err == nil && stored < res.sent && time.Since(t0) < 5*time.Second; {
			time.Sleep(500 * time.Millisecond)
			var again int64
			if again, err = loki.count(path, query, tenant, 10*time.Minute); err == nil && again != stored {
				stored, t0 = again, time.Now()
			}
		}
		if err != nil {
			return res, fmt.Errorf("cannot count the records in Loki: %w", err)
		}
		res.delivered = stored
		if discarded > 0 {
			fmt.Fprintf(os.Stderr, "%s %s: Loki discarded %d lines\n", impl, signal, discarded)
		}
	}
	if err := <-profDone; err != nil {
		return res, err
	}
	return res, nil
}

func printReport(o options, results []result) {
	fmt.Printf("machine: %d CPUs, %s, %s; load average at the end: %s\n", runtime.NumCPU(), harness.CPUModel(), runtime.Version(), harness.LoadAvg())
	fmt.Printf("load: %d OTLP/HTTP (mTLS) senders, %d items/request; logs: %d ~300 B records/run (8 identity resource attributes, 3 record attributes, trace and span ids); metrics: %d samples/run over %d series (gauges and cumulative counters, 2 attributes)\n",
		o.workers, o.batch, o.records, o.samples, o.series)
	peerQueue := "in memory"
	if o.peerDurable {
		peerQueue = "logs on file_storage (fsync); remote write in memory (its WAL delivered nothing)"
	}
	fmt.Printf("peer: queues %s; otlphttp compression to Loki %s\n\n", peerQueue, o.peerCompression)
	fmt.Printf("%-8s %-7s %4s %10s %10s %9s %9s %12s %12s\n", "signal", "impl", "rep", "sent", "delivered", "wall", "CPU-s", "CPU-s/M", "items/s")
	perM := map[string][]float64{}
	for _, r := range results {
		pm := r.cpu / float64(r.delivered) * 1e6
		perM[r.signal+"/"+r.impl] = append(perM[r.signal+"/"+r.impl], pm)
		fmt.Printf("%-8s %-7s %4d %10d %10d %8.1fs %9.2f %12.2f %12.0f\n", r.signal, r.impl, r.rep, r.sent, r.delivered,
			r.wall.Seconds(), r.cpu, pm, float64(r.delivered)/r.wall.Seconds())
		switch {
		case r.delivered < r.sent:
			fmt.Printf("  NOT ALL DELIVERED: %d acknowledged, %d in the backend\n", r.sent, r.delivered)
		case r.delivered > r.sent:
			fmt.Printf("  duplicates: %d acknowledged, %d in the backend (a retried push or request)\n", r.sent, r.delivered)
		}
	}
	fmt.Println()
	for _, s := range o.signals {
		for _, other := range []string{"peer", "vigil-base"} {
			v, p := perM[s+"/vigil"], perM[s+"/"+other]
			if len(v) == 0 || len(p) == 0 {
				continue
			}
			// Ratio per repetition (the runs of a repetition are back to back), then their median.
			var ratios []string
			var rs []float64
			for i := range min(len(v), len(p)) {
				rs = append(rs, v[i]/p[i])
				ratios = append(ratios, fmt.Sprintf("%.2f", v[i]/p[i]))
			}
			fmt.Printf("%s: vigil CPU-s/M median %.2f, %s %.2f; vigil/%s per repetition %s, median %.2f\n",
				s, median(v), other, median(p), other, strings.Join(ratios, " "), median(rs))
		}
	}
	args := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " '\"") {
			a = strconv.Quote(a)
		}
		args[i] = a
	}
	fmt.Printf("\ncommand: go run ./benchmarks/backends %s\n", strings.Join(args, " "))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
